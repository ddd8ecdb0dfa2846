"""Real stereo board photos for tests: where they are, and a mark that skips a test without them.

OpenCV's public sample stereo set (13 pairs ``left01..09,11..14.jpg`` / ``right...``,
640 x 480, a chessboard of 9x6 inner corners = 10x7 squares). The photos are never copied
into the repository: tests read them from ``$ID2R_STEREO_PHOTOS`` or, unset, from
``<repository>/../data/stereo-photos``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "ID2R_STEREO_PHOTOS"
POSES = [f"{i:02d}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14)]
BOARD = "type=chessboard,squares_x=10,squares_y=7,square_size=1"  # what the user gave: squares of 1 unit


def _folder() -> Path | None:
    env = os.environ.get(ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "data" / "stereo-photos"
    if all((path / f"{cam}{p}.jpg").is_file() for cam in ("left", "right") for p in POSES):
        return path
    return None


FOLDER = _folder()
needs_photos = pytest.mark.skipif(
    FOLDER is None, reason=f"stereo photos absent (set ${ENV} to the folder of left01.jpg ... right14.jpg)"
)
