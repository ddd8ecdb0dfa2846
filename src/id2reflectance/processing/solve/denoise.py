"""Before the solve: ambient light removed, frames denoised adaptively, a robust mask, confidence.

Pipeline per camera (``solve_session``): decode -> align (when present) -> :func:`prepare_camera`
-> solve -> :func:`camera_confidence`. The full description is docs/solve.md, section 1b.

1. **Noise** (:mod:`~id2reflectance.processing.solve.noise`): a Poisson-Gaussian model per
   frame (from dark frames when the camera has them, else from the image) and one per
   camera from the complementary patterns (with inverses), which drives the filter.
2. **Ambient light** (room light, a lit backdrop) adds the same image ``A`` to every
   frame. With inverse patterns ``A = mean_a(gradient_a + inverse_a) - full``, measured on
   both polarisations together (room light is unpolarised) relative to ``full``; above
   ``AMBIENT_MIN`` it is smoothed by a guided filter (ambient reflected by the face is
   proportional to albedo: the filter's local model ``a * full + b``) and subtracted from
   every frame, which leaves ``parallel - cross`` untouched.
3. **Denoising** with guided filters (:mod:`~id2reflectance.processing.solve.guided`),
   radii from the noise-to-signal ratio of each lobe (0 on a clean capture: not filtered
   at all). The lobe moments are filtered, not the frames: zeroth moments guided by the
   full-on cross luminance, the diffuse first moment of each axis guided by that axis's
   first moment (it carries the normal detail the full-on image lacks). The diffuse
   normals are made integrable from the channels weighted by signal over noise variance
   (:func:`channel_weights`; dark skin has almost no blue signal). Frames are
   rebuilt from the filtered moments; the parallel frame as ``cross' + S'`` in every
   channel (the solver reads it only through ``lum(parallel - cross)``).
4. **Mask** (only without ``masks/<camera>.png``): denoised diffuse luminance above a
   per-pixel noise threshold and shown by the reference frame itself, the outer layer's
   partly covered pixels dropped, specks removed, enclosed holes filled.
5. **Confidence** per pixel from the signal-to-noise ratios after filtering, and the
   ``[specular_below_noise]`` warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from id2reflectance._shared.pages import kept_empty
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.frames import CameraFrames
from id2reflectance.capture.session import Session
from id2reflectance.processing.solve.camera_maps import CameraMaps, mapped_empty
from id2reflectance.processing.solve.config import SolverConfig, numba_available
from id2reflectance.processing.solve.denoise_strength import (
    MIN_DIFFUSE_RAD,
    MIN_DIFFUSE_RAD_NO_INVERSES,
    TARGET_DIFFUSE_RAD,
    TARGET_GUIDE_RAD,
    channel_weights,
    diffuse_radius,
    lobe_radius,
    no_inverse_ratio,
    specular_radius,
)
from id2reflectance.processing.solve.guided import guided_filter
from id2reflectance.processing.solve.integrable_normals import make_integrable
from id2reflectance.processing.solve.moment_filter import filter_moments, filter_step
from id2reflectance.processing.solve.moment_planes import luminance
from id2reflectance.processing.solve.moment_pool import parallel_weight
from id2reflectance.processing.solve.noise import FrameNoise, sensor_noise
from id2reflectance.processing.solve.roughness_filter import roughness_radius
from id2reflectance.processing.solve.separation import AXES, LUMINANCE_709, has_inverses

log = logging.getLogger(__name__)

__all__ = [
    "AMBIENT_MIN",
    "PreparedCamera",
    "Preparation",
    "camera_confidence",
    "channel_weights",
    "confidence_map",
    "prepare_camera",
    "prepare_frames",
    "robust_mask",
]

AMBIENT_MIN = 0.003  # ambient / full-on luminance (median) below which no ambient is removed
AMBIENT_RADIUS = 1  # pixels, guided filter of the ambient estimate (3 left a ring of backdrop at the silhouette)
EPS_SIGMAS = 2.0  # guided-filter eps: (this many noise sigmas of the full-on cross luminance) squared
EDGE_FRACTION = 0.5  # mask, the outer layer: a pixel under this fraction of its brightest 5 x 5 neighbour's diffuse
EDGE_STEP_FRACTION = 0.6  # ... and under this fraction of its brightest 4-connected neighbour's is peeled
EDGE_PASSES = 2  # ... at most this many times (a blurred edge's tail; dark hair along the silhouette stays)
AMBIENT_FACE = 0.5  # mask without inverse patterns: a pixel whose light is more than this fraction ambient is not face
MASK_SNR = 6.0  # mask threshold: diffuse luminance above this many noise sigmas (after filtering)
CONFIDENCE_SNR = 3.0  # signal-to-noise ratio at which a pixel's confidence is 1/2
WINDOW_MARGIN = 32
"""Pixels beyond the filters' reach around a mask file's box that are still filtered (:func:`prepare_frames`'s
``window``): the integrable step's screened solve (``1 / KAPPA`` = 2 px) and its FFT box's edge stay that far
from every solved pixel."""


@dataclass
class Preparation:
    """What :func:`prepare_frames` did to one camera's frames (``solve.json``'s ``noise``).

    noise : {"pattern_polarization": FrameNoise} per frame.
    ambient : ``{"ratio": ambient / full-on luminance}`` (medians over the lit pixels,
        both polarisations); removed when ``ambient_removed``.
    radius_diffuse, radius_specular : guided-filter radii, pixels (0: not filtered).
    radius_roughness : radius of the solved roughness map's guided filter (after the solve,
        :mod:`~id2reflectance.processing.solve.roughness_filter`; 0: not filtered).
    cross_noise, parallel_noise : the camera's noise model per polarisation: from the
        complementary patterns when the session has inverses (the same for both), else the
        median over its frames.
    level_cross, level_specular : median full-on cross and specular luminance over the
        signal pixels (the levels the radii were chosen for).
    mask_threshold : diffuse-luminance threshold of the robust mask (None: a mask file).
    diffuse_weights : R, G, B weights of the diffuse normal the denoiser makes integrable
        (:func:`channel_weights`; the solver's green plus blue is turned onto it).
    roi : the rows and columns filtered (``filtered_box``: row start, stop, column start,
        stop; None: the whole image).
    """

    noise: dict[str, FrameNoise] = field(default_factory=dict)
    ambient: dict[str, float] = field(default_factory=dict)
    ambient_removed: bool = False
    radius_diffuse: int = 0
    radius_specular: int = 0
    radius_roughness: int = 0  # the solved roughness map's guided filter (roughness_filter; 0: none)
    cross_noise: FrameNoise = field(default_factory=lambda: FrameNoise(0.0, 0.0))
    parallel_noise: FrameNoise = field(default_factory=lambda: FrameNoise(0.0, 0.0))
    level_cross: float = 0.0
    level_specular: float = 0.0
    mask_threshold: float | None = None
    diffuse_weights: tuple[float, ...] = (0.0, 1.0, 1.0)  # R, G, B weights of the denoised diffuse normal
    diffuse_noise_deg: float = 0.0  # noise of one pixel's diffuse normal before filtering (sets radius_diffuse)
    # (H, W) float32 full-on cross and parallel luminance as the sensor saw them (before any ambient
    # removal): set the noise sigma of every pixel (:func:`noise_sigmas`), computed where needed
    raw_cross: np.ndarray | None = None
    raw_parallel: np.ndarray | None = None
    roi: tuple[slice, slice] = (slice(None), slice(None))  # rows, columns filtered (the lit pixels' box)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": {k: v.to_json() for k, v in self.noise.items()},
            "ambient": {k: round(v, 6) for k, v in self.ambient.items()},
            "ambient_removed": self.ambient_removed,
            "radius_diffuse": self.radius_diffuse,
            "radius_specular": self.radius_specular,
            "radius_roughness": self.radius_roughness,
            "cross": self.cross_noise.to_json(),
            "parallel": self.parallel_noise.to_json(),
            "level_cross": self.level_cross,
            "level_specular": self.level_specular,
            "mask_threshold": self.mask_threshold,
            "diffuse_weights": list(self.diffuse_weights),
            "diffuse_noise_deg": self.diffuse_noise_deg,
            "filtered_box": [self.roi[0].start, self.roi[0].stop, self.roi[1].start, self.roi[1].stop],
        }


def _median_model(models: list[FrameNoise]) -> FrameNoise:
    if not models:
        return FrameNoise(0.0, 0.0)
    return FrameNoise(
        float(np.median([m.gain for m in models])), float(np.median([m.read for m in models])), models[0].source
    )


def _strided(shape: tuple[int, ...], pixels: int = 1 << 18) -> tuple[slice, slice]:
    """Row and column slices keeping at most about ``pixels`` evenly strided pixels (all of a small frame)."""
    step = max(1, int(np.sqrt(shape[0] * shape[1] / float(pixels))))
    return slice(None, None, step), slice(None, None, step)


def _sigma_map(model: FrameNoise, level: np.ndarray, *, plus: np.ndarray | None = None) -> np.ndarray:
    """(h, w) float32 noise sigma of ``model`` at ``level`` (h, w) float32, combined in quadrature with ``plus``."""
    var = np.maximum(level, np.float32(0.0))
    var *= np.float32(model.gain)
    var += np.float32(model.read**2)
    if plus is not None:
        var += np.square(plus)
    return np.sqrt(var, out=var)


def noise_sigmas(prep: Preparation, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """Noise sigma of the full-on cross luminance and of the specular (``parallel - cross``) in a box.

    Parameters
    ----------
    prep : a Preparation with ``raw_cross`` and ``raw_parallel`` (:func:`prepare_frames`).
    box : rows and columns (or strided slices) of the image.

    Returns
    -------
    Two (h, w) float32 arrays, relative radiance: the cross model at the raw cross level,
    and that combined in quadrature with the parallel model at the raw parallel level.
    """
    if prep.raw_cross is None or prep.raw_parallel is None:
        raise ValueError("noise_sigmas needs a Preparation from prepare_frames (raw_cross, raw_parallel)")
    sig_c = _sigma_map(prep.cross_noise, prep.raw_cross[box])
    return sig_c, _sigma_map(prep.parallel_noise, prep.raw_parallel[box], plus=sig_c)


def _noise_coefficients(prep: Preparation) -> np.ndarray:
    """(4,) float32 ``gain, read^2`` of the cross and the parallel model (the compiled sigmas)."""
    c, p = prep.cross_noise, prep.parallel_noise
    return np.array([c.gain, c.read**2, p.gain, p.read**2], np.float32)


def _remove_ambient(
    images: dict[tuple[str, str], np.ndarray],
    signal: np.ndarray,
    prep: Preparation,
    *,
    eps: Callable[[], float],
    in_place: bool,
) -> None:
    """Measure the ambient light; subtract it from every frame when present (in place, or new arrays).

    ``eps`` gives the smoothing filter's eps, called only when the ambient light is removed (a median
    over every lit pixel: not computed for a capture without ambient light).

    Room light is unpolarised, so both polarisations receive the same ambient image: it is
    measured on their sum (half the noise) and the same estimate is subtracted from both,
    which leaves the specular ``parallel - cross`` untouched.
    """

    def residual(pol: str, at: tuple[slice, slice]) -> np.ndarray:
        amb = sum(images[(f"gradient_{a}", pol)][at] + images[(f"inverse_{a}", pol)][at] for a in AXES)
        return amb / np.float32(3.0) - images[("full", pol)][at]

    def measure(rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray, float]:
        at = (rows, cols)
        amb = (residual("cross", at) + residual("parallel", at)) * np.float32(0.5)
        full = (images[("full", "cross")][at] + images[("full", "parallel")][at]) * np.float32(0.5)
        sig = signal[at] if signal[at].any() else np.ones(amb.shape[:2], bool)
        return amb, full, float(np.median(luminance(amb)[sig]) / max(np.median(luminance(full)[sig]), 1e-12))

    rows, cols = _strided(signal.shape, 1 << 16)  # the ratio from <= 2^16 pixels: full-size work only when removing
    _, _, ratio = measure(rows, cols)
    prep.ambient = {"ratio": ratio}
    if ratio < AMBIENT_MIN:
        return
    amb, full, ratio = measure(slice(None), slice(None))
    prep.ambient = {"ratio": ratio}
    prep.ambient_removed = True
    smooth = guided_filter(luminance(full), amb, radius=AMBIENT_RADIUS, eps=eps(), subsample=1)
    for key, img in images.items():
        if in_place and img.flags.writeable:
            img -= smooth
        else:
            images[key] = img - smooth  # new arrays: the caller's frames are not modified


def prepare_frames(
    frames: CameraFrames,
    noise: dict[tuple[str, str], FrameNoise],
    *,
    denoise: Literal["auto", "none"] = "auto",
    ambient: Literal["auto", "none"] = "auto",
    camera_model: FrameNoise | None = None,
    in_place: bool = False,
    geometry: tuple[Camera, np.ndarray] | None = None,
    window: tuple[slice, slice] | None = None,
) -> tuple[CameraFrames, Preparation]:
    """Remove ambient light and denoise one camera's frames for the solve.

    Parameters
    ----------
    frames : corrected frames (``load_camera_frames``): ``{(pattern, pol): (H, W, 3)
        float32}`` linear Rec.709 relative radiance; not modified unless ``in_place``.
    noise : the noise model of each frame (same keys), corrected-frame units.
    denoise : ``"auto"`` (radii from the noise, 0 when clean) or ``"none"``.
    ambient : ``"auto"`` (measure with inverse patterns, remove when present) or ``"none"``.
    camera_model : the camera's noise model from its complementary patterns
        (:func:`~id2reflectance.processing.solve.noise.pattern_noise`), used for both
        polarisations when given; else the median of the per-frame models.
    in_place : write the result over ``frames``' (writable) arrays instead of copies of
        them: no second copy of the frames (the solver's frames are its own).
    geometry : the camera and the rig's ``lights_to_world``: the filtered diffuse (and
        specular) normals are then made locally integrable
        (:func:`~id2reflectance.processing.solve.integrable_normals.make_integrable`).
    window : rows and columns outside which nothing is solved (the mask file's bounding box), or
        None: the filtered box is then cut to it grown by the filters' reach and
        :data:`WINDOW_MARGIN` (the pixels beyond stay as decoded, ambient light removed).

    Returns
    -------
    The frames to solve (new arrays where changed, the inputs otherwise; with ``in_place``
    the inputs, changed) and a Preparation.
    """
    prep = Preparation(noise={f"{p}_{pol}": m for (p, pol), m in noise.items()})
    if camera_model is not None:
        prep.cross_noise = prep.parallel_noise = camera_model
    else:
        prep.cross_noise = _median_model([m for (_, pol), m in noise.items() if pol == "cross"])
        prep.parallel_noise = _median_model([m for (_, pol), m in noise.items() if pol == "parallel"])
    images = dict(frames.images)
    shape = images[("full", "cross")].shape[:2]
    # what the sensor saw: sets the noise (pages mapped up front: faults cost more than the transform)
    raw_c = luminance(images[("full", "cross")], out=mapped_empty(shape, np.float32))
    raw_p = luminance(images[("full", "parallel")], out=mapped_empty(shape, np.float32))
    floor = 10.0 * max(prep.cross_noise.read, 1e-6)
    signal: np.ndarray | None = None
    if ambient == "auto" and has_inverses(images):
        signal = raw_c > floor
        signal = signal if signal.any() else np.ones_like(signal)

        def ambient_eps(lit: np.ndarray = signal) -> float:
            return max((EPS_SIGMAS * float(prep.cross_noise.sigma(np.median(raw_c[lit])))) ** 2, 1e-10)

        _remove_ambient(images, signal, prep, eps=ambient_eps, in_place=in_place)
    lum_c = luminance(images[("full", "cross")]) if prep.ambient_removed else raw_c
    if signal is None or prep.ambient_removed:  # else the lit pixels of raw_c, found above
        signal = lum_c > floor
        if not signal.any():
            signal = np.ones_like(signal)
    sub = _strided(signal.shape)  # the levels from at most about 2^18 pixels
    sig_sub = signal[sub] if signal[sub].any() else np.ones_like(signal[sub])
    spec = luminance(images[("full", "parallel")][sub]) - lum_c[sub]
    prep.level_cross = float(np.median(lum_c[sub][sig_sub]))
    prep.level_specular = float(max(np.median(spec[sig_sub]), 1e-9))
    sig_c = float(np.median(prep.cross_noise.sigma(raw_c[sub][sig_sub])))
    sig_p = float(np.median(prep.parallel_noise.sigma(raw_p[sub][sig_sub])))
    sig_s = float(np.hypot(sig_c, sig_p))
    levels = np.median(images[("full", "cross")][sub][sig_sub], axis=0)
    weights, nts_weighted = channel_weights(levels, prep.cross_noise)
    inverses = has_inverses(images)
    # without inverses the first moments are 2 gradient - full: their noise, so that of the normal, is higher
    ratio = 1.0 if inverses else no_inverse_ratio(prep.cross_noise, prep.level_cross)
    nts_weighted *= np.sqrt(ratio)
    prep.diffuse_noise_deg = round(float(np.degrees(nts_weighted)), 4)
    prep.diffuse_weights = tuple(round(float(x), 4) for x in weights)
    prep.raw_cross, prep.raw_parallel = raw_c, raw_p  # the noise sigmas are computed where needed
    k = np.sqrt(2.0)
    noise_lum = k * sig_c / (2.0 / 3.0 * prep.level_cross)  # the luminance's normal noise per pixel, radians
    if denoise == "auto":
        # noise of one normal direction: the first moment's noise (gradient - inverse:
        # sqrt(2) sigma) over its length (2/3 of the level for a Lambertian lobe; about 0.8
        # for skin's specular). With inverses the diffuse noise is that of the SNR-weighted
        # channels (the direction the integrable step takes): radius 1 is the best of 1-4 at
        # the noise on the 192 px heads of seeds 0-3 (seed 1, dark skin: 0.935
        # against 1.026 deg at radius 2; docs/solve.md section 1c). Without inverses the
        # first moment is 2 gradient - full, its noise variance ``no_inverse_ratio`` (2.5-3)
        # times as much: the same rule on that noise (256 px heads of seeds 0-3: radius 2 on
        # the dark skin of seed 1, 0.952 deg against 0.983 at radius 1; 1 on the others).
        # without inverses from a higher threshold: the single frames' estimate reads texture as noise
        minimum = MIN_DIFFUSE_RAD if inverses else MIN_DIFFUSE_RAD_NO_INVERSES
        prep.radius_diffuse = diffuse_radius(nts_weighted, TARGET_DIFFUSE_RAD, minimum=minimum)
        nts_s = k * sig_s / (0.8 * prep.level_specular)
        prep.radius_specular = specular_radius(nts_s)
        # the solved roughness map's filter (roughness_filter, after the solve): its noise follows
        # the specular first moment's, without inverses 2 gradient - full as the diffuse one's
        prep.radius_roughness = roughness_radius(nts_s * np.sqrt(ratio), prep.radius_specular)
    if prep.radius_diffuse == 0 and prep.radius_specular == 0:
        return CameraFrames(frames.camera, images, frames.saturated, frames.stats), prep
    eps_d = (EPS_SIGMAS * sig_c) ** 2
    # the guide's own noise would pass into every filtered frame (output = a * guide + b):
    # smooth it first, self-guided (edge-preserving), with the larger of the two radii
    # (at least the radius of the luminance's own noise: a less smoothed guide passed its noise
    # into the specular lobe at high noise, 3.40 -> 3.51 deg and roughness 0.078 -> 0.087)
    r_g = max(prep.radius_diffuse, prep.radius_specular, lobe_radius(noise_lum, TARGET_GUIDE_RAD))
    # only the box around the lit pixels is filtered: outside it nothing exceeds 10 read-noise
    # sigmas, the robust mask excludes it, and the filters' windows end inside the margin
    lit = roi = _signal_box(signal, margin=4 * r_g + 2)
    if window is not None:  # nothing is solved beyond it: filtered only as far as its filters reach
        roi = _cut_box(lit, window, margin=4 * r_g + 2 + WINDOW_MARGIN, shape=shape)
    prep.roi = roi
    # smoothed in a plane kept between cameras: a fresh copy and a fresh output had cost a page fault
    # per 4 KiB (at 4096^2 two 64 MB arrays, mapped anew by every camera)
    guide = _guide_plane(lum_c[roi])
    guided_filter(guide, guide, radius=r_g, eps=eps_d, subsample=filter_step(r_g), out=guide)
    if not (in_place and all(img.flags.writeable for img in images.values())):
        for key, img in images.items():  # the caller's frames stay as they are
            if img is frames.images[key]:
                copy = mapped_empty(img.shape, np.float32)  # pages mapped up front
                np.copyto(copy, img)
                images[key] = copy
    filter_moments(
        {k: v[roi] for k, v in images.items()},
        guide,
        radius_diffuse=prep.radius_diffuse,
        radius_specular=prep.radius_specular,
        sig_c=sig_c,
        eps_d=eps_d,
        model=prep.parallel_noise,
        parallel_weight=parallel_weight(sig_c, sig_p),
        no_inverse_ratio=ratio,
        calibration=None if roi == lit else {k: v[lit] for k, v in images.items()},
        first_moment_step=None
        if geometry is None
        else lambda m1c, spec: make_integrable(
            m1c, signal[roi], geometry[0], geometry[1], roi, spec=spec, weights=weights
        ),
    )
    log.info(
        "%s: denoised (radius diffuse %d, specular %d px; noise %.3g at level %.3g)",
        frames.camera,
        prep.radius_diffuse,
        prep.radius_specular,
        sig_c,
        prep.level_cross,
    )
    return CameraFrames(frames.camera, images, frames.saturated, frames.stats), prep


def _guide_plane(lum: np.ndarray) -> np.ndarray:
    """A C-contiguous (h, w) float32 copy of ``lum`` (h, w) in memory kept between calls (valid until the
    next call in this thread: the guide is used only inside :func:`prepare_frames`)."""
    out = kept_empty("denoise.guide", lum.size, np.float32).reshape(lum.shape)
    np.copyto(out, lum)
    return out


def _cut_box(
    box: tuple[slice, slice], window: tuple[slice, slice], *, margin: int, shape: tuple[int, int]
) -> tuple[slice, slice]:
    """``box`` (rows, columns; None bounds: the image's) cut to ``window`` grown by ``margin`` pixels."""
    out = []
    for b, w_, n in zip(box, window, shape, strict=True):
        b0, b1, _ = b.indices(n)
        w0, w1, _ = w_.indices(n)
        lo, hi = max(b0, w0 - margin, 0), min(b1, w1 + margin, n)
        out.append(slice(lo, max(hi, lo)))
    return out[0], out[1]


def _signal_box(signal: np.ndarray, *, margin: int) -> tuple[slice, slice]:
    """Bounding box (rows, columns) of ``signal`` (H, W) bool grown by ``margin`` pixels."""
    rows, cols = np.flatnonzero(signal.any(axis=1)), np.flatnonzero(signal.any(axis=0))
    if rows.size == 0:
        return slice(None), slice(None)
    h, w = signal.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(h, int(rows[-1]) + margin + 1)),
        slice(max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + margin + 1)),
    )


