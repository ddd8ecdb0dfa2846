"""Compiled bicubic resampling of a moved frame through an affine map, separably (numba).

A frame moved by a similarity (an affine map ``(x, y) -> (X, Y)``, reference pixel -> frame
pixel) is resampled in two one-dimensional cubic passes instead of OpenCV's sixteen-tap
``warpAffine``: along each source row ``j``, the points of the row that the map sends the
output columns to (``X = a x + b j + c``: the output row solved from ``Y = j`` at output
column ``x``) are interpolated horizontally into an intermediate image ``T(x, j)``;
then each output pixel is interpolated vertically in its column of ``T`` at ``Y = m10 x +
m11 y + m12``. For a translation that is the bicubic's own tensor product (the same weights);
for a rotation the vertical pass interpolates along the slanted line of constant output
column, the same order of accuracy. Keys' cubic with ``a = -0.75`` (OpenCV's), the frame's
edge replicated, float64 positions (no 1/32 px rounding), float32 sums.

Eight multiply-adds per channel instead of sixteen, the weights computed once per pixel for
the three channels, the blends over runs of pixels read at the same offset (contiguous: SIMD):
see docs/solve.md section 1b (Resampling) for the measured cost. Tiles
of :data:`TILE_COLS` columns keep the intermediate rows in the cache. Compiled on first use
and cached on disk beside this module; releases the GIL (``nogil``), so that a camera's
threads resample their frames in parallel.

:func:`warp_box_in_place` runs the same passes over a frame's box straight into the frame (strips of
512 to 2048 columns, :func:`strip_cols`, each top to bottom, its intermediate rows in a ring; the columns
the next strip reads saved as decoded before they are overwritten): bit for bit :func:`warp_rows`' values on a
C-contiguous frame; it also takes an EXR file's view (each row's channels as planes: the same values
to float32 rounding).

With ``spline=True`` the passes take the cubic B-spline's weights instead of Keys'; :func:`prefilter_box`
(the spline's prefilter over the resampled box, one compiled sweep) then makes the result the
interpolating cubic spline's (``align_resample.spline_prefilter``; sessions without inverse patterns).

Pixel coordinates: ``(x = column, y = row)``, ``(0, 0)`` the centre of the top-left pixel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True, "nogil": True}

TILE_COLS = 512
"""Output columns per tile: the intermediate rows a tile needs stay in the cache (:func:`warp_rows`; the
narrowest strip of :func:`warp_box_in_place`)."""
STRIP_COLS = (2048, 1024, TILE_COLS)
"""The strip widths :func:`warp_box_in_place` chooses from: the widest whose ring of intermediate rows fits
:data:`RING_BYTES` (fewer strips: fewer rows read twice at their seams and less per-row work; 2048^2 frame,
0.3 deg: 21 ms of CPU in strips of 512, 17-20 in 2048; 4096^2 at 1.5 deg, a ring of 2.8 MB: 147 against 127 in
1024)."""
RING_BYTES = 1 << 20
"""Largest ring of intermediate rows (bytes) a wider strip may take (about a core's L2 cache)."""
KEYS_A = -0.75
"""Keys' cubic convolution parameter (OpenCV's bicubic)."""


@njit(**_JIT)
def _weights(pos: np.ndarray, n: int, cell: np.ndarray, wts: np.ndarray, spline: bool) -> None:
    """Per output column ``i < n``: ``cell[i] = floor(pos[i])`` and the cubic weights of the taps
    ``cell - 1 .. cell + 2`` (Keys', or the cubic B-spline's when ``spline``): ``wts[k n + i]`` (1-D;
    ``wts[4 n : 5 n]`` holds the fractions: the weights' loop runs on arrays that do not alias)."""
    frac = wts[4 * n : 5 * n]
    for i in range(n):
        f = np.floor(pos[i])
        cell[i] = np.int64(f)
        frac[i] = np.float32(pos[i] - f)
    if spline:
        _bspline(frac, wts[:n], wts[n : 2 * n], wts[2 * n : 3 * n], wts[3 * n : 4 * n])
    else:
        _keys(frac, wts[:n], wts[n : 2 * n], wts[2 * n : 3 * n], wts[3 * n : 4 * n])


@njit(**_JIT)
def _bspline(frac: np.ndarray, w0: np.ndarray, w1: np.ndarray, w2: np.ndarray, w3: np.ndarray) -> None:
    """The cubic B-spline's weights of the taps at -1, 0, 1, 2 for positions ``frac`` in [0, 1) past
    tap 0 (1-D, contiguous, none the same array). Not interpolating by itself: the resampled image is
    the spline's only once its coefficients' prefilter is applied (``align_resample.spline_prefilter``,
    which commutes with a translation)."""
    one = np.float32(1.0)
    sixth = np.float32(1.0 / 6.0)
    for e in range(frac.shape[0]):
        t = frac[e]
        u = one - t
        t2 = t * t
        v0 = u * u * u * sixth
        v1 = (np.float32(3.0) * t2 * t - np.float32(6.0) * t2 + np.float32(4.0)) * sixth
        v3 = t2 * t * sixth
        w0[e] = v0
        w1[e] = v1
        w3[e] = v3
        w2[e] = one - v0 - v1 - v3


@njit(**_JIT)
def _keys(frac: np.ndarray, w0: np.ndarray, w1: np.ndarray, w2: np.ndarray, w3: np.ndarray) -> None:
    """Keys' cubic weights (``a`` = :data:`KEYS_A`) of the taps at -1, 0, 1, 2 for positions ``frac``
    in [0, 1) past tap 0 (1-D, contiguous, none the same array: SIMD; aliased, 3x slower)."""
    a = np.float32(KEYS_A)
    one = np.float32(1.0)
    for e in range(frac.shape[0]):
        t = frac[e]
        s = t + one
        u = one - t
        v0 = ((a * s - np.float32(5.0) * a) * s + np.float32(8.0) * a) * s - np.float32(4.0) * a
        v1 = ((a + np.float32(2.0)) * t - (a + np.float32(3.0))) * t * t + one
        v2 = ((a + np.float32(2.0)) * u - (a + np.float32(3.0))) * u * u + one
        w0[e] = v0
        w1[e] = v1
        w2[e] = v2
        w3[e] = one - v0 - v1 - v2


@njit(**_JIT)
def _run_ends(cell: np.ndarray, n: int, step: int, ends: np.ndarray) -> int:
    """Split pixels ``0 .. n`` into runs of equal ``cell[i] - step i`` (``step`` 1: the horizontal pass's
    columns read at the same offset; 0: the vertical pass's pixels reading the same rows): ``ends[:m]`` the
    runs' ends (exclusive), ``m`` returned.

    Where that key is monotone along the row (a similarity's: one check of the smallest and largest step,
    vectorised) each run's end is found by bisection, else pixel by pixel: the same runs either way, at a
    quarter of the pixel-by-pixel scan's cost on a similarity's few long runs."""
    lo = 0
    hi = 0
    for i in range(1, n):
        dl = cell[i] - cell[i - 1] - step
        lo = min(lo, dl)
        hi = max(hi, dl)
    m = 0
    i = 0
    if lo >= 0 or hi <= 0:  # monotone: the key of pixel i is kept up to a single point of change
        while i < n:
            d = cell[i] - step * i
            if cell[n - 1] - step * (n - 1) == d:
                ends[m] = n
                return m + 1
            a, b = i, n - 1  # key(a) == d != key(b)
            while b - a > 1:
                c = (a + b) >> 1
                if cell[c] - step * c == d:
                    a = c
                else:
                    b = c
            ends[m] = b
            m += 1
            i = b
        return m
    while i < n:
        d = cell[i] - step * i
        k = i + 1
        while k < n and cell[k] - step * k == d:
            k += 1
        ends[m] = k
        m += 1
        i = k
    return m


@njit(**_JIT)
def _blend(
    out: np.ndarray,
    wts: np.ndarray,
    i0: int,
    i1: int,
    p0: np.ndarray,
    p1: np.ndarray,
    p2: np.ndarray,
    p3: np.ndarray,
    o: int,
    step: int,
) -> None:
    """``out[3 i + ch] = sum_k wts[k n + i] p_k[3 i + ch + o + k step]`` for ``i0 <= i < i1``
    (``n = len(out) / 3``: the pixels' weights, the three channels interleaved)."""
    n = out.shape[0] // 3
    m = i1 - i0
    e0 = 3 * i0 + o
    _fma4(
        out[3 * i0 : 3 * i1],
        wts[i0:i1],
        wts[n + i0 : n + i1],
        wts[2 * n + i0 : 2 * n + i1],
        wts[3 * n + i0 : 3 * n + i1],
        p0[e0 : e0 + 3 * m],
        p1[e0 + step : e0 + step + 3 * m],
        p2[e0 + 2 * step : e0 + 2 * step + 3 * m],
        p3[e0 + 3 * step : e0 + 3 * step + 3 * m],
    )


@njit(**_JIT)
def _blend_cols(
    trow: np.ndarray,
    wts: np.ndarray,
    cell: np.ndarray,
    n: int,
    xa: int,
    seg: np.ndarray,
    base: int,
    ends: np.ndarray,
) -> None:
    """The horizontal pass of one frame row: ``trow`` (3 n,) float32 interleaved RGB, output column
    ``xa + i`` the 4-tap blend (weights ``wts[k n + i]``, k = 0..3) of frame columns ``cell[i] - 1 ..
    cell[i] + 2``, read from ``seg`` (interleaved RGB, its first pixel frame column ``base``), taken in
    runs of columns read at the same offset."""
    i = 0
    for q in range(_run_ends(cell, n, 1, ends)):
        k = ends[q]
        d = cell[i] - (xa + i)
        _blend(trow, wts, i, k, seg, seg, seg, seg, 3 * (xa + d - 1 - base), 3)
        i = k


@njit(**_JIT)
def _blend_rows(
    orow: np.ndarray, wts: np.ndarray, cell: np.ndarray, n: int, tmp: np.ndarray, j0: int, ends: np.ndarray
) -> None:
    """The vertical pass of one output row: ``orow`` (3 n,) float32 interleaved RGB, each pixel ``i``
    the 4-tap blend (weights ``wts[k n + i]``, k = 0..3) of the horizontal pass's rows ``cell[i] - 1 .. cell[i] + 2``
    (frame rows; ``tmp`` row ``t`` holds frame row ``j0 + t``), taken in runs of pixels that read the
    same rows."""
    i = 0
    for q in range(_run_ends(cell, n, 0, ends)):
        k = ends[q]
        t = cell[i] - j0
        _blend(orow, wts, i, k, tmp[t - 1, : 3 * n], tmp[t, : 3 * n], tmp[t + 1, : 3 * n], tmp[t + 2, : 3 * n], 0, 0)
        i = k


@njit(**_JIT)
def _fma4(
    out: np.ndarray,
    w0: np.ndarray,
    w1: np.ndarray,
    w2: np.ndarray,
    w3: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray,
    p2: np.ndarray,
    p3: np.ndarray,
) -> None:
    """``out[3 i + ch] = w0[i] p0[3 i + ch] + ... + w3[i] p3[3 i + ch]`` (1-D, contiguous, indices from 0)."""
    for i in range(w0.shape[0]):
        for ch in range(3):
            e = 3 * i + ch
            out[e] = w0[i] * p0[e] + w1[i] * p1[e] + w2[i] * p2[e] + w3[i] * p3[e]


@njit(**_JIT)
def _warp_rows(src: np.ndarray, src_row0: int, m: np.ndarray, x0: int, y0: int, out: np.ndarray, spline: bool) -> None:
    """``out`` (R, 3 C) float32: output rows ``y0 ..`` and columns ``x0 .. x0 + C`` (frame pixels)
    resampled from ``src`` (h, 3 W) float32 (a pixel's channels and a row's pixels contiguous), the
    frame's rows from ``src_row0`` on, through ``m`` (2, 3) float64 (output pixel -> frame pixel,
    frame rows counted from 0); tiles of :data:`TILE_COLS` columns."""
    h, w = src.shape[0], src.shape[1] // 3
    rows, cols = out.shape[0], out.shape[1] // 3
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    # along frame row j at output column x: X = a x + b j + c (the output row y solved from Y = j)
    a = m00 - m01 * m10 / m11
    b = m01 / m11
    c = m02 - m01 * m12 / m11
    tc = min(TILE_COLS, cols)
    reach = int(np.ceil(abs(m10) * tc + abs(m11) * rows)) + 6
    span = int(np.ceil(abs(a) * tc + abs(b) * reach)) + 8
    tmp = np.empty((reach, 3 * tc), np.float32)  # the intermediate rows of a tile
    row = np.empty(3 * span, np.float32)  # the part of a frame row a tile reads (edge replicated)
    wts = np.empty(5 * tc, np.float32)
    pos = np.empty(tc)
    cell = np.empty(tc, np.int64)
    ends = np.empty(tc, np.int64)  # the runs' ends (_run_ends)
    for c0 in range(0, cols, tc):
        n = min(tc, cols - c0)
        xa, xb = x0 + c0, x0 + c0 + n - 1
        ylo = min(m10 * xa, m10 * xb) + min(m11 * y0, m11 * (y0 + rows - 1)) + m12
        yhi = max(m10 * xa, m10 * xb) + max(m11 * y0, m11 * (y0 + rows - 1)) + m12
        j0 = int(np.floor(ylo)) - 1
        j1 = int(np.floor(yhi)) + 3
        xlo = min(a * xa, a * xb) + min(b * j0, b * (j1 - 1)) + c
        seg0 = int(np.floor(xlo)) - 2
        for j in range(j0, j1):  # horizontal pass: frame row j at the tile's output columns
            jr = min(max(j - src_row0, 0), h - 1)  # rows beyond src: its nearest (the frame's edge replicated)
            if seg0 >= 0 and seg0 + span <= w:
                seg = src[jr, 3 * seg0 : 3 * (seg0 + span)]
                for e in range(3 * span):
                    row[e] = seg[e]
            else:
                for q in range(span):
                    col = 3 * min(max(seg0 + q, 0), w - 1)
                    for ch in range(3):
                        row[3 * q + ch] = src[jr, col + ch]
            for i in range(n):
                pos[i] = a * (xa + i) + b * j + c
            _weights(pos, n, cell, wts, spline)
            _blend_cols(tmp[j - j0, : 3 * n], wts, cell, n, xa, row, seg0, ends)
        for r in range(rows):  # vertical pass: each output column at its frame row position
            for i in range(n):
                pos[i] = m10 * (xa + i) + m11 * (y0 + r) + m12
            _weights(pos, n, cell, wts, spline)
            _blend_rows(out[r, 3 * c0 : 3 * (c0 + n)], wts, cell, n, tmp, j0, ends)


def warp_rows(
    src: np.ndarray, src_row0: int, M: np.ndarray, x0: int, y0: int, out: np.ndarray, *, spline: bool = False
) -> bool:
    """Resample output rows ``y0 .. y0 + R`` and columns ``x0 .. x0 + C`` of a frame into ``out``.

    Parameters
    ----------
    src : (h, W, 3) float32, rows ``src_row0 .. src_row0 + h`` of the frame (rows of any stride; rows
        beyond them are read as the nearest of them: the frame's edge replicated, when ``src``
        holds the frame's first or last row).
    M : (2, 3) or (3, 3) float64, output (reference) pixel -> frame pixel, camera pixels.
    out : (R, C, 3) float32, C-contiguous, written.
    spline : the cubic B-spline's weights instead of Keys' (``out`` is then the spline's once
        :func:`~id2reflectance.processing.solve.align_resample.spline_prefilter` is applied to it).

    Returns
    -------
    False (nothing written) when the kernel does not apply: not three float32 channels, a row's
    pixels not contiguous (e.g. a view of an interleaved file), or a map that turns rows by 60
    degrees or more.
    """
    m = np.ascontiguousarray(M[:2], np.float64)
    ok = src.dtype == np.float32 and src.ndim == 3 and src.shape[2] == 3 and src.strides[1:] == (12, 4)
    if not ok or not out.flags.c_contiguous or out.dtype != np.float32 or abs(m[1, 1]) < 0.5:
        return False
    h, w = src.shape[:2]
    rows = np.lib.stride_tricks.as_strided(src, (h, 3 * w), (src.strides[0], 4), writeable=False)
    R, C = out.shape[:2]
    _warp_rows(rows, src_row0, m, x0, y0, out.reshape(R, 3 * C), spline)
    return True


@njit(**_JIT)
def _fma4s(
    out: np.ndarray,
    w0: np.ndarray,
    w1: np.ndarray,
    w2: np.ndarray,
    w3: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray,
    p2: np.ndarray,
    p3: np.ndarray,
) -> None:
    """``out[i] = w0[i] p0[i] + ... + w3[i] p3[i]`` (1-D, contiguous, one channel)."""
    for i in range(w0.shape[0]):
        out[i] = w0[i] * p0[i] + w1[i] * p1[i] + w2[i] * p2[i] + w3[i] * p3[i]


@njit(**_JIT)
def _taps(
    out: np.ndarray,
    ooff: int,
    olen: int,
    wts: np.ndarray,
    n: int,
    i0: int,
    i1: int,
    p: tuple,
    plen: int,
    o: int,
    step: int,
    planar: bool,
) -> None:
    """Pixels ``ooff + i`` (``i0 <= i < i1``) of the row ``out`` = ``sum_k wts[k n + i] p_k[pixel o + i + k step]``,
    three channels: interleaved (``planar`` False: element ``3 x + ch``) or channel planes (element
    ``ch olen + x`` of ``out``, ``ch plen + x`` of each ``p_k``)."""
    p0, p1, p2, p3 = p
    if not planar:
        _blend(out[3 * ooff : 3 * (ooff + n)], wts, i0, i1, p0, p1, p2, p3, 3 * o, 3 * step)
        return
    m = i1 - i0
    e = o + i0
    for ch in range(3):
        q = ch * plen + e
        r = ch * olen + ooff
        _fma4s(
            out[r + i0 : r + i1],
            wts[i0:i1],
            wts[n + i0 : n + i1],
            wts[2 * n + i0 : 2 * n + i1],
            wts[3 * n + i0 : 3 * n + i1],
            p0[q : q + m],
            p1[q + step : q + step + m],
            p2[q + 2 * step : q + 2 * step + m],
            p3[q + 3 * step : q + 3 * step + m],
        )


@njit(**_JIT)
def _read_row(
    row: np.ndarray,
    fr: np.ndarray,
    saved: np.ndarray,
    jr: int,
    y0: int,
    seg0: int,
    span: int,
    w: int,
    xa: int,
    ks: int,
    spare: bool,
    planar: bool,
) -> None:
    """The part of frame row ``jr`` a strip's horizontal pass reads, frame columns ``seg0 .. seg0 + span``, into
    ``row`` (interleaved, or ``planar``: channel planes of ``span``): the frame's edge replicated, and where
    ``spare`` the columns left of ``xa`` (already written by the previous strip) from ``saved`` (``saved[:, q]``
    frame column ``ks + q`` as decoded). The columns inside the frame and not saved are copied as blocks."""
    q = 0
    while q < span:  # left of the frame (its first column replicated) or saved: one by one
        col = min(max(seg0 + q, 0), w - 1)
        if seg0 + q >= 0 and not (spare and col < xa):
            break
        if spare and col < xa:
            for ch in range(3):
                row[ch * span + q if planar else 3 * q + ch] = saved[jr - y0, 3 * (col - ks) + ch]
        elif planar:
            for ch in range(3):
                row[ch * span + q] = fr[jr, ch * w + col]
        else:
            for ch in range(3):
                row[3 * q + ch] = fr[jr, 3 * col + ch]
        q += 1
    end = max(min(span, w - seg0), q)  # columns seg0 + q < w: a block
    if planar:
        for ch in range(3):
            dst = row[ch * span + q : ch * span + end]
            src = fr[jr, ch * w + seg0 + q : ch * w + seg0 + end]
            for e in range(end - q):
                dst[e] = src[e]
    else:
        dst = row[3 * q : 3 * end]
        src = fr[jr, 3 * (seg0 + q) : 3 * (seg0 + end)]
        for e in range(3 * (end - q)):
            dst[e] = src[e]
    for q in range(end, span):  # right of the frame: its last column replicated
        for ch in range(3):
            row[ch * span + q if planar else 3 * q + ch] = fr[jr, ch * w + w - 1 if planar else 3 * (w - 1) + ch]


@njit(**_JIT)
def _warp_box(
    fr: np.ndarray,
    planar: bool,
    m: np.ndarray,
    x0: int,
    y0: int,
    x1: int,
    y1: int,
    keep: int,
    spline: bool,
    strip: int,
) -> None:
    """The box ``x0 <= x < x1``, ``y0 <= y < y1`` of the frame ``fr`` (h, 3 w) float32 (a pixel's channels
    and a row's pixels contiguous, any row stride) resampled through ``m`` (2, 3) float64 (output pixel
    -> frame pixel) into itself, by the passes of :func:`_warp_rows` on strips of ``strip`` columns, each
    strip top to bottom.

    Every output row is written once, straight into the frame: within a strip the intermediate rows
    are kept in a ring and an output row is written only once the horizontal pass has read the frame's
    row of the same index (no later read of the strip needs it); the ``keep`` columns left of each
    strip's end, which the next strip's horizontal pass reads, are saved as decoded before they are
    overwritten (``keep``: at least how far left of its first column a strip reads, taps included)."""
    h, w = fr.shape[0], fr.shape[1] // 3
    cols = x1 - x0
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    a = m00 - m01 * m10 / m11
    b = m01 / m11
    c = m02 - m01 * m12 / m11
    tc = min(strip, cols)
    # rows of intermediate results a strip keeps: from the lowest a row reads to the highest computed
    dy = 0.0
    for xc in (x0, x1 - 1):
        for yc in (y0, y1 - 1):
            dy = max(dy, abs(m10 * xc + m11 * yc + m12 - yc))
    ring = int(np.ceil(abs(m10) * tc + dy)) + 8
    span = int(np.ceil(abs(a) * tc)) + 8  # the part of a frame row one row of a strip reads
    tmp = np.empty((ring, 3 * tc), np.float32)
    row = np.empty(3 * span, np.float32)
    saved = np.empty((y1 - y0, 3 * keep), np.float32)  # the previous strip's last columns as decoded
    nxt = np.empty((y1 - y0, 3 * keep), np.float32)
    wts = np.empty(5 * tc, np.float32)
    pos = np.empty(tc)
    cell = np.empty(tc, np.int64)
    ends = np.empty(tc, np.int64)  # the runs' ends (_run_ends)
    for c0 in range(0, cols, tc):
        n = min(tc, cols - c0)
        xa, xb = x0 + c0, x0 + c0 + n - 1
        first = c0 == 0
        last = c0 + n >= cols
        ks = xa - keep  # saved[:, q] holds frame column ks + q (as decoded) of rows y0 .. y1 - 1
        done = -(1 << 60)  # the last intermediate row computed
        for r in range(y1 - y0):
            y = y0 + r
            ylo = min(m10 * xa, m10 * xb) + m11 * y + m12
            yhi = max(m10 * xa, m10 * xb) + m11 * y + m12
            lo = int(np.floor(ylo)) - 1
            hi = max(int(np.floor(yhi)) + 2, y)  # the frame's row y read before it is written
            if done < lo - 1:
                done = lo - 1
            for j in range(done + 1, hi + 1):  # horizontal pass: frame row j at the strip's columns
                jr = min(max(j, 0), h - 1)
                for i in range(n):
                    pos[i] = a * (xa + i) + b * j + c
                seg0 = int(np.floor(min(pos[0], pos[n - 1]))) - 2
                spare = not first and y0 <= jr < y1 and seg0 < xa  # columns already written: the saved ones
                _weights(pos, n, cell, wts, spline)
                trow = tmp[j % ring, : 3 * n]
                if not spare and seg0 >= 0 and seg0 + span <= w:  # the frame's row itself
                    src = fr[jr]
                    i = 0
                    for q in range(_run_ends(cell, n, 1, ends)):
                        k = ends[q]
                        d = cell[i] - (xa + i)
                        if planar:
                            _taps(tmp[j % ring], 0, tc, wts, n, i, k, (src, src, src, src), w, xa + d - 1, 1, True)
                        else:
                            _blend(trow, wts, i, k, src, src, src, src, 3 * (xa + d - 1), 3)
                        i = k
                    continue
                _read_row(row, fr, saved, jr, y0, seg0, span, w, xa, ks, spare, planar)
                i = 0
                for q in range(_run_ends(cell, n, 1, ends)):
                    k = ends[q]
                    d = cell[i] - (xa + i)
                    if planar:
                        _taps(
                            tmp[j % ring], 0, tc, wts, n, i, k, (row, row, row, row), span, xa + d - 1 - seg0, 1, True
                        )
                    else:
                        _blend(trow, wts, i, k, row, row, row, row, 3 * (xa + d - 1 - seg0), 3)
                    i = k
            done = hi
            for i in range(n):  # vertical pass: each output column at its frame row position
                pos[i] = m10 * (xa + i) + m11 * y + m12
            _weights(pos, n, cell, wts, spline)
            if not last:  # the next strip reads these columns as decoded
                for q in range(keep):  # saved interleaved whatever the frame's layout
                    for ch in range(3):
                        col = xb + 1 - keep + q
                        nxt[r, 3 * q + ch] = fr[y, ch * w + col if planar else 3 * col + ch]
            out = fr[y, 3 * xa : 3 * (xa + n)]  # written straight into the frame
            dst = fr[y]
            i = 0
            for q in range(_run_ends(cell, n, 0, ends)):
                k = ends[q]
                t = cell[i]
                if planar:
                    rows = (tmp[(t - 1) % ring], tmp[t % ring], tmp[(t + 1) % ring], tmp[(t + 2) % ring])
                    _taps(dst, xa, w, wts, n, i, k, rows, tc, 0, 0, True)
                    i = k
                    continue
                _blend(
                    out,
                    wts,
                    i,
                    k,
                    tmp[(t - 1) % ring, : 3 * n],
                    tmp[t % ring, : 3 * n],
                    tmp[(t + 1) % ring, : 3 * n],
                    tmp[(t + 2) % ring, : 3 * n],
                    0,
                    0,
                )
                i = k
        saved, nxt = nxt, saved


def _vertical_reach(m: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The largest vertical displacement (pixels) ``m`` (2, 3) gives a corner of ``box``: how far from its own
    rows the frame rows a strip of the box reads lie (before the strip's slope and the taps)."""
    x0, y0, x1, y1 = box
    return max(abs(m[1, 0] * x + m[1, 1] * y + m[1, 2] - y) for x in (x0, x1 - 1) for y in (y0, y1 - 1))


def strip_cols(M: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """The strip width of :func:`warp_box_in_place` for ``M`` and ``box``: the widest of :data:`STRIP_COLS` whose
    ring of intermediate rows (the motion's vertical reach over a strip plus the taps) fits :data:`RING_BYTES`."""
    m = np.asarray(M, np.float64)
    x0, _, x1, _ = box
    dy = _vertical_reach(m, box)
    for cols in STRIP_COLS:
        tc = min(cols, max(x1 - x0, 1))
        if (int(np.ceil(abs(m[1, 0]) * tc + dy)) + 8) * 12 * tc <= RING_BYTES:
            return cols
    return TILE_COLS


def warp_box_in_place(
    img: np.ndarray, M: np.ndarray, box: tuple[int, int, int, int], *, spline: bool = False, strip: int | None = None
) -> bool:
    """Resample the ``box`` (x0, y0, x1, y1; end exclusive) of a frame into itself through ``M``.

    The values of :func:`warp_rows` into a new array, computed in strips of columns (``strip``; None: as
    :func:`strip_cols` chooses, at least :data:`TILE_COLS`; the values do not depend on it) written straight
    into the frame (no band buffer, no second frame-sized array); ``img`` (H, W, 3)
    float32, a pixel's channels and a row's pixels contiguous (any row stride); ``M`` (2, 3) or (3, 3)
    float64, output (reference) pixel -> frame pixel; ``spline``: the cubic B-spline's weights (as
    :func:`warp_rows`). Returns False (nothing written) where :func:`warp_rows` would not apply.
    """
    m = np.ascontiguousarray(M[:2], np.float64)
    if img.dtype != np.float32 or img.ndim != 3 or img.shape[2] != 3 or abs(m[1, 1]) < 0.5:
        return False
    h, w = img.shape[:2]
    s0, s1, s2 = img.strides
    planar = s1 == 4 and abs(s2) == 4 * w
    if not (planar or (s1, s2) == (12, 4)) or s0 % 4 or s0 < 12 * w or not img.flags.writeable:
        return False
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return True
    # how far left of its first column a strip's horizontal pass reads (taps included)
    a = m[0, 0] - m[0, 1] * m[1, 0] / m[1, 1]
    b, c = m[0, 1] / m[1, 1], m[0, 2] - m[0, 1] * m[1, 2] / m[1, 1]
    # the frame rows a strip reads: those the box's rows are moved to, and the taps around them
    reach = _vertical_reach(m, box)
    strip = strip_cols(m, box) if strip is None else max(int(strip), 1)
    reach = int(np.ceil(reach + abs(m[1, 0]) * max(strip, TILE_COLS))) + 4
    corners = [(x, j) for x in (x0, x1 - 1) for j in (y0 - reach, y1 + reach)]
    keep = int(np.ceil(max(x - (a * x + b * j + c) for x, j in corners))) + 4
    keep = max(keep, 1)
    if keep >= min(TILE_COLS, strip, x1 - x0):
        return False
    first = img[:, :, 2] if s2 < 0 else img[:, :, 0]  # a row's first element in memory
    rows = np.lib.stride_tricks.as_strided(first, (h, 3 * w), (s0, 4))
    _warp_box(rows, planar, m, x0, y0, x1, y1, keep, spline, strip)
    return True


@njit(**_JIT)
def _sym13(out, p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, h):  # noqa: ANN001
    """``out[e] = sum_k h[k] p_k[e]`` for a symmetric 13-tap ``h``, every tap in one pass (1-D)."""
    h0, h1, h2, h3, h4, h5, h6 = h[6], h[7], h[8], h[9], h[10], h[11], h[12]
    for e in range(out.shape[0]):
        out[e] = (
            h0 * p6[e]
            + h1 * (p5[e] + p7[e])
            + h2 * (p4[e] + p8[e])
            + h3 * (p3[e] + p9[e])
            + h4 * (p2[e] + p10[e])
            + h5 * (p1[e] + p11[e])
            + h6 * (p0[e] + p12[e])
        )


@njit(**_JIT)
def _prefilter_rows(fr: np.ndarray, x0: int, y0: int, x1: int, y1: int, h: np.ndarray) -> None:
    """The separable kernel ``h`` (2 K + 1,) float32, symmetric, over the box ``x0 <= x < x1``,
    ``y0 <= y < y1`` of ``fr`` (rows, 3 w) float32 (a pixel's three channels contiguous), in place,
    reflected at the box's edges (``x[-k] = x[k]``).

    One sweep down the box: each row filtered horizontally into a ring of ``2 K + 1`` rows, each
    output row the ring's vertical sum written into the frame ``K`` rows later (by then every row it
    reads is in the ring; a row reflected past the bottom is a copy of a ring row)."""
    K = h.shape[0] // 2
    S = 2 * K + 1
    n = x1 - x0
    rows = y1 - y0
    e_n = 3 * n
    ring = np.empty((S, e_n), np.float32)
    pad = np.empty(e_n + 6 * K, np.float32)
    acc = np.empty(e_n, np.float32)
    for r in range(-K, rows + K):
        slot = r % S
        if r >= rows:  # reflected past the bottom: its source row is still in the ring
            src = 2 * (rows - 1) - r
            ring[slot, :] = ring[src % S, :]
        else:
            p = -r if r < 0 else r
            row = fr[y0 + p]
            b = 3 * x0
            for e in range(e_n):
                pad[3 * K + e] = row[b + e]
            for m in range(1, K + 1):  # reflected at the box's left and right edges
                for c in range(3):
                    pad[3 * (K - m) + c] = row[b + 3 * m + c]
                    pad[3 * (K + n - 1 + m) + c] = row[b + 3 * (n - 1 - m) + c]
            out = ring[slot]
            if K == 6:  # the spline's kernel: every tap in one pass over the row
                _sym13(
                    out,
                    pad,
                    pad[3:],
                    pad[6:],
                    pad[9:],
                    pad[12:],
                    pad[15:],
                    pad[18:],
                    pad[21:],
                    pad[24:],
                    pad[27:],
                    pad[30:],
                    pad[33:],
                    pad[36:],
                    h,
                )
            else:
                hc = h[K]
                mid = pad[3 * K : 3 * K + e_n]
                for e in range(e_n):
                    out[e] = hc * mid[e]
                for k in range(1, K + 1):  # symmetric: one product per pair of taps
                    hk = h[K + k]
                    lo = pad[3 * (K - k) : 3 * (K - k) + e_n]
                    hi = pad[3 * (K + k) : 3 * (K + k) + e_n]
                    for e in range(e_n):
                        out[e] += hk * (lo[e] + hi[e])
        i = r - K
        if i >= 0:
            if K == 6:
                _sym13(
                    acc,
                    ring[(i - 6) % S],
                    ring[(i - 5) % S],
                    ring[(i - 4) % S],
                    ring[(i - 3) % S],
                    ring[(i - 2) % S],
                    ring[(i - 1) % S],
                    ring[i % S],
                    ring[(i + 1) % S],
                    ring[(i + 2) % S],
                    ring[(i + 3) % S],
                    ring[(i + 4) % S],
                    ring[(i + 5) % S],
                    ring[(i + 6) % S],
                    h,
                )
            else:
                mid = ring[i % S]
                hc = h[K]
                for e in range(e_n):
                    acc[e] = hc * mid[e]
                for k in range(1, K + 1):
                    hk = h[K + k]
                    lo = ring[(i - k) % S]
                    hi = ring[(i + k) % S]
                    for e in range(e_n):
                        acc[e] += hk * (lo[e] + hi[e])
            row = fr[y0 + i]
            b = 3 * x0
            for e in range(e_n):
                row[b + e] = acc[e]


def prefilter_box(img: np.ndarray, box: tuple[int, int, int, int], kernel: np.ndarray) -> bool:
    """The symmetric separable ``kernel`` (2 K + 1,) over ``box`` (x0, y0, x1, y1; end exclusive) of
    ``img`` (H, W, 3) float32 in place, reflected at the box's edges, in one compiled sweep (one
    thread: a camera's frames run on its threads). Returns False (nothing written) unless a pixel's
    three channels and a row's pixels are contiguous (any row stride), or the box is narrower or
    shorter than ``K + 1`` pixels."""
    x0, y0, x1, y1 = box
    K = kernel.shape[0] // 2
    if img.dtype != np.float32 or img.ndim != 3 or img.shape[2] != 3 or img.strides[1:] != (12, 4):
        return False
    if x1 - x0 <= K or y1 - y0 <= K or not img.flags.writeable:
        return False
    h, w = img.shape[:2]
    rows = np.lib.stride_tricks.as_strided(img, (h, 3 * w), (img.strides[0], 4))
    _prefilter_rows(rows, x0, y0, x1, y1, np.ascontiguousarray(kernel, np.float32).ravel())
    return True
