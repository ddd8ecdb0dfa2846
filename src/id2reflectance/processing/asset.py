"""The reflectance asset folder, version 1 (``shared/asset-format.md``).

:func:`write_asset` is the only producer-side writer (bake, infer, ground truth) and
:func:`read_asset` the only consumer-side reader (relight, export, report, dataset).
A folder that breaks the format is rejected with an :class:`InputFileError` naming the
file and the field; a writer builds the folder beside its destination and renames it
into place, ``asset.json`` written last with every map's SHA-256.

The ``specular_albedo`` map is the full-sphere specular response at normal incidence,
``k * A(1, r)`` (see :mod:`id2reflectance.processing.brdf_table`), so that it does not
depend on a camera; the GGX scale of a texel is ``k = specular_albedo / A(1, r)``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_folder, atomic_write_json, sha256_file
from id2reflectance._shared.imageio import check_image_header, linear_to_srgb, read_exr, write_exr, write_png
from id2reflectance._shared.jsonfile import read_json
from id2reflectance.capture.geometry.mesh import FaceMesh, rasterize_uv, read_obj, write_obj
from id2reflectance.capture.session import load_session
from id2reflectance.errors import ConfigError, InputFileError, ShapeError
from id2reflectance.processing.tangents import object_to_tangent

log = logging.getLogger(__name__)

FORMAT_NAME = "id2r-asset"
FORMAT_VERSION = 1
MANIFEST = "asset.json"
MESH_FILE = "mesh.obj"
# map name -> number of channels (1 = "Y", 3 = "R,G,B"), in the format's order
MAP_CHANNELS: dict[str, int] = {
    "diffuse_albedo": 3,
    "specular_albedo": 1,
    "roughness": 1,
    "normal_object": 3,
    "normal_tangent": 3,
    "coverage": 1,
}
MAP_NAMES: tuple[str, ...] = tuple(MAP_CHANNELS)
SIZE_MIN = 256
SIZE_MAX = 8192
FRAMES = ("world", "template")
SOURCE_KINDS = ("capture", "photo")
_SUBJECT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, eq=False)
class AssetMaps:
    """The UV maps of one subject, all S x S (row 0 at the top, v = 1).

    diffuse_albedo : (S, S, 3) float32, linear Rec.709 albedo in [0, 1].
    specular_albedo : (S, S) float32, full-sphere specular response at normal incidence.
    roughness : (S, S) float32, GGX perceptual roughness r (alpha = r^2).
    normal_object : (S, S, 3) float32, unit normals in the mesh's frame.
    coverage : (S, S) float32 in [0, 1]; 0 where the texel was filled, not seen.
    normal_tangent : (S, S, 3) float32 unit tangent-space normals (OpenGL, +Y up), or
        None to derive them from ``normal_object`` and the mesh on writing.
    """

    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    roughness: np.ndarray
    normal_object: np.ndarray
    coverage: np.ndarray
    normal_tangent: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Map size S in texels."""
        return int(np.asarray(self.diffuse_albedo).shape[0])

    def as_dict(self) -> dict[str, np.ndarray]:
        """{map name: array} with single-channel maps as (S, S); skips a None normal_tangent."""
        out = {name: getattr(self, name) for name in MAP_NAMES}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True, eq=False)
class Asset:
    """A validated asset folder.

    root : the folder; manifest : asset.json as parsed; mesh : FaceMesh with UVs;
    maps : AssetMaps (every map present, normal_tangent included).
    """

    root: Path
    manifest: dict[str, Any]
    mesh: FaceMesh
    maps: AssetMaps

    @property
    def subject_id(self) -> str:
        return str(self.manifest["subject"]["id"])

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    @property
    def frame(self) -> str:
        return str(self.manifest["frame"])


def _is_pow2_size(s: int) -> bool:
    return SIZE_MIN <= s <= SIZE_MAX and (s & (s - 1)) == 0