def robust_mask(frames: CameraFrames, prep: Preparation, *, min_diffuse: float) -> np.ndarray:
    """Foreground mask from prepared frames when the session has no mask file.

    Parameters
    ----------
    frames : the prepared frames (:func:`prepare_frames`).
    prep : its Preparation (noise and filter radii); ``mask_threshold`` is set.
    min_diffuse : the solver's ``min_diffuse`` (the threshold is at least this).

    Returns
    -------
    (H, W) bool.
    """
    full = frames.images[("full", "cross")]
    h, w = full.shape[:2]

    def sigma(at: tuple[slice, slice]) -> np.ndarray | np.float32:
        if prep.raw_cross is None:
            return np.float32(prep.cross_noise.read)
        return _sigma_map(prep.cross_noise, prep.raw_cross[at])

    def threshold(sig: np.ndarray | np.float32) -> np.ndarray:
        if prep.ambient_removed:  # the subtracted ambient estimate adds the noise of 6 more frames
            sig = sig * np.float32(np.sqrt(1.0 + 2.0 / 3.0))
        return np.maximum(min_diffuse, MASK_SNR * 2.0 * sig / (2 * prep.radius_diffuse + 1))

    prep.mask_threshold = float(np.median(threshold(sigma(_strided((h, w))))))
    # the candidates (above the threshold, inside the filtered box) band by band of rows: no
    # full-size float temporaries (fresh pages cost a fault each)
    rows, cols = prep.roi
    r0, r1, _ = rows.indices(h)
    c0, c1, _ = cols.indices(w)
    fg = np.zeros((h, w), np.uint8)
    for b0 in range(r0, r1, 256):
        band = (slice(b0, min(b0 + 256, r1)), slice(c0, c1))
        fg[band] = np.float32(2.0) * luminance(full[band]) > threshold(sigma(band))
    # nothing outside the candidates' box is foreground: every step below runs on that box grown
    # by 3 pixels (the 5 x 5 dilation, the 3 x 3 erosion and opening see what they saw on the whole
    # image, and the background ring keeps the holes' connection to the image border)
    box = _signal_box(fg, margin=3)
    if box[0].start is None:  # no candidate at all
        return np.zeros((h, w), bool)
    d = luminance(full[box])
    d *= np.float32(2.0)
    part = fg[box]
    if prep.raw_cross is not None:
        # the reference frame's own light: the denoised full-on level also holds the complementary
        # patterns' (their inverse-variance mean), which on a moving head reach past the reference
        # frame's silhouette (a band of about 0.06 beside the neck where the frame itself reads 0);
        # a pixel must show at least half of the denoised level in the frame as the sensor saw it
        # (ambient light included), less two noise sigmas
        raw = prep.raw_cross[box]
        part &= raw >= np.float32(0.5 * 0.5) * d - np.float32(2.0) * _sigma_map(prep.cross_noise, raw)
    gradients = [(f"gradient_{a}", "cross") for a in AXES]
    if not prep.ambient_removed and not has_inverses(frames.images) and all(g in frames.images for g in gradients):
        # without inverse patterns ambient light (room light, a lit backdrop) stays in the frames: a
        # pixel whose light every pattern has is not face. The three gradients of a face add up to
        # about 1.5 x its full-on frame (a Lambertian surface: (1 + 2 n_a / 3) / 2 each), so
        # 2 mean_a(gradient_a) - full is within about 0.38 x full of 0 there, and full on a backdrop
        # that every pattern lights alike (as the alignment's face region, align_work.face_region,
        # per pixel here: the frames are denoised and a 5 x 5 average lets the backdrop beside the
        # silhouette in)
        amb = sum(luminance(frames.images[g][box]) for g in gradients)
        amb *= np.float32(2.0 / 3.0)
        amb -= np.float32(0.5) * d
        part &= amb < np.float32(AMBIENT_FACE * 0.5) * d
    # silhouette pixels partly covered by the head hold a fraction of its signal: the outer layer (a
    # candidate with a non-candidate among its 8 neighbours) is peeled EDGE_PASSES times, each time
    # dropping its pixels under EDGE_STEP_FRACTION of their brightest direct (4-connected) neighbour's
    # and under EDGE_FRACTION of their brightest 5 x 5 neighbour's. A blurred coverage edge's tail
    # steps steeply from pixel to pixel (a lens blur of sigma 1 px: 0.32 against 0.68 across the
    # edge) and goes; dark hair along the silhouette, whose albedo ramps up to the skin's over 2-3 px
    # (0.045, 0.057, 0.10, 0.20), stays: its outermost pixel is close to its inner neighbour. Before,
    # every pixel was tested against half of its brightest 5 x 5 neighbour's, which dropped that hair
    # and the hairline's dark side (cover 0.94 on seed 3 at 256 px, 0.88 at 128 px)
    keep = d >= np.float32(EDGE_STEP_FRACTION) * cv2.dilate(d, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)))
    keep |= d >= np.float32(EDGE_FRACTION) * cv2.dilate(d, np.ones((5, 5), np.uint8))
    for _ in range(EDGE_PASSES):
        outer = cv2.erode(part, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0
        drop = outer & ~keep
        drop &= part > 0
        if not drop.any():
            break
        part[drop] = 0
    out = np.zeros((h, w), bool)
    out[box] = _clean_mask(cv2.morphologyEx(part, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))
    return out


def _clean_mask(fg: np.ndarray) -> np.ndarray:
    """Components under 1 % of the largest dropped, enclosed holes filled; (h, w) uint8 -> bool."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return fg.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = areas >= 0.01 * areas.max()
    fg = keep[labels]
    # fill enclosed holes: background not connected to the image border
    bg = (~fg).astype(np.uint8)
    n, labels = cv2.connectedComponents(bg, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    at_border = np.zeros(n, bool)
    at_border[border[border > 0]] = True
    outside = at_border[labels]
    return fg | (~outside & (bg > 0))


def confidence_map(frames: CameraFrames, prep: Preparation, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel confidence of the solved maps, from the noise model and the signal.

    ``confidence = q(snr_diffuse) * q(snr_specular)`` with ``q(x) = x^2 / (x^2 + 3^2)``,
    where each signal-to-noise ratio is the full-on diffuse (cross) or specular
    (``parallel - cross``) luminance of the prepared frames over its noise standard
    deviation after filtering (per-pixel noise model divided by the filter window's
    side, ``2r + 1``).

    Parameters
    ----------
    frames : the prepared frames; prep : their Preparation; mask : (H, W) bool solve mask.

    Returns
    -------
    confidence : (H, W) float32 in [0, 1], 0 outside the mask.
    snr_specular : (H, W) float32, the specular signal-to-noise ratio (for warnings) inside
        the mask's bounding box, 0 outside it.
    """
    h, w = mask.shape
    conf, snr_full = mapped_empty((h, w), np.float32), mapped_empty((h, w), np.float32)  # pages mapped up front
    conf.fill(0.0)
    snr_full.fill(0.0)
    if not mask.any():
        return conf, snr_full
    rows, cols = _signal_box(mask, margin=0)  # conf is 0 outside the mask: only its bounding box is computed
    f32, tiny, k2 = np.float32, np.float32(1e-12), np.float32(CONFIDENCE_SNR**2)

    def snr(signal: np.ndarray, sigma: np.ndarray, radius: int) -> np.ndarray:
        out = np.multiply(sigma, f32(1.0 / (2 * radius + 1)), dtype=np.float32)
        np.maximum(out, tiny, out=out)
        return np.divide(signal, out, out=out)

    def q(x: np.ndarray, tmp: np.ndarray) -> np.ndarray:  # x^2 / (x^2 + k2) in place (x >= 0)
        np.multiply(x, x, out=x)
        np.add(x, k2, out=tmp)
        return np.divide(x, tmp, out=x)

    have_raw = prep.raw_cross is not None and prep.raw_parallel is not None
    if numba_available() and have_raw:
        from id2reflectance.processing.solve import confidence_kernel  # imports numba: only when used

        box = (rows, cols)
        coef = np.array([1.0 / (2 * prep.radius_diffuse + 1), 1.0 / (2 * prep.radius_specular + 1), tiny, k2], f32)
        conf_b, snr_b = conf[box], snr_full[box]
        confidence_kernel.confidence_rows(
            frames.images[("full", "cross")][box],
            frames.images[("full", "parallel")][box],
            prep.raw_cross[box],
            prep.raw_parallel[box],
            mask[box],
            LUMINANCE_709.astype(np.float32),
            coef,
            _noise_coefficients(prep),
            conf_b,
            snr_b,
        )
        return conf, snr_full
    for b0 in range(rows.start, rows.stop, 256):  # band by band: small temporaries, reused by the allocator
        box = (slice(b0, min(b0 + 256, rows.stop)), cols)
        c = luminance(frames.images[("full", "cross")][box])
        s = luminance(frames.images[("full", "parallel")][box])
        s -= c
        sig_c0, sig_s0 = noise_sigmas(prep, box) if have_raw else (prep.cross_noise.sigma(c), None)
        if sig_s0 is None:
            sig_s0 = np.hypot(prep.cross_noise.sigma(c), prep.parallel_noise.sigma(c + np.maximum(s, 0)))
        snr_s = snr(s, sig_s0, prep.radius_specular)
        snr_full[box] = snr_s
        cb = snr(c, sig_c0, prep.radius_diffuse)
        q(cb, c)
        np.maximum(snr_s, f32(0.0), out=s)
        cb *= q(s, c)
        cb[~mask[box]] = 0.0
        conf[box] = cb
    return conf, snr_full


def _edge_confidence(conf: np.ndarray, frames: CameraFrames, prep: Preparation, mask: np.ndarray) -> None:
    """Lower ``conf`` (H, W) float32, in place, where the filters' windows straddle a strong edge.

    Only when the frames were filtered (a radius > 0; a clean capture keeps its confidence): a pixel
    under ``EDGE_FRACTION`` of its brightest 5 x 5 neighbour's full-on diffuse (dark hair beside
    skin, along the silhouette or the hairline; brows, nostrils) is multiplied by the square of its
    ratio over ``EDGE_FRACTION`` (a weight as the inverse of an error variance, the error growing as
    the level falls). The windows there mix the two sides: on the 256 px heads of seeds 0-5 (issue
    noise, still, with inverses) such pixels have 2-3x the errors of the others (diffuse normal 1.8
    against 0.64 deg, specular 2.7 against 1.2 deg, median), and the noise alone left their
    confidence at 0.99 (section 1c of docs/solve.md).
    """
    if (prep.radius_diffuse == 0 and prep.radius_specular == 0) or not mask.any():
        return
    rows, cols = _signal_box(mask, margin=2)
    d = luminance(frames.images[("full", "cross")][rows, cols])
    ratio = d / np.maximum(cv2.dilate(d, np.ones((5, 5), np.uint8)), np.float32(1e-12))
    ratio *= np.float32(1.0 / EDGE_FRACTION)
    np.clip(ratio, np.float32(0.0), np.float32(1.0), out=ratio)
    conf[rows, cols] *= np.square(ratio, out=ratio)


@dataclass
class PreparedCamera:
    """The solve's view of one prepared camera: its foreground mask and what was done."""

    mask: np.ndarray | None  # (H, W) bool: the mask file's, the robust mask, or None (every pixel)
    report: Preparation


def prepare_camera(
    session: Session,
    camera: str,
    frames: CameraFrames,
    mask: np.ndarray | None,
    config: SolverConfig,
    *,
    in_place: bool = False,
    noise: tuple[dict[tuple[str, str], FrameNoise], FrameNoise | None] | None = None,
) -> tuple[CameraFrames, PreparedCamera]:
    """Noise estimate, ambient removal, denoising and (without a mask file) the robust mask.

    Parameters
    ----------
    session, camera : the session and camera the frames belong to (dark frames).
    frames : the decoded (and aligned) frames, not modified unless ``in_place``.
    mask : the session's mask file for this camera, or None.
    config : ``denoise`` and ``ambient`` choose the steps; ``min_diffuse`` bounds the mask.
    in_place : overwrite ``frames``' arrays (:func:`prepare_frames`).
    noise : the frames' noise models and the camera's
        (:func:`~id2reflectance.processing.solve.noise.sensor_noise`) measured before the
        alignment resampled any frame (``solve_session``); None: measured on ``frames``.
    """
    frame_noise, model = sensor_noise(session, camera, frames.images) if noise is None else noise
    # with a mask file nothing beyond its box is solved: the denoising stops where its filters
    # stop reaching into that box (the robust mask, without a file, looks at the whole lit box)
    window = None if mask is None or not mask.any() else _signal_box(mask, margin=0)
    prepared, prep = prepare_frames(
        frames,
        frame_noise,
        denoise=config.denoise,
        ambient=config.ambient,
        camera_model=model,
        in_place=in_place,
        geometry=(session.cameras[camera], session.rig.lights_to_world),
        window=window,
    )
    if mask is None and config.denoise == "auto":
        mask = robust_mask(prepared, prep, min_diffuse=config.min_diffuse)
    return prepared, PreparedCamera(mask, prep)


def camera_confidence(
    frames: CameraFrames, prepared: PreparedCamera, maps: CameraMaps, config: SolverConfig
) -> tuple[np.ndarray, list[str]]:
    """``confidence.exr`` of one camera and the noise warnings of its maps.

    Returns
    -------
    confidence : (H, W) float32 in [0, 1] (:func:`confidence_map`, lowered where filtered frames
        straddle a strong edge: :func:`_edge_confidence`), 0 outside the mask.
    warnings : ``"<camera>: [specular_below_noise] ..."`` when the median specular
        signal-to-noise ratio over the valid pixels is below 1: the maps
        ``specular_albedo``, ``normal_specular`` and ``roughness`` are then noise.
    """
    conf, snr_s = confidence_map(frames, prepared.report, maps.mask)
    _edge_confidence(conf, frames, prepared.report, maps.mask)
    out: list[str] = []
    valid = maps.mask
    if valid.any():
        median_snr = float(np.median(snr_s[valid]))
        if median_snr < 1.0:
            out.append(
                f"{maps.camera}: [specular_below_noise] maps specular_albedo, normal_specular, roughness: the "
                f"specular signal (parallel - cross) is below the noise floor (median signal-to-noise {median_snr:.2f} "
                f"over the valid pixels, {100 * float(np.mean(snr_s[valid] > 2)):.1f}% above 2); these maps are noise"
            )
    return conf, out
