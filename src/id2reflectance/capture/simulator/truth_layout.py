"""The simulator's subjects rendered, and their truth written, in the face-model template.

With the face-model template (``SimulatorConfig.template``) a face-model subject is
**rendered in that template's topology and UV layout** (:func:`layout_geometry`): the
rendered head is the subject's skin in the template's topology (exactly
``truth/mesh.obj``) plus the face model's eyeballs, mouth socket and teeth, whose own
UVs are packed into the strip the template leaves empty (``v < 0.25``, ``EXTRA_SLOTS``).
The skin maps are painted for that layout's texels directly
(:func:`~id2reflectance.capture.simulator.skin.subject_maps` with a raster): every
pattern (noise, named regions, the appearance's hair) is a function of the texel's point
on the neutral head after the landmark warp that places the named regions, so nothing is
resampled; the detail normals and the subsurface blur do not wrap around u. ``truth/uv``
holds the painted maps, ``truth/uv/valid.exr`` the template's chart (the skin; the
extra parts' texels have no template vertex), ``truth/uv/eye.exr`` the eyeballs' texels
(in the strip) and ``truth/uv/hair.exr`` the hair coverage.

:func:`truth_in_template` keeps the older route for a session rendered in the procedural
layout: its truth resampled into the face-model layout (closest points,
:mod:`~id2reflectance.capture.geometry.layout_transfer`), with ``valid`` marking the
texels that have a counterpart within 0.5 mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from id2reflectance.capture.geometry.face_model import PART_RANGES, FaceModel
from id2reflectance.capture.geometry.face_model_heads import (
    EYEBALLS,
    REGION_WARP_M,
    TEMPLATE_TO_DLIB,
    Eyes,
    face_model_eyes,
    template_offset,
)
from id2reflectance.capture.geometry.layout_transfer import layout_correspondence, transfer_map
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, raycasting_scene
from id2reflectance.capture.geometry.regions import UVRaster, landmark_warp, mesh_uv_raster, regions_at
from id2reflectance.capture.geometry.templates import Template, face_model_template_mesh
from id2reflectance.capture.simulator.face_model_subjects import FaceModelHead
from id2reflectance.capture.simulator.skin import SubjectMaps
from id2reflectance.errors import ConfigError

# The parts rendered besides the skin (those the procedural heads cut: eyes, mouth socket,
# teeth), each its own UVs scaled into one slot of the strip v < 0.25 that the face-model
# template leaves empty: (part, (u0, v0) of the slot); every slot is SLOT x SLOT.
EXTRA_SLOTS = (
    ("eyeball_a", (0.005, 0.005)),
    ("eyeball_b", (0.255, 0.005)),
    ("mouth_socket", (0.505, 0.005)),
    ("teeth", (0.755, 0.005)),
)
SLOT = 0.24
SKIN_ONLY_REGIONS = ("face", "neck")  # regions (freckles, moles, the face's ITA) kept to the skin's texels

TRUTH_NAMES = ("diffuse_albedo", "specular_albedo", "roughness", "normal_object")


@dataclass(frozen=True, eq=False)
class LayoutTruth:
    """The truth of one subject in a template's layout.

    mesh : the subject's head in the template's topology (metres, template frame).
    maps : {diffuse_albedo (S, S, 3), specular_albedo (S, S), roughness (S, S),
        normal_object (S, S, 3) unit, valid (S, S) 0/1, and where known hair (S, S) and
        eye (S, S) in [0, 1]} float32, linear Rec.709 albedo.
    """

    mesh: FaceMesh
    maps: dict[str, np.ndarray]


def truth_in_template(
    template: Template,
    model: FaceModel | None,
    head: FaceModelHead | None,
    mesh: FaceMesh,
    maps: SubjectMaps | dict[str, np.ndarray],
) -> LayoutTruth:
    """The truth of a subject rendered as ``mesh`` with ``maps`` (procedural topology and
    layout; :class:`SubjectMaps` or the four ``truth/uv`` maps by name) expressed in
    ``template`` (the face-model template; the subject must be a face-model head ``head``
    of ``model``), at the maps' size."""
    if template.kind != "face_model":
        raise ConfigError(f"truth_in_template: expected the face-model template, got {template.name}")
    if model is None or head is None:
        raise ConfigError("the face-model template needs face-model heads (head_model 'auto' or 'face_model')")
    src = {k: getattr(maps, k) for k in TRUTH_NAMES} if isinstance(maps, SubjectMaps) else maps
    target = face_model_template_mesh(model, np.asarray(head.identity), dict(head.expression))
    corr = layout_correspondence(mesh, target, int(src["diffuse_albedo"].shape[0]))
    out = {k: transfer_map(src[k], corr, unit_vectors=k == "normal_object") for k in TRUTH_NAMES}
    if isinstance(maps, SubjectMaps) and maps.hair is not None:
        out["hair"] = transfer_map(maps.hair, corr)  # the appearance's hair coverage (truth/uv/hair.exr)
    out["valid"] = corr.valid.astype(np.float32)
    return LayoutTruth(target, out)


