"""Compiled bicubic resampling of a frame through a similarity plus a smooth residual flow (numba).

A frame that ``--align flow`` (or ``auto``, for a frame with a large rigid residual) resamples through
its similarity ``M`` plus the dense residual flow ``F`` reads, for reference pixel ``x``, the frame at
``M (x + F(x))``. ``cv2.remap`` did that from two float32 coordinate maps per band of rows (16 taps per
pixel, positions rounded to 1/32 px, the maps built in numpy); here the same Keys cubic runs in two
one-dimensional passes, as the rigid resampling does
(:mod:`~id2reflectance.processing.solve.align_cubic`, whose weights and blends it uses): along each
frame row ``j``, the points of the row that the warp sends the output columns to (the curve of
constant output column ``x``: its output row ``y*`` solved from ``Y(x, y*) = j``) are interpolated
horizontally into an intermediate row; each output pixel is then interpolated vertically in its
column of those rows at ``Y(x, y)``. Positions are float64.

The flow is the working grid's (``scale`` camera pixels per working pixel, bilinear, the grid's edge
replicated, 0 beyond the ``window`` it covers). Along a row it is linear between the working grid's
nodes (camera columns ``wx0 + scale k + (scale - 1) / 2``), so it is evaluated at those nodes only
and interpolated between them: exact for the vertical pass's ``Y(x, y)``; for the horizontal pass's
``X(x, j)``, whose ``y*`` changes along the row, to second order (the flow's cross derivative times
the slope of ``y*``: about 1e-3 px for the smoothed residual flows the alignment applies).
The horizontal pass continues the flow beyond the window's rows (the grid's edge replicated), where
the vertical pass's output pixels have none: the two agree where the flow is 0 at the window's edge,
as the alignment's is (weighted to the face, which lies a quarter of its extent inside the window).

Pixel coordinates: ``(x = column, y = row)``, ``(0, 0)`` the centre of the top-left pixel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from id2reflectance.processing.solve.align_cubic import _blend_cols, _blend_rows, _weights

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True, "nogil": True}

TILE_COLS = 512
"""Output columns per tile: the tile's intermediate rows stay in the cache."""
SOLVE_STEPS = 4
"""Fixed-point steps solving ``Y(x, y*) = j`` on a tile's first two frame rows, from the rigid solution: each
multiplies the error by the flow's vertical derivative (under 0.1 for the smoothed residual flows). The
next rows take :data:`WARM_STEPS` from the previous rows' solutions extrapolated (their error is the
curve's curvature, then that times the derivative at each step)."""
WARM_STEPS = 1


@njit(**_JIT)
def _flow_node(fxw: np.ndarray, fyw: np.ndarray, iu: int, iu1: int, tu: float, v: float, scale: float):  # noqa: ANN202
    """The flow (camera pixels) at a node column and working row ``v``: the working grid ``fxw``, ``fyw``
    (h, w) float32 (working pixels) interpolated bilinearly between the node's grid columns ``iu``,
    ``iu1`` (fraction ``tu``) and the rows around ``v`` (clamped: the grid's edge replicated), times
    ``scale``. Camera pixel ``(x, y)`` is working pixel ``((x - wx0 + 0.5) / scale - 0.5, ...)``, ``(wx0,
    wy0)`` the window's origin."""
    hw = fxw.shape[0]
    v = min(max(v, 0.0), hw - 1.0)
    iv = int(np.floor(v))
    iv1 = min(iv + 1, hw - 1)
    tv = v - iv
    top = fxw[iv, iu] + tu * (fxw[iv, iu1] - fxw[iv, iu])
    bot = fxw[iv1, iu] + tu * (fxw[iv1, iu1] - fxw[iv1, iu])
    fx = top + tv * (bot - top)
    top = fyw[iv, iu] + tu * (fyw[iv, iu1] - fyw[iv, iu])
    bot = fyw[iv1, iu] + tu * (fyw[iv1, iu1] - fyw[iv1, iu])
    return scale * fx, scale * (top + tv * (bot - top))


@njit(**_JIT)
def _lerp_nodes(
    pos: np.ndarray, vals: np.ndarray, nodex: np.ndarray, nn: int, xa: int, i0: int, i1: int, scale: float
) -> None:
    """``pos[i]`` for ``i0 <= i < i1`` (column ``xa + i``): ``vals`` linearly interpolated between the
    nodes at columns ``nodex[:nn]`` (``scale`` apart; runs of contiguous pixels between two nodes)."""
    for q in range(nn - 1):
        s0 = max(int(np.ceil(nodex[q] - xa)), i0)
        s1 = min(int(np.ceil(nodex[q + 1] - xa)), i1)
        if s1 <= s0:
            continue
        v0 = vals[q]
        slope = (vals[q + 1] - v0) / scale
        off = xa - nodex[q]
        for i in range(s0, s1):
            pos[i] = v0 + (off + i) * slope


