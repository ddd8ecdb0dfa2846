"""Compiled guided filter (numba): one streaming sweep over the rows, the filter's arithmetic fused.

:func:`guided_filter_planes` computes what
:func:`~id2reflectance.processing.solve.guided.guided_filter` computes with
``subsample=1`` (box windows shrunk at the image border instead of reflected), and
:func:`guided_filter_planes2` what ``guided_filter2`` computes, in a single pass over the
image: each row's horizontal window sums (of the guides, their squares and products, the
input planes and their products with the guides) go into a ring of ``2r + 1`` rows; as
soon as a row's window is complete its vertical sums give the coefficients ``a, b`` of
that row, whose horizontal sums go into a second ring; ``r`` rows later the output row is
``mean(a) * guide + mean(b)``. The rings stay in the cache: each input plane and guide is
read once and each output plane written once (the previous version wrote and re-read
eight full-size planes per input plane). Vertical sums are direct sums over the ring (no
running sums that drift over thousands of rows).

The image is split into bands of rows run in parallel threads; the ``2r`` rows each band
reads beyond its own are copied before any band writes, so ``out`` may be the input
(or the guide) itself. Compiled on first use and cached on disk beside this module.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from id2reflectance._shared.pages import kept_empty
from id2reflectance.processing.solve.threads import start_threads

start_threads()  # numba's workers started before any kernel runs: idle ones sleep (threads.py)

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True}


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


@njit(**_JIT)
def _vsum(ring: np.ndarray, lo: int, hi: int, dst: np.ndarray) -> None:
    """dst = sum of the ring's rows ``lo .. hi`` (image rows, stored at ``row % len(ring)``); (R, W) -> (W,)."""
    n = ring.shape[0]
    w = dst.shape[0]
    first = ring[lo % n]
    for j in range(w):
        dst[j] = first[j]
    for t in range(lo + 1, hi + 1):
        row = ring[t % n]
        for j in range(w):
            dst[j] += row[j]