def _check_maps(maps: AssetMaps) -> dict[str, np.ndarray]:
    """Shapes, sizes and finiteness of maps to be written; returns float32 (S, S, C) arrays."""
    out: dict[str, np.ndarray] = {}
    size = None
    for name, arr in maps.as_dict().items():
        a = np.asarray(arr, np.float32)
        if a.ndim == 2:
            a = a[..., None]
        c = MAP_CHANNELS[name]
        if a.ndim != 3 or a.shape[2] != c or a.shape[0] != a.shape[1]:
            raise ShapeError(f"AssetMaps.{name} must be (S, S{', 3' if c == 3 else ''}), got {np.shape(arr)}")
        if size is None:
            size = a.shape[0]
        elif a.shape[0] != size:
            raise ShapeError(f"AssetMaps.{name} is {a.shape[0]}x{a.shape[0]} but diffuse_albedo is {size}x{size}")
        if not np.all(np.isfinite(a)):
            raise ShapeError(f"AssetMaps.{name} contains NaN or Inf")
        out[name] = a
    if size is None or not _is_pow2_size(size):
        raise ShapeError(f"asset maps must be a power of two from {SIZE_MIN} to {SIZE_MAX}, got {size}")
    return out


def _preview(name: str, a: np.ndarray) -> np.ndarray:
    """8-bit-ready sRGB preview of one map (values in [0, 1])."""
    if name == "diffuse_albedo":
        return linear_to_srgb(a)
    if name.startswith("normal_"):
        return np.clip(a * 0.5 + 0.5, 0, 1)
    if name == "specular_albedo":
        hi = float(np.percentile(a, 99.5)) if a.size else 1.0
        return linear_to_srgb(a[..., 0] / max(hi, 1e-6))
    return np.clip(a[..., 0], 0, 1)


def write_asset(
    out_dir: str | Path,
    *,
    mesh: FaceMesh,
    maps: AssetMaps,
    subject_id: str,
    attributes: dict[str, Any] | None = None,
    template_name: str,
    template_sha256: str,
    frame: str,
    source: dict[str, Any],
    stats: dict[str, Any] | None = None,
    previews: bool = True,
) -> Path:
    """Write an asset folder atomically (a temporary folder beside it, renamed into place).

    Parameters
    ----------
    out_dir : the ASSET folder; replaced as a whole if it exists.
    mesh : FaceMesh with UVs, metres, in ``frame``.
    maps : AssetMaps; ``normal_tangent`` is derived from ``normal_object`` when None.
    subject_id : 1-64 characters of [A-Za-z0-9_-].
    attributes : JSON-able subject attributes (e.g. ``{"ita_deg": 41.2}``).
    template_name, template_sha256 : the template mesh the topology comes from.
    frame : ``"world"`` (a capture's session frame) or ``"template"``.
    source : ``{"kind": "capture" | "photo", ...sha256 fields}``.
    stats : JSON-able statistics (``coverage_seen``, ``fit_residual_mm``, ...).
    previews : also write 8-bit sRGB ``previews/<map>.png``.

    Returns
    -------
    The ASSET path. Raises ShapeError / ConfigError before anything is written.
    """
    if mesh.uvs is None:
        raise ShapeError("write_asset: mesh has no UVs")
    if not isinstance(subject_id, str) or not _SUBJECT_ID_RE.match(subject_id):
        raise ConfigError(f"write_asset: subject_id must be 1-64 characters of [A-Za-z0-9_-], got {subject_id!r}")
    if frame not in FRAMES:
        raise ConfigError(f"write_asset: frame must be one of {list(FRAMES)}, got {frame!r}")
    if not isinstance(source, dict) or source.get("kind") not in SOURCE_KINDS:
        raise ConfigError(f"write_asset: source.kind must be one of {list(SOURCE_KINDS)}, got {source!r}")
    arrays = _check_maps(maps)
    size = next(iter(arrays.values())).shape[0]
    if "normal_tangent" not in arrays:
        arrays["normal_tangent"] = object_to_tangent(arrays["normal_object"], mesh)
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "subject": {"id": subject_id, "attributes": dict(attributes or {})},
        "template": {"name": str(template_name), "sha256": str(template_sha256)},
        "frame": frame,
        "size": int(size),
        "maps": {},
        "source": dict(source),
        "tool": {"name": "id2reflectance", "version": __version__},
        "stats": dict(stats or {}),
    }
    try:
        json.dumps(manifest, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"write_asset: metadata is not JSON-serialisable: {err}") from err
    out_dir = Path(out_dir)
    with atomic_folder(out_dir) as tmp:

        def write_map(name: str) -> dict[str, str]:
            rel = f"uv/{name}.exr"
            write_exr(tmp / rel, arrays[name])
            if previews:
                write_png(tmp / "previews" / f"{name}.png", _preview(name, arrays[name]))
            return {"file": rel, "sha256": sha256_file(tmp / rel)}

        # The maps' files concurrently (the encoders and hashing release the GIL).
        with ThreadPoolExecutor(max_workers=min(len(MAP_NAMES), os.cpu_count() or 1)) as pool:
            written = pool.map(write_map, MAP_NAMES)
            write_obj(tmp / MESH_FILE, mesh)
            manifest["maps"].update(zip(MAP_NAMES, written, strict=True))
        atomic_write_json(tmp / MANIFEST, manifest)
    log.info("wrote asset %s (%dx%d maps)", out_dir, size, size)
    return out_dir