def face_model_head_of(params: dict) -> FaceModelHead | None:
    """The face-model head recorded in ``truth/uv/params.json`` (``head``), or None for a
    procedural head."""
    head = params.get("head", {})
    if not isinstance(head, dict) or "identity" not in head:
        return None
    return FaceModelHead(tuple(float(x) for x in head["identity"]), tuple(head.get("expression", {}).items()))


@dataclass(frozen=True, eq=False)
class LayoutGeometry:
    """A face-model head ready to be painted and rendered in the face-model template's layout.

    mesh : the rendered head (metres, template frame): the skin in the template's
        topology first (``skin`` vertices), then the extra parts of ``EXTRA_SLOTS``; UVs
        in [0, 1].
    skin : the head's skin alone, in the template's topology (``truth/mesh.obj``).
    eyes : its eyeballs (``weight`` per vertex of ``mesh``).
    raster : the UV chart of ``mesh`` at the texture size (texel triangles of the neutral).
    regions : {name: (S, S) float32} the named regions at ``points`` (``face`` and
        ``neck`` only on the skin's texels).
    points : (S, S, 3) float64 metres, each texel's point on the neutral head after the
        landmark warp (where every pattern is painted).
    valid : (S, S) bool, the texels of the template's chart (the skin).
    """

    mesh: FaceMesh
    skin: FaceMesh
    eyes: Eyes
    raster: UVRaster
    regions: dict[str, np.ndarray]
    points: np.ndarray
    valid: np.ndarray


def _outer_shell(model: FaceModel, tris: np.ndarray) -> np.ndarray:
    """(T,) bool: the triangles (model vertices, (T, 3)) of the connected shell that reaches
    farthest toward +z -- an eyeball's outer surface (sclera and cornea), not the iris
    layer inside it, which shares its UVs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids, flat = np.unique(tris, return_inverse=True)
    flat = flat.reshape(tris.shape)
    rows = np.concatenate([flat[:, 0], flat[:, 1], flat[:, 2]])
    cols = np.concatenate([flat[:, 1], flat[:, 2], flat[:, 0]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(ids)))
    _, label = connected_components(graph, directed=False)
    z = model.neutral[ids, 2]
    best = max(np.unique(label), key=lambda k: float(z[label == k].max()))
    return label[flat[:, 0]] == best


@lru_cache(maxsize=2)
def _extra_parts(model: FaceModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The extra parts of ``model.uv_mesh``: (E,) uv-mesh vertex indices, (T, 3) triangles
    indexing them, (E, 2) packed UVs, (E,) float64 1 on the eyeballs."""
    um = model.uv_mesh
    keep, tris, uvs, eye = [], [], [], []
    count = 0
    for name, (u0, v0) in EXTRA_SLOTS:
        a, b = PART_RANGES[name]
        sel = (model.uv_source >= a) & (model.uv_source < b)
        faces = um.faces[np.all(sel[um.faces], axis=1)]
        if name in EYEBALLS:
            faces = faces[_outer_shell(model, model.uv_source[faces])]
        used = np.unique(faces)
        index = np.full(len(sel), -1, np.int64)
        index[used] = count + np.arange(len(used))
        uv = um.uvs[used]
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        uvs.append(np.array([u0, v0]) + SLOT * (uv - lo) / max(float(np.max(hi - lo)), 1e-12))
        keep.append(used)
        tris.append(index[faces])
        eye.append(np.full(len(used), 1.0 if name in EYEBALLS else 0.0))
        count += len(used)
    return np.concatenate(keep), np.concatenate(tris), np.concatenate(uvs), np.concatenate(eye)


