"""Accuracy of baked UV maps against the simulator's UV ground truth, and the seam metric.

Compared in the texels seen by at least one camera (``coverage > 0``), texel (i, j)
against texel (i, j): the registered mesh carries the template's UVs, like the truth.

* diffuse albedo PSNR, dB: ``10 log10(1 / MSE)`` over seen texels and R, G, B (peak 1);
* normal: median angle between the baked and true ``normal_object``, degrees;
* roughness: median absolute difference;
* specular albedo: median relative difference;
* seams: the 99th percentile of the diffuse albedo's gradient magnitude (central
  differences, RGB norm) on the view boundaries (:func:`view_boundaries`: where one
  camera's weight switches between zero and non-zero while another camera sees the
  texel), divided by the same percentile of the truth on the same texels. A seam between
  views would raise the baked map's gradients above the truth's there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from id2reflectance._shared.imageio import read_exr
from id2reflectance.errors import InputFileError, ShapeError
from id2reflectance.processing.solve.accuracy import angle_between_deg

TRUTH_MAPS = ("diffuse_albedo", "specular_albedo", "roughness", "normal_object")


@dataclass(frozen=True)
class BakeAccuracy:
    """Errors of one bake against the truth (see the module docstring)."""

    texels: int
    diffuse_psnr_db: float
    normal_median_deg: float
    roughness_median_abs: float
    specular_median_rel: float
    seam_texels: int
    seam_p99_gradient: float
    seam_p99_gradient_truth: float
    seam_ratio: float

    def to_json(self) -> dict:
        return asdict(self)


def read_truth_uv(session_dir: str | Path, size: int) -> dict[str, np.ndarray]:
    """The simulator's ``truth/uv`` maps at ``size`` (area-resampled if they differ).

    Returns {name: (S, S, 3) or (S, S) float32} for diffuse_albedo, specular_albedo,
    roughness and normal_object (renormalised after resampling).
    """
    folder = Path(session_dir) / "truth" / "uv"
    out: dict[str, np.ndarray] = {}
    for name in TRUTH_MAPS:
        path = folder / f"{name}.exr"
        if not path.is_file():
            raise InputFileError(path, None, "missing ground-truth map (not a simulated session?)")
        img, _ = read_exr(path)
        if img.shape[0] != size:
            interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
            img = cv2.resize(img, (size, size), interpolation=interp).reshape(size, size, -1)
        if name == "normal_object":
            img = img / np.maximum(np.linalg.norm(img, axis=-1, keepdims=True), 1e-12)
        out[name] = img[..., 0] if img.shape[2] == 1 else img
    return out


def read_truth_valid(session_dir: str | Path, size: int) -> np.ndarray:
    """(S, S) bool: the texels where ``truth/uv`` holds a truth. All texels, except for
    truth in the face-model template's layout, which marks them in ``truth/uv/valid.exr``
    (:mod:`~id2reflectance.capture.simulator.truth_layout`)."""
    path = Path(session_dir) / "truth" / "uv" / "valid.exr"
    if not path.is_file():
        return np.ones((size, size), bool)
    img, _ = read_exr(path)
    if img.shape[0] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_NEAREST)
    return np.asarray(img).reshape(size, size, -1)[..., 0] > 0.5


def gradient_magnitude(img: np.ndarray) -> np.ndarray:
    """(S, S) float64 central-difference gradient magnitude of (S, S[, C]), channel norm."""
    a = np.asarray(img, np.float64)
    if a.ndim == 2:
        a = a[..., None]
    gy, gx = np.gradient(a, axis=(0, 1))
    return np.sqrt(np.sum(gx * gx + gy * gy, axis=-1))


def view_boundaries(view_weights: dict[str, np.ndarray], seen: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """(S, S) bool: texels where one camera's contribution starts or stops while another
    camera keeps seeing the texel -- where a seam between views would show.

    A camera's support edge is the 3 x 3 morphological gradient of ``weight > 0``; it
    counts where another camera supports the whole 3 x 3 neighbourhood. Texels within 2
    texels of the seen region's border (holes that no camera sees, e.g. the inside of the
    mouth line) or of the UV chart's border (island edges, gutters) are excluded: those
    are not boundaries between views.
    """
    k3 = np.ones((3, 3), bool)
    k5 = np.ones((5, 5), bool)
    support = {name: w > 0 for name, w in view_weights.items()}
    edge = np.zeros_like(seen)
    for name, sup in support.items():
        others = np.zeros_like(seen)
        for other, osup in support.items():
            if other != name:
                others |= binary_erosion(osup, k3, border_value=0)
        edge |= binary_dilation(sup, k3) & ~binary_erosion(sup, k3, border_value=1) & others
    inner = binary_erosion(covered, k5, border_value=0) & binary_erosion(seen, k5, border_value=0)
    return edge & inner


def bake_accuracy(
    maps: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    *,
    seen: np.ndarray,
    covered: np.ndarray,
    view_weights: dict[str, np.ndarray],
) -> BakeAccuracy:
    """Errors of baked maps against the truth in the seen texels.

    Parameters
    ----------
    maps : {name: array} baked diffuse_albedo (S, S, 3), specular_albedo (S, S),
        roughness (S, S), normal_object (S, S, 3).
    truth : the same names from :func:`read_truth_uv` at the same size.
    seen : (S, S) bool texels seen by a camera; covered : (S, S) bool inside the chart.
    view_weights : {camera: (S, S) weight} of the bake (for the view boundaries).
    """
    s = seen.shape[0]
    for name in TRUTH_MAPS:
        if maps[name].shape[:2] != (s, s) or truth[name].shape[:2] != (s, s):
            raise ShapeError(f"bake_accuracy: {name} must be {s}x{s}")
    if not seen.any():
        raise ShapeError("bake_accuracy: no seen texels")
    da = maps["diffuse_albedo"][seen].astype(np.float64)
    dt = truth["diffuse_albedo"][seen].astype(np.float64)
    mse = float(np.mean((da - dt) ** 2))
    psnr = 10.0 * np.log10(1.0 / max(mse, 1e-20))
    nb = maps["normal_object"][seen].astype(np.float64)
    nt = truth["normal_object"][seen].astype(np.float64)
    ang = angle_between_deg(nb, nt, axis=1)
    rough = np.abs(maps["roughness"][seen].astype(np.float64) - truth["roughness"][seen])
    st = truth["specular_albedo"][seen].astype(np.float64)
    spec = np.abs(maps["specular_albedo"][seen] - st) / np.maximum(st, 1e-6)
    edges = view_boundaries(view_weights, seen, covered)
    if edges.any():
        g_b = float(np.percentile(gradient_magnitude(maps["diffuse_albedo"])[edges], 99))
        g_t = float(np.percentile(gradient_magnitude(truth["diffuse_albedo"])[edges], 99))
    else:
        g_b = g_t = 0.0
    return BakeAccuracy(
        texels=int(seen.sum()),
        diffuse_psnr_db=float(psnr),
        normal_median_deg=float(np.median(ang)),
        roughness_median_abs=float(np.median(rough)),
        specular_median_rel=float(np.median(spec)),
        seam_texels=int(edges.sum()),
        seam_p99_gradient=g_b,
        seam_p99_gradient_truth=g_t,
        seam_ratio=float(g_b / g_t) if g_t > 0 else float("nan"),
    )
