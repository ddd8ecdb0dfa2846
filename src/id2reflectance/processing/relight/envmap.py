"""Lighting environments: equirectangular HDR maps and the light-stage patterns.

Lat-long convention (world frame: metres, right-handed, y up, the face looks toward +z).
An environment image is H x 2H; texel (i, j) (row i from the top, column j) has its
centre at

    theta = pi * (i + 0.5) / H              polar angle from +y (row 0 = straight up)
    phi   = 2 * pi * ((j + 0.5) / W - 0.5)  azimuth, 0 at the image centre
    w     = (-sin(phi) sin(theta), cos(theta), cos(phi) sin(theta))

so the image centre is +z (the direction the face looks toward, i.e. the light that
falls on the front of the face), a quarter of the width is +x, three quarters -x and
both side edges -z: seen from the subject the panorama is not mirrored (turning right
moves right in the image). ``w`` is the direction from the subject towards the light.

``rotate_deg`` turns the environment about +y by that angle (right-handed, counter-
clockwise seen from above): the light that came from direction w comes from R_y(a) w.

Patterns ``pattern:<name>`` are the session format's illumination patterns, radiance
``full = 1``, ``gradient_a = (1 + w_a)/2``, ``inverse_a = (1 - w_a)/2`` with ``w`` in
light-stage axes (``lights_to_world`` rotates them to world axes).

Real environments: any 2:1 OpenEXR or Radiance ``.hdr`` file, or the name of one of the
CC0 maps Debian's ``blender-data`` package installs under
``/usr/share/blender[/<version>]/datafiles/studiolights/world/*.exr`` (city, courtyard,
forest, interior, night, studio, sunrise, sunset).
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from id2reflectance._shared.imageio import decode_image, read_exr, read_file_bytes
from id2reflectance.capture.illumination import LIT_PATTERNS, pattern_radiance
from id2reflectance.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

Normalize = Literal["none", "mean"]
BLENDER_WORLD_GLOBS = (
    "/usr/share/blender/datafiles/studiolights/world/*.exr",
    "/usr/share/blender/*/datafiles/studiolights/world/*.exr",
)
LUMA = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True, eq=False)
class Environment:
    """Distant lighting in one of two forms.

    name : short name for outputs (file stem or ``pattern_<name>``).
    radiance : (H, 2H, 3) float32 linear Rec.709 radiance >= 0 in the lat-long
        convention above, or None for a pattern.
    pattern : pattern name (``full``, ``gradient_x``, ...) or None for an image.
    to_world : (3, 3) float64 rotation from the environment's own frame (lat-long
        frame, or light-stage axes for a pattern) to the world frame.
    source : the file or spec it came from.
    """

    name: str
    radiance: np.ndarray | None
    pattern: str | None
    to_world: np.ndarray
    source: str

    @property
    def is_pattern(self) -> bool:
        return self.pattern is not None

    def radiance_towards(self, w: np.ndarray) -> np.ndarray:
        """Radiance arriving from world directions ``w`` (N, 3) unit: (N, 3) float64.

        Images are looked up bilinearly (wrapping in azimuth).
        """
        local = np.asarray(w, np.float64) @ self.to_world  # to_world.T @ w for rows
        if self.pattern is not None:
            return np.repeat(pattern_radiance(self.pattern, local)[:, None], 3, axis=1)
        if self.radiance is None:
            raise ConfigError(f"environment {self.name} has neither an image nor a pattern")
        return bilinear_latlong(self.radiance, local)


def rotation_y(angle_rad: float) -> np.ndarray:
    """(3, 3) float64 right-handed rotation about +y by ``angle_rad``."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def latlong_directions(h: int, w: int | None = None) -> np.ndarray:
    """(h, w, 3) float64 unit directions of texel centres (w defaults to 2h)."""
    w = 2 * h if w is None else w
    theta = np.pi * (np.arange(h) + 0.5) / h
    phi = 2 * np.pi * ((np.arange(w) + 0.5) / w - 0.5)
    st = np.sin(theta)[:, None]
    return np.stack(
        [-np.sin(phi)[None, :] * st, np.repeat(np.cos(theta)[:, None], w, 1), np.cos(phi)[None, :] * st], -1
    )


