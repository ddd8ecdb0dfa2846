"""Before the solve: ambient light removed, frames denoised adaptively, a robust mask, confidence.

Pipeline per camera (``solve_session``): decode -> align (when present) -> :func:`prepare_frames`
-> solve -> :func:`confidence_map`.

1. **Noise** per frame (:mod:`~id2reflectance.processing.solve.noise`), from dark frames
   when the camera has them, else from the image.
2. **Ambient light** (room light, a lit backdrop): it adds the same image ``A`` to every
   pattern. Every pattern pair sums to the full-on pattern (``gradient_a + inverse_a =
   full``), so with inverse patterns ``A = mean_a(gradient_a + inverse_a) - full`` per
   polarisation. It is measured robustly (median over the lit pixels, relative to
   ``full``); when above ``AMBIENT_MIN`` it is smoothed by the guided filter (ambient
   light reflected by the face is proportional to its albedo, which is what the guided
   filter's local model ``a * full + b`` describes) and subtracted from every frame. Dark
   frames (lights off, room as it is) already remove it in the decode.
3. **Denoising** (:func:`~id2reflectance.processing.solve.guided.guided_filter`, guided by
   the luminance of the full-on cross-polarised frame, so no smoothing across the
   silhouette or albedo edges): the cross-polarised frames (the diffuse, ``D = 2 cross``)
   and the specular planes ``S = lum(parallel - cross)`` separately, each with a radius
   from its own noise-to-signal ratio, so that a clean capture is not filtered at all
   (radius 0) and the small specular signal gets the larger window. The solver uses the
   parallel frames only through ``lum(parallel - cross)`` (Rec.709 weights summing to 1),
   so the denoised parallel frame is ``cross' + S'`` in every channel.
4. **Mask** (only when the session has no ``masks/<camera>.png``): denoised diffuse
   luminance above a threshold set by the read noise left after filtering, small specks
   removed (opening, components under 1 % of the largest) and enclosed holes filled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from id2reflectance.capture.frames import CameraFrames
from id2reflectance.capture.session import Session
from id2reflectance.processing.solve.camera_maps import CameraMaps
from id2reflectance.processing.solve.config import SolverConfig
from id2reflectance.processing.solve.guided import guided_filter
from id2reflectance.processing.solve.noise import FrameNoise, camera_noise
from id2reflectance.processing.solve.separation import AXES, LUMINANCE_709, has_inverses

log = logging.getLogger(__name__)

__all__ = [
    "AMBIENT_MIN",
    "PreparedCamera",
    "Preparation",
    "camera_confidence",
    "confidence_map",
    "prepare_camera",
    "prepare_frames",
    "robust_mask",
]

AMBIENT_MIN = 0.003  # ambient / full-on luminance (median) below which no ambient is removed
TARGET_DIFFUSE_RAD = np.radians(1.05)  # noise of the diffuse normal (one pixel) tolerated unfiltered
TARGET_SPECULAR_RAD = np.radians(4.0)  # noise of the specular normal (one pixel) tolerated unfiltered
MAX_RADIUS = 8  # pixels
EPS_SIGMAS = 2.0  # guided-filter eps: (this many noise sigmas of the full-on cross luminance) squared
MASK_SNR = 6.0  # mask threshold: diffuse luminance above this many noise sigmas (after filtering)
CONFIDENCE_SNR = 3.0  # signal-to-noise ratio at which a pixel's confidence is 1/2


@dataclass
class Preparation:
    """What :func:`prepare_frames` did to one camera's frames (``solve.json``'s ``noise``).

    noise : {"pattern_polarization": FrameNoise} per frame.
    ambient : {polarization: ambient / full-on luminance (median)}; removed when
        ``ambient_removed``.
    radius_diffuse, radius_specular : guided-filter radii, pixels (0: not filtered).
    cross_noise, parallel_noise : the camera's noise model (median over its frames).
    level_cross, level_specular : median full-on cross and specular luminance over the
        signal pixels (the levels the radii were chosen for).
    mask_threshold : diffuse-luminance threshold of the robust mask (None: a mask file).
    """

    noise: dict[str, FrameNoise] = field(default_factory=dict)
    ambient: dict[str, float] = field(default_factory=dict)
    ambient_removed: bool = False
    radius_diffuse: int = 0
    radius_specular: int = 0
    cross_noise: FrameNoise = field(default_factory=lambda: FrameNoise(0.0, 0.0))
    parallel_noise: FrameNoise = field(default_factory=lambda: FrameNoise(0.0, 0.0))
    level_cross: float = 0.0
    level_specular: float = 0.0
    mask_threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": {k: v.to_json() for k, v in self.noise.items()},
            "ambient": {k: round(v, 6) for k, v in self.ambient.items()},
            "ambient_removed": self.ambient_removed,
            "radius_diffuse": self.radius_diffuse,
            "radius_specular": self.radius_specular,
            "cross": self.cross_noise.to_json(),
            "parallel": self.parallel_noise.to_json(),
            "level_cross": self.level_cross,
            "level_specular": self.level_specular,
            "mask_threshold": self.mask_threshold,
        }


def _lum(img: np.ndarray) -> np.ndarray:
    return img @ LUMINANCE_709


def _median_model(models: list[FrameNoise]) -> FrameNoise:
    if not models:
        return FrameNoise(0.0, 0.0)
    return FrameNoise(
        float(np.median([m.gain for m in models])), float(np.median([m.read for m in models])), models[0].source
    )


def _radius(noise_to_signal: float, target: float) -> int:
    """Window radius whose (2r+1)^2 average brings ``noise_to_signal`` (radians) to ``target``."""
    n = (noise_to_signal / target) ** 2
    if n < 2.0:
        return 0
    return int(min(MAX_RADIUS, max(1, np.ceil((np.sqrt(n) - 1.0) / 2.0))))


def _remove_ambient(images: dict[tuple[str, str], np.ndarray], signal: np.ndarray, prep: Preparation) -> None:
    """Measure the ambient light of each polarisation; subtract it when present (in place)."""
    for pol in ("cross", "parallel"):
        full = images[("full", pol)]
        amb = sum(images[(f"gradient_{a}", pol)] + images[(f"inverse_{a}", pol)] for a in AXES) / np.float32(3.0)
        amb -= full
        ratio = float(np.median(_lum(amb)[signal]) / max(np.median(_lum(full)[signal]), 1e-12))
        prep.ambient[pol] = ratio
        if ratio < AMBIENT_MIN:
            continue
        prep.ambient_removed = True
        smooth = guided_filter(_lum(full), amb, radius=max(2, prep.radius_diffuse), eps=1e-6, subsample=1)
        for (_, p), img in images.items():
            if p == pol:
                img -= smooth


def prepare_frames(
    frames: CameraFrames,
    noise: dict[tuple[str, str], FrameNoise],
    *,
    denoise: Literal["auto", "none"] = "auto",
    ambient: Literal["auto", "none"] = "auto",
) -> tuple[CameraFrames, Preparation]:
    """Remove ambient light and denoise one camera's frames for the solve.

    Parameters
    ----------
    frames : corrected frames (``load_camera_frames``): ``{(pattern, pol): (H, W, 3)
        float32}`` linear Rec.709 relative radiance; not modified.
    noise : the noise model of each frame (same keys), corrected-frame units.
    denoise : ``"auto"`` (radii from the noise, 0 when clean) or ``"none"``.
    ambient : ``"auto"`` (measure with inverse patterns, remove when present) or ``"none"``.

    Returns
    -------
    The frames to solve (new arrays where changed, the inputs otherwise) and a Preparation.
    """
    prep = Preparation(noise={f"{p}_{pol}": m for (p, pol), m in noise.items()})
    prep.cross_noise = _median_model([m for (_, pol), m in noise.items() if pol == "cross"])
    prep.parallel_noise = _median_model([m for (_, pol), m in noise.items() if pol == "parallel"])
    images = dict(frames.images)
    lum_c = _lum(images[("full", "cross")])
    floor = 10.0 * max(prep.cross_noise.read, 1e-6)
    signal = lum_c > floor
    if not signal.any():
        signal = np.ones_like(signal)
    spec = _lum(images[("full", "parallel")]) - lum_c
    prep.level_cross = float(np.median(lum_c[signal]))
    prep.level_specular = float(max(np.median(spec[signal]), 1e-9))
    sig_c = float(prep.cross_noise.sigma(prep.level_cross))
    sig_s = float(np.hypot(sig_c, prep.parallel_noise.sigma(prep.level_cross + prep.level_specular)))
    if denoise == "auto":
        # noise of one normal direction: first moment gradient - inverse (noise sqrt(2) sigma)
        # over its length (2/3 of the level for a Lambertian lobe; about 0.8 for skin's specular)
        prep.radius_diffuse = _radius(np.sqrt(2.0) * sig_c / (2.0 / 3.0 * prep.level_cross), TARGET_DIFFUSE_RAD)
        prep.radius_specular = _radius(np.sqrt(2.0) * sig_s / (0.8 * prep.level_specular), TARGET_SPECULAR_RAD)
    inverses = has_inverses(images)
    if ambient == "auto" and inverses:
        images = {k: v.copy() for k, v in images.items()}
        _remove_ambient(images, signal, prep)
        lum_c = _lum(images[("full", "cross")])
    if prep.radius_diffuse == 0 and prep.radius_specular == 0:
        return CameraFrames(frames.camera, images, frames.saturated, frames.stats), prep
    keys = [k for k in images if k[1] == "cross" and (k[0], "parallel") in images]
    eps_d = (EPS_SIGMAS * sig_c) ** 2
    # the guide's own noise would pass into every filtered frame (output = a * guide + b):
    # smooth it first, self-guided (edge-preserving), with the larger of the two radii
    r_g = max(prep.radius_diffuse, prep.radius_specular)
    guide = guided_filter(lum_c, lum_c, radius=r_g, eps=eps_d, subsample=_step(r_g))
    cross = np.concatenate([images[k] for k in keys], axis=2)
    specular = np.stack([_lum(images[(p, "parallel")]) - _lum(images[(p, "cross")]) for p, _ in keys], axis=2)
    if prep.radius_diffuse > 0:
        cross = guided_filter(guide, cross, radius=prep.radius_diffuse, eps=eps_d, subsample=_step(prep.radius_diffuse))
    if prep.radius_specular > 0:
        specular = guided_filter(
            guide, specular, radius=prep.radius_specular, eps=eps_d, subsample=_step(prep.radius_specular)
        )
    out: dict[tuple[str, str], np.ndarray] = {}
    for i, (p, _) in enumerate(keys):
        c = np.ascontiguousarray(cross[..., 3 * i : 3 * i + 3])
        out[(p, "cross")] = c
        out[(p, "parallel")] = c + specular[..., i : i + 1]
    log.info(
        "%s: denoised (radius diffuse %d, specular %d px; noise %.3g at level %.3g)",
        frames.camera,
        prep.radius_diffuse,
        prep.radius_specular,
        sig_c,
        prep.level_cross,
    )
    return CameraFrames(frames.camera, out, frames.saturated, frames.stats), prep


def _step(radius: int) -> int:
    """Coefficient grid step for a radius (fast guided filter)."""
    return max(1, radius // 2)


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
    d = 2.0 * _lum(frames.images[("full", "cross")])
    reduction = 2 * prep.radius_diffuse + 1
    read = prep.cross_noise.read
    if prep.ambient_removed:  # the subtracted ambient estimate carries the noise of 7 frames
        read *= np.sqrt(1.0 + 2.0 / 3.0)
    threshold = max(min_diffuse, MASK_SNR * 2.0 * read / reduction)
    prep.mask_threshold = float(threshold)
    fg = (d > threshold).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
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
    outside = np.isin(labels, border[border > 0])
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
    snr_specular : (H, W) float32, the specular signal-to-noise ratio (for warnings).
    """
    c = _lum(frames.images[("full", "cross")])
    s = _lum(frames.images[("full", "parallel")]) - c
    sig_c = prep.cross_noise.sigma(c) / (2 * prep.radius_diffuse + 1)
    sig_s = np.hypot(prep.cross_noise.sigma(c), prep.parallel_noise.sigma(c + np.maximum(s, 0))) / (
        2 * prep.radius_specular + 1
    )
    tiny = 1e-12
    snr_c = c / np.maximum(sig_c, tiny)
    snr_s = (s / np.maximum(sig_s, tiny)).astype(np.float32)
    k2 = CONFIDENCE_SNR**2
    q_c = snr_c**2 / (snr_c**2 + k2)
    q_s = np.maximum(snr_s, 0) ** 2 / (np.maximum(snr_s, 0) ** 2 + k2)
    conf = np.where(mask, q_c * q_s, 0.0).astype(np.float32)
    return conf, snr_s


