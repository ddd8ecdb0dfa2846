"""Faces cut by the photo's frame, or completed by the alignment's mirrored border.

FFHQ alignment (:func:`~.detect.align_face`) reflects the photo at its edges
(``BORDER_REFLECT``) where the aligned square reaches beyond them: a face near the edge
comes out with part of it mirrored, and a face cut by the frame (half a face) comes out
completed by its own mirror image. dlib still fits all 68 landmarks to a cut face (it
extrapolates the missing ones beyond the edge), so neither case fails; both make an
asset that is not the photographed face. :func:`framing_warnings` names them:

- **cut**: more than :data:`MAX_CUT_LANDMARKS` of the 68 landmarks lie outside the photo
  or within :data:`EDGE_MARGIN` of the face's width from its edge;
- **mirrored**: more than :data:`MAX_MIRRORED_FRACTION` of the face's part of the
  aligned crop (the convex hull of the landmarks mapped into it) comes from outside the
  photo, i.e. is the reflected border.
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance.errors import ShapeError

EDGE_MARGIN = 0.02  # fraction of the face's width (landmark extent) counted as "at the edge"
MAX_CUT_LANDMARKS = 0  # more landmarks than this at or beyond the edge: the face is cut
MAX_MIRRORED_FRACTION = 0.02  # more of the face's aligned area than this mirrored: warning


def cut_landmarks(landmarks: np.ndarray, shape: tuple[int, int]) -> int:
    """How many of the (68, 2) (x, y) pixel ``landmarks`` lie outside an image of ``shape``
    (H, W) or within :data:`EDGE_MARGIN` of the face's width from its edge."""
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2:
        raise ShapeError(f"cut_landmarks: landmarks must be (N, 2), got {lm.shape}")
    h, w = shape
    m = EDGE_MARGIN * float(np.ptp(lm[:, 0]))
    inside = (lm[:, 0] >= m) & (lm[:, 0] <= w - 1 - m) & (lm[:, 1] >= m) & (lm[:, 1] <= h - 1 - m)
    return int(np.sum(~inside))


def mirrored_fraction(landmarks: np.ndarray, shape: tuple[int, int], matrix: np.ndarray, size: int) -> float:
    """Fraction of the face's aligned area that the alignment fills from outside the photo.

    Parameters
    ----------
    landmarks : (68, 2) (x, y) pixels in the photo; shape : the photo's (H, W).
    matrix : (2, 3) photo -> aligned affine (:func:`~.detect.align_face`); size : the
        aligned side (pixels).
    """
    lm = np.asarray(landmarks, np.float64)
    m = np.asarray(matrix, np.float64)
    hull = cv2.convexHull(np.round(lm @ m[:, :2].T + m[:, 2]).astype(np.int32))
    face = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(face, hull, 1)
    ys, xs = np.nonzero(face)
    if len(xs) == 0:
        return 0.0
    src = np.stack([xs, ys], axis=1).astype(np.float64) @ np.asarray(cv2.invertAffineTransform(m))[:, :2].T
    src += np.asarray(cv2.invertAffineTransform(m))[:, 2]
    h, w = shape
    outside = (src[:, 0] < -0.5) | (src[:, 0] > w - 0.5) | (src[:, 1] < -0.5) | (src[:, 1] > h - 0.5)
    return float(np.mean(outside))


def framing_warnings(landmarks: np.ndarray, shape: tuple[int, int], matrix: np.ndarray, size: int) -> tuple[str, ...]:
    """The warnings of the module (cut, mirrored), one sentence each; ``()`` for a framed face.

    Parameters as :func:`mirrored_fraction`.
    """
    out: tuple[str, ...] = ()
    cut = cut_landmarks(landmarks, shape)
    if cut > MAX_CUT_LANDMARKS:
        out += (
            f"the face is cut by the photo's frame ({cut} of 68 landmarks at or beyond its edge): "
            "the hidden part is guessed, the asset is not this face there",
        )
    mirrored = mirrored_fraction(landmarks, shape, matrix, size)
    if mirrored > MAX_MIRRORED_FRACTION:
        out += (
            f"{100 * mirrored:.0f} % of the aligned face lies beyond the photo's edge and was filled "
            "by mirroring the photo: that part of the asset is a mirror image",
        )
    return out
