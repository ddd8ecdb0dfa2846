"""The resampling's helpers (processing/solve/align_resample.py) against straightforward references."""

from __future__ import annotations

import numpy as np

from id2reflectance.processing.solve.align_features import Similarity
from id2reflectance.processing.solve.align_resample import outside_frame


def _outside_everywhere(M: np.ndarray, w: int, h: int, margin: float) -> np.ndarray:
    """Every reference pixel whose source ``M (x, y)`` lies within ``margin`` of the frame's edge or beyond."""
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    qx = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
    qy = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
    return (qx < margin) | (qx > w - 1 - margin) | (qy < margin) | (qy > h - 1 - margin)


def test_the_pixels_from_outside_the_frame_added_into_one_mask() -> None:
    """Each frame's band of pixels from outside the frame is the pixel-by-pixel definition's, and frames
    added into one mask (``out``) give the union of their masks; ``out`` is the array returned."""
    h, w = 90, 130
    sims = [Similarity(1.3, -2.2, 0.4, 1.0), Similarity(-3.5, 0.6, -1.1, 1.01), Similarity(0.2, 4.1, 0.0, 0.99)]
    union = np.zeros((h, w), bool)
    acc = np.zeros((h, w), bool)
    for k, sim in enumerate(sims):
        M = sim.matrix(w, h)
        margin = 2.0 + 2.0 * (k == 1)
        alone = outside_frame(M, w, h, margin=margin)
        np.testing.assert_array_equal(alone, _outside_everywhere(M, w, h, margin))
        union |= alone
        assert outside_frame(M, w, h, margin=margin, out=acc) is acc
        np.testing.assert_array_equal(acc, union)
    assert acc.any() and not acc.all()
