"""Rig files: a calibrated rig's cameras (and colour matrix), and writing them into sessions.

``rig.json``::

    {
      "format": "id2r-rig", "version": 1,
      "name": "...",
      "cameras": {...},            exactly the session format's ``cameras`` block
      "color_matrix": [[...]],     optional: camera RGB -> linear Rec.709 (rig.color_matrix)
      "report": {...}              optional: calibration figures, for people (not read back)
    }

:func:`apply_rig` copies the cameras (and colour matrix) into sessions: every session is
checked first (the session must be valid, the rig must have each of its cameras at the
same image size, the result must validate), then each ``session.json`` is rewritten
atomically; if any session fails, none is written.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.jsonfile import read_json
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.session import load_session, parse_cameras, parse_session, write_session_json
from id2reflectance.errors import InputFileError, SessionInvalidError

log = logging.getLogger(__name__)

RIG_FORMAT = "id2r-rig"
RIG_VERSION = 1
COLOUR_FORMAT = "id2r-colour"
ALIGN_WARN_MM = 20.0  # alignment residual above which apply_rig warns


@dataclass(frozen=True, eq=False)
class RigFile:
    """A calibrated rig.

    cameras : {name: Camera} (session format; world frame as calibrated).
    color_matrix : (3, 3) float64 camera RGB -> linear Rec.709, or None.
    report : calibration figures (JSON-able).
    """

    name: str
    cameras: dict[str, Camera]
    color_matrix: np.ndarray | None = None
    report: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``rig.json`` object."""
        out: dict[str, Any] = {
            "format": RIG_FORMAT,
            "version": RIG_VERSION,
            "name": self.name,
            "cameras": {n: c.to_json() for n, c in self.cameras.items()},
        }
        if self.color_matrix is not None:
            out["color_matrix"] = np.asarray(self.color_matrix, float).tolist()
        if self.report:
            out["report"] = self.report
        return out


def write_rig(path: str | Path, rig: RigFile) -> Path:
    """Write ``rig.json`` atomically."""
    return atomic_write_json(path, rig.to_json())


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    return read_json(path)


def _color_matrix(value: Any, path: Path) -> np.ndarray:
    try:
        M = np.asarray(value, np.float64)
    except (TypeError, ValueError) as err:
        raise InputFileError(path, "color_matrix", "must be a 3x3 array of numbers") from err
    if M.shape != (3, 3) or not np.all(np.isfinite(M)):
        raise InputFileError(path, "color_matrix", f"must be a 3x3 array of finite numbers, got shape {list(M.shape)}")
    if abs(np.linalg.det(M)) < 1e-9:
        raise InputFileError(path, "color_matrix", "must be invertible")
    return M


def read_rig(path: str | Path) -> RigFile:
    """Read and validate ``rig.json`` (cameras by the session format's rules)."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputFileError(path, None, "top level must be an object")
    if data.get("format") != RIG_FORMAT:
        raise InputFileError(path, "format", f"must be '{RIG_FORMAT}', got {json.dumps(data.get('format'))}")
    if data.get("version") != RIG_VERSION:
        raise InputFileError(path, "version", f"must be {RIG_VERSION}, got {json.dumps(data.get('version'))}")
    unknown = sorted(set(data) - {"format", "version", "name", "cameras", "color_matrix", "report"})
    if unknown:
        raise InputFileError(path, None, f"unknown field(s) {unknown}")
    try:
        cameras = parse_cameras(data.get("cameras"), file=path.name)
    except SessionInvalidError as err:
        raise InputFileError(path, "cameras", "; ".join(err.problems)) from err
    cm = data.get("color_matrix")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InputFileError(path, "name", "must be a string")
    report = data.get("report", {})
    return RigFile(
        name, cameras, None if cm is None else _color_matrix(cm, path), report if isinstance(report, dict) else {}
    )


def read_colour_matrix(path: str | Path) -> np.ndarray:
    """The ``color_matrix`` of a ``colour.json`` (or of a ``rig.json``): (3, 3) float64."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") not in (COLOUR_FORMAT, RIG_FORMAT):
        raise InputFileError(path, "format", f"must be '{COLOUR_FORMAT}' or '{RIG_FORMAT}'")
    if data.get("color_matrix") is None:
        raise InputFileError(path, "color_matrix", "is missing")
    return _color_matrix(data["color_matrix"], path)


def _frame_points(cameras: dict[str, Camera], names: list[str], arm: float) -> np.ndarray:
    """Centre and two points along the optical axis and image-down axis of each camera."""
    pts = []
    for n in names:
        c = cameras[n]
        pts += [c.center, c.center + arm * c.R[2], c.center + arm * c.R[1]]
    return np.array(pts)