@dataclass
class PreparedCamera:
    """The solve's view of one prepared camera: its foreground mask and what was done."""

    mask: np.ndarray | None  # (H, W) bool: the mask file's, the robust mask, or None (every pixel)
    report: Preparation


def prepare_camera(
    session: Session, camera: str, frames: CameraFrames, mask: np.ndarray | None, config: SolverConfig
) -> tuple[CameraFrames, PreparedCamera]:
    """Noise estimate, ambient removal, denoising and (without a mask file) the robust mask.

    Parameters
    ----------
    session, camera : the session and camera the frames belong to (dark frames).
    frames : the decoded (and aligned) frames, not modified.
    mask : the session's mask file for this camera, or None.
    config : ``denoise`` and ``ambient`` choose the steps; ``min_diffuse`` bounds the mask.
    """
    noise = camera_noise(session, camera, frames.images)
    prepared, prep = prepare_frames(frames, noise, denoise=config.denoise, ambient=config.ambient)
    if mask is None and config.denoise == "auto":
        mask = robust_mask(prepared, prep, min_diffuse=config.min_diffuse)
    return prepared, PreparedCamera(mask, prep)


def camera_confidence(
    frames: CameraFrames, prepared: PreparedCamera, maps: CameraMaps, config: SolverConfig
) -> tuple[np.ndarray, list[str]]:
    """``confidence.exr`` of one camera and the noise warnings of its maps.

    Returns
    -------
    confidence : (H, W) float32 in [0, 1] (:func:`confidence_map`), 0 outside the mask.
    warnings : ``"<camera>: [specular_below_noise] ..."`` when the median specular
        signal-to-noise ratio over the valid pixels is below 1: the maps
        ``specular_albedo``, ``normal_specular`` and ``roughness`` are then noise.
    """
    conf, snr_s = confidence_map(frames, prepared.report, maps.mask)
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
