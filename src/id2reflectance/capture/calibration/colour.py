"""Colour calibration from an X-Rite ColorChecker Classic: the camera-RGB -> Rec.709 matrix.

Reference: colour-science's ``"ColorChecker24 - After November 2014"`` chromaticities
(xyY, measured under / relative to CIE D50, the ICC PCS white, xy = 0.3457, 0.3585),
converted to CIE XYZ, chromatically adapted D50 -> D65 with the Bradford transform and
expressed as linear ITU-R BT.709 RGB: the reflectance of each patch as a camera with a
Rec.709 response would record it under a D65-balanced white. The light stage's ``full``
pattern is treated as that white: the fitted matrix maps the camera's linear RGB to
linear Rec.709 with white patches neutral.

Colour differences are CIEDE2000 (``colour.delta_E(method="CIE 2000")``) between CIELAB
values computed with the D65 white (Rec.709 -> XYZ -> L*a*b*, reference white Y = 1).

Pipeline for each image: decode linearly (:func:`read_image`), subtract the dark frame,
find the chart with colour-checker-detection's segmentation detector, average the central
part of each of the 24 patches (linear values), and resolve the chart's orientation
(0 or 180 degrees) by the fit. The 3 x 3 matrix ``M`` minimises
``sum_i w_i |M c_i - white_level * r_i|^2`` (optionally with the white patch mapped
exactly), where ``c_i`` is the camera RGB and ``r_i`` the reference reflectance.

colour-science and colour-checker-detection are imported lazily, inside the functions.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import tifffile

from id2reflectance._shared.imageio import RAW_SUFFIXES, decode_image, read_file_bytes, read_image
from id2reflectance.errors import CaptureError, ConfigError, InputFileError, ShapeError

log = logging.getLogger(__name__)

REFERENCE_CHART = "ColorChecker24 - After November 2014"
WHITE_PATCH = 18  # "white 9.5 (.05 D)"
N_PATCHES = 24


@dataclass(frozen=True)
class ColourCalibrationConfig:
    """Options of :func:`calibrate_colour`."""

    white_level: float = 1.0  # linear Rec.709 value a perfect white diffuser records (0.5 cross-polarised)
    weighting: Literal["uniform", "inverse_luminance"] = "uniform"
    white_constraint: bool = False  # map the white patch exactly (exposure pinned by it)
    encoding: Literal["auto", "linear", "srgb", "raw"] = "auto"
    samples: int = 64  # side of the square averaged per patch in the detector's 1440-wide warp (patch = 240)

    def __post_init__(self) -> None:
        if not self.white_level > 0:
            raise ConfigError(f"white_level must be > 0, got {self.white_level}")
        if not 4 <= self.samples <= 200:
            raise ConfigError(f"samples must be in [4, 200], got {self.samples}")


def _colour():  # -> the colour module
    """Import colour-science lazily, without its warning about the missing matplotlib."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour


def reference_rec709(chart: str = REFERENCE_CHART) -> np.ndarray:
    """Reference patch reflectances: (24, 3) float64 linear Rec.709, D65 white (Bradford).

    Row order is the chart's, dark skin (top-left) to black (bottom-right). A few values
    are slightly negative (the cyan patch lies outside the Rec.709 gamut).
    """
    colour = _colour()
    cc = colour.CCS_COLOURCHECKERS[chart]
    xyY = np.array(list(cc.data.values()), np.float64)
    XYZ = colour.xyY_to_XYZ(xyY)
    return np.asarray(
        colour.XYZ_to_RGB(XYZ, "ITU-R BT.709", illuminant=cc.illuminant, chromatic_adaptation_transform="Bradford"),
        np.float64,
    )


def rec709_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) linear Rec.709 (white = 1) -> (N, 3) CIELAB, D65 reference white."""
    colour = _colour()
    cs = colour.RGB_COLOURSPACES["ITU-R BT.709"]
    XYZ = colour.RGB_to_XYZ(np.asarray(rgb, np.float64), cs, illuminant=cs.whitepoint)
    return np.asarray(colour.XYZ_to_Lab(XYZ, cs.whitepoint), np.float64)


def delta_e_2000(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two (N, 3) linear Rec.709 arrays (white = 1): (N,) float64."""
    colour = _colour()
    return np.asarray(colour.delta_E(rec709_to_lab(rgb_a), rec709_to_lab(rgb_b), method="CIE 2000"), np.float64)


