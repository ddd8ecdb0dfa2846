"""The lobe-moment planes the denoiser filters, and frames rebuilt from them (numpy).

The compiled equivalents, used when numba is installed, are
:func:`~id2reflectance.processing.solve.moments_kernel.pack_moments` and
:func:`~id2reflectance.processing.solve.moments_kernel.unpack_moments`.
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance._shared.pages import contiguous_bands, rows_contiguous
from id2reflectance.processing.solve.separation import AXES, LUMINANCE_709

__all__ = ["FRAME_ORDER", "frames_from_moments", "luminance", "moment_planes"]

LUM_ROW = LUMINANCE_709.reshape(1, 3).astype(np.float32)


def luminance(img: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Rec.709 luminance (H, W) float32 of an (H, W, 3) float32 image (into ``out``, C-contiguous,
    when given). A strided ``img`` (a view of a frame file) is read a band of rows at a time
    (:func:`~id2reflectance._shared.pages.contiguous_bands`: the same values, no copy of it)."""
    if img.dtype != np.float32 or rows_contiguous(img):
        src = np.ascontiguousarray(img, np.float32)
        return cv2.transform(src, LUM_ROW) if out is None else cv2.transform(src, LUM_ROW, dst=out)
    out = np.empty(img.shape[:2], np.float32) if out is None else out
    for r0, band in contiguous_bands(img):
        cv2.transform(band, LUM_ROW, dst=out[r0 : r0 + len(band)])
    return out


FRAME_ORDER = tuple(
    (p, pol)
    for p in ("full", "gradient_x", "gradient_y", "gradient_z", "inverse_x", "inverse_y", "inverse_z")
    for pol in ("cross", "parallel")
)
"""The frames in the order of the moment kernels (:mod:`~id2reflectance.processing.solve.moments_kernel`)."""


def moment_planes(
    images: dict[tuple[str, str], np.ndarray], inverses: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lobe-moment planes the denoiser filters (numpy; the compiled version is ``pack_moments``).

    Returns
    -------
    full_c : (H, W, 3) float32, diffuse zeroth moment in cross units: with inverses the
        inverse-variance mean ``(full + sum_a (gradient_a + inverse_a) / 2) / 2.5`` (noise
        variance 0.4 that of ``full``), else ``full``.
    spec : (H, W, 4) float32, specular (``lum(parallel - cross)``) zeroth moment (the same
        mean) and first moments x, y, z.
    m1c : (H, W, 9) float32, cross first moments ``gradient_a - inverse_a`` (or ``2
        gradient_a - full``), axis-major: x R, G, B, y R, G, B, z R, G, B.
    guides : (H, W, 3) float32, per axis the luminance of the cross plus parallel first
        moment (twice the diffuse signal for sqrt(2) the noise).
    """
    f32 = np.float32
    kinds = ("gradient", "inverse") if inverses else ("gradient",)
    patterns = ["full"] + [f"{k}_{a}" for a in AXES for k in kinds]
    lum_c = {p: luminance(images[(p, "cross")]) for p in patterns}
    lum_p = {p: luminance(images[(p, "parallel")]) for p in patterns}
    spec = {p: lum_p[p] - lum_c[p] for p in patterns}
    if inverses:
        full_c = images[("full", "cross")] * f32(1 / 2.5)
        full_s = spec["full"] * f32(1 / 2.5)
        for p in patterns[1:]:
            full_c += images[(p, "cross")] * f32(0.5 / 2.5)
            full_s += spec[p] * f32(0.5 / 2.5)
    else:
        full_c, full_s = images[("full", "cross")].copy(), spec["full"]

    def first(values: dict[str, np.ndarray], a: str) -> np.ndarray:
        if inverses:
            return values[f"gradient_{a}"] - values[f"inverse_{a}"]
        return values[f"gradient_{a}"] * f32(2.0) - values["full"]

    cross = {p: images[(p, "cross")] for p in patterns}
    spec_planes = np.stack([full_s] + [first(spec, a) for a in AXES], axis=2)
    m1c = np.concatenate([first(cross, a) for a in AXES], axis=2)
    guides = np.stack([first(lum_c, a) + first(lum_p, a) for a in AXES], axis=2)
    return full_c, spec_planes, m1c, guides


def frames_from_moments(
    full_c: np.ndarray, spec: np.ndarray, m1c: np.ndarray, inverses: bool
) -> dict[tuple[str, str], np.ndarray]:
    """Frames rebuilt from (filtered) :func:`moment_planes` (numpy; compiled: ``unpack_moments``).

    ``gradient_a = (full + m1_a) / 2``, ``inverse_a = (full - m1_a) / 2`` (true once ambient
    light is removed) and each parallel frame is its cross frame plus the specular value in
    every channel (the solver reads parallel frames only through ``lum(parallel - cross)``).
    """
    f32 = np.float32
    half = f32(0.5)
    out = {("full", "cross"): full_c, ("full", "parallel"): full_c + spec[..., :1]}
    half_c, half_s = full_c * half, spec[..., :1] * half
    for k, a in enumerate(AXES):
        half_m = m1c[..., 3 * k : 3 * k + 3] * half
        half_ms = spec[..., k + 1 : k + 2] * half
        gc = half_c + half_m
        out[(f"gradient_{a}", "cross")], out[(f"gradient_{a}", "parallel")] = gc, gc + (half_s + half_ms)
        if inverses:
            ic = half_c - half_m
            out[(f"inverse_{a}", "cross")], out[(f"inverse_{a}", "parallel")] = ic, ic + (half_s - half_ms)
    return out
