"""Accuracy of solved per-camera maps against the simulator's ground truth.

Compares ``SOLVED/<camera>/*.exr`` (the solver's outputs) with
``SESSION/truth/<camera>/*.exr`` (written by the simulator) inside the solver's mask and
the truth mask, optionally restricted to pixels the simulator does not self-shadow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance.errors import InputFileError


@dataclass(frozen=True)
class SolveAccuracy:
    """Median errors over the evaluated pixels of one camera (or all cameras pooled)."""

    pixels: int
    diffuse_normal_deg: float  # median angle between solved and true normal
    specular_normal_deg: float
    diffuse_albedo_rel: float  # median |solved - true| / true, RGB pooled
    specular_albedo_rel: float
    roughness_abs: float

    def to_json(self) -> dict:
        return asdict(self)


def angle_between_deg(a: np.ndarray, b: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Angles between the direction vectors of ``a`` and ``b`` (normals), degrees.

    Parameters
    ----------
    a, b : float arrays of one shape (or broadcasting), the vectors' components along
        ``axis``; any length (each vector is normalised; a zero vector gives 90 degrees).
    axis : the components' axis (-1 for (..., 3) fields, 0 for planar (3, N) maps).

    Returns
    -------
    The shape without ``axis``, in [0, 180] degrees, computed in the inputs' float dtype.
    """
    a = a / np.maximum(np.linalg.norm(a, axis=axis, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=axis, keepdims=True), 1e-12)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis), -1, 1)))


def _load(folder: Path, name: str) -> np.ndarray:
    path = folder / f"{name}.exr"
    if not path.is_file():
        raise InputFileError(path, None, "missing map")
    img, _ = read_exr(path)
    return img[..., 0] if img.shape[2] == 1 else img


def _errors(session_dir: Path, solved_dir: Path, camera: str, visibility_min: float) -> dict[str, np.ndarray]:
    truth = session_dir / "truth" / camera
    solved = solved_dir / camera
    sel = (_load(solved, "mask") > 0.5) & (_load(truth, "mask") > 0.5)
    if visibility_min > 0:
        sel &= _load(truth, "visibility") >= visibility_min
    td, sd = _load(truth, "diffuse_albedo")[sel], _load(solved, "diffuse_albedo")[sel]
    ts, ss = _load(truth, "specular_albedo")[sel], _load(solved, "specular_albedo")[sel]
    tn = _load(truth, "normal")[sel]
    return {
        "dn": angle_between_deg(_load(solved, "normal_diffuse")[sel], tn),
        "sn": angle_between_deg(_load(solved, "normal_specular")[sel], tn),
        "da": (np.abs(sd - td) / np.maximum(td, 1e-6)).ravel(),
        "sa": np.abs(ss - ts) / np.maximum(ts, 1e-6),
        "r": np.abs(_load(solved, "roughness")[sel] - _load(truth, "roughness")[sel]),
    }


def _summarise(errs: dict[str, np.ndarray]) -> SolveAccuracy:
    def med(x: np.ndarray) -> float:
        return float(np.median(x)) if x.size else float("nan")

    return SolveAccuracy(
        pixels=int(errs["dn"].size),
        diffuse_normal_deg=med(errs["dn"]),
        specular_normal_deg=med(errs["sn"]),
        diffuse_albedo_rel=med(errs["da"]),
        specular_albedo_rel=med(errs["sa"]),
        roughness_abs=med(errs["r"]),
    )


def solve_accuracy(
    session_dir: str | Path, solved_dir: str | Path, *, visibility_min: float = 0.99
) -> dict[str, SolveAccuracy]:
    """Per-camera and pooled (key ``"all"``) median errors of a solve against the truth.

    Parameters
    ----------
    session_dir : a simulated session (with ``truth/``).
    solved_dir : the output folder of ``id2r solve`` for that session.
    visibility_min : evaluate only pixels whose unoccluded diffuse fraction is at least
        this (0 evaluates every valid pixel).
    """
    session_dir, solved_dir = Path(session_dir), Path(solved_dir)
    if not (session_dir / "truth").is_dir():
        raise InputFileError(session_dir, "truth", "no ground truth (not a simulated session?)")
    cams = sorted(p.name for p in (session_dir / "truth").iterdir() if (p / "mask.exr").is_file())
    out: dict[str, SolveAccuracy] = {}
    pooled: dict[str, list[np.ndarray]] = {}
    for cam in cams:
        errs = _errors(session_dir, solved_dir, cam, visibility_min)
        out[cam] = _summarise(errs)
        for k, v in errs.items():
            pooled.setdefault(k, []).append(v)
    out["all"] = _summarise({k: np.concatenate(v) for k, v in pooled.items()})
    return out
