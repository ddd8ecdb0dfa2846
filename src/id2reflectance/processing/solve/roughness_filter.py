"""The solved roughness map smoothed where the specular lobe was noisy (after the solve).

Roughness comes from the specular lobe's width, ``|m1_S| / m0_S`` (docs/solve.md section 5),
the noisiest of the solve's quantities: at the issue-20 noise its per-pixel error is mostly
scatter, not bias (median signed error within +-0.01 on the 192 px heads of seeds 0-3, the
median absolute error 0.024-0.034), and strongly correlated between neighbours (lag-1
correlation 0.7: the moments were filtered at radius 1). Skin's roughness varies over
regions (forehead, nose, lips), not from pixel to pixel: on the simulator's heads the true
map departs from its own 7 x 7 mean by 0.005 median. So where the specular lobe was
filtered (the camera's noise made it worth it: ``denoise_strength.specular_radius``), the
roughness map itself is filtered once more, over a wider window than the moments can take
(the specular normal's relief would blur): a guided filter, guided by the full-on cross
luminance (edges of albedo regions stay), over the pixels whose roughness was solved (the
specular fallbacks keep ``default_roughness`` and do not count). A clean capture is not
filtered (its maps are bit for bit those of ``--denoise none``).
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance.processing.solve.denoise_strength import lobe_radius
from id2reflectance.processing.solve.guided import guided_filter
from id2reflectance.processing.solve.moment_planes import luminance
from id2reflectance.processing.solve.roughness_table import ROUGHNESS_RANGE

__all__ = ["ROUGHNESS_EPS", "TARGET_ROUGHNESS_RAD", "roughness_radius", "smooth_roughness"]

# the roughness window averages (noise / this)^2 pixels, the specular lobe's noise per pixel as the
# denoiser estimates it (denoise_strength.specular_radius): measured (docs/solve.md section 5)
TARGET_ROUGHNESS_RAD = np.radians(1.8)
ROUGHNESS_EPS = 0.1  # the guide's eps: (this x the guide's median over the solved pixels)^2


def roughness_radius(noise_to_signal: float, radius_specular: int) -> int:
    """Radius of the roughness map's filter: 0 where the specular lobe was not filtered
    (``radius_specular`` 0: its noise under ``MIN_SPECULAR_RAD``), else the radius whose window
    averages ``(noise_to_signal / TARGET_ROUGHNESS_RAD)^2`` pixels (:func:`lobe_radius`).

    ``noise_to_signal`` : the specular normal's noise per pixel (radians), as for the lobe
    (without inverse patterns times ``sqrt(no_inverse_ratio)``: the first moment ``2 gradient - full``).

    The best radius grows with the noise (per-pixel scatter) and falls on small heads (the
    window covers more of a region); measured on the solved maps (guided filter, eps 0.1, radius
    0-5, median roughness error): 128 px procedural heads at 5.4 deg (dark skin) 0.0261 / 0.0253 /
    0.0262 / 0.0289 at 0-3, at 7.9 deg 0.0262 / 0.0238 / 0.0226 / 0.0230; the 192 px heads of
    seeds 0-3 (6.7-12.7 deg) best at 3-5, 256 px moving heads with inverses (6.2-9.6 deg) at 2-3
    (seed 1 at 6.2 deg: 0.0219 / 0.0221 / 0.0227 at 2-4), without (9.3-15.6 deg with the ratio)
    at 4-5. 1.8 deg gives 1, 2, 2-4, 2-3, 4 on these.
    """
    if radius_specular <= 0:
        return 0
    return lobe_radius(noise_to_signal, TARGET_ROUGHNESS_RAD)


def smooth_roughness(
    roughness: np.ndarray, guide: np.ndarray, solved: np.ndarray, *, radius: int, eps: float = ROUGHNESS_EPS
) -> int:
    """Filter ``roughness`` over its ``solved`` pixels, guided by ``guide`` (in place).

    Only the bounding box of the ``solved`` pixels (grown by the filter's reach) is read;
    only ``solved`` pixels are written. Unsolved pixels in the windows (background,
    specular fallbacks) are first given the mean of the solved pixels within ``2 radius``
    (their own values would pull the solved ones towards 0 or ``default_roughness``).

    Parameters
    ----------
    roughness : (H, W) float32 GGX perceptual roughness (any strides: a view of a mapped file).
    guide : (H, W) float32, the full-on cross-polarised luminance (linear relative radiance),
        or the (H, W, 3) float32 full-on cross frame (its Rec.709 luminance taken on the box).
    solved : (H, W) bool, the pixels whose roughness the solve measured (valid, no fallback).
    radius : guided-filter radius, pixels (0: nothing done).
    eps : the guided filter's eps is ``(eps x median(guide[solved]))^2``.

    Returns
    -------
    The number of pixels written.
    """
    if radius <= 0 or not solved.any():
        return 0
    rows, cols = np.flatnonzero(solved.any(axis=1)), np.flatnonzero(solved.any(axis=0))
    reach = 3 * radius + 1
    h, w = solved.shape
    box = (
        slice(max(int(rows[0]) - reach, 0), min(int(rows[-1]) + reach + 1, h)),
        slice(max(int(cols[0]) - reach, 0), min(int(cols[-1]) + reach + 1, w)),
    )
    ok = solved[box]
    weight = ok.astype(np.float32)
    rough = np.multiply(roughness[box], weight, dtype=np.float32)  # 0 where unsolved
    side = 4 * radius + 1
    filled = cv2.boxFilter(rough, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    den = cv2.boxFilter(weight, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    np.divide(filled, np.maximum(den, np.float32(1e-6), out=den), out=filled)
    np.copyto(filled, rough, where=ok)
    g = luminance(guide[box]) if guide.ndim == 3 else np.ascontiguousarray(guide[box], dtype=np.float32)
    step = max(1, int(np.sqrt(ok.size / float(1 << 16))))  # the guide's level from about 2^16 pixels
    level = g[::step, ::step][ok[::step, ::step]]
    scale = float(np.median(level if level.size else g[ok]))
    eps_abs = max((eps * scale) ** 2, 1e-12)
    guided_filter(g, filled, radius=radius, eps=eps_abs, subsample=max(1, radius // 2), out=filled)
    lo, hi = ROUGHNESS_RANGE
    target = roughness[box]
    target[ok] = np.clip(filled[ok], lo, hi)
    return int(ok.sum())
