"""What the swapper evaluation reads and derives per held-out subject.

- :func:`load_subject_truth`: a subject's aligned views from a built dataset
  (docs/dataset-format.md) decoded to physical units, and its UV maps;
- :func:`shade_full_on`: the image-space rendering used for the identity-similarity
  metric: the maps lit by uniform white light (the full-on pattern, mean-normalised as in
  the dataset build) with the dataset's tone mapping, and the view's eyes where the
  dataset's views have them (:func:`eye_layer`, :func:`eye_layer_at`);
- :func:`skin_mask`: the region over which ITA is measured.

OpenEXR is imported only when UV maps are read (by :func:`~id2reflectance._shared.imageio.read_exr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from id2reflectance._shared.imageio import read_exr, read_png, tone_map
from id2reflectance.dataset.manifest import manifest_eyes
from id2reflectance.errors import InputFileError, ShapeError

MAP_FILES = {
    "diffuse": "diffuse_albedo.png",
    "specular": "specular_albedo.png",
    "roughness": "roughness.png",
    "normal": "normal.png",
}
UV_FILES = {
    "diffuse": "diffuse_albedo.exr",
    "specular": "specular_albedo.exr",
    "roughness": "roughness.exr",
    "normal": "normal_tangent.exr",
}


@dataclass
class ViewTruth:
    """One aligned view of a subject, in the units the evaluation compares.

    maps : ``diffuse`` (H, W, 3) linear albedo [0, 1]; ``specular`` (H, W, 1) specular
        albedo [0, 1]; ``roughness`` (H, W, 1) GGX perceptual roughness; ``normal`` (H, W, 3)
        ``(n + 1) / 2`` of the unit camera-space normal (OpenGL axes). All float32.
    mask : (H, W) bool face pixels.
    rgb : ``{"full": (H, W, 3) uint8 sRGB, "env0": ...}`` the lit photographs (front view only).
    eyes : (H, W, 3) uint8 sRGB, the view's eye layer (:func:`eye_layer`: ``rgb_full.png``
        off the skin's mask, 0 elsewhere), front view only; None when the dataset's views
        have no eyes (``"eyes"`` false or absent in dataset.json) or no full-on view.
    """

    maps: dict[str, np.ndarray]
    mask: np.ndarray
    rgb: dict[str, np.ndarray]
    eyes: np.ndarray | None = None


@dataclass
class SubjectTruth:
    """A held-out subject: id, attributes, views and UV maps (``uv`` per domain in
    :data:`UV_FILES` units: linear albedo, specular, roughness, ``(n_tangent + 1) / 2``;
    ``coverage`` (S, S) float32 in [0, 1]); ``uv`` is empty when the dataset has no UV maps."""

    subject_id: str
    attributes: dict[str, object]
    views: dict[str, ViewTruth]
    uv: dict[str, np.ndarray]


def _unit(img: np.ndarray) -> np.ndarray:
    scale = 255.0 if img.dtype == np.uint8 else 65535.0
    return img.astype(np.float32) / scale


def load_subject_truth(
    dataset: str | Path,
    record: dict[str, object],
    *,
    views: tuple[str, ...],
    environments: tuple[str, ...],
    uv: bool = True,
    eyes: bool = False,
) -> SubjectTruth:
    """Read one subject's ground truth.

    Parameters
    ----------
    dataset : dataset folder.
    record : the subject's entry of ``dataset.json`` (``id``, ``attributes``).
    views : views to read (maps and mask); the lit photographs only for ``front``.
    environments : ``full``, ``env0``, ... (files ``rgb_full.png``, ``rgb_env0.png``).
    uv : also read ``uv/*.exr`` (needs OpenEXR).
    eyes : also read the front view's eye layer (:attr:`ViewTruth.eyes`, from
        ``rgb_full.png``): pass the manifest's ``"eyes"``
        (:func:`~id2reflectance.dataset.manifest.manifest_eyes`).
    """
    sid = str(record["id"])
    root = Path(dataset) / "subjects" / sid
    out: dict[str, ViewTruth] = {}
    for view in views:
        vdir = root / "views" / view
        maps = {}
        for domain, name in MAP_FILES.items():
            a = _unit(read_png(vdir / name))
            maps[domain] = a[..., :3] if domain in ("diffuse", "normal") else a[..., :1]
            if domain in ("diffuse", "normal") and maps[domain].shape[2] != 3:
                raise InputFileError(vdir / name, None, f"expected 3 channels, got {maps[domain].shape[2]}")
        mask = read_mask(vdir)
        rgb = {}
        if view == "front":
            for env in environments:
                img = read_png(vdir / f"rgb_{env}.png")
                if img.dtype != np.uint8 or img.shape[2] != 3:
                    raise InputFileError(vdir / f"rgb_{env}.png", None, "expected an 8-bit RGB image")
                rgb[env] = img
        layer = None
        if eyes and view == "front":
            photo = rgb["full"] if "full" in rgb else read_eye_photo(vdir)  # read above when it is an environment
            layer = eye_layer(photo, mask, path=vdir / "rgb_full.png")
        out[view] = ViewTruth(maps, mask, rgb, layer)
    uv_maps: dict[str, np.ndarray] = {}
    if uv:
        for domain, name in {**UV_FILES, "coverage": "coverage.exr"}.items():
            pixels, _ = read_exr(root / "uv" / name)
            if not np.all(np.isfinite(pixels)):
                raise InputFileError(root / "uv" / name, None, "contains NaN or infinite values")
            if domain == "normal":
                pixels = (pixels[..., :3] + 1.0) / 2.0
            elif domain == "coverage":
                pixels = pixels[..., 0]
            uv_maps[domain] = pixels.astype(np.float32)
    attrs = record.get("attributes") or {}
    return SubjectTruth(sid, dict(attrs) if isinstance(attrs, dict) else {}, out, uv_maps)


def resize_map(a: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W[, C]) map to (size, size[, C]) (area when shrinking, linear else)."""
    if a.shape[0] == size and a.shape[1] == size:
        return a
    interp = cv2.INTER_AREA if a.shape[0] > size else cv2.INTER_LINEAR
    dtype = a.dtype
    r = cv2.resize(a.astype(np.float32), (size, size), interpolation=interp)
    if a.ndim == 3 and r.ndim == 2:
        r = r[..., None]
    if dtype == np.bool_:
        return r > 0.5
    if dtype == np.uint8:
        return np.clip(np.round(r), 0, 255).astype(np.uint8)
    return r.astype(dtype)


def read_mask(view_dir: str | Path) -> np.ndarray:
    """``<view_dir>/mask.png`` as (H, W) bool (code > 127)."""
    img = read_png(Path(view_dir) / "mask.png")
    return (img if img.ndim == 2 else img[..., 0]) > 127


def subject_eye_layer(dataset: str | Path, manifest: dict[str, Any], subject_id: str, size: int) -> np.ndarray | None:
    """A dataset subject's front-view eye layer at a render's size, or None when the
    dataset's views have no eyes (:func:`has_eye_layer`).

    Parameters
    ----------
    dataset : dataset folder; manifest : its ``dataset.json``; subject_id : e.g. ``S0001``.
    size : side of the render in pixels.

    Returns
    -------
    (size, size, 3) float32 sRGB in [0, 1] (:func:`eye_layer_at`) or None.
    """
    if not has_eye_layer(manifest):
        return None
    vdir = Path(dataset) / "subjects" / subject_id / "views" / "front"
    mask = read_mask(vdir)
    return eye_layer_at(eye_layer(read_eye_photo(vdir), mask, path=vdir / "rgb_full.png"), mask, size)


def has_eye_layer(manifest: dict[str, Any]) -> bool:
    """Whether a dataset's views give the evaluation's renders an eye layer: its RGB views
    show eyes (``"eyes": true``; false or absent: built without, or before the field) and it
    has the full-on view (``"full"`` among ``environments``) the layer is cut from."""
    envs = manifest.get("environments") or []
    return manifest_eyes(manifest) and "full" in envs


def read_eye_photo(view_dir: str | Path) -> np.ndarray:
    """``<view_dir>/rgb_full.png``, the view under the full-on pattern: (H, W, 3) uint8 sRGB.

    Raises
    ------
    InputFileError
        Missing, or not an 8-bit RGB image.
    """
    path = Path(view_dir) / "rgb_full.png"
    if not path.is_file():
        raise InputFileError(path, None, "missing: the eye layer of a dataset with eyes is read from the full-on view")
    img = read_png(path)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] < 3:
        raise InputFileError(path, None, "expected an 8-bit RGB image")
    return img[..., :3]


def eye_layer(rgb_full: np.ndarray, mask: np.ndarray, *, path: str | Path = "rgb_full.png") -> np.ndarray:
    """The eyes of a view: the full-on photo's pixels off the skin's mask.

    A dataset with eyes (``"eyes": true``, docs/dataset-format.md) renders its RGB views
    with the face model's eyeballs, while its maps and ``mask.png`` are the skin's; off the
    mask ``rgb_full.png`` therefore holds exactly the eyes, shaded by the views' renderer
    under the full-on pattern (the lids' occlusion included) at the dataset's exposure, on
    a black background. That is the eye layer the evaluation's renders take.

    Parameters
    ----------
    rgb_full : (H, W, 3) uint8 sRGB, ``rgb_full.png``.
    mask : (H, W) bool, the view's skin mask (``mask.png``).
    path : the photo's file, for the message.

    Returns
    -------
    (H, W, 3) uint8 sRGB: the eyes, 0 on the skin and the background.

    Raises
    ------
    InputFileError
        The photo's size is not the mask's.
    """
    rgb = np.asarray(rgb_full)
    m = np.asarray(mask, bool)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != m.shape:
        raise InputFileError(
            path, None, f"expected an 8-bit RGB image of the mask's size {m.shape}, got {rgb.shape} {rgb.dtype}"
        )
    return np.where(m[..., None], np.uint8(0), rgb)


def eye_layer_at(layer: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """An eye layer resampled to a render of side ``size``, as :func:`shade_full_on` takes it.

    The colour of a pixel is the mean of the layer over the off-mask part of its footprint
    (area resampling of the layer divided by that of ``~mask``), so an eye pixel at the
    border of the lids keeps the eye's colour rather than fading to black.

    Parameters
    ----------
    layer : (H, W, 3) uint8 sRGB, :func:`eye_layer`.
    mask : (H, W) bool, the skin mask it was cut with.
    size : side of the render in pixels.

    Returns
    -------
    (size, size, 3) float32 sRGB in [0, 1]; 0 where the footprint is all skin or all background.
    """
    rgb = np.asarray(layer).astype(np.float32) / 255.0
    off = (~np.asarray(mask, bool)).astype(np.float32)
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    num = resize_map(rgb * off[..., None], size)
    den = resize_map(off, size)[..., None]
    return np.where(den > 1e-6, num / np.maximum(den, 1e-6), 0.0).clip(0.0, 1.0).astype(np.float32)


def shade_full_on(
    diffuse: np.ndarray,
    specular: np.ndarray,
    mask: np.ndarray,
    *,
    exposure_stops: float | None = None,
    eyes: np.ndarray | None = None,
) -> np.ndarray:
    """Render reflectance maps under uniform white light, as the dataset's ``rgb_full``.

    Under a uniform environment of unit radiance (the full-on pattern, mean-normalised) a
    Lambertian surface reflects its albedo and a GGX lobe its directional albedo, which is
    the specular albedo map; occlusion and the pattern's discreteness are ignored (on the
    test dataset this reproduces ``rgb_full.png`` to about 30 dB inside the mask).

    Parameters
    ----------
    diffuse : (H, W, 3) linear albedo [0, 1]; specular : (H, W, 1) specular albedo;
    mask : (H, W) bool face.
    exposure_stops : the dataset's ``rgb_exposure_stops``; None for datasets built before that field,
        whose views were auto-exposed (see :func:`~id2reflectance._shared.imageio.tone_map`).
    eyes : (H, W, 3) float32 sRGB in [0, 1], the view's eye layer at this size
        (:func:`eye_layer_at`), shown off the mask; None: no eyes (black off the mask, as
        the renders of datasets without eyes always were).

    Returns
    -------
    (H, W, 3) uint8 sRGB: the shaded skin on the mask; off it the eyes, else black.
    """
    radiance = np.clip(diffuse, 0, 1) + np.clip(specular, 0, 1)
    img = tone_map(radiance, mask=mask, exposure_stops=exposure_stops) * mask[..., None]
    if eyes is not None:
        if eyes.shape != img.shape:
            raise ShapeError(f"shade_full_on: eyes must be {img.shape}, got {eyes.shape}")
        img = np.where(mask[..., None], img, np.clip(eyes, 0.0, 1.0))
    return np.round(img * 255.0).astype(np.uint8)


def skin_mask(face_mask: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """Skin pixels for ITA: the face mask eroded by ``max(1, S // 32)`` pixels, without
    eyes, eyebrows and mouth (landmark polygons, dilated by the same margin).

    Parameters
    ----------
    face_mask : (S, S) bool; landmarks : (68, 2) (x, y) pixels or None (no exclusions).

    Returns
    -------
    (S, S) bool; the eroded mask when the exclusions would leave nothing.
    """
    r = max(1, face_mask.shape[0] // 32)
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    base = cv2.erode(face_mask.astype(np.uint8), kernel) > 0
    if not base.any():
        base = face_mask.copy()
    if landmarks is None:
        return base
    holes = np.zeros(face_mask.shape, np.uint8)
    lm = np.round(np.asarray(landmarks)).astype(np.int32)
    for sl in (slice(17, 22), slice(22, 27), slice(36, 42), slice(42, 48), slice(48, 60)):
        cv2.fillConvexPoly(holes, cv2.convexHull(lm[sl]), 1)
    holes = cv2.dilate(holes, kernel) > 0
    out = base & ~holes
    return out if out.any() else base
