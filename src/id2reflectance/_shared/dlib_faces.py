"""dlib's face detector and 68-point landmark predictor, shared by :mod:`id2reflectance.face`
and the simulator's photographic albedo (which may not import ``face``).

dlib is imported when first needed (it is heavy). Model files come from the offline
``face-recognition-models`` package, located without importing it (its ``__init__`` needs
the removed ``pkg_resources``). Images are (H, W, 3) uint8 RGB; points (x = column, y = row)
pixels in dlib's 68-point (iBUG 300-W) order.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from id2reflectance.errors import Id2rError, InputFileError


def model_file(name: str) -> Path:
    """Path of a file shipped by ``face-recognition-models`` (e.g.
    ``shape_predictor_68_face_landmarks.dat``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise Id2rError("the face-recognition-models package is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise InputFileError(path, None, "face model file missing from face-recognition-models")
    return path


@lru_cache(maxsize=1)
def dlib_models():
    """(HOG frontal face detector, 68-point shape predictor), loaded once."""
    import dlib  # heavy: imported when a face is first detected

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat"))),
    )


def largest_face_landmarks(image: np.ndarray, *, upsample: int = 1) -> np.ndarray | None:
    """(68, 2) float64 landmarks of the largest face dlib's HOG detector finds in ``image``
    ((H, W, 3) uint8 RGB, contiguous), or None when it finds none."""
    import dlib

    detector, predictor = dlib_models()
    rects = list(detector(image, upsample))
    if not rects:
        return None
    r = max(rects, key=lambda b: b.width() * b.height())
    shape = predictor(image, dlib.rectangle(r.left(), r.top(), r.right(), r.bottom()))
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)
