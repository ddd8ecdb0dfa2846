"""Compiled per-pixel steps of :mod:`~id2reflectance.processing.solve.integrable_normals` (numba).

:func:`surface_gradient` turns the green-plus-blue first moments into the log-depth
gradient ``(G_u, G_v)``, :func:`curl4` takes its curl, :func:`apply_correction` adds the
screened correction and rotates every channel's first moment. The undistorted normalised
coordinates and their Jacobian are interpolated bilinearly from a coarse grid (nodes
every ``step`` pixels). The same arithmetic as the numpy version in float32/float64 mixed
order (agreement to about 1e-4 deg). Rows run in parallel threads; compiled on first use
and cached on disk beside this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True}


@njit(inline="always", **_JIT)
def _coords(i, j, step, grid):  # noqa: ANN001, ANN202
    """(x, y, xu, xv, yu, yv) at box pixel (i, j), bilinear in ``grid`` (ny, nx, 6) float64."""
    fi, fj = i / step, j / step
    i0, j0 = int(fi), int(fj)
    i0 = min(i0, grid.shape[0] - 2)
    j0 = min(j0, grid.shape[1] - 2)
    a, b = fi - i0, fj - j0
    w00, w01, w10, w11 = (1 - a) * (1 - b), (1 - a) * b, a * (1 - b), a * b
    out = np.empty(6)
    for k in range(6):
        out[k] = (
            w00 * grid[i0, j0, k]
            + w01 * grid[i0, j0 + 1, k]
            + w10 * grid[i0 + 1, j0, k]
            + w11 * grid[i0 + 1, j0 + 1, k]
        )
    return out


@njit(parallel=True, **_JIT)
def surface_gradient(
    m1c: np.ndarray,
    signal: np.ndarray,
    grid: np.ndarray,
    step: int,
    to_cam: np.ndarray,
    dmin: float,
    gu: np.ndarray,
    gv: np.ndarray,
    ok: np.ndarray,
) -> None:
    """Log-depth gradient of the green-plus-blue first moments' normals.

    m1c (h, w, 9) float32 axis-major first moments; signal (h, w) bool; grid (ny, nx, 6)
    float64 coordinates and Jacobian; to_cam (3, 3) light-stage -> camera; writes gu, gv
    (h, w) float32 (0 where not ok) and ok (h, w) uint8.
    """
    h, w = signal.shape
    for i in prange(h):
        for j in range(w):
            c = _coords(i, j, step, grid)
            x, y = c[0], c[1]
            v0 = np.float64(m1c[i, j, 1] + m1c[i, j, 2])
            v1 = np.float64(m1c[i, j, 4] + m1c[i, j, 5])
            v2 = np.float64(m1c[i, j, 7] + m1c[i, j, 8])
            n0 = to_cam[0, 0] * v0 + to_cam[0, 1] * v1 + to_cam[0, 2] * v2
            n1 = to_cam[1, 0] * v0 + to_cam[1, 1] * v1 + to_cam[1, 2] * v2
            n2 = to_cam[2, 0] * v0 + to_cam[2, 1] * v1 + to_cam[2, 2] * v2
            length = np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
            d = n0 * x + n1 * y + n2
            good = signal[i, j] and length > 0 and abs(d) > dmin * length * np.sqrt(1.0 + x * x + y * y)
            if good:
                p, q = -n0 / d, -n1 / d
                gu[i, j] = p * c[2] + q * c[4]
                gv[i, j] = p * c[3] + q * c[5]
                ok[i, j] = 1
            else:
                gu[i, j] = 0.0
                gv[i, j] = 0.0
                ok[i, j] = 0


@njit(inline="always", **_JIT)
def _d4r(a, i, j):  # noqa: ANN001, ANN202
    """Fourth-order central difference along rows (d/dv) at (i, j); 0 within 2 of the border."""
    if i < 2 or i >= a.shape[0] - 2:
        return 0.0
    return (8.0 * (a[i + 1, j] - a[i - 1, j]) - (a[i + 2, j] - a[i - 2, j])) / 12.0


@njit(inline="always", **_JIT)
def _d4c(a, i, j):  # noqa: ANN001, ANN202
    """Fourth-order central difference along columns (d/du) at (i, j); 0 within 2 of the border."""
    if j < 2 or j >= a.shape[1] - 2:
        return 0.0
    return (8.0 * (a[i, j + 1] - a[i, j - 1]) - (a[i, j + 2] - a[i, j - 2])) / 12.0


@njit(parallel=True, **_JIT)
def curl4(gu: np.ndarray, gv: np.ndarray, inner: np.ndarray, out: np.ndarray) -> None:
    """``out = dG_v/du - dG_u/dv`` (fourth order) where ``inner`` (h, w) uint8, else 0."""
    h, w = gu.shape
    for i in prange(h):
        for j in range(w):
            out[i, j] = _d4c(gv, i, j) - _d4r(gu, i, j) if inner[i, j] else 0.0


@njit(parallel=True, **_JIT)
def apply_correction(
    m1c: np.ndarray,
    psi: np.ndarray,
    gu: np.ndarray,
    gv: np.ndarray,
    ok: np.ndarray,
    grid: np.ndarray,
    step: int,
    to_cam: np.ndarray,
) -> None:
    """``G' = G - (dpsi/dv, -dpsi/du)``, back to a normal, and every channel's first moment
    of ``m1c`` rotated by the rotation taking the old green-plus-blue direction to it."""
    h, w = gu.shape
    for i in prange(h):
        for j in range(w):
            if not ok[i, j]:
                continue
            c = _coords(i, j, step, grid)
            x, y, xu, xv, yu, yv = c[0], c[1], c[2], c[3], c[4], c[5]
            g_u = gu[i, j] - _d4r(psi, i, j)
            g_v = gv[i, j] + _d4c(psi, i, j)
            det = xu * yv - xv * yu
            p = (g_u * yv - g_v * yu) / det
            q = (g_v * xu - g_u * xv) / det
            # the old direction (light-stage axes) and its sign along the pixel ray
            v0 = np.float64(m1c[i, j, 1] + m1c[i, j, 2])
            v1 = np.float64(m1c[i, j, 4] + m1c[i, j, 5])
            v2 = np.float64(m1c[i, j, 7] + m1c[i, j, 8])
            norm = np.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
            a0, a1, a2 = v0 / norm, v1 / norm, v2 / norm
            c0 = to_cam[0, 0] * a0 + to_cam[0, 1] * a1 + to_cam[0, 2] * a2
            c1 = to_cam[1, 0] * a0 + to_cam[1, 1] * a1 + to_cam[1, 2] * a2
            c2 = to_cam[2, 0] * a0 + to_cam[2, 1] * a1 + to_cam[2, 2] * a2
            sign = 1.0 if c0 * x + c1 * y + c2 > 0 else -1.0
            e0, e1, e2 = -p * sign, -q * sign, (1.0 + p * x + q * y) * sign
            en = np.sqrt(e0 * e0 + e1 * e1 + e2 * e2)
            e0, e1, e2 = e0 / en, e1 / en, e2 / en
            b0 = to_cam[0, 0] * e0 + to_cam[1, 0] * e1 + to_cam[2, 0] * e2  # back: to_cam^T
            b1 = to_cam[0, 1] * e0 + to_cam[1, 1] * e1 + to_cam[2, 1] * e2
            b2 = to_cam[0, 2] * e0 + to_cam[1, 2] * e1 + to_cam[2, 2] * e2
            k0, k1, k2 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0
            sin = np.sqrt(k0 * k0 + k1 * k1 + k2 * k2)
            if sin <= 0.0:
                continue
            cos = a0 * b0 + a1 * b1 + a2 * b2
            k0, k1, k2 = k0 / sin, k1 / sin, k2 / sin
            for ch in range(3):
                u0 = np.float64(m1c[i, j, ch])
                u1 = np.float64(m1c[i, j, 3 + ch])
                u2 = np.float64(m1c[i, j, 6 + ch])
                kd = (k0 * u0 + k1 * u1 + k2 * u2) * (1.0 - cos)
                m1c[i, j, ch] = u0 * cos + (k1 * u2 - k2 * u1) * sin + k0 * kd
                m1c[i, j, 3 + ch] = u1 * cos + (k2 * u0 - k0 * u2) * sin + k1 * kd
                m1c[i, j, 6 + ch] = u2 * cos + (k0 * u1 - k1 * u0) * sin + k2 * kd
