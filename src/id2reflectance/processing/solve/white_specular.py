"""The white-specular separation: each pattern's diffuse and specular from both polarisations jointly.

With ideal polarisers a pattern's cross frame records ``C_c = D_c / 2`` and its parallel frame
``P_c = D_c / 2 + S`` per channel ``c`` (docs/solve.md section 2), and skin's specular ``S``
(dielectric Fresnel) keeps the light's colour: after white balance the same value in R, G and
B. Per pixel and pattern that is six measurements of four unknowns (three diffuse halves, one
specular). With per-channel noise variances ``vc_c`` (cross) and ``vp_c`` (parallel) the
weighted least-squares estimates are::

    s   = sum_c (P_c - C_c) / (vc_c + vp_c)  /  sum_c 1 / (vc_c + vp_c)
    d_c = (C_c / vc_c + (P_c - s) / vp_c)  /  (1 / vc_c + 1 / vp_c)

and the frames are replaced by ``cross = d`` and ``parallel = d + s``: downstream the solver's
``D = 2 cross`` is the joint estimate of the diffuse half and its ``S = lum(parallel - cross)``
is ``s`` exactly (the Rec.709 weights sum to 1). ``per_channel`` (``D = 2 C``, ``S = lum(P - C)``)
ignores the redundancy: at equal noise the diffuse half's variance drops to 2/3 and the
specular's from 0.56 to 1/3 of ``(vc + vp)``. On frames that satisfy the model exactly (a
white specular, no noise) nothing changes (to float32 rounding). The variances follow each
frame's noise model (``var = gain x + read^2``, :mod:`~id2reflectance.processing.solve.noise`) at
the frame's Gaussian-smoothed level (so the weights do not follow the noise itself). Pixels
saturated in any frame keep their frames as decoded (a clipped parallel frame breaks the model).

Measured (docs/solve.md section 1c, "The white specular"): on the issue-20 noise the specular
normal 10-23 % lower (15-23 % without inverse patterns), roughness, specular and diffuse albedo
lower on every head; the diffuse normal within 1.4 % (the diffuse first moments were already pooled from both polarisations,
:mod:`~id2reflectance.processing.solve.moment_pool`; on these frames that pooling is a no-op).
An option (``SolverConfig.separation``), not the default: parts of the denoiser's specular noise
model assume ``S = lum(P - C)`` (about 1.7x the variance of ``s`` at equal noise), and on small noisy
analytic spheres the filtered roughness is mixed (40 px: 0.0386 -> 0.0487 on one noise seed, better
on two of three others). Real captures' ``parallel - cross`` can
be coloured (a polariser's extinction differing per channel, the light's colour not white-balanced,
partly polarised subsurface light): the model then moves that colour into the diffuse.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from id2reflectance.processing.solve.noise import FrameNoise

__all__ = ["SMOOTH_SIGMA_PX", "white_specular_frames"]

SMOOTH_SIGMA_PX = 2.0
"""Gaussian sigma (pixels) of the levels at which the noise variances are evaluated."""


def _variance(img: np.ndarray, model: FrameNoise | None) -> np.ndarray:
    """(H, W, 3) float32 noise variance of ``img`` under ``model`` (ones without a model)."""
    if model is None:
        return np.ones_like(img)
    level = cv2.GaussianBlur(img, (0, 0), SMOOTH_SIGMA_PX)
    np.maximum(level, 0.0, out=level)
    var = level * np.float32(model.gain)
    var += np.float32(model.read**2 + 1e-12)  # never 0 (a noise-free frame: equal weights)
    return var


def white_specular_frames(
    images: dict[tuple[str, str], np.ndarray],
    noise: Mapping[tuple[str, str], FrameNoise] | None,
    saturated: np.ndarray | None = None,
) -> list[str]:
    """Replace each pattern's frames by the white-specular estimates (see the module docstring).

    Parameters
    ----------
    images : ``{(pattern, polarization): (H, W, 3) float32}`` linear Rec.709 radiance of one
        camera, aligned; each pattern with both ``cross`` and ``parallel`` frames gets new
        arrays ``cross = d`` and ``parallel = d + s`` (the input arrays are not written to).
    noise : per-frame noise models, same keys (``sensor_noise(...)[0]``); a frame without
        one (or ``None``) weighs all channels equally.
    saturated : (H, W) bool, pixels where any frame saturated: left as decoded.

    Returns
    -------
    The patterns whose frames were replaced, in ``images``' order.
    """
    done = []
    for (pattern, pol), cross in list(images.items()):
        if pol != "cross" or (pattern, "parallel") not in images:
            continue
        par = images[(pattern, "parallel")]
        c = np.asarray(cross, np.float32)
        p = np.asarray(par, np.float32)
        vc = _variance(c, None if noise is None else noise.get((pattern, "cross")))
        vp = _variance(p, None if noise is None else noise.get((pattern, "parallel")))
        w = 1.0 / (vc + vp)  # (P - C)'s inverse variance per channel
        s = ((p - c) * w).sum(axis=2, keepdims=True) / w.sum(axis=2, keepdims=True)
        ic, ip = 1.0 / vc, 1.0 / vp
        d = (c * ic + (p - s) * ip) / (ic + ip)
        d = d.astype(np.float32)
        new_p = (d + s).astype(np.float32)
        if saturated is not None and saturated.any():
            d[saturated] = c[saturated]
            new_p[saturated] = p[saturated]
        images[(pattern, "cross")] = d
        images[(pattern, "parallel")] = new_p
        done.append(pattern)
    return done