@njit(inline="always", **_JIT)
def _ring3(ring: np.ndarray, lo: int, rr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three rows ``lo .. lo + 2`` of ``ring`` (rr, w), a ring buffer of ``rr`` rows (views)."""
    return ring[lo % rr], ring[(lo + 1) % rr], ring[(lo + 2) % rr]


@njit(**_JIT)
def _coefficients3(
    hp0: np.ndarray,
    hp1: np.ndarray,
    hp2: np.ndarray,
    lo: int,
    rr: int,
    two: bool,
    inv_w: np.ndarray,
    inv_h: np.float32,
    m1: np.ndarray,
    m2: np.ndarray,
    i11: np.ndarray,
    i12: np.ndarray,
    i22: np.ndarray,
    c1: np.ndarray,
    c2: np.ndarray,
    b: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    t2: np.ndarray,
) -> None:
    """One plane's coefficients ``a1`` (``c1``), ``a2`` (``c2``, two guides) and ``b`` of a row whose
    window holds the three ring rows ``lo .. lo + 2`` of ``hp0, hp1, hp2`` (rr, w) each (sums of p, g1 p, g2 p):
    the vertical sums added in :func:`_vsum`'s order inside the arithmetic.

    Two guides: in six loops over the row (one guide: three) (``t0, t1, t2`` (w,) scratch rows: the mean of p and the two
    covariances), each reading and writing few enough rows for LLVM to check their overlap and vectorise
    it (the one loop over fifteen rows stayed scalar: 2.5 ns per plane and pixel against about 0.6); the
    same operations on the same values, so the same coefficients."""
    w = c1.shape[0]
    p0, p1, p2 = _ring3(hp0, lo, rr)
    q0, q1, q2 = _ring3(hp1, lo, rr)
    if two:
        u0, u1, u2 = _ring3(hp2, lo, rr)
        for j in range(w):
            t0[j] = (p0[j] + p1[j] + p2[j]) * (inv_w[j] * inv_h)
        for j in range(w):
            t1[j] = (q0[j] + q1[j] + q2[j]) * (inv_w[j] * inv_h) - m1[j] * t0[j]
        for j in range(w):
            t2[j] = (u0[j] + u1[j] + u2[j]) * (inv_w[j] * inv_h) - m2[j] * t0[j]
        for j in range(w):
            c1[j] = i11[j] * t1[j] + i12[j] * t2[j]
        for j in range(w):
            c2[j] = i12[j] * t1[j] + i22[j] * t2[j]
        for j in range(w):
            b[j] = t0[j] - c1[j] * m1[j] - c2[j] * m2[j]
    else:  # likewise in three loops
        for j in range(w):
            t0[j] = (p0[j] + p1[j] + p2[j]) * (inv_w[j] * inv_h)
        for j in range(w):
            c1[j] = ((q0[j] + q1[j] + q2[j]) * (inv_w[j] * inv_h) - m1[j] * t0[j]) * i11[j]
        for j in range(w):
            b[j] = t0[j] - c1[j] * m1[j]


@njit(**_JIT)
def _output3(
    hc0: np.ndarray,
    hc1: np.ndarray,
    hc2: np.ndarray,
    lo: int,
    rr: int,
    two: bool,
    inv_w: np.ndarray,
    inv_h: np.float32,
    x1: np.ndarray,
    x2: np.ndarray,
    out: np.ndarray,
) -> None:
    """One plane's output row ``mean(a1) g1 (+ mean(a2) g2) + mean(b)`` from the three ring rows
    ``lo .. lo + 2`` of ``hc0, hc1, hc2`` (rr, w) each (sums of a1, a2, b), added in :func:`_vsum`'s order."""
    w = x1.shape[0]
    a0, a1, a2 = _ring3(hc0, lo, rr)
    b0, b1, b2 = _ring3(hc2, lo, rr)
    if two:
        e0, e1, e2 = _ring3(hc1, lo, rr)
        for j in range(w):
            kk = inv_w[j] * inv_h
            out[j] = (
                ((a0[j] + a1[j] + a2[j]) * kk) * x1[j]
                + ((e0[j] + e1[j] + e2[j]) * kk) * x2[j]
                + (b0[j] + b1[j] + b2[j]) * kk
            )
    else:
        for j in range(w):
            kk = inv_w[j] * inv_h
            out[j] = ((a0[j] + a1[j] + a2[j]) * kk) * x1[j] + (b0[j] + b1[j] + b2[j]) * kk


def ring_floats(r: int, w: int, n: int) -> int:
    """Floats of one thread's scratch for radius ``r``, width ``w`` and ``n`` planes (two guides)."""
    rr = 2 * r + 1
    return rr * w * (5 + 3 * n + 3 * n) + w * (16 + 3 * n)


@njit(**_JIT)
def _band(
    g1: np.ndarray,
    g2: np.ndarray,
    two: bool,
    selfg: bool,
    src: np.ndarray,
    r: int,
    e1: np.float32,
    e2: np.float32,
    out: np.ndarray,
    buf: np.ndarray,
    halo_g: np.ndarray,
    halo_s: np.ndarray,
    bounds: np.ndarray,
    k: int,
) -> None:
    """Rows ``bounds[k] .. bounds[k + 1]`` of the guided filter (one or two guides) into ``out``.

    ``selfg``: ``src`` is the one guide itself (one plane): its window sums are the guide's, not
    summed again (the same values, so the same result)."""
    h, w = g1.shape
    n = src.shape[2]
    rr = 2 * r + 1
    r0, r1 = bounds[k], bounds[k + 1]
    f32 = np.float32
    # scratch: rings of horizontal sums (guides' statistics, planes, coefficients) and row temporaries
    o = 0
    stat = buf[o : o + 5 * rr * w].reshape((5, rr, w))  # g1, g2, g1 g1, g2 g2, g1 g2
    o += 5 * rr * w
    hp = buf[o : o + 3 * rr * n * w].reshape((3, n, rr, w))  # p, g1 p, g2 p
    o += 3 * rr * n * w
    hc = buf[o : o + 3 * rr * n * w].reshape((3, n, rr, w))  # a1, a2, b
    o += 3 * rr * n * w
    tmp = buf[o : o + 16 * w].reshape((16, w))
    o += 16 * w
    rows = buf[o : o + 3 * n * w].reshape((3, n, w))
    x1, x2, q11, q22, q12, s0, s1, s2, m1, m2, i11, i22, i12, c1, c2, inv_w = (
        tmp[0],
        tmp[1],
        tmp[2],
        tmp[3],
        tmp[4],
        tmp[5],
        tmp[6],
        tmp[7],
        tmp[8],
        tmp[9],
        tmp[10],
        tmp[11],
        tmp[12],
        tmp[13],
        tmp[14],
        tmp[15],
    )
    for j in range(w):
        inv_w[j] = f32(1.0) / f32(min(j + r, w - 1) - max(j - r, 0) + 1)
    next_in = max(r0 - 2 * r, 0)
    next_out = r0
    for m in range(max(r0 - r, 0), min(r1 + r, h)):
        # 1. horizontal sums of every input row up to m + r
        while next_in <= min(m + r, h - 1):
            i = next_in
            s = i % rr
            if i >= r0 and i < r1:  # the band's own rows; the others from the copies made before any write
                for j in range(w):
                    x1[j] = g1[i, j]
                    x2[j] = g2[i, j]
                for c in range(0 if selfg else n):
                    for j in range(w):
                        rows[0, c, j] = src[i, j, c]
            else:
                hk, t = (k, i - r0 + 2 * r) if i < r0 else (k + 1, i - r1 + 2 * r)
                for j in range(w):
                    x1[j] = halo_g[hk, 0, t, j]
                    x2[j] = halo_g[hk, 1, t, j]
                for c in range(0 if selfg else n):
                    for j in range(w):
                        rows[0, c, j] = halo_s[hk, t, j, c]
            for j in range(w):
                q11[j] = x1[j] * x1[j]
            _hsum(x1, stat[0, s], r)
            _hsum(q11, stat[2, s], r)
            if two:
                for j in range(w):
                    q22[j] = x2[j] * x2[j]
                    q12[j] = x1[j] * x2[j]
                _hsum(x2, stat[1, s], r)
                _hsum(q22, stat[3, s], r)
                _hsum(q12, stat[4, s], r)
            for c in range(0 if selfg else n):  # self-guided: the guide's own sums serve
                p = rows[0, c]
                for j in range(w):
                    rows[1, c, j] = p[j] * x1[j]
                _hsum(p, hp[0, c, s], r)
                _hsum(rows[1, c], hp[1, c, s], r)
                if two:
                    for j in range(w):
                        rows[2, c, j] = p[j] * x2[j]
                    _hsum(rows[2, c], hp[2, c, s], r)
            next_in += 1
        # 2. the coefficients of row m from the vertical sums of its window
        lo, hi = max(m - r, 0), min(m + r, h - 1)
        inv_h = f32(1.0) / f32(hi - lo + 1)
        _vsum(stat[0], lo, hi, m1)
        _vsum(stat[2], lo, hi, i11)
        for j in range(w):
            kk = inv_w[j] * inv_h
            m1[j] *= kk
            i11[j] = i11[j] * kk - m1[j] * m1[j]
        if two:  # the inverse of the regularised 2 x 2 covariance of the guides
            _vsum(stat[1], lo, hi, m2)
            _vsum(stat[3], lo, hi, i22)
            _vsum(stat[4], lo, hi, i12)
            for j in range(w):
                kk = inv_w[j] * inv_h
                m2[j] *= kk
                v11 = i11[j] + e1
                v22 = i22[j] * kk - m2[j] * m2[j] + e2
                v12 = i12[j] * kk - m1[j] * m2[j]
                det = v11 * v22 - v12 * v12
                det = det if det > f32(1e-30) else f32(1e-30)
                i11[j], i22[j], i12[j] = v22 / det, v11 / det, -v12 / det
        else:
            for j in range(w):
                v = i11[j]
                s1[j] = v  # self-guided: the plane's covariance with the guide is this variance
                i11[j] = f32(1.0) / ((v if v > 0 else f32(0.0)) + e1)
        sm = m % rr
        if selfg:  # one plane, the guide: its mean m1 and its variance s1 (the general case's values)
            for j in range(w):
                a = s1[j] * i11[j]
                c1[j] = a
                s0[j] = m1[j] - a * m1[j]
            _hsum(c1, hc[0, 0, sm], r)
            _hsum(s0, hc[2, 0, sm], r)
        for c in range(0 if selfg else n):
            if hi - lo == 2:  # a window of three rows (radius 1): the vertical sums fused into the arithmetic
                _coefficients3(
                    hp[0, c],
                    hp[1, c],
                    hp[2, c],
                    lo,
                    rr,
                    two,
                    inv_w,
                    inv_h,
                    m1,
                    m2,
                    i11,
                    i12,
                    i22,
                    c1,
                    c2,
                    s0,
                    q11,
                    q22,
                    q12,
                )
                if two:
                    _hsum(c2, hc[1, c, sm], r)
                _hsum(c1, hc[0, c, sm], r)
                _hsum(s0, hc[2, c, sm], r)
                continue
            _vsum(hp[0, c], lo, hi, s0)
            _vsum(hp[1, c], lo, hi, s1)
            if two:
                _vsum(hp[2, c], lo, hi, s2)
                for j in range(w):
                    kk = inv_w[j] * inv_h
                    mp = s0[j] * kk
                    d1 = s1[j] * kk - m1[j] * mp
                    d2 = s2[j] * kk - m2[j] * mp
                    a1 = i11[j] * d1 + i12[j] * d2
                    a2 = i12[j] * d1 + i22[j] * d2
                    c1[j] = a1
                    c2[j] = a2
                    s0[j] = mp - a1 * m1[j] - a2 * m2[j]
                _hsum(c2, hc[1, c, sm], r)
            else:
                for j in range(w):
                    kk = inv_w[j] * inv_h
                    mp = s0[j] * kk
                    a = (s1[j] * kk - m1[j] * mp) * i11[j]
                    c1[j] = a
                    s0[j] = mp - a * m1[j]
            _hsum(c1, hc[0, c, sm], r)
            _hsum(s0, hc[2, c, sm], r)
        # 3. every output row whose window of coefficients is complete
        while next_out < r1 and min(next_out + r, h - 1) <= m:
            i = next_out
            lo, hi = max(i - r, 0), min(i + r, h - 1)
            inv_h = f32(1.0) / f32(hi - lo + 1)
            for j in range(w):
                x1[j] = g1[i, j]
                x2[j] = g2[i, j]
            for c in range(n):
                if hi - lo == 2:
                    _output3(hc[0, c], hc[1, c], hc[2, c], lo, rr, two, inv_w, inv_h, x1, x2, s1)
                    oc = out[i, :, c]
                    for j in range(w):
                        oc[j] = s1[j]
                    continue
                _vsum(hc[0, c], lo, hi, s0)
                _vsum(hc[2, c], lo, hi, s2)
                if two:
                    _vsum(hc[1, c], lo, hi, s1)
                    for j in range(w):
                        kk = inv_w[j] * inv_h
                        out[i, j, c] = (s0[j] * kk) * x1[j] + (s1[j] * kk) * x2[j] + s2[j] * kk
                else:
                    for j in range(w):
                        kk = inv_w[j] * inv_h
                        out[i, j, c] = (s0[j] * kk) * x1[j] + s2[j] * kk
            next_out += 1


@njit(parallel=True, **_JIT)
def _filter(
    g1: np.ndarray,
    g2: np.ndarray,
    two: bool,
    selfg: bool,
    src: np.ndarray,
    r: int,
    eps1: float,
    eps2: float,
    out: np.ndarray,
    work: np.ndarray,
    halo_g: np.ndarray,
    halo_s: np.ndarray,
    bounds: np.ndarray,
) -> None:
    """Copy the rows around every band boundary, then filter the bands in parallel."""
    h, w = g1.shape
    n = src.shape[2]
    nb = bounds.shape[0] - 1
    for k in range(1, nb):
        b = bounds[k]
        for t in range(4 * r):
            i = b - 2 * r + t
            if i >= 0 and i < h:
                for j in range(w):
                    halo_g[k, 0, t, j] = g1[i, j]
                    halo_g[k, 1, t, j] = g2[i, j]
                    for c in range(n):
                        halo_s[k, t, j, c] = src[i, j, c]
    e1, e2 = np.float32(eps1), np.float32(eps2)
    for k in prange(nb):
        _band(g1, g2, two, selfg, src, r, e1, e2, out, work[get_thread_id()], halo_g, halo_s, bounds, np.int64(k))


def _scratch(floats: int) -> np.ndarray:
    """A flat float32 scratch of ``floats`` values, reused between calls in this thread (fresh pages cost
    a fault each on first touch: :func:`~id2reflectance._shared.pages.kept_empty`)."""
    return kept_empty("guided_kernel.work", floats, np.float32, mapped=False)


def _run(
    g1: np.ndarray,
    g2: np.ndarray,
    two: bool,
    src: np.ndarray,
    r: int,
    e1: float,
    e2: float,
    out: np.ndarray,
    selfg: bool = False,
) -> None:
    h, w = g1.shape
    n = src.shape[2]
    t = get_num_threads()
    nb = max(1, min(t, h // max(4 * r, 16)))
    bounds = np.linspace(0, h, nb + 1).astype(np.int64)
    per = ring_floats(r, w, n)
    halo = 4 * r * w * (nb + 1)
    flat = _scratch(t * per + halo * (2 + n))
    work = flat[: t * per].reshape(t, per)
    halo_g = flat[t * per : t * per + 2 * halo].reshape(nb + 1, 2, 4 * r, w)
    halo_s = flat[t * per + 2 * halo :].reshape(nb + 1, 4 * r, w, n)
    _filter(g1, g2, two, selfg, src, r, e1, e2, out, work, halo_g, halo_s, bounds)


def guided_filter_planes(
    guide: np.ndarray, src: np.ndarray, r: int, eps: float, out: np.ndarray, *, self_guided: bool = False
) -> None:
    """Guided filter of every plane ``src[..., c]`` by ``guide`` into ``out`` (same shape).

    Parameters
    ----------
    guide : (H, W) float32. src : (H, W, C) float32 (any strides). r : radius >= 1.
    eps : regularisation, guide units squared. out : (H, W, C) float32, written; may be
        ``src`` or the guide itself.
    self_guided : ``src`` is (H, W, 1) and holds the guide's values (an edge-preserving smoothing of
        the guide): its window sums are the guide's, computed once (the same result, about a third
        less work).
    """
    _run(guide, guide, False, src, r, eps, 0.0, out, self_guided and src.shape[2] == 1)


def guided_filter_planes2(
    g1: np.ndarray, g2: np.ndarray, src: np.ndarray, r: int, eps1: float, eps2: float, out: np.ndarray
) -> None:
    """Guided filter with two guides: per window ``p ~ a1 * g1 + a2 * g2 + b`` (2 x 2 least squares).

    Parameters
    ----------
    g1, g2 : (H, W) float32 guides. src : (H, W, C) float32 (any strides). r : radius >= 1.
    eps1, eps2 : regularisation of ``a1`` and ``a2``, guide units squared.
    out : (H, W, C) float32, written; may be ``src`` itself.
    """
    _run(g1, g2, True, src, r, eps1, eps2, out)