@njit(**_JIT)
def _extremes(pos: np.ndarray, n: int, nodes: np.ndarray, nn: int, iw0: int, iw1: int, lo: float, hi: float):  # noqa: ANN202
    """Bounds of ``pos[:n]`` (widening ``lo``, ``hi``): linear between the node values ``nodes[:nn]`` on the
    columns ``iw0 <= i < iw1`` (the nodes bound them, ``nn`` 0: none) and linear (rigid) on either side, so
    the values at the ends of those runs and at the nodes bound them all."""
    for i in (0, n - 1, iw0 - 1, iw0, iw1 - 1, iw1):
        if 0 <= i < n:
            lo = min(lo, pos[i])
            hi = max(hi, pos[i])
    for q in range(nn):
        lo = min(lo, nodes[q])
        hi = max(hi, nodes[q])
    return lo, hi


@njit(**_JIT)
def _flow_band(
    src: np.ndarray,
    src_row0: int,
    m: np.ndarray,
    fxw: np.ndarray,
    fyw: np.ndarray,
    scale: float,
    win: np.ndarray,
    x0: int,
    y0: int,
    out: np.ndarray,
) -> None:
    """``out`` (R, 3 C) float32: output rows ``y0 ..`` and columns ``x0 .. x0 + C`` resampled from ``src``
    (h, 3 W) float32 (the frame's rows from ``src_row0``; rows beyond read as its nearest, columns beyond
    the frame's edge replicated) at ``m (x + F(x))``, ``m`` (2, 3) float64 (frame rows counted from 0),
    ``F`` the working grid's flow ``fxw``, ``fyw`` interpolated bilinearly (:func:`_flow_node`) times
    ``scale``, 0 outside ``win`` (x0, y0, x1, y1; end exclusive)."""
    h, w = src.shape[0], src.shape[1] // 3
    rows, cols = out.shape[0], out.shape[1] // 3
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    a = m00 - m01 * m10 / m11  # the rigid map along frame row j: X = a x + b j + c
    b = m01 / m11
    c = m02 - m01 * m12 / m11
    wx0, wy0, wx1, wy1 = win[0], win[1], win[2], win[3]
    half = (scale - 1.0) / 2.0
    tc = min(TILE_COLS, cols)
    nmax = int(np.ceil(tc / scale)) + 3
    Y = np.empty((rows, tc))  # the tile's vertical positions (frame rows)
    pos = np.empty(tc)
    cell = np.empty(tc, np.int64)
    ends = np.empty(tc, np.int64)  # the runs' ends (align_cubic._run_ends)
    wts = np.empty(5 * tc, np.float32)
    nodex = np.empty(nmax)
    nu = np.empty(nmax, np.int64)  # the nodes' working grid columns and fractions (:func:`_flow_node`)
    nu1 = np.empty(nmax, np.int64)
    ntu = np.empty(nmax)
    xn = np.empty(nmax)
    ys = np.empty(nmax)  # the curves' y* on the previous two rows
    yp = np.empty(nmax)
    tmp = np.empty((rows + 8, 3 * tc), np.float32)
    row = np.empty(3 * (tc + 16), np.float32)
    for c0 in range(0, cols, tc):
        n = min(tc, cols - c0)
        xa = x0 + c0
        k0 = int(np.floor((xa - wx0 - half) / scale))
        nn = int(np.floor((xa + n - 1 - wx0 - half) / scale)) - k0 + 2
        ww = fxw.shape[1]
        for q in range(nn):
            nodex[q] = wx0 + scale * (k0 + q) + half
            u = min(max((nodex[q] - wx0 + 0.5) / scale - 0.5, 0.0), ww - 1.0)
            nu[q] = int(np.floor(u))
            nu1[q] = min(nu[q] + 1, ww - 1)
            ntu[q] = u - nu[q]
        iw0 = min(max(int(wx0) - xa, 0), n)  # the tile's columns inside the window: iw0 <= i < iw1
        iw1 = min(max(int(wx1) - xa, 0), n)
        ylo, yhi = np.inf, -np.inf
        for r in range(rows):  # vertical positions Y(x, y), the flow interpolated between the nodes
            y = y0 + r
            yr = Y[r]
            lo_i, hi_i = n, n  # the columns moved rigidly (no flow): i < lo_i or i >= hi_i
            if wy0 <= y < wy1 and iw1 > iw0:
                v = (y - wy0 + 0.5) / scale - 0.5
                for q in range(nn):
                    fx, fy = _flow_node(fxw, fyw, nu[q], nu1[q], ntu[q], v, scale)
                    xn[q] = m10 * (nodex[q] + fx) + m11 * (y + fy) + m12
                _lerp_nodes(yr, xn, nodex, nn, xa, iw0, iw1, scale)
                lo_i, hi_i = iw0, iw1
            for i in range(0, lo_i):
                yr[i] = m10 * (xa + i) + m11 * y + m12
            for i in range(hi_i, n):
                yr[i] = m10 * (xa + i) + m11 * y + m12
            ylo, yhi = _extremes(yr, n, xn, nn if hi_i > lo_i else 0, iw0, iw1, ylo, yhi)
        j0 = int(np.floor(ylo)) - 1
        j1 = int(np.floor(yhi)) + 2
        if j1 - j0 + 1 > tmp.shape[0]:
            tmp = np.empty((j1 - j0 + 1, 3 * tc), np.float32)
        for j in range(j0, j1 + 1):  # horizontal pass: frame row j along the curves of constant output column
            jr = min(max(j - src_row0, 0), h - 1)
            for q in range(nn):  # the curve's point on row j at each node: y* from Y(x, y*) = j
                xq = nodex[q]
                if j <= j0 + 1:  # from the rigid solution
                    yq = (j - m12 - m10 * xq) / m11
                    steps = SOLVE_STEPS
                else:  # from the previous rows' solutions, one row further along the curve
                    yq = 2.0 * ys[q] - yp[q]
                    steps = WARM_STEPS
                fx = 0.0
                fy = 0.0
                for _ in range(steps):  # the flow continued beyond the window's rows (its edge replicated)
                    fx, fy = _flow_node(fxw, fyw, nu[q], nu1[q], ntu[q], (yq - wy0 + 0.5) / scale - 0.5, scale)
                    yq = (j - m12 - m10 * (xq + fx)) / m11 - fy
                yp[q] = ys[q]
                ys[q] = yq
                xn[q] = m00 * (xq + fx) + m01 * (yq + fy) + m02
            _lerp_nodes(pos, xn, nodex, nn, xa, iw0, iw1, scale)
            for i in range(0, iw0):
                pos[i] = a * (xa + i) + b * j + c
            for i in range(max(iw1, iw0), n):
                pos[i] = a * (xa + i) + b * j + c
            plo, phi = _extremes(pos, n, xn, nn if iw1 > iw0 else 0, iw0, iw1, np.inf, -np.inf)
            _weights(pos, n, cell, wts, False)
            trow = tmp[j - j0, : 3 * n]
            lo_c = int(np.floor(plo)) - 1
            hi_c = int(np.floor(phi)) + 2
            if lo_c >= 0 and hi_c <= w - 1:  # the frame's row itself
                seg = src[jr]
                base = 0
            else:  # the columns it reads, the frame's edge replicated
                span = hi_c - lo_c + 1
                if 3 * span > row.shape[0]:
                    row = np.empty(3 * span, np.float32)
                for q in range(span):
                    col = 3 * min(max(lo_c + q, 0), w - 1)
                    for ch in range(3):
                        row[3 * q + ch] = src[jr, col + ch]
                seg = row
                base = lo_c
            _blend_cols(trow, wts, cell, n, xa, seg, base, ends)
        for r in range(rows):  # vertical pass: each output pixel in its column's curve at Y(x, y)
            for i in range(n):
                pos[i] = Y[r, i]
            _weights(pos, n, cell, wts, False)
            _blend_rows(out[r, 3 * c0 : 3 * (c0 + n)], wts, cell, n, tmp, j0, ends)


