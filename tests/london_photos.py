"""The London real-photo set for tests: skip when ``../shared/face-photos/london`` is absent.

The photos are never copied into the repository (nor crops of them): tests read them from
the shared folder next to the repository and make any variant in memory.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from id2reflectance.evaluation.london import Person, default_london_dir, read_people


def london_people() -> list[Person]:
    """The set's people, or skip the test when the photos are not next to the repository."""
    root = default_london_dir()
    if not (root / "people.csv").is_file():
        pytest.skip(f"London photo set not found at {root}")
    return read_people(root)


@lru_cache(maxsize=32)
def london_photo(person_id: str, expression: str = "neutral") -> tuple[np.ndarray, np.ndarray]:
    """(photo (512, 512, 3) uint8 sRGB, landmarks (68, 2)) of one person's photo."""
    from id2reflectance.face.detect import find_faces, read_photo

    person = next(p for p in london_people() if p.id == person_id)
    photo = read_photo(person.photo(expression))
    photo.setflags(write=False)
    return photo, find_faces(photo)[0].landmarks
