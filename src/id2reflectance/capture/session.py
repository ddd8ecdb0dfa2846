"""The capture session format, version 1 (``shared/session-format.md``).

:func:`load_session` parses and validates ``session.json`` and returns a
:class:`Session`; every problem is collected and reported together
(:class:`SessionInvalidError`), each naming the file and JSON path.
:func:`write_session_json` writes a manifest atomically.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.jsonfile import read_json
from id2reflectance.capture.camera import VALID_DIST_LENGTHS, Camera
from id2reflectance.errors import InputFileError, SessionInvalidError

FORMAT_NAME = "id2r-session"
FORMAT_VERSION = 1
MANIFEST = "session.json"

Pattern = Literal["full", "gradient_x", "gradient_y", "gradient_z", "inverse_x", "inverse_y", "inverse_z", "dark"]
Polarization = Literal["cross", "parallel"]
EncodingName = Literal["linear", "srgb", "raw"]
PATTERNS: tuple[str, ...] = get_args(Pattern)
POLARIZATIONS: tuple[str, ...] = get_args(Polarization)
ENCODINGS: tuple[str, ...] = get_args(EncodingName)
REQUIRED_PATTERNS = ("full", "gradient_x", "gradient_y", "gradient_z")
SUBJECT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Frame:
    """One image of the session: a camera, a pattern and a polarisation."""

    camera: str
    pattern: str
    polarization: str
    file: str  # relative to the session folder
    encoding: str
    scale: float

    def to_json(self) -> dict:
        return {
            "camera": self.camera,
            "pattern": self.pattern,
            "polarization": self.polarization,
            "file": self.file,
            "encoding": self.encoding,
            "scale": self.scale,
        }


@dataclass(frozen=True, eq=False)
class Rig:
    """The light stage: its name, light-stage-to-world rotation and colour matrix.

    lights_to_world : (3, 3) float64 rotation.
    color_matrix : (3, 3) float64 camera RGB -> linear Rec.709, or None.
    """

    name: str
    lights_to_world: np.ndarray
    color_matrix: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Session:
    """A validated session folder (one subject, one rig, one sitting)."""

    root: Path
    subject_id: str
    attributes: dict[str, Any]
    rig: Rig
    cameras: dict[str, Camera]
    frames: tuple[Frame, ...]
    mesh: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    def frame(self, camera: str, pattern: str, polarization: str) -> Frame | None:
        """The frame for one camera, pattern and polarisation, or None."""
        for f in self.frames:
            if f.camera == camera and f.pattern == pattern and f.polarization == polarization:
                return f
        return None

    def patterns(self, camera: str, polarization: str) -> list[str]:
        """Patterns present for one camera and polarisation, in the spec's order."""
        have = {f.pattern for f in self.frames if f.camera == camera and f.polarization == polarization}
        return [p for p in PATTERNS if p in have]

    def path(self, rel: str) -> Path:
        """Absolute path of a manifest-relative path (already checked to stay inside)."""
        return self.root / rel


def session_json(
    *,
    subject_id: str,
    cameras: dict[str, Camera],
    frames: list[Frame],
    rig_name: str = "id2r-rig",
    lights_to_world: np.ndarray | None = None,
    color_matrix: np.ndarray | None = None,
    attributes: dict[str, Any] | None = None,
    mesh: str | None = None,
) -> dict[str, Any]:
    """Build a session.json object from its parts (the writer's side of the format)."""
    rig: dict[str, Any] = {
        "name": rig_name,
        "lights_to_world": (np.eye(3) if lights_to_world is None else np.asarray(lights_to_world)).tolist(),
    }
    if color_matrix is not None:
        rig["color_matrix"] = np.asarray(color_matrix, float).tolist()
    out: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "subject": {"id": subject_id, "attributes": dict(attributes or {})},
        "rig": rig,
        "cameras": {name: cam.to_json() for name, cam in cameras.items()},
        "frames": [f.to_json() for f in frames],
    }
    if mesh is not None:
        out["mesh"] = mesh
    return out