def latlong_solid_angles(h: int, w: int | None = None) -> np.ndarray:
    """(h,) float64 exact solid angle of one texel of each row (steradians); sums to 4 pi."""
    w = 2 * h if w is None else w
    edges = np.pi * np.arange(h + 1) / h
    return (2 * np.pi / w) * (np.cos(edges[:-1]) - np.cos(edges[1:]))


def direction_to_pixel(d: np.ndarray, h: int, w: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates (x = column, y = row; texel centres at integers) of
    unit directions d (..., 3) in the environment's frame."""
    w = 2 * h if w is None else w
    theta = np.arccos(np.clip(d[..., 1], -1.0, 1.0))
    phi = np.arctan2(-d[..., 0], d[..., 2])
    x = (phi / (2 * np.pi) + 0.5) * w - 0.5
    y = theta / np.pi * h - 0.5
    return x, y


def bilinear_latlong(img: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a lat-long image (h, w, C) at directions d (N, 3): (N, C) float64.

    Wraps in azimuth, clamps at the poles.
    """
    h, w = img.shape[:2]
    x, y = direction_to_pixel(d, h, w)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.floor(x)
    y0 = np.minimum(np.floor(y), max(h - 2, 0))
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    x0i = x0.astype(np.int64) % w
    x1i = (x0i + 1) % w
    y0i = y0.astype(np.int64)
    y1i = np.minimum(y0i + 1, h - 1)
    a = img[y0i, x0i] * (1 - fx) + img[y0i, x1i] * fx
    b = img[y1i, x0i] * (1 - fx) + img[y1i, x1i] * fx
    return (a * (1 - fy) + b * fy).astype(np.float64)


def downsample_latlong(img: np.ndarray) -> np.ndarray:
    """Halve a lat-long image (h, w, C), averaging 2x2 blocks weighted by solid angle."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        raise ConfigError(f"downsample_latlong: size must be even, got {w}x{h}")
    om = latlong_solid_angles(h, w)[:, None, None]
    num = (img * om).reshape(h // 2, 2, w // 2, 2, -1).sum((1, 3))
    den = np.broadcast_to(om, (h, w, 1)).reshape(h // 2, 2, w // 2, 2, 1).sum((1, 3))
    return (num / den).astype(img.dtype)


def builtin_environments() -> dict[str, Path]:
    """{name: path} of the CC0 HDR maps of Debian's ``blender-data`` (empty if absent)."""
    found: dict[str, Path] = {}
    for pattern in BLENDER_WORLD_GLOBS:
        for p in sorted(glob.glob(pattern)):
            found.setdefault(Path(p).stem, Path(p))
    return found


def _read_hdr(path: Path) -> np.ndarray:
    img = decode_image(read_file_bytes(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if img is None:
        raise InputFileError(path, None, "not a readable Radiance HDR file")
    return np.ascontiguousarray(img[..., ::-1], dtype=np.float32)


def read_environment_image(path: str | Path) -> np.ndarray:
    """Read and check a lat-long HDR image.

    Parameters
    ----------
    path : ``.exr`` (OpenEXR, R,G,B or Y) or ``.hdr`` (Radiance RGBE).

    Returns
    -------
    (H, 2H, 3) float32 linear radiance; negative values clamped to 0 with a warning.

    Raises
    ------
    InputFileError
        Unreadable, not 2:1, fewer than 8 rows, or NaN/Inf, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "environment file not found")
    suffix = path.suffix.lower()
    if suffix == ".exr":
        img, names = read_exr(path)
        if names[:3] == ("R", "G", "B"):
            img = img[..., :3]
        elif names == ("Y",):
            img = np.repeat(img, 3, axis=2)
        else:
            raise InputFileError(path, "channels", f"must be R,G,B or Y, got {','.join(names)}")
    elif suffix == ".hdr":
        img = _read_hdr(path)
    else:
        raise InputFileError(path, None, f"environment must be an .exr or .hdr file, got '{suffix}'")
    h, w = img.shape[:2]
    if w != 2 * h:
        raise InputFileError(path, None, f"environment must be a 2:1 lat-long image (width = 2 x height), got {w}x{h}")
    if h < 8 or h % 8:
        raise InputFileError(path, None, f"environment height must be a multiple of 8 and >= 8, got {h}")
    if not np.all(np.isfinite(img)):
        bad = int((~np.isfinite(img)).any(axis=2).sum())
        raise InputFileError(path, None, f"environment contains NaN or Inf in {bad} pixel(s)")
    neg = img < 0
    if neg.any():
        count = int(neg.any(axis=2).sum())
        # a few slightly negative texels (filtering ringing, common in published HDRs) are
        # clamped quietly; many, or large ones against the map's mean, are worth a warning
        large = -float(img.min()) > 0.01 * max(float(img.mean()), 1e-12) or count > 0.01 * h * w
        log.log(
            logging.WARNING if large else logging.DEBUG,
            "%s: %d negative value(s) (min %.3g) clamped to 0",
            path,
            count,
            float(img.min()),
        )
        img = np.maximum(img, 0.0)
    return np.ascontiguousarray(img, dtype=np.float32)


def mean_luminance(radiance: np.ndarray) -> float:
    """Solid-angle-weighted mean luminance of a lat-long image (H, W, 3) (1 for ``full``)."""
    h, w = radiance.shape[:2]
    om = latlong_solid_angles(h, w)
    return float(np.einsum("hwc,c,h->", radiance.astype(np.float64), LUMA, om) / (4 * np.pi))


def load_environment(
    spec: str | Path,
    *,
    rotate_deg: float = 0.0,
    normalize: Normalize = "none",
    lights_to_world: np.ndarray | None = None,
) -> Environment:
    """Resolve an environment spec.

    Parameters
    ----------
    spec : ``pattern:<name>`` (full, gradient_x/y/z, inverse_x/y/z), the name of a
        built-in map (``studio``, ``city``, ...) or a path to an .exr/.hdr file.
    rotate_deg : rotation about +y in degrees (right-handed).
    normalize : ``"none"`` or ``"mean"`` (scale so the solid-angle mean luminance is 1,
        the level of ``pattern:full``); ignored for patterns.
    lights_to_world : (3, 3) rig rotation for patterns (default identity).

    Returns
    -------
    Environment. Raises ConfigError for an unknown pattern or name, InputFileError for a
    bad file.
    """
    if normalize not in ("none", "mean"):
        raise ConfigError(f"normalize must be 'none' or 'mean', got {normalize!r}")
    rot = rotation_y(np.deg2rad(float(rotate_deg)))
    s = str(spec)
    if s.startswith("pattern:"):
        name = s.split(":", 1)[1]
        if name not in LIT_PATTERNS:
            raise ConfigError(f"--env {s}: unknown pattern '{name}'; known: {list(LIT_PATTERNS)}")
        l2w = np.eye(3) if lights_to_world is None else np.asarray(lights_to_world, np.float64)
        return Environment(f"pattern_{name}", None, name, rot @ l2w, s)
    path = Path(s)
    if not path.exists() and path.suffix == "":
        builtin = builtin_environments()
        if s in builtin:
            path = builtin[s]
        else:
            known = sorted(builtin) or ["(none: install Debian's blender-data)"]
            raise ConfigError(f"--env {s}: no such file and not a built-in environment; built-ins: {known}")
    img = read_environment_image(path)
    if normalize == "mean":
        m = mean_luminance(img)
        if m <= 0:
            raise InputFileError(path, None, "environment is black; cannot normalise its intensity")
        img = (img / m).astype(np.float32)
    return Environment(path.stem, img, None, rot, str(path))


def pattern_image(env: Environment, h: int) -> np.ndarray:
    """(h, 2h, 3) float32 lat-long image of any environment in the world frame (for
    backgrounds and previews; images are resampled bilinearly)."""
    d = latlong_directions(h).reshape(-1, 3)
    return env.radiance_towards(d).reshape(h, 2 * h, 3).astype(np.float32)
