"""A copy of the test suite's dataset whose front views of one subject have eye openings.

The 32 px dataset of tests/face_pipeline.py is procedural (closed lids, ``"eyes"`` false):
its ``mask.png`` covers the whole face. :func:`dataset_with_eye_openings` copies it, takes
two 2 x 2 pixel blocks where the eyes sit off one subject's front ``mask.png`` (its
``rgb_full.png`` keeps them lit: the layout of a dataset built with eyes, whose views show
the eyeballs off the skin's mask) and writes the manifest's ``"eyes"`` as asked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_png, write_png

SUBJECT = "S0000"
# (row, column) of the top-left pixel of each opening at 32 px: the aligned views put the
# eyes at 0.47 of the height, about 0.15 of the width either side of the middle
OPENINGS = ((14, 10), (14, 20))


def eye_openings(size: int) -> np.ndarray:
    """(size, size) bool: the carved pixels (``OPENINGS`` scaled from 32 px)."""
    out = np.zeros((size, size), bool)
    k = size // 32
    for r, c in OPENINGS:
        out[r * k : (r + 2) * k, c * k : (c + 2) * k] = True
    return out


def dataset_with_eye_openings(source: Path, out: Path, *, eyes: bool) -> Path:
    """Copy ``source`` to ``out`` with :data:`SUBJECT`'s front eye openings off the mask."""
    shutil.copytree(source, out)
    view = out / "subjects" / SUBJECT / "views" / "front"
    mask = read_png(view / "mask.png")
    mask = mask[..., 0] if mask.ndim == 3 else mask
    holes = eye_openings(mask.shape[0])
    rgb = read_png(view / "rgb_full.png")
    if not (mask[holes] > 127).all() or not (rgb[holes].max(axis=-1) > 0).all():
        raise AssertionError("the openings must be lit skin in the source dataset")
    mask = mask.copy()
    mask[holes] = 0
    write_png(view / "mask.png", mask.astype(np.float32) / 255.0)
    doc = json.loads((out / "dataset.json").read_text())
    doc["eyes"] = eyes
    (out / "dataset.json").write_text(json.dumps(doc))
    return out