def fit_colour_matrix(
    camera_rgb: np.ndarray,
    target: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    exact: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Weighted least-squares 3 x 3 matrix with ``M @ camera_rgb[i] ~ target[i]``.

    Parameters
    ----------
    camera_rgb : (N, 3) float linear camera RGB, N >= 3.
    target : (N, 3) float linear Rec.709.
    weights : (N,) >= 0, or None for uniform.
    exact : optional (c, r) pair of (3,) vectors the matrix must map exactly (M c = r),
        e.g. the white patch; solved per row with a Lagrange multiplier.

    Returns
    -------
    (3, 3) float64 camera RGB -> linear Rec.709.
    """
    C = np.asarray(camera_rgb, np.float64)
    T = np.asarray(target, np.float64)
    if C.ndim != 2 or C.shape[1] != 3 or C.shape != T.shape or C.shape[0] < 3:
        raise ShapeError(f"fit_colour_matrix: expected two (N>=3, 3) arrays, got {C.shape} and {T.shape}")
    w = np.ones(len(C)) if weights is None else np.asarray(weights, np.float64)
    A = C.T @ (w[:, None] * C)  # (3, 3)
    B = C.T @ (w[:, None] * T)  # (3, 3): column j gives row j of M
    if exact is None:
        return np.linalg.solve(A, B).T
    c, r = (np.asarray(v, np.float64) for v in exact)
    K = np.zeros((4, 4))
    K[:3, :3], K[:3, 3], K[3, :3] = A, c, c
    M = np.empty((3, 3))
    for j in range(3):
        M[j] = np.linalg.solve(K, np.concatenate([B[:, j], [r[j]]]))[:3]
    return M


@dataclass(frozen=True)
class ChartReading:
    """The chart as found in one image.

    patches : (24, 3) float64 mean linear camera RGB of each patch (dark subtracted),
        chart order.
    quad : (4, 2) float64 chart corners in image pixels (column, row), as detected.
    """

    image: str
    patches: np.ndarray
    quad: np.ndarray


def _auto_encoding(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".exr":
        return "linear"
    if suffix in RAW_SUFFIXES:
        return "raw"
    if suffix in (".jpg", ".jpeg"):
        return "srgb"
    if suffix in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(str(path)) as tf:
                dtype = tf.pages[0].dtype
        except Exception as err:
            raise InputFileError(path, None, f"not a readable TIFF file ({err})") from err
    else:
        img = decode_image(read_file_bytes(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise InputFileError(path, None, "not a readable image file")
        dtype = img.dtype
    return "srgb" if dtype == np.uint8 else "linear"


def load_linear(path: str | Path, encoding: str = "auto") -> np.ndarray:
    """Decode an image to linear camera RGB: (H, W, 3) float32.

    ``auto``: OpenEXR and 16-bit/float PNG/TIFF are linear, 8-bit PNG/TIFF and JPEG are
    sRGB-encoded, RAW/DNG is decoded linearly.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    return read_image(path, _auto_encoding(path) if encoding == "auto" else encoding)  # type: ignore[arg-type]


def read_chart(image: np.ndarray, *, name: str = "image", samples: int = 64) -> ChartReading | None:
    """Find a ColorChecker Classic and average its patches.

    Parameters
    ----------
    image : (H, W, 3) float linear camera RGB (dark subtracted).
    samples : side of the averaged square per patch, in the detector's 1440 x 960 warp of
        the chart (a patch is 240 x 240 there).

    Returns
    -------
    :class:`ChartReading`, or None when no chart is found.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from colour_checker_detection import extractor_segmentation, segmenter_default

    img = np.asarray(image, np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ShapeError(f"read_chart: expected (H, W, 3), got {img.shape}")
    peak = float(np.percentile(img, 99.5))
    norm = np.clip(img / peak, 0.0, 1.0) if peak > 0 else img
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # flat images divide by zero inside the detector
        seg = segmenter_default(norm, additional_data=True)
        if len(seg.rectangles) == 0:
            return None
        found = extractor_segmentation(img, seg, samples=samples, additional_data=True)
    if not found:
        return None
    data = found[0]
    scale = img.shape[1] / 1440.0  # the detector works on a 1440-wide resize
    return ChartReading(name, np.asarray(data.swatch_colours, np.float64), np.asarray(data.quadrilateral) * scale)


def orient_patches(patches: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Patches in chart order, whether the chart was read upright or upside down.

    A ColorChecker read upside down lists its patches in reverse; the right order is the
    one a 3 x 3 camera matrix explains best (smaller residual of the least-squares fit).

    Parameters
    ----------
    patches : (24, 3) float linear camera RGB, as read.
    reference : (24, 3) float linear Rec.709 reference (:func:`reference_rec709`).

    Returns
    -------
    (24, 3) float64, ``patches`` or ``patches[::-1]``.
    """
    best: tuple[float, np.ndarray] = (np.inf, np.asarray(patches, np.float64))
    for cand in (np.asarray(patches, np.float64), np.asarray(patches, np.float64)[::-1]):
        try:
            M = fit_colour_matrix(cand, reference)
        except np.linalg.LinAlgError:
            continue
        err = float(np.sum((cand @ M.T - reference) ** 2))
        if err < best[0]:
            best = (err, cand)
    return np.ascontiguousarray(best[1])


@dataclass(frozen=True)
class ColourCalibration:
    """Result of :func:`calibrate_colour`.

    color_matrix : (3, 3) float64 camera RGB -> linear Rec.709 (the session's
        ``rig.color_matrix``).
    corrected : (24, 3) float64 corrected patch values / white_level (all images averaged).
    reference : (24, 3) float64 reference reflectances (:func:`reference_rec709`).
    delta_e : (24,) float64 CIEDE2000 per patch.
    """

    camera: str
    color_matrix: np.ndarray
    corrected: np.ndarray
    reference: np.ndarray
    delta_e: np.ndarray
    readings: tuple[ChartReading, ...]
    config: ColourCalibrationConfig

    def to_json(self) -> dict:
        """The ``colour.json`` object (``color_matrix`` plus the per-patch report)."""
        names = list(_colour().CCS_COLOURCHECKERS[REFERENCE_CHART].data)
        return {
            "format": "id2r-colour",
            "version": 1,
            "camera": self.camera,
            "color_matrix": self.color_matrix.tolist(),
            "reference": {
                "chart": REFERENCE_CHART,
                "illuminant": "D50 data adapted to D65 (Bradford); linear ITU-R BT.709; CIELAB D65",
                "white_level": self.config.white_level,
            },
            "fit": {"weighting": self.config.weighting, "white_constraint": self.config.white_constraint},
            "delta_e_2000": {
                "mean": float(self.delta_e.mean()),
                "max": float(self.delta_e.max()),
                "per_patch": {n: round(float(d), 4) for n, d in zip(names, self.delta_e, strict=True)},
            },
            "images": [
                {"image": r.image, "quad_px": np.round(r.quad, 2).tolist(), "patches": r.patches.tolist()}
                for r in self.readings
            ],
        }


def calibrate_colour(
    images: list[str | Path],
    *,
    camera: str,
    dark: str | Path | None = None,
    config: ColourCalibrationConfig = ColourCalibrationConfig(),
) -> ColourCalibration:
    """Fit ``rig.color_matrix`` from ColorChecker images of one camera.

    Parameters
    ----------
    images : chart images (any encoding the session format reads), same size.
    camera : the camera's name (recorded in the result).
    dark : optional dark frame (lights off) subtracted from every image.

    Raises
    ------
    InputFileError
        Unreadable image or dark frame, sizes that differ.
    CaptureError
        No chart found in an image (named), or a degenerate fit.
    """
    if not images:
        raise ConfigError("calibrate colour: no images given")
    dark_img = load_linear(dark, config.encoding) if dark is not None else None
    reference = reference_rec709()
    readings: list[ChartReading] = []
    missing: list[str] = []
    for path in map(Path, images):
        img = load_linear(path, config.encoding)
        if dark_img is not None:
            if dark_img.shape != img.shape:
                raise InputFileError(
                    path,
                    None,
                    f"is {img.shape[1]}x{img.shape[0]} but the dark frame {dark} is "
                    f"{dark_img.shape[1]}x{dark_img.shape[0]}",
                )
            img = img - dark_img
        reading = read_chart(img, name=str(path), samples=config.samples)
        if reading is None:
            missing.append(str(path))
        else:
            readings.append(reading)
    if missing:
        raise CaptureError(f"no ColorChecker found in {len(missing)} image(s): {', '.join(missing)}")
    target = config.white_level * np.tile(reference, (len(readings), 1))
    weights = None
    if config.weighting == "inverse_luminance":
        lum = np.clip(target @ np.array([0.2126, 0.7152, 0.0722]), 1e-3 * config.white_level, None)
        weights = 1.0 / lum**2
    # The detector resolves the orientation against sRGB references; confirm it for camera RGB.
    readings = [ChartReading(r.image, orient_patches(r.patches, reference), r.quad) for r in readings]
    cam_rgb = np.concatenate([r.patches for r in readings])
    white = np.mean([r.patches[WHITE_PATCH] for r in readings], axis=0)
    exact = (white, target[WHITE_PATCH]) if config.white_constraint else None
    try:
        M = fit_colour_matrix(cam_rgb, target, weights=weights, exact=exact)
    except np.linalg.LinAlgError as err:
        raise CaptureError(f"colour fit is degenerate (patch values collinear?): {err}") from err
    corrected = (cam_rgb @ M.T).reshape(len(readings), N_PATCHES, 3).mean(axis=0) / config.white_level
    de = delta_e_2000(corrected, reference)
    log.info("colour fit on %d image(s): CIEDE2000 mean %.3f max %.3f", len(readings), de.mean(), de.max())
    return ColourCalibration(camera, M, corrected, reference, de, tuple(readings), config)