def _layout_mesh(
    model: FaceModel, skin: FaceMesh, identity: np.ndarray | None, expression: dict[str, float] | None
) -> FaceMesh:
    """The rendered head: ``skin`` (the head in the template's topology) and the extra parts."""
    keep, tris, uvs, _ = _extra_parts(model)
    verts = model.vertices(identity, expression)[model.uv_source[keep]] + template_offset(model)
    n = len(skin.vertices)
    return FaceMesh(
        np.concatenate([skin.vertices, verts]),
        np.concatenate([skin.faces, tris + n]),
        np.concatenate([skin.uvs, uvs]),
        dict(skin.landmarks),
    )


@lru_cache(maxsize=2)
def _neutral_layout(model: FaceModel, size: int) -> tuple[UVRaster, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    skin = face_model_template_mesh(model)
    raster = mesh_uv_raster(_layout_mesh(model, skin, None, None), size)
    offset = template_offset(model)
    marks = {k: model.neutral[model.landmarks68[i]] + offset for k, i in TEMPLATE_TO_DLIB.items()}
    points = landmark_warp(raster.position, marks, width_m=REGION_WARP_M)
    valid = mesh_uv_raster(skin, size).covered
    regions = regions_at(points)
    for name in SKIN_ONLY_REGIONS:
        regions[name] = regions[name] * valid
    for a in (points, valid, *regions.values()):
        a.flags.writeable = False
    return raster, points, regions, valid


def layout_geometry(model: FaceModel, head: FaceModelHead, *, size: int) -> LayoutGeometry:
    """The face-model head ``head`` for painting and rendering in the face-model template's
    layout at ``size`` x ``size`` texels (the neutral's raster, points and regions cached)."""
    w, expr = np.asarray(head.identity), dict(head.expression)
    skin = face_model_template_mesh(model, w, expr)
    mesh = _layout_mesh(model, skin, w, expr)
    raster, points, regions, valid = _neutral_layout(model, size)
    eye = np.zeros(len(mesh.vertices))
    eye[len(skin.vertices) :] = _extra_parts(model)[3]
    ref = face_model_eyes(model, w, expr)
    eyes = Eyes(eye, ref.centres, ref.axes)
    return LayoutGeometry(mesh, skin, eyes, raster, {k: v.copy() for k, v in regions.items()}, points, valid)


def scanned_surface(geo: LayoutGeometry) -> FaceMesh:
    """What a scanner sees of the head rendered in the layout (``mesh/scan.obj`` is made
    from it): the skin and the eyeballs where they show between the lids (a vertex whose
    outward normal leaves the head unblocked); the mouth socket, the teeth and the rest of
    the eyeballs, inside the head, are left out. Metres, template frame, no UVs."""
    n = len(geo.skin.vertices)
    inner = np.zeros(len(geo.mesh.vertices), bool)
    inner[n:] = True
    eye = n + np.flatnonzero(geo.eyes.weight[n:] > 0.0)
    normals = geo.mesh.vertex_normals()[eye]
    _, hit, _ = cast_rays(raycasting_scene(geo.mesh), geo.mesh.vertices[eye] + 1e-4 * normals, normals)
    inner[eye[hit < 0]] = False
    faces = geo.mesh.faces[~inner[geo.mesh.faces].all(axis=1)]
    used, faces = np.unique(faces, return_inverse=True)
    return FaceMesh(geo.mesh.vertices[used], faces.reshape(-1, 3))


def layout_truth(geo: LayoutGeometry, maps: SubjectMaps) -> LayoutTruth:
    """The truth written for a subject rendered in the layout: the skin mesh and the
    painted maps as they are, with ``valid`` (the template's chart), ``eye`` and ``hair``."""
    out = {
        "diffuse_albedo": maps.diffuse_albedo,
        "specular_albedo": maps.specular_albedo,
        "roughness": maps.roughness,
        "normal_object": maps.normal_object,
        "valid": geo.valid.astype(np.float32),
    }
    if maps.eye is not None:
        out["eye"] = maps.eye
    if maps.hair is not None:
        out["hair"] = maps.hair
    return LayoutTruth(geo.skin, out)
