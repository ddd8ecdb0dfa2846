"""How strongly the denoiser filters: guided-filter radii and the diffuse normal's channel weights.

Used by :func:`~id2reflectance.processing.solve.denoise.prepare_frames` (docs/solve.md
section 1c): each lobe's radius follows the noise of one pixel's normal direction, so a
clean capture is not filtered at all; the diffuse normal is estimated from the three
channels weighted by signal over noise variance (dark skin holds almost no blue signal).
"""

from __future__ import annotations

import numpy as np

from id2reflectance.processing.solve.noise import FrameNoise

__all__ = [
    "MAX_RADIUS",
    "MIN_DIFFUSE_RAD",
    "MIN_DIFFUSE_RAD_NO_INVERSES",
    "TARGET_DIFFUSE_RAD",
    "TARGET_GUIDE_RAD",
    "TARGET_SPECULAR_RAD",
    "channel_weights",
    "diffuse_radius",
    "lobe_radius",
    "no_inverse_ratio",
    "specular_radius",
]

TARGET_DIFFUSE_RAD = np.radians(1.05)  # noise of the SNR-weighted diffuse normal left by the filter (window side)
# below these noises a lobe is not filtered: there the radius-1 filter's bias on the head's relief
# exceeds the error the noise causes unfiltered (the crossovers measured on 128 and 192 px heads:
# diffuse 0.05-0.1 deg, specular 1.5-2.2 deg; docs/solve.md section 1c)
MIN_DIFFUSE_RAD = np.radians(0.12)
MIN_SPECULAR_RAD = np.radians(2.0)
# without inverse patterns the noise (that of 2 gradient - full, no_inverse_ratio) is estimated from
# single frames, which read the skin's texture as about 0.12-0.15 deg on noise-free 256 px heads, and
# radius 1 pays from about 0.2-0.25 deg (crossovers measured on the 256 px heads of seeds 0-2 at scaled
# issue noise; docs/solve.md section 1c): at MIN_DIFFUSE_RAD clean captures were filtered (0.21-0.24 deg)
MIN_DIFFUSE_RAD_NO_INVERSES = np.radians(0.2)
TARGET_GUIDE_RAD = np.radians(0.85)  # the full-on guide's smoothing: the luminance's normal noise against this
TARGET_SPECULAR_RAD = np.radians(4.0)  # the specular normal's noise per pixel a window brings it to (radius >= 2)
MAX_RADIUS = 8  # pixels


def lobe_radius(noise_to_signal: float, target: float) -> int:
    """Window radius whose (2r+1)^2 average brings ``noise_to_signal`` (radians) to ``target``."""
    n = (noise_to_signal / target) ** 2
    if n < 2.0:
        return 0
    return int(min(MAX_RADIUS, max(1, np.ceil((np.sqrt(n) - 1.0) / 2.0))))


def diffuse_radius(noise_to_signal: float, target: float, *, minimum: float = MIN_DIFFUSE_RAD) -> int:
    """Radius of the diffuse lobe: 0 below ``minimum`` (noise under the filter's bias;
    ``MIN_DIFFUSE_RAD``, without inverse patterns ``MIN_DIFFUSE_RAD_NO_INVERSES``), else the
    smallest whose window side ``2r + 1`` brings ``noise_to_signal`` to ``target``.

    ``noise_to_signal`` is that of the SNR-weighted direction (:func:`channel_weights`);
    unfiltered the solver takes green plus blue, whose median error is 1.7-2.3x it (fair
    and dark skin), against 0.16-0.18 deg of bias for radius 1 on a noise-free head: hence
    a threshold of 0.12 deg (before, 0.5 deg left a head at 0.48 deg unfiltered, diffuse
    normal 1.11 deg, against 0.28 filtered).
    """
    if noise_to_signal < minimum:
        return 0
    return int(min(MAX_RADIUS, max(1, np.ceil((noise_to_signal / target - 1.0) / 2.0))))


def specular_radius(noise_to_signal: float) -> int:
    """Radius of the specular lobe: 0 below ``MIN_SPECULAR_RAD``, else at least 1 and the
    :func:`lobe_radius` that brings ``noise_to_signal`` (radians, one pixel) to ``TARGET_SPECULAR_RAD``.

    Unfiltered, the specular normal's median error is about 0.4 of this noise; radius 1
    costs 0.5-0.9 deg of bias on a noise-free 128-192 px head, so it pays from about 2 deg
    (before, radius 1 started at ``sqrt(2) x 4`` deg: a dark-skinned 128 px head at 5.1 deg
    went unfiltered, specular normal 1.90 deg and roughness 0.047 against 0.98 and 0.026).
    """
    if noise_to_signal < MIN_SPECULAR_RAD:
        return 0
    return max(1, lobe_radius(noise_to_signal, TARGET_SPECULAR_RAD))


def channel_weights(levels: np.ndarray, model: FrameNoise) -> tuple[np.ndarray, float]:
    """Per-channel weights of the diffuse normal the denoiser estimates, and its noise-to-signal.

    Each channel's first moment points along the diffuse normal (at the image's scale
    subsurface scattering changes little), so the least-noisy direction is their sum
    weighted by signal over noise variance, ``w_c = L_c / var(L_c)``. On dark skin the
    blue channel holds almost no signal (melanin) and red the most: green plus blue, the
    solver's choice on clean captures (red is blurred by subsurface scattering), is there
    2-3x noisier than this sum (issue-20 noise, 192 px heads: 7.7 against 3.1 deg per pixel).

    Parameters
    ----------
    levels : (3,) median full-on cross level per channel (R, G, B), linear relative radiance.
    model : the camera's noise model.

    Returns
    -------
    weights : (3,) float64 summing to 2 (the scale of green plus blue).
    noise_to_signal : the noise of one pixel's weighted normal direction, radians:
        ``sqrt(2) / (2/3 sqrt(sum_c L_c^2 / var(L_c)))`` (first moment ``gradient -
        inverse``: twice a frame's variance; length 2/3 of the level for a Lambertian lobe).
    """
    lev = np.maximum(np.asarray(levels, np.float64), 0.0)
    var = np.maximum(model.gain * lev + model.read**2, 1e-30)
    w = lev / var
    total = float(np.sum(lev * w))
    if total <= 0.0:
        return np.array([0.0, 1.0, 1.0]), float("inf")
    return 2.0 * w / w.sum(), float(np.sqrt(2.0) / (2.0 / 3.0 * np.sqrt(total)))


def no_inverse_ratio(model: FrameNoise, level: float) -> float:
    """Noise variance of the first moment without inverse patterns over that with them, at ``level``.

    With inverses a channel's first moment is ``gradient - inverse``: the two frames sum to
    the full-on level ``L``, variance ``gain L + 2 read^2``. Without, it is ``2 gradient -
    full``, the gradient at half the full level on average (its lobe's mean over the
    lights): ``4 (gain L / 2 + read^2) + gain L + read^2 = 3 gain L + 5 read^2``, 2.5-3x
    as much (shot-noise- or read-noise-limited: 3 or 2.5). The denoiser scales the diffuse
    normal's noise (hence its radius) and the first-moment guide's eps by it (docs/solve.md
    section 1c, "Without inverse patterns").

    Parameters
    ----------
    model : the camera's noise model (corrected-frame units).
    level : full-on cross level (linear relative radiance) it is evaluated at.
    """
    lev = max(float(level), 0.0)
    with_inv = model.gain * lev + 2.0 * model.read**2
    if with_inv <= 0.0:
        return 1.0
    return float((3.0 * model.gain * lev + 5.0 * model.read**2) / with_inv)