def write_session_json(root: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` as ``root/session.json`` atomically."""
    return atomic_write_json(Path(root) / MANIFEST, manifest)


# --------------------------------------------------------------------- parsing


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.file}: {where} {message}" if where else f"{self.file}: {message}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _matrix(value: Any, shape: tuple[int, ...], where: str, probs: _Problems) -> np.ndarray | None:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        probs.add(where, f"must be a {'x'.join(map(str, shape))} array of numbers, got {json.dumps(value)[:60]}")
        return None
    if a.shape != shape:
        probs.add(where, f"must have shape {list(shape)}, got {list(a.shape)}")
        return None
    if not np.all(np.isfinite(a)):
        probs.add(where, "must contain only finite numbers")
        return None
    return a


def _rotation(value: Any, where: str, probs: _Problems) -> np.ndarray | None:
    R = _matrix(value, (3, 3), where, probs)
    if R is None:
        return None
    if np.abs(R @ R.T - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0:
        probs.add(where, f"must be a rotation (orthonormal, det +1), got det {np.linalg.det(R):.4f}")
        return None
    return R


def safe_relative(root: Path, rel: Any, where: str, probs: _Problems) -> str | None:
    """Check ``rel`` is a relative path that stays inside ``root`` (symlinks resolved)."""
    if not isinstance(rel, str) or not rel:
        probs.add(where, f"must be a non-empty relative path, got {json.dumps(rel)}")
        return None
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel:
        probs.add(where, f"must be a relative path inside the session, got '{rel}'")
        return None
    try:
        resolved = (root / p).resolve()
        resolved.relative_to(root.resolve())
    except (ValueError, OSError):
        probs.add(where, f"leaves the session folder through a link: '{rel}'")
        return None
    return rel


def _parse_camera(name: str, c: Any, probs: _Problems) -> Camera | None:
    where = f"cameras.{name}"
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        probs.add(where, "name must be 1-64 characters of [A-Za-z0-9_-]")
    if not isinstance(c, dict):
        probs.add(where, "must be an object")
        return None
    ok = True
    for k in ("width", "height"):
        v = c.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            probs.add(f"{where}.{k}", f"must be a positive integer, got {json.dumps(v)}")
            ok = False
    for key in ("K", "R", "t"):
        if key not in c:
            probs.add(f"{where}.{key}", "is missing")
            ok = False
    unknown = sorted(set(c) - {"width", "height", "K", "dist", "R", "t"})
    if unknown:
        probs.add(where, f"has unknown field(s) {unknown}")
    if not ok:
        return None
    K = _matrix(c["K"], (3, 3), f"{where}.K", probs)
    if K is not None and (K[0, 0] <= 0 or K[1, 1] <= 0 or np.any(K[2] != [0, 0, 1]) or K[1, 0] != 0 or K[0, 1] != 0):
        probs.add(f"{where}.K", "must be [[fx,0,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0 (OpenCV: no skew)")
        K = None
    dist_raw = c.get("dist", [])
    dist = None
    if not isinstance(dist_raw, list) or len(dist_raw) not in VALID_DIST_LENGTHS or not all(map(_is_number, dist_raw)):
        probs.add(
            f"{where}.dist", f"must be a list of {VALID_DIST_LENGTHS} finite numbers, got {json.dumps(dist_raw)[:60]}"
        )
    else:
        dist = np.asarray(dist_raw, np.float64)
    R = _rotation(c["R"], f"{where}.R", probs)
    t = _matrix(c["t"], (3,), f"{where}.t", probs)
    if K is None or R is None or t is None or dist is None:
        return None
    return Camera(name=name, width=c["width"], height=c["height"], K=K, dist=dist, R=R, t=t)


def _parse_cameras_into(data: Any, probs: _Problems) -> dict[str, Camera]:
    """The ``cameras`` object's valid cameras; every problem goes to ``probs``."""
    cameras: dict[str, Camera] = {}
    if not isinstance(data, dict) or not data:
        probs.add("cameras", "must be a non-empty object")
        return cameras
    for name, c in data.items():
        cam = _parse_camera(name, c, probs)
        if cam is not None:
            cameras[name] = cam
    return cameras


def parse_cameras(data: Any, *, file: str = MANIFEST) -> dict[str, Camera]:
    """Validate a ``cameras`` object on its own, by the session format's rules.

    Used by files that carry a session-format ``cameras`` block (``rig.json``). Raises
    :class:`SessionInvalidError` with every problem, each naming ``file`` and the JSON path.
    """
    probs = _Problems(file)
    cameras = _parse_cameras_into(data, probs)
    if probs.items:
        raise SessionInvalidError(probs.items)
    return cameras


def _check_header(data: dict[str, Any], probs: _Problems) -> None:
    """``format``, ``version`` and no unknown top-level fields."""
    if data.get("format") != FORMAT_NAME:
        probs.add("format", f"must be '{FORMAT_NAME}', got {json.dumps(data.get('format'))}")
    if data.get("version") != FORMAT_VERSION:
        probs.add("version", f"must be {FORMAT_VERSION}, got {json.dumps(data.get('version'))}")
    unknown = sorted(set(data) - {"format", "version", "subject", "rig", "cameras", "frames", "mesh"})
    if unknown:
        probs.add("", f"unknown top-level field(s) {unknown}")


def _parse_subject(subject: Any, probs: _Problems) -> tuple[str, dict[str, Any]]:
    """(subject id, attributes) of the ``subject`` object; ``""`` and ``{}`` where invalid."""
    subject_id, attributes = "", {}
    if not isinstance(subject, dict):
        probs.add("subject", "is missing or not an object")
        return subject_id, attributes
    sid = subject.get("id")
    if not isinstance(sid, str) or not SUBJECT_ID_RE.match(sid):
        probs.add("subject.id", f"must be 1-64 characters of [A-Za-z0-9_-], got {json.dumps(sid)}")
    else:
        subject_id = sid
    attrs = subject.get("attributes", {})
    if not isinstance(attrs, dict):
        probs.add("subject.attributes", "must be an object")
    else:
        attributes = attrs
    return subject_id, attributes


def _parse_rig(rig_raw: Any, probs: _Problems) -> Rig:
    """The ``rig`` object (identity rotation, no colour matrix and no name where invalid)."""
    if not isinstance(rig_raw, dict):
        probs.add("rig", "must be an object")
        return Rig(name="", lights_to_world=np.eye(3))
    l2w = np.eye(3)
    if "lights_to_world" in rig_raw:
        l2w = _rotation(rig_raw["lights_to_world"], "rig.lights_to_world", probs)
    cm = None
    if rig_raw.get("color_matrix") is not None:
        cm = _matrix(rig_raw["color_matrix"], (3, 3), "rig.color_matrix", probs)
        if cm is not None and abs(np.linalg.det(cm)) < 1e-9:
            probs.add("rig.color_matrix", "must be invertible")
    name = rig_raw.get("name", "")
    if not isinstance(name, str):
        probs.add("rig.name", "must be a string")
        name = ""
    return Rig(name=name, lights_to_world=l2w if l2w is not None else np.eye(3), color_matrix=cm)


def _check_choice(value: Any, allowed: Sequence[str], where: str, probs: _Problems, *, rule: str = "") -> bool:
    """True when ``value`` is one of ``allowed``; else a problem ``<rule>, got <value>`` (by
    default ``must be one of [...]``) and False."""
    if value in allowed:
        return True
    probs.add(where, f"{rule or f'must be one of {list(allowed)}'}, got {json.dumps(value)}")
    return False


def _parse_frame(root: Path, i: int, f: Any, cams_raw: Any, probs: _Problems) -> Frame | None:
    """``frames[i]``, or None when it is invalid (its problems go to ``probs``)."""
    where = f"frames[{i}]"
    if not isinstance(f, dict):
        probs.add(where, "must be an object")
        return None
    cam, pat, pol, enc = (f.get(k) for k in ("camera", "pattern", "polarization", "encoding"))
    scale = f.get("scale", 1.0)
    known_camera = isinstance(cams_raw, dict) and isinstance(cam, str) and cam in cams_raw
    if not known_camera:
        probs.add(f"{where}.camera", f"names an unknown camera {json.dumps(cam)}")
    checks = [  # every check runs, so each problem is reported
        known_camera,
        _check_choice(pat, PATTERNS, f"{where}.pattern", probs),
        _check_choice(pol, POLARIZATIONS, f"{where}.polarization", probs, rule="must be 'cross' or 'parallel'"),
        _check_choice(enc, ENCODINGS, f"{where}.encoding", probs),
    ]
    if not _is_number(scale) or scale <= 0:
        probs.add(f"{where}.scale", f"must be > 0, got {json.dumps(scale)}")
        checks.append(False)
    rel = safe_relative(root, f.get("file"), f"{where}.file", probs)
    unknown = sorted(set(f) - {"camera", "pattern", "polarization", "file", "encoding", "scale"})
    if unknown:
        probs.add(where, f"has unknown field(s) {unknown}")
    if not all(checks) or rel is None:
        return None
    return Frame(camera=cam, pattern=pat, polarization=pol, file=rel, encoding=enc, scale=float(scale))


def _parse_frames(root: Path, frames_raw: Any, cams_raw: Any, probs: _Problems) -> list[Frame]:
    """The valid, distinct frames of the ``frames`` list, and a check that every camera has
    the required patterns in both polarisations."""
    frames: list[Frame] = []
    seen: dict[tuple[str, str, str], int] = {}
    if not isinstance(frames_raw, list) or not frames_raw:
        probs.add("frames", "must be a non-empty list")
        frames_raw = []
    for i, f in enumerate(frames_raw):
        frame = _parse_frame(root, i, f, cams_raw, probs)
        if frame is None:
            continue
        key = (frame.camera, frame.pattern, frame.polarization)
        if key in seen:
            probs.add(f"frames[{i}]", f"duplicates frames[{seen[key]}] ({key[0]}, {key[1]}, {key[2]})")
            continue
        seen[key] = i
        frames.append(frame)
    if isinstance(cams_raw, dict):
        for cam in cams_raw:
            for pol in POLARIZATIONS:
                missing = [p for p in REQUIRED_PATTERNS if (cam, p, pol) not in seen]
                if missing:
                    probs.add("frames", f"camera '{cam}' lacks {pol}-polarised frame(s) for pattern(s) {missing}")
    return frames


def _parse_mesh(root: Path, mesh: Any, probs: _Problems) -> str | None:
    """The optional ``mesh`` path (an .obj or .ply inside the session), None when absent or invalid."""
    if mesh is None:
        return None
    mesh = safe_relative(root, mesh, "mesh", probs)
    if mesh is not None and Path(mesh).suffix.lower() not in (".obj", ".ply"):
        probs.add("mesh", f"must be an .obj or .ply file, got '{mesh}'")
        return None
    return mesh


def parse_session(root: str | Path, data: Any) -> Session:
    """Validate a parsed session.json object against the format; raise on any problem."""
    root = Path(root)
    probs = _Problems(MANIFEST)
    if not isinstance(data, dict):
        raise SessionInvalidError([f"{MANIFEST}: top level must be an object"])
    _check_header(data, probs)
    subject_id, attributes = _parse_subject(data.get("subject"), probs)
    rig = _parse_rig(data.get("rig", {}), probs)
    cameras = _parse_cameras_into(data.get("cameras"), probs)
    frames = _parse_frames(root, data.get("frames"), data.get("cameras"), probs)
    mesh = _parse_mesh(root, data.get("mesh"), probs)
    if probs.items:
        raise SessionInvalidError(probs.items)
    return Session(
        root=root,
        subject_id=subject_id,
        attributes=attributes,
        rig=rig,
        cameras=cameras,
        frames=tuple(frames),
        mesh=mesh,
        manifest=data,
    )


def load_session(root: str | Path) -> Session:
    """Read and validate ``root/session.json`` (the JSON only; see validate for images).

    Raises
    ------
    SessionInvalidError
        With every problem found, each naming ``session.json`` and the JSON path.
    """
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise SessionInvalidError([f"{root}: session folder not found"])
    if not path.is_file():
        raise SessionInvalidError([f"{MANIFEST}: not found in {root}"])
    try:
        data = read_json(path)  # size-limited; too deep a nesting is a bad file, not a RecursionError
    except InputFileError as err:
        raise SessionInvalidError([f"{MANIFEST}: {err.message}"]) from err
    try:
        return parse_session(root, data)
    except RecursionError as err:  # a value nested just under the parser's limit, echoed in a message
        raise SessionInvalidError([f"{MANIFEST}: a value is nested too deeply"]) from err
