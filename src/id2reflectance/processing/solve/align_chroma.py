"""Chromaticity features for aligning a gradient frame to the full-on frame without inverse patterns.

Without inverse patterns a cross-polarised gradient frame has no complementary frame: it is
matched to the full-on frame times its smoothed lighting ratio
(:func:`~id2reflectance.processing.solve.align_refine.ratio_template`). That template lacks
the shading finer than the ratio's smoothing (the nose, the eyes' and lips' relief lit from
one side), so inside the face the fit is biased; on the silhouette, whose features carry most
of the fit, the occluding contour does not move quite like the skin (measured on the
simulator's moved heads: the similarity fitted there is 1e-3 to 2e-3 too small in scale even
against the same pattern's still render, 0.10-0.16 px median error, against 0.03-0.05 px
inside the face).

The shading of a pattern is the same in every colour channel (white light; subsurface
scattering blurs red more, at the scale of a pixel or two), so the log chromaticity
``log(R + e_R) - log(G + e_G)`` of a gradient frame equals the full-on frame's at the same skin
point, fine relief included: the skin's colour texture (melanin, blood, lips, brows) is there
to align on, without a lighting-matched template. It is noisier than the luminance (a ratio
of two channels, and the green of dark skin is small), so it is not used alone: the
refinement fits both, the luminance's ratio template on the face with its silhouette and the
chromaticity inside the face, one Gauss-Newton step from the two normal equations, each
weighted by the inverse of its residual variance (:func:`fit_joint`; the chromaticity's
times :data:`CHROMA_WEIGHT`): noisy chromaticity weighs little, clean chromaticity pulls the
silhouette's bias out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from id2reflectance.processing.solve.align_features import (
    COARSE_TOL_PX,
    ReferencePyramid,
    _Match,
    band_pass,
    pyramid,
    similarity_inverse,
)
from id2reflectance.processing.solve.align_work import downsample

__all__ = [
    "CHROMA_EPS",
    "CHROMA_SIGMA",
    "CHROMA_SMOOTH",
    "CHROMA_WEIGHT",
    "chroma_features",
    "chroma_floors",
    "fit_joint",
]

CHROMA_EPS = 0.05
"""Floor added to the red and green channels before their logarithms, as a fraction of each
channel's median over the face in the reference frame (the luminance's floor without inverse
patterns, ``align.LOG_EPS_NO_INVERSES``)."""


CHROMA_SMOOTH = 1.5
"""Gaussian sigma (working pixels) of the chromaticity's fine blur (the luminance's: 1 px): the ratio of
two noisy channels is noisier than the luminance."""
CHROMA_SIGMA = 4.0
"""Gaussian sigma (working pixels) of the blur the chromaticity's band-pass subtracts (the luminance's: 3 px)."""
CHROMA_WEIGHT = 3.0
"""Extra weight of the chromaticity's normal equations in :func:`fit_joint`, beyond the inverse of its
residual variance: the luminance's residual against its ratio template is mostly the template's own
error (unpredicted relief shading: a bias, not noise that averages out), so weighting both by their
residual variance alone gives the chromaticity too little say. Measured on the 256 px moving heads
without inverses, seeds 0-3, median error of the gradient frames' motion against the simulator's (noise
/ noise-free seeds 0 and 3): factor 1 0.081 / 0.047 px, 3 0.070 / 0.039, 10 0.067 / 0.064 (a noise-free
frame fitted 0.15 px off); with the luminance's own band-pass (1 and 3 px) and factor 3: 0.076 / 0.038;
without the chromaticity 0.086 / 0.089 (docs/solve.md section 1b)."""


CHROMA_MIN_NCC = 0.2
"""The chromaticity is fitted only where the frame's matches the reference's at the luminance's motion
at least this well (normalised cross-correlation; the alignment's ``MIN_NCC``): below, grey skin,
a monochrome image or noise alone."""


def chroma_floors(reference_small: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """``(e_R, e_G)``: :data:`CHROMA_EPS` times the reference's median red and green over ``region``.

    Parameters
    ----------
    reference_small : (H, W, 3) float32 linear RGB of the reference at the working resolution.
    region : (H, W) bool face pixels.
    """
    med = np.median(reference_small[region][:, :2], axis=0)
    return (max(CHROMA_EPS * float(med[0]), 1e-6), max(CHROMA_EPS * float(med[1]), 1e-6))


def chroma_features(rgb: np.ndarray, f: int, floors: tuple[float, float]) -> list[np.ndarray]:
    """Two-level pyramid of the band-passed log chromaticity of one frame at the working resolution.

    Parameters
    ----------
    rgb : (H, W, 3) float32 linear RGB frame (camera resolution; a view is fine).
    f : the working box-averaging factor.
    floors : :func:`chroma_floors`.

    Returns
    -------
    [(H/f, W/f), (H/2f, W/2f)] float32 band-passed ``log(R + e_R) - log(G + e_G)``.
    """
    small = downsample(rgb, f)
    r = np.maximum(small[..., 0], 0.0) + np.float32(floors[0])
    g = np.maximum(small[..., 1], 0.0) + np.float32(floors[1])
    c = (np.log(r) - np.log(g)).astype(np.float32)
    return pyramid(band_pass(c, sigma=CHROMA_SIGMA, smooth=CHROMA_SMOOTH), 2)


def fit_joint(
    refs: Sequence[ReferencePyramid],
    frames: Sequence[list[np.ndarray]],
    *,
    init: np.ndarray,
    weights: Sequence[float] | None = None,
    iterations: int = 30,
    tol_px: float = 1e-3,
) -> np.ndarray:
    """Gauss-Newton fit of one similarity to several feature pairs at once, coarse to fine.

    Each pair ``(refs[i], frames[i])`` is a template prepared at its sample points and the
    frame's features (same level sizes); each step solves ``(sum_i w_i H_i) d = sum_i w_i g_i``
    (``H_i`` the template's Hessian, ``g_i`` its gain- and offset-matched gradient, ``w_i`` the
    inverse of its residual variance at the current estimate), so a noisy pair weighs little.
    The levels are those every pair has (at most two in the refinement).

    Parameters
    ----------
    refs : prepared templates (:func:`~id2reflectance.processing.solve.align_features.reference_pyramid`).
    frames : per template, the frame's features pyramid (finest first).
    init : (3, 3) starting similarity at the finest level (reference pixel -> frame pixel).
    weights : per pair, a factor on its inverse residual variance (default 1 each).
    iterations, tol_px : as :func:`~id2reflectance.processing.solve.align_features.fit_similarity`.

    Returns
    -------
    (3, 3) float64 similarity at the finest level (``init`` when a level has too few samples).
    """
    n = min(len(r.levels) for r in refs)
    weights = [1.0] * len(refs) if weights is None else list(weights)
    M = np.array(init, np.float64)
    if n == 0:
        return M
    M[:2, 2] /= 2.0 ** (n - 1)
    for lv in range(n - 1, -1, -1):
        levels = [r.levels[lv] for r in refs]
        imgs = [fr[lv] for fr in frames]
        cx, cy = levels[0][4]
        extent = max(float(np.max(np.abs(lev[0] - [cx, cy]))) if len(lev[0]) else 1.0 for lev in levels)
        hess = [np.linalg.inv(lev[2]) for lev in levels]
        tol = tol_px if lv == 0 else max(tol_px, COARSE_TOL_PX)
        for _ in range(iterations):
            matches = [_Match(lev, img, M) for lev, img in zip(levels, imgs, strict=True)]
            if any(m.n < 16 for m in matches):
                return np.array(init, np.float64)
            A = np.zeros((4, 4))
            b = np.zeros(4)
            for m, H, wf in zip(matches, hess, weights, strict=True):
                w = wf / max(m.residual_variance(), 1e-20)
                A += w * H
                b += w * m.gradient()
            a, bb, tx, ty = np.linalg.solve(A, b)
            M = M @ similarity_inverse(a, bb, tx, ty, cx, cy)
            if abs(a) * extent + abs(bb) * extent + abs(tx) + abs(ty) < tol:
                break
        if lv > 0:
            M = M.copy()
            M[:2, 2] *= 2.0
    return M