def warp_flow_rows(
    src: np.ndarray,
    src_row0: int,
    M: np.ndarray,
    flow: np.ndarray,
    scale: int,
    window: tuple[int, int, int, int],
    x0: int,
    y0: int,
    out: np.ndarray,
) -> bool:
    """Resample output rows ``y0 .. y0 + R`` and columns ``x0 .. x0 + C`` of a frame through a similarity
    plus a residual flow into ``out`` (Keys' cubic, two compiled passes; module docstring).

    Parameters
    ----------
    src : (h, W, 3) float32, rows ``src_row0 .. src_row0 + h`` of the frame (rows beyond them read as the
        nearest of them, columns beyond the frame's edge replicated).
    M : (2, 3) or (3, 3) float64 similarity, reference pixel -> frame pixel (camera pixels).
    flow : (hw, ww, 2) float32 flow on the working grid (working pixels): reference pixel ``x`` is read
        at ``M (x + F(x))``, ``F`` the flow interpolated bilinearly at camera pixel ``x`` (working pixel
        ``(x - window origin + 0.5) / scale - 0.5``, the grid's edge replicated) times ``scale``, 0 outside
        ``window`` (x0, y0, x1, y1; camera pixels, end exclusive).
    out : (R, C, 3) float32, C-contiguous, written.

    Returns
    -------
    False (nothing written) where the kernel does not apply: not three float32 channels, a row's pixels
    not contiguous, a map that turns rows by 60 degrees or more, or an empty flow grid.
    """
    m = np.ascontiguousarray(M[:2], np.float64)
    ok = src.dtype == np.float32 and src.ndim == 3 and src.shape[2] == 3 and src.strides[1:] == (12, 4)
    if not ok or not out.flags.c_contiguous or out.dtype != np.float32 or abs(m[1, 1]) < 0.5:
        return False
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        return False
    R, C = out.shape[:2]
    if R == 0 or C == 0:
        return True
    h, w = src.shape[:2]
    rows = np.lib.stride_tricks.as_strided(src, (h, 3 * w), (src.strides[0], 4), writeable=False)
    fxw = np.ascontiguousarray(flow[..., 0], np.float32)
    fyw = np.ascontiguousarray(flow[..., 1], np.float32)
    win = np.array(window, np.float64)
    _flow_band(rows, src_row0, m, fxw, fyw, float(scale), win, x0, y0, out.reshape(R, 3 * C))
    return True