def align_cameras(
    cameras: dict[str, Camera], reference: dict[str, Camera], *, arm: float = 0.1
) -> tuple[dict[str, Camera], float]:
    """Move a calibrated rig into another world frame by the rigid fit of shared cameras.

    The rotation and translation minimise the squared distances between each shared
    camera's centre and two points ``arm`` metres along its optical and image-down axes
    (Kabsch), so one shared camera suffices. No scale: both rigs are metric.

    Returns
    -------
    cameras : the rig's cameras in the reference frame.
    residual_mm : RMS distance of the fitted points, millimetres.
    """
    shared = sorted(set(cameras) & set(reference))
    if not shared:
        raise InputFileError("rig", "cameras", f"no camera in common with {sorted(reference)}")
    P = _frame_points(cameras, shared, arm)
    Q = _frame_points(reference, shared, arm)
    pc, qc = P.mean(axis=0), Q.mean(axis=0)
    U, _, Vt = np.linalg.svd((P - pc).T @ (Q - qc))
    D = np.diag([1.0, 1.0, np.linalg.det(Vt.T @ U.T)])
    W = Vt.T @ D @ U.T  # rig world -> reference world
    s = qc - W @ pc
    residual = float(1000 * np.sqrt(((P @ W.T + s - Q) ** 2).sum(axis=1).mean()))
    out = {}
    for n, c in cameras.items():
        # x_cam = R X_rig + t with X_rig = W^T (X_ref - s)
        R = c.R @ W.T
        out[n] = Camera(n, c.width, c.height, c.K, c.dist, R, c.t - R @ s)
    return out, residual


def apply_rig(
    rig: RigFile, sessions: list[str | Path], *, align: bool = False, color_matrix: np.ndarray | None = None
) -> dict[str, dict]:
    """Write the rig's cameras (and colour matrix) into each session's ``session.json``.

    Parameters
    ----------
    rig : the calibrated rig; it must hold every camera the session uses, at the same
        image size. Cameras the session does not use are ignored.
    sessions : session folders.
    align : first move the rig into the session's world frame by a rigid fit to the
        session's current cameras (see :func:`align_cameras`), keeping the session's
        world axes (and so its lights and mesh) while taking the calibrated geometry.
    color_matrix : overrides ``rig.color_matrix`` when given (from a ``colour.json``).

    Returns
    -------
    {session folder: {"cameras": [...], "color_matrix": bool, "align_residual_mm": float|None}}

    Raises
    ------
    SessionInvalidError, InputFileError
        A session is invalid before or after, or the rig lacks a camera or has another
        size; nothing is written to any session then.
    """
    matrix = color_matrix if color_matrix is not None else rig.color_matrix
    planned: list[tuple[Path, dict, dict]] = []
    for folder in map(Path, sessions):
        session = load_session(folder)
        missing = sorted(set(session.cameras) - set(rig.cameras))
        if missing:
            raise InputFileError(
                f"rig '{rig.name}'",
                "cameras",
                f"has no camera(s) {missing} that session {folder} uses (rig cameras: {sorted(rig.cameras)})",
            )
        cams = {n: rig.cameras[n] for n in session.cameras}
        for n, c in cams.items():
            s = session.cameras[n]
            if (c.width, c.height) != (s.width, s.height):
                raise InputFileError(
                    f"rig '{rig.name}'",
                    f"cameras.{n}",
                    f"is {c.width}x{c.height} but session {folder} has {s.width}x{s.height}",
                )
        residual = None
        if align:
            cams, residual = align_cameras(cams, session.cameras)
            log.info("%s: rig aligned to the session's cameras, residual %.2f mm", folder, residual)
            if residual > ALIGN_WARN_MM:
                log.warning(
                    "%s: the rig's cameras differ from the session's by %.1f mm RMS after alignment; "
                    "same camera names, same rig?",
                    folder,
                    residual,
                )
        manifest = copy.deepcopy(session.manifest)
        for n, c in cams.items():
            manifest["cameras"][n] = c.to_json()
        if matrix is not None:
            manifest.setdefault("rig", {})["color_matrix"] = np.asarray(matrix, float).tolist()
        parse_session(folder, manifest)  # validate the result before anything is written
        planned.append(
            (
                folder,
                manifest,
                {"cameras": sorted(cams), "color_matrix": matrix is not None, "align_residual_mm": residual},
            )
        )
    for folder, manifest, _ in planned:
        write_session_json(folder, manifest)
    return {str(f): info for f, _, info in planned}
