"""Compiled packing of frames into lobe-moment planes and back, for the denoiser (numba).

:func:`pack_moments` reads a camera's 14 (or 8) frames once and writes the planes the
denoiser filters; :func:`unpack_moments` rebuilds the frames from the filtered planes.
They compute what :func:`~id2reflectance.processing.solve.moment_planes.moment_planes` and
:func:`~id2reflectance.processing.solve.moment_planes.frames_from_moments` compute with numpy
(float32, the same quantities summed in another order, so the two agree to about 1e-5 of
the values), in one pass each instead of about thirty array passes. Rows run in parallel
threads. Compiled on first use and cached on disk beside this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from id2reflectance.processing.solve.threads import start_threads

start_threads()  # numba's workers started before any kernel runs: idle ones sleep (threads.py)

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True}


@njit(inline="always", **_JIT)
def _pack_axis(gc, gp, ic, ip, k, i, j, inverses, l0, l1, l2, c0, c1, c2, sf, fp, spec, m1c, guides, pool):  # noqa: ANN001, ANN202
    """One axis of :func:`pack_moments` at pixel (i, j); returns its share of the zeroth moments."""
    f32 = np.float32
    z1 = f32(0.5 / 2.5)
    two = f32(2.0)
    g0, g1, g2 = gc[i, j, 0], gc[i, j, 1], gc[i, j, 2]
    q0, q1, q2 = gp[i, j, 0], gp[i, j, 1], gp[i, j, 2]
    sg = l0 * (q0 - g0) + l1 * (q1 - g1) + l2 * (q2 - g2)
    if inverses:
        h0, h1, h2 = ic[i, j, 0], ic[i, j, 1], ic[i, j, 2]
        r0, r1, r2 = ip[i, j, 0], ip[i, j, 1], ip[i, j, 2]
        si = l0 * (r0 - h0) + l1 * (r1 - h1) + l2 * (r2 - h2)
        m0, m1, m2 = g0 - h0, g1 - h1, g2 - h2
        p0, p1, p2 = q0 - r0, q1 - r1, q2 - r2
        spec[i, j, 1 + k] = sg - si
        out = ((g0 + h0) * z1, (g1 + h1) * z1, (g2 + h2) * z1, (sg + si) * z1)
    else:
        m0, m1, m2 = g0 * two - c0, g1 * two - c1, g2 * two - c2
        p0, p1, p2 = q0 * two - fp[i, j, 0], q1 * two - fp[i, j, 1], q2 * two - fp[i, j, 2]
        spec[i, j, 1 + k] = sg * two - sf
        out = (f32(0.0), f32(0.0), f32(0.0), f32(0.0))
    m1c[i, j, 3 * k] = m0
    m1c[i, j, 3 * k + 1] = m1
    m1c[i, j, 3 * k + 2] = m2
    guides[i, j, k] = l0 * (m0 + p0) + l1 * (m1 + p1) + l2 * (m2 + p2)
    if pool != f32(0.0):  # moment_pool.pool_first_moments' arithmetic: m += c (p - m - mean_c(p - m))
        d0, d1, d2 = p0 - m0, p1 - m1, p2 - m2
        s = (d0 + d1 + d2) * f32(1.0 / 3.0)
        m1c[i, j, 3 * k] += pool * (d0 - s)
        m1c[i, j, 3 * k + 1] += pool * (d1 - s)
        m1c[i, j, 3 * k + 2] += pool * (d2 - s)
    return out


@njit(**_JIT)
def _unpack_axis(gc, gp, ic, ip, k, i, inverses, full_c, m1c, hs, ms):  # noqa: ANN001, ANN202
    """One axis of :func:`unpack_moments` on row i: four frames written, one after the other pixel by pixel
    (a handful of write streams at a time instead of fourteen)."""
    half = np.float32(0.5)
    for j in range(full_c.shape[1]):
        a = hs[j] + ms[j]
        for ch in range(3):
            hc = full_c[i, j, ch] * half
            hm = m1c[i, j, 3 * k + ch] * half
            v = hc + hm
            gc[i, j, ch] = v
            gp[i, j, ch] = v + a
    if inverses:
        for j in range(full_c.shape[1]):
            a = hs[j] - ms[j]
            for ch in range(3):
                v = full_c[i, j, ch] * half - m1c[i, j, 3 * k + ch] * half
                ic[i, j, ch] = v
                ip[i, j, ch] = v + a


@njit(parallel=True, **_JIT)
def pack_moments(
    frames: tuple,
    inverses: bool,
    lum: np.ndarray,
    full_c: np.ndarray,
    spec: np.ndarray,
    m1c: np.ndarray,
    guides: np.ndarray,
    lcoef: np.ndarray,
    pool: np.float32,
) -> None:
    """Lobe-moment planes of one camera (and the specular first moment's unbiased squared length).

    Parameters
    ----------
    frames : 14 (H, W, 3) float32 C-contiguous frames in the order full, gradient_x,
        gradient_y, gradient_z, inverse_x, inverse_y, inverse_z, each cross then parallel
        (without inverses the last six are ignored).
    inverses : first moments ``gradient - inverse`` and the averaged zeroth moments
        (``(full + sum_a (gradient_a + inverse_a) / 2) / 2.5``); else ``2 gradient - full``
        and ``full``.
    lum : (3,) float32 Rec.709 weights.
    full_c : (H, W, 3) out, diffuse zeroth moment (cross units).
    spec : (H, W, 4) out, specular zeroth moment and first moments x, y, z (luminance); (H,
        W, 5): channel 4 is ``|m1|^2 - 3 var`` with ``var = a level + b``,
        ``level = sum_c w_c max(full_cross_c + full_parallel_c, 0)``
        (:func:`~id2reflectance.processing.solve.lobe_length.unbiased_length2`).
    m1c : (H, W, 9) out, cross first moments, axis-major (x: R, G, B; y: ...; z: ...).
    guides : (H, W, 3) out (any strides), per axis the luminance of both polarisations' first moments.
    lcoef : (5,) float32 ``w_0, w_1, w_2, a, b`` of the squared length (read with a 5-channel ``spec``).
    pool : float32 ``w / (1 + w)``: the parallel first moments pooled into ``m1c`` in the same pass
        (:func:`~id2reflectance.processing.solve.moment_pool.pool_first_moments` with weight ``w``;
        the guides are taken before); 0: ``m1c`` holds the cross first moments.
    """
    h, w = full_c.shape[0], full_c.shape[1]
    with_length = spec.shape[2] == 5
    w0, w1, w2, la, lb = lcoef[0], lcoef[1], lcoef[2], lcoef[3], lcoef[4]
    l0, l1, l2 = lum[0], lum[1], lum[2]
    f32 = np.float32
    z0 = f32(1.0 / 2.5)
    fc, fp = frames[0], frames[1]
    for i in prange(h):
        for j in range(w):
            c0, c1, c2 = fc[i, j, 0], fc[i, j, 1], fc[i, j, 2]
            sf = l0 * (fp[i, j, 0] - c0) + l1 * (fp[i, j, 1] - c1) + l2 * (fp[i, j, 2] - c2)
            a0, a1, a2, a3 = c0 * z0, c1 * z0, c2 * z0, sf * z0
            # the three axes unrolled: a tuple indexed by a loop variable costs a branch per access
            b0, b1, b2, b3 = _pack_axis(
                frames[2],
                frames[3],
                frames[8],
                frames[9],
                0,
                i,
                j,
                inverses,
                l0,
                l1,
                l2,
                c0,
                c1,
                c2,
                sf,
                fp,
                spec,
                m1c,
                guides,
                pool,
            )
            a0, a1, a2, a3 = a0 + b0, a1 + b1, a2 + b2, a3 + b3
            b0, b1, b2, b3 = _pack_axis(
                frames[4],
                frames[5],
                frames[10],
                frames[11],
                1,
                i,
                j,
                inverses,
                l0,
                l1,
                l2,
                c0,
                c1,
                c2,
                sf,
                fp,
                spec,
                m1c,
                guides,
                pool,
            )
            a0, a1, a2, a3 = a0 + b0, a1 + b1, a2 + b2, a3 + b3
            b0, b1, b2, b3 = _pack_axis(
                frames[6],
                frames[7],
                frames[12],
                frames[13],
                2,
                i,
                j,
                inverses,
                l0,
                l1,
                l2,
                c0,
                c1,
                c2,
                sf,
                fp,
                spec,
                m1c,
                guides,
                pool,
            )
            a0, a1, a2, a3 = a0 + b0, a1 + b1, a2 + b2, a3 + b3
            if with_length:
                f0, f1, f2 = c0 + fp[i, j, 0], c1 + fp[i, j, 1], c2 + fp[i, j, 2]
                level = (w0 * max(f0, f32(0.0)) + w1 * max(f1, f32(0.0))) + w2 * max(f2, f32(0.0))
                s1, s2, s3 = spec[i, j, 1], spec[i, j, 2], spec[i, j, 3]
                spec[i, j, 4] = (s1 * s1 + s2 * s2 + s3 * s3) - f32(3.0) * (level * la + lb)
            if inverses:
                full_c[i, j, 0], full_c[i, j, 1], full_c[i, j, 2] = a0, a1, a2
                spec[i, j, 0] = a3
            else:
                full_c[i, j, 0], full_c[i, j, 1], full_c[i, j, 2] = c0, c1, c2
                spec[i, j, 0] = sf


@njit(parallel=True, **_JIT)
def unpack_moments(
    full_c: np.ndarray, spec: np.ndarray, m1c: np.ndarray, inverses: bool, frames: tuple, power: float
) -> None:
    """Frames from filtered moment planes (the inverse of :func:`pack_moments`' layout).

    ``gradient_a = (full + m1_a) / 2``, ``inverse_a = (full - m1_a) / 2`` (cross), and
    every parallel frame is its cross frame plus the specular value in each channel.
    ``frames`` : 14 (H, W, 3) float32 outputs in :func:`pack_moments`' order (without
    inverses the last six are not written).
    With a 5-channel ``spec`` the specular first moment is first rescaled by ``(spec[..., 4]
    / |m1|^2) ** power`` where both are positive
    (:func:`~id2reflectance.processing.solve.lobe_length.rescale_lobe_length`).
    """
    h, w = full_c.shape[0], full_c.shape[1]
    f32 = np.float32
    half = f32(0.5)
    pw = f32(power)
    quarter = power == 0.25  # the lobe length's power: two square roots cost less than a pow
    with_length = spec.shape[2] == 5
    fc, fp = frames[0], frames[1]
    for i in prange(h):
        hm = np.empty((4, w), np.float32)  # per pixel of the row: half the specular m0, m1 x, y, z
        for j in range(w):
            s = spec[i, j, 0]
            mx, my, mz = spec[i, j, 1], spec[i, j, 2], spec[i, j, 3]
            if with_length:
                have2 = (mx * mx + my * my) + mz * mz
                want2 = spec[i, j, 4]
                if want2 > f32(0.0) and have2 > f32(1e-30):
                    ratio = want2 / have2
                    scale = np.sqrt(np.sqrt(ratio)) if quarter else ratio**pw
                    mx, my, mz = mx * scale, my * scale, mz * scale
            hm[0, j], hm[1, j], hm[2, j], hm[3, j] = s * half, mx * half, my * half, mz * half
            for ch in range(3):
                fc[i, j, ch] = full_c[i, j, ch]
                fp[i, j, ch] = full_c[i, j, ch] + s
        _unpack_axis(frames[2], frames[3], frames[8], frames[9], 0, i, inverses, full_c, m1c, hm[0], hm[1])
        _unpack_axis(frames[4], frames[5], frames[10], frames[11], 1, i, inverses, full_c, m1c, hm[0], hm[2])
        _unpack_axis(frames[6], frames[7], frames[12], frames[13], 2, i, inverses, full_c, m1c, hm[0], hm[3])