# ----------------------------------------------------------------------- reading


def _require(cond: bool, path: Path, field_: str | None, message: str) -> None:
    if not cond:
        raise InputFileError(path, field_, message)


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not root.is_dir():
        raise InputFileError(root, None, "asset folder not found")
    if not path.is_file():
        raise InputFileError(path, None, "not found (not an asset folder?)")
    data = read_json(path)  # size-limited; too deep a nesting is a bad file
    _require(isinstance(data, dict), path, None, "top level must be an object")
    got = json.dumps(data.get("format"))
    _require(data.get("format") == FORMAT_NAME, path, "format", f"must be '{FORMAT_NAME}', got {got}")
    ver = data.get("version")
    _require(ver == FORMAT_VERSION, path, "version", f"must be {FORMAT_VERSION}, got {json.dumps(ver)}")
    subject = data.get("subject")
    _require(isinstance(subject, dict), path, "subject", "is missing or not an object")
    sid = subject.get("id")
    _require(
        isinstance(sid, str) and bool(_SUBJECT_ID_RE.match(sid)),
        path,
        "subject.id",
        f"must be 1-64 characters of [A-Za-z0-9_-], got {json.dumps(sid)}",
    )
    _require(isinstance(subject.get("attributes", {}), dict), path, "subject.attributes", "must be an object")
    _require(
        data.get("frame") in FRAMES,
        path,
        "frame",
        f"must be one of {list(FRAMES)}, got {json.dumps(data.get('frame'))}",
    )
    size = data.get("size")
    _require(
        isinstance(size, int) and not isinstance(size, bool) and _is_pow2_size(size),
        path,
        "size",
        f"must be a power of two from {SIZE_MIN} to {SIZE_MAX}, got {json.dumps(size)}",
    )
    maps = data.get("maps")
    _require(isinstance(maps, dict), path, "maps", "is missing or not an object")
    for name in MAP_NAMES:
        entry = maps.get(name)
        _require(isinstance(entry, dict), path, f"maps.{name}", "is missing")
        rel = entry.get("file")
        _require(
            isinstance(rel, str) and bool(rel) and not Path(rel).is_absolute() and ".." not in Path(rel).parts,
            path,
            f"maps.{name}.file",
            f"must be a relative path inside the asset, got {json.dumps(rel)}",
        )
        sha = entry.get("sha256")
        _require(
            isinstance(sha, str) and bool(_SHA_RE.match(sha)),
            path,
            f"maps.{name}.sha256",
            f"must be 64 lowercase hex digits, got {json.dumps(sha)}",
        )
    return data


def read_asset_map(root: Path, manifest: dict[str, Any], name: str, *, verify: bool = True) -> np.ndarray:
    """Read and check one map of an asset folder.

    Returns (S, S, 3) or (S, S) float32 per :data:`MAP_CHANNELS`. Raises InputFileError
    naming the map file for a missing file, a SHA-256 mismatch, wrong channels or size,
    or NaN/Inf.
    """
    entry = manifest["maps"][name]
    path = root / entry["file"]
    if not path.is_file():
        raise InputFileError(path, None, f"map '{name}' listed in {MANIFEST} is missing")
    if verify:
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise InputFileError(
                path, None, f"SHA-256 mismatch with {MANIFEST} maps.{name}.sha256 (file changed or corrupt)"
            )
    size = manifest["size"]
    check_image_header(path, (size, size), what=f"{MANIFEST} size")  # before decoding
    pixels, names = read_exr(path)
    c = MAP_CHANNELS[name]
    want = ("Y",) if c == 1 else ("R", "G", "B")
    if names != want:
        raise InputFileError(path, "channels", f"must be {','.join(want)}, got {','.join(names)}")
    if pixels.shape[:2] != (size, size):
        raise InputFileError(path, None, f"is {pixels.shape[1]}x{pixels.shape[0]} but {MANIFEST} size is {size}x{size}")
    if not np.all(np.isfinite(pixels)):
        bad = int((~np.isfinite(pixels)).any(axis=2).sum())
        raise InputFileError(path, None, f"contains NaN or Inf in {bad} texel(s)")
    return pixels[..., 0] if c == 1 else pixels


