"""Compiled inner loop of the alignment's Gauss-Newton fit (numba).

:func:`match_sums` samples a frame's features at the reference's sample points moved by
a similarity (exact bilinear weights, as the fit needs: OpenCV's remaps quantise them to
1/32 pixel) and accumulates, in the same pass, every sum the fit, its gain matching, its
correlation and its covariance need: no per-point temporaries; :func:`steepest_descent`
prepares a template's per-point terms and Hessian in one pass. Compiled on first use and
cached on disk beside this module, as the solver's kernel; both release the GIL (``nogil``),
so that the frames a camera's threads fit at the same time run in parallel (they held it
before: the fits of two threads took turns).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True, "nogil": True}

N_SUMS = 18
"""Length of :func:`match_sums`' output."""


@njit(**_JIT)
def _match_sums(img: np.ndarray, pts: np.ndarray, M: np.ndarray, tmpl: np.ndarray, sd: np.ndarray) -> np.ndarray:
    h, w = img.shape
    out = np.zeros(N_SUMS)
    m00, m01, m02 = M[0, 0], M[0, 1], M[0, 2]
    m10, m11, m12 = M[1, 0], M[1, 1], M[1, 2]
    for i in range(pts.shape[0]):
        px = np.float64(pts[i, 0])
        py = np.float64(pts[i, 1])
        x = m00 * px + m01 * py + m02
        y = m10 * px + m11 * py + m12
        if not (x >= 0.0 and y >= 0.0 and x <= w - 1 and y <= h - 1):
            continue
        x0 = min(int(np.floor(x)), w - 2)
        y0 = min(int(np.floor(y)), h - 2)
        fx = x - x0
        fy = y - y0
        top = img[y0, x0] + fx * (img[y0, x0 + 1] - img[y0, x0])
        bottom = img[y0 + 1, x0] + fx * (img[y0 + 1, x0 + 1] - img[y0 + 1, x0])
        v = top + fy * (bottom - top)
        t = np.float64(tmpl[i])
        out[0] += 1.0
        out[1] += v
        out[2] += v * v
        out[3] += v * t
        out[4] += t
        out[5] += t * t
        for j in range(4):
            s = np.float64(sd[i, j])
            out[6 + j] += s * v
            out[10 + j] += s * t
            out[14 + j] += s
    return out


def match_sums(img: np.ndarray, pts: np.ndarray, M: np.ndarray, tmpl: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Sums over the sample points that ``M`` keeps inside the frame.

    Parameters
    ----------
    img : (H, W) float32 frame features; pts : (N, 2) float32 sample points (x, y);
    M : (3, 3) float64 similarity, sample point -> frame pixel; tmpl : (N,) float32 template
    values; sd : (N, 4) float32 steepest-descent images.

    Returns
    -------
    (18,) float64: ``n, sum v, sum v^2, sum v t, sum t, sum t^2``, then ``sum sd_j v``,
    ``sum sd_j t`` and ``sum sd_j`` (j = 0..3), ``v`` the bilinear sample of ``img``.
    """
    return _match_sums(
        np.ascontiguousarray(img, np.float32),
        np.ascontiguousarray(pts, np.float32),
        np.ascontiguousarray(M, np.float64),
        np.ascontiguousarray(tmpl, np.float32),
        np.ascontiguousarray(sd, np.float32),
    )


@njit(**_JIT)
def _steepest_descent(T: np.ndarray, ys: np.ndarray, xs: np.ndarray, cx: float, cy: float) -> tuple:
    n = ys.shape[0]
    pts = np.empty((n, 2), np.float32)
    sd = np.empty((n, 4), np.float32)
    tmpl = np.empty(n, np.float32)
    H = np.zeros((4, 4))
    fcx = np.float32(cx)
    fcy = np.float32(cy)
    half = np.float32(0.5)
    for i in range(n):
        y = ys[i]
        x = xs[i]
        tx = half * (T[y, x + 1] - T[y, x - 1])
        ty = half * (T[y + 1, x] - T[y - 1, x])
        X = np.float32(x) - fcx
        Y = np.float32(y) - fcy
        s0 = tx * X + ty * Y
        s1 = ty * X - tx * Y
        sd[i, 0] = s0
        sd[i, 1] = s1
        sd[i, 2] = tx
        sd[i, 3] = ty
        pts[i, 0] = np.float32(x)
        pts[i, 1] = np.float32(y)
        tmpl[i] = T[y, x]
        for a in range(4):
            va = np.float64(sd[i, a])
            for b in range(a, 4):
                H[a, b] += va * np.float64(sd[i, b])
    for a in range(4):
        for b in range(a):
            H[a, b] = H[b, a]
    return pts, sd, tmpl, H


def steepest_descent(
    T: np.ndarray, ys: np.ndarray, xs: np.ndarray, cx: float, cy: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inverse compositional fit's per-point terms of template ``T`` at its sample points, in one pass.

    Parameters
    ----------
    T : (H, W) float32 template features; ys, xs : (N,) int sample pixels, at least one pixel
    inside every edge; cx, cy : the similarity's centre (pixels).

    Returns
    -------
    pts (N, 2) float32 (x, y); sd (N, 4) float32 steepest-descent images (the central-difference
    gradient against the similarity's parameters ``a, b, tx, ty``); tmpl (N,) float32 template
    values; H (4, 4) float64 Gauss-Newton Hessian ``sd^T sd``.
    """
    # contiguous index arrays (a copy of N ints where a caller passes a strided view): one compiled
    # specialisation of the kernel instead of a second one for the 'A' layout
    return _steepest_descent(
        np.ascontiguousarray(T, np.float32),
        np.ascontiguousarray(ys, np.int64),
        np.ascontiguousarray(xs, np.int64),
        float(cx),
        float(cy),
    )
