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
    "TARGET_DIFFUSE_RAD",
    "TARGET_GUIDE_RAD",
    "TARGET_SPECULAR_RAD",
    "channel_weights",
    "diffuse_radius",
    "lobe_radius",
]

TARGET_DIFFUSE_RAD = np.radians(1.05)  # noise of the SNR-weighted diffuse normal left by the filter (window side)
MIN_DIFFUSE_RAD = np.radians(0.5)  # below this noise the diffuse lobe is not filtered (the filter's bias is larger)
TARGET_GUIDE_RAD = np.radians(0.85)  # the full-on guide's smoothing: the luminance's normal noise against this
TARGET_SPECULAR_RAD = np.radians(4.0)  # noise of the specular normal (one pixel) tolerated unfiltered
MAX_RADIUS = 8  # pixels


def lobe_radius(noise_to_signal: float, target: float) -> int:
    """Window radius whose (2r+1)^2 average brings ``noise_to_signal`` (radians) to ``target``."""
    n = (noise_to_signal / target) ** 2
    if n < 2.0:
        return 0
    return int(min(MAX_RADIUS, max(1, np.ceil((np.sqrt(n) - 1.0) / 2.0))))


def diffuse_radius(noise_to_signal: float, target: float) -> int:
    """Radius of the diffuse lobe: 0 below ``MIN_DIFFUSE_RAD`` (noise under the filter's bias),
    else the smallest whose window side ``2r + 1`` brings ``noise_to_signal`` to ``target``."""
    if noise_to_signal < MIN_DIFFUSE_RAD:
        return 0
    return int(min(MAX_RADIUS, max(1, np.ceil((noise_to_signal / target - 1.0) / 2.0))))


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
