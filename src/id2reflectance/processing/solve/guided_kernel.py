"""Compiled guided filter (numba): box means by running sums, the filter's arithmetic fused.

:func:`guided_filter_planes` computes what
:func:`~id2reflectance.processing.solve.guided.guided_filter` computes with
``subsample=1`` (box windows shrunk at the image border instead of reflected), reading
each input plane a few times instead of the numpy version's dozen temporaries; planes
are processed in parallel threads. Compiled on first use and cached on disk beside this
module, as the solver's kernel.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True}


@njit(**_JIT)
def _box(src: np.ndarray, dst: np.ndarray, tmp: np.ndarray, r: int) -> None:
    """dst = mean of src over the (2r+1)^2 window clipped to the image; (H, W) float32."""
    h, w = src.shape
    for i in range(h):  # horizontal sums: clipped ends, then a branch-free interior
        for j in range(min(r, w)):
            acc = np.float32(0.0)
            for k in range(max(j - r, 0), min(j + r, w - 1) + 1):
                acc += src[i, k]
            tmp[i, j] = acc
        for j in range(max(w - r, r), w):
            acc = np.float32(0.0)
            for k in range(max(j - r, 0), min(j + r, w - 1) + 1):
                acc += src[i, k]
            tmp[i, j] = acc
        if r == 1:  # the common radii: branch-free loops LLVM vectorises
            for j in range(1, w - 1):
                tmp[i, j] = src[i, j - 1] + src[i, j] + src[i, j + 1]
        elif r == 2:
            for j in range(2, w - 2):
                tmp[i, j] = src[i, j - 2] + src[i, j - 1] + src[i, j] + src[i, j + 1] + src[i, j + 2]
        else:
            for j in range(r, w - r):
                acc = src[i, j]
                for k in range(1, r + 1):
                    acc += src[i, j - k] + src[i, j + k]
                tmp[i, j] = acc
    col = np.zeros(w, np.float32)  # running vertical sums, row by row (contiguous access)
    inv_w = np.empty(w, np.float32)
    for j in range(w):
        inv_w[j] = np.float32(1.0) / np.float32(min(j + r, w - 1) - max(j - r, 0) + 1)
    for i in range(min(r, h)):
        for j in range(w):
            col[j] += tmp[i, j]
    for i in range(h):
        if i + r < h:
            for j in range(w):
                col[j] += tmp[i + r, j]
        if i - r - 1 >= 0:
            for j in range(w):
                col[j] -= tmp[i - r - 1, j]
        inv_h = np.float32(1.0) / np.float32(min(i + r, h - 1) - max(i - r, 0) + 1)
        for j in range(w):
            dst[i, j] = col[j] * inv_w[j] * inv_h


@njit(**_JIT)
def _hsum(x: np.ndarray, y: np.ndarray, r: int) -> None:
    """y[j] = sum of x over [j - r, j + r] clipped to the row; 1-D float32."""
    w = x.shape[0]
    for j in range(min(r, w)):
        acc = np.float32(0.0)
        for k in range(max(j - r, 0), min(j + r, w - 1) + 1):
            acc += x[k]
        y[j] = acc
    for j in range(max(w - r, r), w):
        acc = np.float32(0.0)
        for k in range(max(j - r, 0), min(j + r, w - 1) + 1):
            acc += x[k]
        y[j] = acc
    if r == 1:  # the common radii: branch-free loops LLVM vectorises
        for j in range(1, w - 1):
            y[j] = x[j - 1] + x[j] + x[j + 1]
    elif r == 2:
        for j in range(2, w - 2):
            y[j] = x[j - 2] + x[j - 1] + x[j] + x[j + 1] + x[j + 2]
    else:
        for j in range(r, w - r):
            acc = x[j]
            for k in range(1, r + 1):
                acc += x[j - k] + x[j + k]
            y[j] = acc


@njit(parallel=True, **_JIT)
def guided_filter_planes(
    guide: np.ndarray, src: np.ndarray, r: int, eps: float, out: np.ndarray, work: np.ndarray, stats: np.ndarray
) -> None:
    """Guided filter of every plane ``src[..., c]`` by ``guide`` into ``out`` (same shape).

    Two sweeps per plane: horizontal window sums of ``p`` and ``guide * p`` row by row,
    then running vertical sums that give the coefficients ``a, b`` of each row as soon as
    its window is complete; the same for ``a, b``, whose means give the output directly.

    Parameters
    ----------
    guide : (H, W) float32. src : (H, W, C) float32 (any strides). r : radius >= 1.
    eps : regularisation, guide units squared. out : (H, W, C) float32, written.
    work : (T, 5, H, W) float32 scratch, T at least ``numba.get_num_threads()`` (reused
        between calls: fresh pages cost a fault each on first touch).
    stats : (7, H, W) float32 scratch for the guide's statistics (:func:`scratch`).
    """
    h, w = guide.shape
    n = src.shape[2]
    mean_i, inv_var, tmp0, sq = stats[0], stats[1], stats[2], stats[3]
    _box(guide, mean_i, tmp0, r)
    for i in range(h):
        for j in range(w):
            sq[i, j] = guide[i, j] * guide[i, j]
    _box(sq, inv_var, tmp0, r)
    e = np.float32(eps)
    for i in range(h):
        for j in range(w):
            v = inv_var[i, j] - mean_i[i, j] * mean_i[i, j]
            inv_var[i, j] = np.float32(1.0) / ((v if v > 0 else np.float32(0.0)) + e)
    inv_w = np.empty(w, np.float32)
    for j in range(w):
        inv_w[j] = np.float32(1.0) / np.float32(min(j + r, w - 1) - max(j - r, 0) + 1)
    for c in prange(n):
        t = get_thread_id()
        hx, hy, ca, cb = work[t, 0], work[t, 1], work[t, 2], work[t, 3]
        rows = work[t, 4]  # rows 0-3: one row of p, guide * p and the two running sums
        rp, rip, col_x, col_y = rows[0], rows[1], rows[2], rows[3]
        for i in range(h):
            for j in range(w):
                x = src[i, j, c]
                rp[j] = x
                rip[j] = x * guide[i, j]
            _hsum(rp, hx[i], r)
            _hsum(rip, hy[i], r)
        for sweep in range(2):  # 0: p and guide * p -> a, b; 1: a, b -> output
            col_x[:] = 0.0
            col_y[:] = 0.0
            for i in range(min(r, h)):
                for j in range(w):
                    col_x[j] += hx[i, j]
                    col_y[j] += hy[i, j]
            for i in range(h):
                if i + r < h:
                    for j in range(w):
                        col_x[j] += hx[i + r, j]
                        col_y[j] += hy[i + r, j]
                if i - r - 1 >= 0:
                    for j in range(w):
                        col_x[j] -= hx[i - r - 1, j]
                        col_y[j] -= hy[i - r - 1, j]
                inv_h = np.float32(1.0) / np.float32(min(i + r, h - 1) - max(i - r, 0) + 1)
                if sweep == 0:
                    for j in range(w):
                        k = inv_w[j] * inv_h
                        mp = col_x[j] * k
                        a = (col_y[j] * k - mean_i[i, j] * mp) * inv_var[i, j]
                        ca[i, j] = a
                        cb[i, j] = mp - a * mean_i[i, j]
                else:
                    for j in range(w):
                        k = inv_w[j] * inv_h
                        out[i, j, c] = (col_x[j] * k) * guide[i, j] + col_y[j] * k
            if sweep == 0:  # horizontal sums of a and b for the second sweep
                for i in range(h):
                    _hsum(ca[i], hx[i], r)
                    _hsum(cb[i], hy[i], r)


@njit(parallel=True, **_JIT)
def guided_filter_planes2(
    g1: np.ndarray,
    g2: np.ndarray,
    src: np.ndarray,
    r: int,
    eps1: float,
    eps2: float,
    out: np.ndarray,
    work: np.ndarray,
    stats: np.ndarray,
) -> None:
    """Guided filter with two guides: per window ``p ~ a1 * g1 + a2 * g2 + b`` (2 x 2 least squares).

    Parameters
    ----------
    g1, g2 : (H, W) float32 guides. src : (H, W, C) float32 (any strides). r : radius >= 1.
    eps1, eps2 : regularisation of ``a1`` and ``a2``, guide units squared.
    out : (H, W, C) float32, written. work : (T, 8, H, W) and stats : (7, H, W) float32
        scratch (:func:`scratch`, :func:`stats_scratch`).
    """
    h, w = g1.shape
    n = src.shape[2]
    m1, m2, s11, s12, s22, tmp0, sq = stats[0], stats[1], stats[2], stats[3], stats[4], stats[5], stats[6]
    _box(g1, m1, tmp0, r)
    _box(g2, m2, tmp0, r)
    for i in range(h):
        for j in range(w):
            sq[i, j] = g1[i, j] * g1[i, j]
    _box(sq, s11, tmp0, r)
    for i in range(h):
        for j in range(w):
            sq[i, j] = g2[i, j] * g2[i, j]
    _box(sq, s22, tmp0, r)
    for i in range(h):
        for j in range(w):
            sq[i, j] = g1[i, j] * g2[i, j]
    _box(sq, s12, tmp0, r)
    e1, e2 = np.float32(eps1), np.float32(eps2)
    for i in range(h):  # the inverse of the regularised 2 x 2 covariance of the guides
        for j in range(w):
            v11 = s11[i, j] - m1[i, j] * m1[i, j] + e1
            v22 = s22[i, j] - m2[i, j] * m2[i, j] + e2
            v12 = s12[i, j] - m1[i, j] * m2[i, j]
            det = v11 * v22 - v12 * v12
            det = det if det > np.float32(1e-30) else np.float32(1e-30)
            s11[i, j], s22[i, j], s12[i, j] = v22 / det, v11 / det, -v12 / det
    inv_w = np.empty(w, np.float32)
    for j in range(w):
        inv_w[j] = np.float32(1.0) / np.float32(min(j + r, w - 1) - max(j - r, 0) + 1)
    for c in prange(n):
        t = get_thread_id()
        hx, hy, hz, ca, cb, cc = work[t, 0], work[t, 1], work[t, 2], work[t, 3], work[t, 4], work[t, 5]
        rows = work[t, 6]
        rp, r1, r2, col_x, col_y, col_z = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
        for i in range(h):
            for j in range(w):
                x = src[i, j, c]
                rp[j] = x
                r1[j] = x * g1[i, j]
                r2[j] = x * g2[i, j]
            _hsum(rp, hx[i], r)
            _hsum(r1, hy[i], r)
            _hsum(r2, hz[i], r)
        for sweep in range(2):  # 0: p, g1 p, g2 p -> a1, a2, b; 1: a1, a2, b -> output
            col_x[:] = 0.0
            col_y[:] = 0.0
            col_z[:] = 0.0
            for i in range(min(r, h)):
                for j in range(w):
                    col_x[j] += hx[i, j]
                    col_y[j] += hy[i, j]
                    col_z[j] += hz[i, j]
            for i in range(h):
                if i + r < h:
                    for j in range(w):
                        col_x[j] += hx[i + r, j]
                        col_y[j] += hy[i + r, j]
                        col_z[j] += hz[i + r, j]
                if i - r - 1 >= 0:
                    for j in range(w):
                        col_x[j] -= hx[i - r - 1, j]
                        col_y[j] -= hy[i - r - 1, j]
                        col_z[j] -= hz[i - r - 1, j]
                inv_h = np.float32(1.0) / np.float32(min(i + r, h - 1) - max(i - r, 0) + 1)
                if sweep == 0:
                    for j in range(w):
                        k = inv_w[j] * inv_h
                        mp = col_x[j] * k
                        c1 = col_y[j] * k - m1[i, j] * mp
                        c2 = col_z[j] * k - m2[i, j] * mp
                        a1 = s11[i, j] * c1 + s12[i, j] * c2
                        a2 = s12[i, j] * c1 + s22[i, j] * c2
                        ca[i, j] = a1
                        cb[i, j] = a2
                        cc[i, j] = mp - a1 * m1[i, j] - a2 * m2[i, j]
                else:
                    for j in range(w):
                        k = inv_w[j] * inv_h
                        out[i, j, c] = (col_x[j] * k) * g1[i, j] + (col_y[j] * k) * g2[i, j] + col_z[j] * k
            if sweep == 0:
                for i in range(h):
                    _hsum(ca[i], hx[i], r)
                    _hsum(cb[i], hy[i], r)
                    _hsum(cc[i], hz[i], r)


_WORK: list[np.ndarray] = []  # scratch kept between calls (one camera size at a time)
_STATS: list[np.ndarray] = []


def scratch(h: int, w: int) -> np.ndarray:
    """The (T, 8, H, W) float32 scratch of both kernels, reused when the size matches."""
    t = get_num_threads()
    if not _WORK or _WORK[0].shape[0] < t or _WORK[0].shape[2:] != (h, w):
        _WORK[:] = [np.empty((t, 8, h, w), np.float32)]
    return _WORK[0]


def stats_scratch(h: int, w: int) -> np.ndarray:
    """The (7, H, W) float32 scratch of the guides' statistics, reused when the size matches."""
    if not _STATS or _STATS[0].shape[1:] != (h, w):
        _STATS[:] = [np.empty((7, h, w), np.float32)]
    return _STATS[0]