def read_asset(path: str | Path, *, verify: bool = True) -> Asset:
    """Read and validate an asset folder.

    Parameters
    ----------
    path : the ASSET folder.
    verify : check every map's SHA-256 against asset.json.

    Returns
    -------
    Asset with the mesh (must have UVs) and every map as float32 arrays.

    Raises
    ------
    InputFileError
        Naming the file and field: missing or malformed asset.json, unknown format or
        version, missing map, SHA-256 mismatch, maps of different sizes or a size that is
        not a power of two in 256..8192, NaN/Inf, mesh missing or without UVs.
    """
    root = Path(path)
    manifest = _read_manifest(root)
    arrays = {name: read_asset_map(root, manifest, name, verify=verify) for name in MAP_NAMES}
    mesh_path = root / MESH_FILE
    mesh = read_obj(mesh_path)
    if mesh.uvs is None:
        raise InputFileError(mesh_path, "vt", "mesh has no UVs (every face corner needs a vt index)")
    return Asset(root=root, manifest=manifest, mesh=mesh, maps=AssetMaps(**arrays))


# ------------------------------------------------------------------ ground truth


def _next_size(s: int) -> int:
    return max(SIZE_MIN, 1 << max(0, math.ceil(math.log2(max(s, 1)))))


def _resample(a: np.ndarray, size: int) -> np.ndarray:
    if a.shape[0] == size and a.shape[1] == size:
        return a
    out = cv2.resize(a, (size, size), interpolation=cv2.INTER_LINEAR)
    return out.reshape(size, size, *a.shape[2:])


def asset_from_truth(
    session_dir: str | Path,
    out_dir: str | Path,
    *,
    template_name: str = "simulator",
    template_sha256: str | None = None,
    previews: bool = True,
) -> Path:
    """Package a simulated session's ground truth as an asset folder.

    Reads ``SESSION/truth/uv/{diffuse_albedo,specular_albedo,roughness,normal_object}.exr``
    (same size, float32) and ``SESSION/truth/mesh.obj`` (template topology with UVs), and
    ``SESSION/session.json`` for the subject. Maps smaller than 256 or not a power of two
    are resampled bilinearly to the next power of two >= 256 (normals renormalised).
    Coverage is 1 on texels inside a UV triangle, else 0; ``normal_tangent`` is derived.

    Returns the ASSET path.
    """
    session_dir = Path(session_dir)
    session = load_session(session_dir)
    truth = session_dir / "truth"
    mesh_path = truth / "mesh.obj"
    mesh = read_obj(mesh_path)
    if mesh.uvs is None:
        raise InputFileError(mesh_path, "vt", "mesh has no UVs")
    arrays: dict[str, np.ndarray] = {}
    size = 0
    for name in ("diffuse_albedo", "specular_albedo", "roughness", "normal_object"):
        p = truth / "uv" / f"{name}.exr"
        a, _ = read_exr(p)
        if a.shape[2] != MAP_CHANNELS[name]:
            raise InputFileError(p, "channels", f"expected {MAP_CHANNELS[name]} channel(s), got {a.shape[2]}")
        if a.shape[0] != a.shape[1] or (size and a.shape[0] != size):
            raise InputFileError(p, None, f"truth maps must be square and of one size, got {a.shape[1]}x{a.shape[0]}")
        if not np.all(np.isfinite(a)):
            raise InputFileError(p, None, "contains NaN or Inf")
        size = a.shape[0]
        arrays[name] = a
    target = size if _is_pow2_size(size) else _next_size(size)
    for name, a in arrays.items():
        r = _resample(a, target)
        arrays[name] = r[..., 0] if MAP_CHANNELS[name] == 1 and r.ndim == 3 else r
    n = arrays["normal_object"]
    arrays["normal_object"] = (n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)).astype(np.float32)
    fid, _ = rasterize_uv(mesh, target)
    maps = AssetMaps(coverage=(fid >= 0).astype(np.float32), **arrays)
    return write_asset(
        out_dir,
        mesh=mesh,
        maps=maps,
        subject_id=session.subject_id,
        attributes=session.attributes,
        template_name=template_name,
        template_sha256=template_sha256 or sha256_file(mesh_path),
        frame="world",
        source={"kind": "capture", "session_sha256": sha256_file(session_dir / "session.json"), "truth": True},
        stats={"coverage_seen": float((fid >= 0).mean())},
        previews=previews,
    )
