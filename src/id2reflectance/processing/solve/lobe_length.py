"""The specular first moment's length, filtered apart from its direction.

The specular lobe's sharpness (roughness) comes from ``|m1| / m0`` (docs/solve.md
section 5). Filtering ``m1`` as a vector averages directions that differ from pixel to
pixel (pores, wrinkles), which shortens it: the filtered lobe reads broader than it is
(roughness biased high, about +0.02 at the issue-20 noise with a 3 x 3 to 5 x 5 window).
Not filtering leaves the noise, which lengthens it on average,
``E|m1 + n|^2 = |m1|^2 + 3 var(n)`` (roughness biased low, and scattered).

So the length is also filtered on its own: per pixel ``|m1|^2 - 3 var(n)`` (``var(n)``
from the camera's noise model: an unbiased estimate of ``|m1|^2``), filtered with the
same guide as the moments. The filtered vector ``m1`` keeps its direction (the specular
normal) and is rescaled half way, in log length, from its own length to that one
(``LENGTH_POWER``). Half way is an empirical choice: on the ICT face-model head at the
issue-20 noise (192 px, 3 cameras) the full rescale biases roughness by about -0.02 (the
cause is not pinned down), no rescale by +0.02; half way gives 0.027 median error and the
specular normal 2.05 -> 1.86 deg. With inverse patterns only (the noise calibration needs
``gradient + inverse - full``).
"""

from __future__ import annotations

import numpy as np

from id2reflectance.processing.solve.guided import guided_filter
from id2reflectance.processing.solve.moment_planes import luminance
from id2reflectance.processing.solve.noise import FrameNoise, highpass
from id2reflectance.processing.solve.separation import LUMINANCE_709

__all__ = ["LENGTH_POWER", "length_noise", "rescale_lobe_length", "unbiased_length2"]

LENGTH_POWER = 0.25  # m1 rescaled by (unbiased / filtered squared length) ** this: half way in log length


def length_noise(images: dict[tuple[str, str], np.ndarray], model: FrameNoise) -> tuple[float, float]:
    """Coefficients ``(a, b)`` of the noise variance of one specular first-moment component.

    ``var = a * level + b`` with ``level = sum_c w_c^2 max(T_c, 0)``, ``T`` both
    polarisations' full-on value and ``w`` the Rec.709 weights:
    ``a = k gain``, ``b = k 4 read^2 sum_c w_c^2``, where ``k`` (about 1) is the measured over
    the modelled variance of ``S(gradient_x) + S(inverse_x) - S(full)`` (noise only, variance
    ``2 gain T + 6 read^2`` under the model), measured on at most about 2^16 strided pixels
    (a median: 2^16 samples pin it to about 0.5 %).

    Parameters
    ----------
    images : the frames with inverse patterns, (h, w, 3) float32 linear relative radiance.
    model : the camera's noise model per channel, ``var(x) = gain x + read^2``.
    """
    w2 = (LUMINANCE_709.astype(np.float32) ** 2).reshape(1, 1, 3)
    sub = _strided(images[("full", "cross")].shape, 1 << 16)
    level = np.sum(np.maximum(images[("full", "cross")][sub] + images[("full", "parallel")][sub], 0.0) * w2, axis=2)
    r2 = float(w2.sum()) * model.read**2

    def s(p: str) -> np.ndarray:
        return luminance(images[(p, "parallel")][sub]) - luminance(images[(p, "cross")][sub])

    res = highpass(s("gradient_x") + s("inverse_x") - s("full"))[2:-2, 2:-2]
    want = float(np.median(2.0 * model.gain * level + 6.0 * r2))
    k = float((1.4826 * np.median(np.abs(res))) ** 2 / want) if res.size >= 64 and want > 0 else 1.0
    return k * model.gain, k * 4.0 * r2


def unbiased_length2(
    images: dict[tuple[str, str], np.ndarray],
    spec: np.ndarray,
    model: FrameNoise,
    *,
    calibration: dict[tuple[str, str], np.ndarray] | None = None,
) -> np.ndarray:
    """Per pixel ``|m1|^2 - 3 var(m1 component)`` of the unfiltered specular first moments (numpy).

    The compiled path computes the same inside
    :func:`~id2reflectance.processing.solve.moments_kernel.pack_moments`.

    Parameters
    ----------
    images : the frames with inverse patterns, (h, w, 3) float32 linear relative radiance
        (read only).
    spec : (h, w, 4) float32 specular planes (``m0``, ``m1`` x, y, z; luminance of
        ``parallel - cross``; ``m1 = S(gradient) - S(inverse)``), unfiltered.
    model : the camera's noise model per channel, ``var(x) = gain x + read^2``; the
        variance of a component is :func:`length_noise`'s ``a * level + b``.
    calibration : the frames :func:`length_noise` samples (default ``images``).

    Returns
    -------
    (h, w) float32, may be negative where the noise exceeds the signal.
    """
    w2 = (LUMINANCE_709.astype(np.float32) ** 2).reshape(1, 1, 3)
    a, b = length_noise(images if calibration is None else calibration, model)
    level = np.maximum(images[("full", "cross")] + images[("full", "parallel")], np.float32(0.0))
    level = np.sum(level * w2, axis=2)
    var = level * np.float32(a) + np.float32(b)
    m1 = spec[..., 1:4]
    return np.sum(m1 * m1, axis=2) - np.float32(3.0) * var


def _strided(shape: tuple[int, ...], pixels: int = 1 << 18) -> tuple[slice, slice]:
    """Every ``step``-th row and column: at most about ``pixels`` pixels (all of a small frame)."""
    step = max(1, int(np.sqrt(shape[0] * shape[1] / float(pixels))))
    return slice(None, None, step), slice(None, None, step)


def rescale_lobe_length(
    spec: np.ndarray, length2: np.ndarray, guide: np.ndarray, *, radius: int, eps: float, subsample: int
) -> None:
    """Filter ``length2`` (:func:`unbiased_length2`) and give the filtered ``m1`` that length (in place).

    Parameters
    ----------
    spec : (h, w, 4) float32 filtered specular planes; ``spec[..., 1:4]`` rescaled.
    length2 : (h, w) float32 unbiased squared length of the unfiltered ``m1`` (overwritten).
    guide, radius, eps, subsample : the filter the specular planes went through.
    """
    if radius > 0:
        guided_filter(guide, length2, radius=radius, eps=eps, subsample=subsample, out=length2)
    m1 = spec[..., 1:4]
    have2 = np.sum(m1 * m1, axis=2)
    ok = (length2 > 0) & (have2 > np.float32(1e-30))
    ratio = np.where(ok, length2, 1.0) / np.where(ok, have2, 1.0)
    scale = np.where(ok, ratio**LENGTH_POWER, np.float32(1.0))
    m1 *= scale.astype(np.float32)[..., None]
