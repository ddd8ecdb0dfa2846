"""The shared UV space: the template every head is fitted to, from one of two sources.

- ``procedural``: the shipped ``data/template_head.obj`` (``id2r-procedural-head-v1``,
  :mod:`~id2reflectance.capture.geometry.template_mesh`), the default;
- ``face_model``: the ICT face model's own skin topology and UV layout (face, head and
  neck of the neutral identity, :func:`~id2reflectance.capture.geometry.face_model_heads.face_model_skin_mesh`),
  built at run time from the face-model data (never shipped), written once into the
  user's cache folder and identified by its name and the SHA-256 of that OBJ.

The face model's skin UVs are two UDIM tiles: 1001 (u 0..1) holds the face, ears and the
front of the neck, 1002 (u 1..2) the scalp and the back of the neck. They are packed into
[0, 1] with a fixed, uniform scale per tile (``FACE_TILE``, ``HEAD_TILE``): the face tile
fills the top-left 0.75 x 0.75 of the texture, the head tile the top-right 0.25 x 0.25, so
the face keeps 56 % of the texture (about 0.39 m of face per unit of UV, the procedural
template's face: 0.29 m); the bottom quarter stays empty. Vertices on a UV seam are
already split by the loader (one vertex per UV), so the seams between the tiles and
inside them are the face model's own.

``auto`` takes the face model when it is found (``--face-model PATH``,
``$ID2R_FACE_MODEL`` or ``../shared/face-models/ict-facekit-light``), else the procedural
template.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.cachedir import default_cache_dir
from id2reflectance.capture.geometry.face_model import MESH_FILE, FaceModel, default_face_model_dir, load_face_model
from id2reflectance.capture.geometry.face_model_heads import SKIN_NECK_CUT_Y, TEMPLATE_TO_DLIB, face_model_skin_mesh
from id2reflectance.capture.geometry.mesh import FaceMesh, read_obj, write_obj
from id2reflectance.capture.geometry.regions import (
    UVRaster,
    mesh_uv_raster,
    region_masks,
    regions_by_landmarks,
    uv_raster,
)
from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME, shipped_template_path
from id2reflectance.errors import ConfigError, InputFileError, ShapeError

log = logging.getLogger(__name__)

TemplateKind = Literal["auto", "face_model", "procedural"]
TEMPLATE_KINDS = ("auto", "face_model", "procedural")
FACE_TEMPLATE_NAME = "id2r-ict-face-skin-v2"
RETIRED_TEMPLATE_NAMES = ("id2r-ict-face-skin-v1",)  # until 2026-12-06: the neck down to the shoulders
FACE_TILE = (0.75, (0.0, 0.25))  # tile 1001 (face): scale, (u, v) offset in the packed texture
HEAD_TILE = (0.25, (0.75, 0.75))  # tile 1002 (scalp, back of the neck)
REGION_WARP_M = 0.03  # metres: width of the landmark warp that places the named regions


@dataclass(frozen=True, eq=False)
class Template:
    """One template: the shared topology and UV layout of every head fitted to it.

    name : recorded in ``asset.json`` (``template.name``).
    sha256 : of the OBJ at ``path`` (``template.sha256``).
    path : the template OBJ (shipped, or in the cache folder).
    mesh : its neutral head, metres, y up, face toward +z, subject's left +x; UVs in
        [0, 1] (OBJ convention); landmarks by name (the face model's also ``dlib_00`` ..
        ``dlib_67``, the 68 landmarks in dlib's order, where they lie on the skin).
    kind : ``"procedural"`` or ``"face_model"``.
    """

    name: str
    sha256: str
    path: Path
    mesh: FaceMesh
    kind: Literal["procedural", "face_model"]


def pack_skin_uvs(uvs: np.ndarray) -> np.ndarray:
    """The face model's skin UVs (V, 2), tiles 1001 and 1002 (u in [0, 2), v in [0, 1]),
    packed into [0, 1]^2 by ``FACE_TILE`` and ``HEAD_TILE`` (uniform scale per tile)."""
    uvs = np.asarray(uvs, np.float64)
    if uvs.ndim != 2 or uvs.shape[1] != 2:
        raise ShapeError(f"pack_skin_uvs: expected (V, 2) UVs, got {uvs.shape}")
    if uvs.min() < 0.0 or uvs[:, 0].max() >= 2.0 or uvs[:, 1].max() > 1.0:
        raise ShapeError("pack_skin_uvs: skin UVs must lie in tiles 1001 and 1002 (u in [0, 2), v in [0, 1])")
    tile = np.floor(uvs[:, 0]).astype(np.int64)
    out = np.empty_like(uvs)
    for k, (scale, offset) in enumerate((FACE_TILE, HEAD_TILE)):
        sel = tile == k
        out[sel] = np.asarray(offset) + scale * (uvs[sel] - np.array([k, 0.0]))
    return out


def face_model_template_mesh(
    model: FaceModel, identity: np.ndarray | None = None, expression: dict[str, float] | None = None
) -> FaceMesh:
    """A face-model head in the face-model template's topology and packed UVs (metres,
    template frame); the neutral (no arguments) is the template itself."""
    skin = face_model_skin_mesh(model, identity, expression)
    return FaceMesh(skin.vertices, skin.faces, pack_skin_uvs(skin.uvs), dict(skin.landmarks))


def _data_key(model: FaceModel) -> str:
    """Identifies what the template is built from: the neutral mesh file and this recipe
    (name, packing, the neck's cut)."""
    h = hashlib.sha256()
    h.update(f"{FACE_TEMPLATE_NAME} {FACE_TILE} {HEAD_TILE} {SKIN_NECK_CUT_Y}\n".encode())
    h.update(Path(model.path, MESH_FILE).read_bytes())
    return h.hexdigest()[:16]


def face_model_template(model: FaceModel, *, cache_dir: str | Path | None = None) -> Template:
    """The face-model template, built from ``model`` and cached as
    ``CACHE/templates/id2r-ict-face-skin-v2/<key>/template.obj`` (``CACHE`` the package's
    cache folder, ``<key>`` a hash of the neutral mesh file and the packing); a second call
    reads the cached OBJ. Writing is atomic."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "templates" / FACE_TEMPLATE_NAME / _data_key(model) / "template.obj"
    if not path.is_file():
        mesh = face_model_template_mesh(model)
        write_obj(path, mesh)
        log.info("face-model template: %d vertices, %d triangles -> %s", len(mesh.vertices), len(mesh.faces), path)
    return _read_template(str(path), FACE_TEMPLATE_NAME, "face_model")


@lru_cache(maxsize=4)
def _read_template(path: str, name: str, kind: Literal["procedural", "face_model"]) -> Template:
    p = Path(path)
    mesh = read_obj(p)
    if mesh.uvs is None:
        raise InputFileError(p, "vt", "the face template has no UVs")
    return Template(name, sha256_file(p), p, mesh, kind)


def procedural_template() -> Template:
    """The shipped procedural template (``id2r-procedural-head-v1``)."""
    return _read_template(str(shipped_template_path()), TEMPLATE_NAME, "procedural")


def resolve_template(kind: str = "procedural", face_model: str | Path | None = None) -> Template:
    """The template to use.

    Parameters
    ----------
    kind : ``"procedural"``; ``"face_model"`` (the face model must be found: else
        ConfigError naming what is missing); ``"auto"`` (the face model when found, else
        the procedural template).
    face_model : the face model's folder (None: ``$ID2R_FACE_MODEL`` or
        ``../shared/face-models/ict-facekit-light``).
    """
    if kind not in TEMPLATE_KINDS:
        raise ConfigError(f"template must be one of {', '.join(TEMPLATE_KINDS)}, got {kind!r}")
    if kind == "procedural":
        return procedural_template()
    if kind == "auto" and face_model is None and default_face_model_dir() is None:
        return procedural_template()
    try:
        model = load_face_model(face_model)
    except InputFileError as err:
        if kind == "auto":
            raise
        raise ConfigError(
            f"template 'face_model': the face model does not load ({err}); "
            "use --template procedural or install it (docs/face-model.md)"
        ) from err
    return face_model_template(model)


@lru_cache(maxsize=4)
def _raster(path: str, size: int) -> UVRaster:
    return mesh_uv_raster(_read_template(path, FACE_TEMPLATE_NAME, "face_model").mesh, size)


def template_raster(template: Template, size: int) -> UVRaster:
    """The template's UV chart rasterised at ``size`` (cached; the procedural template's is
    :func:`~id2reflectance.capture.geometry.regions.uv_raster`)."""
    if template.kind == "procedural":
        return uv_raster(size)
    return _raster(str(template.path), size)


def template_regions(template: Template, size: int) -> dict[str, np.ndarray]:
    """Named facial regions (``REGION_NAMES``) in the template's UV layout, (S, S) float32.

    The procedural template's are :func:`~id2reflectance.capture.geometry.regions.region_masks`;
    on the face-model template the region shapes are placed by its landmarks (eye
    corners, nasion, nose tip, mouth corners, chin; a Gaussian warp onto the procedural
    template's), as for face-model heads in the procedural layout.
    """
    if template.kind == "procedural":
        return region_masks(size)
    mesh = template.mesh
    marks = {k: mesh.vertices[mesh.landmarks[k]] for k in TEMPLATE_TO_DLIB}
    return regions_by_landmarks(template_raster(template, size).position, marks, width_m=REGION_WARP_M)


def layout_regions(mesh: FaceMesh, size: int) -> dict[str, np.ndarray] | None:
    """The named regions of the template whose topology and UVs ``mesh`` has (an asset's
    mesh), at ``size`` texels; None when it is neither the procedural template's nor the
    face-model template's (the face model found as by :func:`resolve_template` ``"auto"``)."""
    if mesh.uvs is None:
        return None
    candidates = [procedural_template()]
    if default_face_model_dir() is not None:
        candidates.append(resolve_template("face_model"))
    for t in candidates:
        ref = t.mesh.uvs
        if mesh.uvs.shape == ref.shape and np.allclose(mesh.uvs, ref, atol=1e-4):
            return template_regions(t, size)
    return None


def template_record(template: Template) -> dict[str, str]:
    """How a layout is recorded (asset.json's ``template``, dataset.json's ``template``,
    a checkpoint's ``meta.template``): ``{"name", "sha256"}``."""
    return {"name": template.name, "sha256": template.sha256}


def template_from_record(record: dict | None, where: str | Path, field: str = "template") -> Template:
    """The template a layout record names (None: the procedural template, as recorded
    before layouts were): the procedural template, or the face-model template built from
    the face model found as by :func:`resolve_template`.

    Raises InputFileError naming ``where`` and ``field`` for an unknown name, a face model
    that is not found, or a checksum that differs from the template built here.
    """
    name = TEMPLATE_NAME if record is None else record.get("name")
    if name == TEMPLATE_NAME:
        t = procedural_template()
    elif name == FACE_TEMPLATE_NAME:
        try:
            t = resolve_template("face_model")
        except (ConfigError, InputFileError) as err:
            raise InputFileError(where, field, f"layout {name} needs the face model ({err})") from err
    elif name in RETIRED_TEMPLATE_NAMES:
        raise InputFileError(
            where, field, f"template {name} is retired (now {FACE_TEMPLATE_NAME}): rebuild with this version"
        )
    else:
        raise InputFileError(where, field, f"unknown template {name!r} (known: {TEMPLATE_NAME}, {FACE_TEMPLATE_NAME})")
    sha = None if record is None else record.get("sha256")
    if sha and sha != t.sha256:
        raise InputFileError(
            where, field, f"template {name} has SHA-256 {str(sha)[:12]}..., the one built here {t.sha256[:12]}..."
        )
    return t
