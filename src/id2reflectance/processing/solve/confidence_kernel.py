"""Compiled per-pixel confidence (numba): one pass over the mask's box, no temporaries.

:func:`confidence_rows` computes what the numpy path of
:func:`~id2reflectance.processing.solve.denoise.confidence_map` computes (the luminances
summed in another order: equal to float32 rounding), writing only the two outputs: on this
virtual machine every fresh temporary page costs a fault, which made the numpy version's
half-dozen box-sized temporaries cost more than the arithmetic. Rows run in parallel
threads. Compiled on first use and cached on disk beside this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from id2reflectance.processing.solve.threads import start_threads

start_threads()  # numba's workers started before any kernel runs: idle ones sleep (threads.py)

_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True}


@njit(parallel=True, **_JIT)
def confidence_rows(
    cross: np.ndarray,
    parallel: np.ndarray,
    raw_c: np.ndarray,
    raw_p: np.ndarray,
    mask: np.ndarray,
    lum: np.ndarray,
    coef: np.ndarray,
    noise: np.ndarray,
    conf: np.ndarray,
    snr_s: np.ndarray,
) -> None:
    """Confidence and specular signal-to-noise ratio of every pixel of a box.

    Parameters
    ----------
    cross, parallel : (h, w, 3) float32 full-on frames (any strides), linear relative radiance.
    raw_c, raw_p : (h, w) float32 full-on cross and parallel luminance as the sensor saw them:
        the noise sigma of the cross luminance is ``sqrt(g_c max(raw_c, 0) + r_c^2)``, of the
        specular ``sqrt(g_p max(raw_p, 0) + r_p^2 + sigma_c^2)`` (as ``denoise.noise_sigmas``).
    mask : (h, w) bool. lum : (3,) float32 Rec.709 weights.
    coef : (4,) float32 ``1 / (2 r_d + 1)``, ``1 / (2 r_s + 1)``, the smallest sigma, ``k^2``.
    noise : (4,) float32 ``g_c, r_c^2, g_p, r_p^2``.
    conf, snr_s : (h, w) float32 outputs: ``q(snr_d) q(max(snr_s, 0))`` (0 outside the mask)
        with ``q(x) = x^2 / (x^2 + k^2)``, and ``snr_s``.
    """
    h, w = mask.shape
    l0, l1, l2 = lum[0], lum[1], lum[2]
    kd, ks, tiny, k2 = coef[0], coef[1], coef[2], coef[3]
    gc, rc2, gp, rp2 = noise[0], noise[1], noise[2], noise[3]
    zero = np.float32(0.0)
    for i in prange(h):
        for j in range(w):
            c = l0 * cross[i, j, 0] + l1 * cross[i, j, 1] + l2 * cross[i, j, 2]
            s = (l0 * parallel[i, j, 0] + l1 * parallel[i, j, 1] + l2 * parallel[i, j, 2]) - c
            lc, lp = raw_c[i, j], raw_p[i, j]
            sc = np.sqrt((lc if lc > zero else zero) * gc + rc2)
            sd = sc * kd
            ss = np.sqrt((lp if lp > zero else zero) * gp + rp2 + sc * sc) * ks
            xs = s / (ss if ss > tiny else tiny)
            snr_s[i, j] = xs
            if mask[i, j]:
                xd = c / (sd if sd > tiny else tiny)
                xd *= xd
                xs = xs if xs > zero else zero
                xs *= xs
                conf[i, j] = (xd / (xd + k2)) * (xs / (xs + k2))
            else:
                conf[i, j] = zero
