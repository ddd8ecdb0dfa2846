"""The lobe moments filtered for the denoiser, and the frames rebuilt from them in place.

Called by :func:`~id2reflectance.processing.solve.denoise.prepare_frames` on the box around
the lit pixels (docs/solve.md section 1c). The moment planes are computed by
:mod:`~id2reflectance.processing.solve.moments_kernel` (numba) or
:mod:`~id2reflectance.processing.solve.moment_planes` (numpy) into buffers kept between
cameras; every filter writes over its input planes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from id2reflectance._shared.pages import kept_empty
from id2reflectance.processing.solve.config import numba_available
from id2reflectance.processing.solve.guided import guided_filter, guided_filter2
from id2reflectance.processing.solve.lobe_length import (
    LENGTH_POWER,
    length_noise,
    rescale_lobe_length,
    unbiased_length2,
)
from id2reflectance.processing.solve.moment_planes import FRAME_ORDER, frames_from_moments, moment_planes
from id2reflectance.processing.solve.moment_pool import pool_first_moments
from id2reflectance.processing.solve.noise import FrameNoise
from id2reflectance.processing.solve.separation import LUMINANCE_709, has_inverses

__all__ = ["filter_moments", "filter_step"]

MOMENT_EPS_SIGMAS = 1.0  # eps of the first-moment guides' self-smoothing, in noise sigmas of the moment
GUIDE2_EPS = (1.0, 4.0)  # eps of the diffuse first moments' two guides, times eps_d and eps_m (at radius 1)
# without inverse patterns (2 gradient - full: 2.5-3x the noise, eps_m already scaled by that ratio) both
# doubled: diffuse normal lower on every 256 px photo head, noise + motion and still, seeds 0-3, and on
# 5 of 6 painted 128 / 192 px heads (docs/solve.md section 1c)
GUIDE2_EPS_NO_INVERSES = (2.0, 8.0)
LOBE_LENGTH = True  # the specular first moment's length filtered apart from its direction (lobe_length.py)


def guide2_eps_scale(radius: int) -> float:
    """Factor on the moment guide's eps at ``radius``: ``(3 / (2r + 1))^2``, 1 at radius 1.

    The guide is smoothed at the same radius, so its noise variance falls as ``1 / (2r +
    1)^2`` and the eps that keeps its detail falls with it (diffuse normal at radius 2 on the
    192 px head at the issue's noise, with the integrable step: 1.050 deg at 4 eps_m, 0.997
    at 1.44 eps_m, 0.996 at 1 eps_m).
    """
    return (3.0 / (2 * radius + 1)) ** 2


def filter_step(radius: int) -> int:
    """Coefficient grid step for a radius (fast guided filter)."""
    return max(1, radius // 2)


def _planes(shape: tuple[int, int], channels: int, slot: int) -> np.ndarray:
    """An (H, W, C) float32 C-contiguous plane buffer kept between calls, camera after camera, per
    thread (fresh pages cost a fault each: :func:`~id2reflectance._shared.pages.kept_empty`)."""
    n = shape[0] * shape[1] * channels
    return kept_empty(f"moment_filter.planes{slot}", n, np.float32).reshape(shape[0], shape[1], channels)


def filter_moments(
    images: dict[tuple[str, str], np.ndarray],
    guide: np.ndarray,
    *,
    radius_diffuse: int,
    radius_specular: int,
    sig_c: float,
    eps_d: float,
    model: FrameNoise,
    parallel_weight: float = 0.0,
    no_inverse_ratio: float = 1.0,
    first_moment_step: Callable[[np.ndarray, np.ndarray | None], None] | None = None,
    calibration: dict[tuple[str, str], np.ndarray] | None = None,
) -> None:
    """Filter the lobe moments instead of the frames, and rebuild the frames in place.

    Parameters
    ----------
    images : (h, w, 3) float32 writable views of the frames (the filtered box), linear
        relative radiance; overwritten with frames rebuilt from the filtered moments.
    guide : (h, w) float32, the smoothed full-on cross luminance.
    radius_diffuse, radius_specular : guided-filter radii, pixels (0: that lobe unfiltered).
    sig_c : noise sigma of the full-on cross luminance at its median level.
    eps_d : eps of the full-on guide, ``(2 sig_c)^2``.
    model : the camera's noise model (the specular lobe length's noise).
    parallel_weight : noise variance of the cross over the parallel frames: the diffuse
        first moments are first pooled from both polarisations with it
        (:func:`~id2reflectance.processing.solve.moment_pool.pool_first_moments`; 0: cross only).
    no_inverse_ratio : without inverse patterns, the first moment's noise variance over that
        with them (:func:`~id2reflectance.processing.solve.denoise_strength.no_inverse_ratio`):
        the first-moment guides' eps is scaled by it (ignored with inverses).
    first_moment_step : called with the filtered (h, w, 9) diffuse first-moment planes and
        the (h, w, 4) specular planes (None when the specular lobe was not filtered) before
        the frames are rebuilt (may change them in place): the integrability step
        (:mod:`~id2reflectance.processing.solve.integrable_normals`).
    calibration : the frames (views) the lobe length's noise calibration samples
        (:func:`~id2reflectance.processing.solve.lobe_length.length_noise`); default ``images``
        (a box cut to a mask file's window keeps the whole lit box's calibration).

    The zeroth moments (diffuse per channel, specular) and the specular first moments are
    filtered guided by the (smoothed) full-on image; each axis's diffuse first moment, with
    inverse patterns, by two guides: the full-on image and that axis's first-moment
    luminance (:func:`moment_planes`), which carries the surface's normal detail the
    full-on image lacks; without inverses too (``2 gradient - full``: its eps scaled by the
    moment's larger noise, ``no_inverse_ratio``). Every filter writes over its input planes.
    """
    rd, rs = radius_diffuse, radius_specular
    inverses = has_inverses(images)
    compiled = numba_available()

    def gf(g: np.ndarray, src: np.ndarray, r: int, eps: float) -> None:
        if r > 0:
            guided_filter(g, src, radius=r, eps=eps, subsample=filter_step(r), out=src)

    length = rs > 0 and LOBE_LENGTH and inverses
    # the pooling's coefficient w / (1 + w) in float32, as moment_pool computes it
    w32 = np.float32(parallel_weight)
    pool = w32 / (np.float32(1.0) + w32) if rd > 0 and parallel_weight > 0.0 else np.float32(0.0)
    if compiled:
        from id2reflectance.processing.solve import moments_kernel  # imports numba: only when used

        hw = guide.shape
        full_c, m1c = _planes(hw, 3, 0), _planes(hw, 9, 2)
        # with the lobe length: its unbiased square as a fifth specular channel, filtered with the others
        spec5 = _planes(hw, 5 if length else 4, 1)
        guides = _planes(hw, 3, 3).reshape(3, *hw)  # planar: each axis's guide is contiguous
        lcoef = np.zeros(5, np.float32)
        lcoef[:3] = LUMINANCE_709.astype(np.float32) ** 2
        if length:
            lcoef[3:] = length_noise(images if calibration is None else calibration, model)
        placeholder = images[("full", "cross")]
        frames = tuple(images.get(k, placeholder) for k in FRAME_ORDER)
        moments_kernel.pack_moments(
            tuple(np.asarray(f, np.float32) for f in frames),  # views: the kernel takes strides
            inverses,
            LUMINANCE_709,
            full_c,
            spec5,
            m1c,
            guides.transpose(1, 2, 0),
            lcoef,
            pool,  # the pooling in the same pass over the frames
        )
        gf(guide, spec5, rs, eps_d)  # the length is filtered like the moments; rescaled when unpacking
        spec = spec5  # channels 0-3 as moment_planes' spec; the fifth (a length) is turned by nothing
    else:
        full_c, spec, m1c, guides = moment_planes(images, inverses)
        length2 = unbiased_length2(images, spec, model, calibration=calibration) if length else None
        gf(guide, spec, rs, eps_d)
        if length2 is not None:
            rescale_lobe_length(spec, length2, guide, radius=rs, eps=eps_d, subsample=filter_step(rs))
    if pool > 0.0 and not compiled:
        pool_first_moments(images, m1c, inverses=inverses, weight=parallel_weight)
    gf(guide, full_c, rd, eps_d)
    eps_m = (MOMENT_EPS_SIGMAS * np.sqrt(2.0) * sig_c) ** 2
    if not inverses:  # the first moment 2 gradient - full, so its guide, is noisier (no_inverse_ratio)
        eps_m *= no_inverse_ratio
    g2 = GUIDE2_EPS if inverses else GUIDE2_EPS_NO_INVERSES
    for k in range(3):
        planes = m1c[..., 3 * k : 3 * k + 3]
        if rd > 0:  # two guides: albedo edges (full-on image) and normal detail (first moment)
            guide_a = np.ascontiguousarray(guides[k] if compiled else guides[..., k])
            gf(guide_a, guide_a, rd, eps_m)
            guided_filter2(
                guide,
                guide_a,
                planes,
                radius=rd,
                eps1=eps_d * g2[0],
                eps2=eps_m * g2[1] * guide2_eps_scale(rd),
                out=planes,
            )
    if rd > 0 and first_moment_step is not None:
        first_moment_step(m1c, spec if rs > 0 else None)
    if not compiled:
        for key, img in frames_from_moments(full_c, spec, m1c, inverses).items():
            images[key][...] = img
        return
    moments_kernel.unpack_moments(
        full_c, spec5, m1c, inverses, tuple(images.get(k, placeholder) for k in FRAME_ORDER), LENGTH_POWER
    )
