"""Heads of the face model in the template's topology (vertex order, triangles, UVs, landmarks).

Each template vertex lies on a fixed ray from the origin
(:func:`~id2reflectance.capture.geometry.template_mesh.template_rays`). The face model's
neutral head, moved into the template's frame, is cut by those rays once: each template
vertex takes the outermost crossing, stored as a face-model triangle and barycentric
weights. That embedding is then applied to every face-model head (any identity or
expression), so a template vertex, and a UV texel, marks the same anatomical place on
every subject, and everything downstream of the simulator (registration, bake, dataset,
the template's UV regions) works on face-model subjects unchanged.

The ray-cast surface is the skin (face, head and neck), the eyeballs and, behind the lips,
the mouth socket and teeth (so rays through a parted mouth stop in the mouth). Rays that
meet no front-facing surface (below the face model's neck) continue the neck downward as
a vertical cylinder from the lowest crossing of their column, and below the jaw the head
blends into the template's own neck stub (the face model's neck, cut by rays from the
head's centre, folds under the chin).

Frame: metres, y up, the face toward +z, the subject's left +x; the face model is
translated so that its landmarks (eye corners, nasion, nose tip, mouth corners, chin) have
the template's mean position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from id2reflectance.capture.geometry.face_model import PART_RANGES, SKIN_END, FaceModel
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, raycasting_scene
from id2reflectance.capture.geometry.regions import landmark_warp, regions_at, uv_raster
from id2reflectance.capture.geometry.template_mesh import template_mesh, template_rays
from id2reflectance.errors import ConfigError

# template landmark name -> index into the face model's 68 (dlib order)
TEMPLATE_TO_DLIB = {
    "eye_outer_right": 36,
    "eye_inner_right": 39,
    "eye_inner_left": 42,
    "eye_outer_left": 45,
    "nasion": 27,
    "nose_tip": 30,
    "mouth_right": 48,
    "mouth_left": 54,
    "chin": 8,
}
CAST_PARTS = ("face", "head_neck", "mouth_socket", "teeth", "eyeball_a", "eyeball_b")
EYEBALLS = ("eyeball_a", "eyeball_b")
REGION_WARP_M = 0.03  # metres: width of the landmark warp that places the template's regions
RAY_START = 0.45  # metres from the origin where the inward rays start
NECK_BLEND_Y = (-0.105, -0.14)  # metres (template heights): face model above, template neck below
NECK_CUT_Y = -0.165  # metres: below this the face model's neck (flaring to the shoulders) is replaced
SKIN_NECK_CUT_Y = NECK_BLEND_Y[
    1
]  # metres: the face-model template's skin ends where the procedural heads leave the face model


@dataclass(frozen=True, eq=False)
class TemplateEmbedding:
    """Where each template vertex sits on the face model.

    triangle : (V, 3) int64 face-model vertices of the triangle each template vertex lies
        on (any valid triangle where ``hit`` is False).
    bary : (V, 3) float64 barycentric weights on it.
    hit : (V,) bool, the template ray met the face model (else the neck is extended).
    offset : (3,) float64 metres, added to face-model vertices to reach the template's frame.
    eye : (V,) float64 1 on an eyeball, 0 elsewhere.
    neck : (V,) float64 weight of the template's neck stub (1 below the jaw).
    """

    triangle: np.ndarray
    bary: np.ndarray
    hit: np.ndarray
    offset: np.ndarray
    eye: np.ndarray
    neck: np.ndarray


@dataclass(frozen=True, eq=False)
class Eyes:
    """The eyeballs of one head, for shading them as eyes rather than skin.

    weight : (V,) float64 per template vertex, 1 on an eyeball, 0 on skin.
    centres : (2, 3) float64 metres, the eyeballs' centres (subject's left first).
    axes : (2, 3) float64 unit gaze directions (centre toward the cornea's apex).
    """

    weight: np.ndarray
    centres: np.ndarray
    axes: np.ndarray


@lru_cache(maxsize=4)
def template_offset(model: FaceModel) -> np.ndarray:
    """(3,) float64 metres, read-only, translating the face model's neutral so its landmarks'
    mean matches the template's (cached: the template's head takes seconds to build)."""
    tmpl = template_mesh()
    names = list(TEMPLATE_TO_DLIB)
    t = tmpl.vertices[[tmpl.landmarks[k] for k in names]]
    f = model.neutral[model.landmarks68[[TEMPLATE_TO_DLIB[k] for k in names]]]
    out = t.mean(axis=0) - f.mean(axis=0)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=2)
def _embedding(model: FaceModel) -> TemplateEmbedding:
    dirs, _ = template_rays()
    offset = template_offset(model)
    verts = model.neutral + offset
    tris = model.part_triangles(CAST_PARTS)
    tris = tris[verts[tris, 1].max(axis=1) > NECK_CUT_Y]  # the neck's flare to the shoulders is left out
    scene = raycasting_scene(FaceMesh(verts, tris))
    t, fid, bary = cast_rays(scene, RAY_START * dirs, -dirs)
    hit = fid >= 0
    tri = tris[np.where(hit, fid, 0)]
    n = np.cross(verts[tri[:, 1]] - verts[tri[:, 0]], verts[tri[:, 2]] - verts[tri[:, 0]])
    hit &= np.sum(n * dirs, axis=1) > 0  # an outward-facing surface (not the inside of an opening)
    hit &= (RAY_START - np.where(np.isfinite(t), t, 0.0)) * dirs[:, 1] > NECK_CUT_Y
    tri[~hit] = tris[0]
    b = np.where(hit[:, None], bary.astype(np.float64), 1.0 / 3.0)
    eye = np.zeros(len(dirs))
    for name in EYEBALLS:
        a, e = PART_RANGES[name]
        eye[hit & np.all((tri >= a) & (tri < e), axis=1)] = 1.0
    on_model = np.einsum("vk,vkc->vc", b, verts[tri])
    _extend_neck(on_model, hit)
    low = np.minimum(template_mesh().vertices[:, 1], on_model[:, 1])
    neck = _smoothstep(NECK_BLEND_Y[0], NECK_BLEND_Y[1], low)
    return TemplateEmbedding(tri, b, hit, offset, eye, neck)


def template_embedding(model: FaceModel) -> TemplateEmbedding:
    """The embedding of the template's vertices in ``model`` (computed once per model)."""
    return _embedding(model)


def face_model_head(
    model: FaceModel,
    identity: np.ndarray | None = None,
    expression: dict[str, float] | None = None,
) -> FaceMesh:
    """One face-model head in template topology.

    Parameters
    ----------
    model : the loaded face model.
    identity : (k,) identity weights, N(0, 1) each (None: the neutral).
    expression : {name: weight in [0, 1]} (None: neutral expression).

    Returns
    -------
    FaceMesh with the template's faces, UVs and landmarks; vertices (V, 3) float64 metres
    in the template's frame (y up, face toward +z).
    """
    emb = _embedding(model)
    verts = model.vertices(identity, expression) + emb.offset
    out = np.einsum("vk,vkc->vc", emb.bary, verts[emb.triangle])
    _extend_neck(out, emb.hit)
    tmpl = template_mesh()
    # below the jaw the face model's neck gives way to the template's neck stub
    w = emb.neck[:, None]
    out = (1.0 - w) * out + w * tmpl.vertices
    return FaceMesh(out, tmpl.faces, tmpl.uvs, dict(tmpl.landmarks))


@dataclass(frozen=True, eq=False)
class HeadBasis:
    """The face model's identity space in template topology (a linear morphable head).

    mean : (V, 3) float64 metres, ``face_model_head(model)`` (template frame).
    modes : (V, 3, K) float64 metres per unit weight, column k =
        ``face_model_head(model, e_k) - mean`` (exact: the neck extension below the face
        model is evaluated per mode, the only non-linear part of :func:`face_model_head`).
    skin : (V,) bool, vertices on the face model's skin (ray hit, not an eyeball, not in
        the blend into the template's neck, whose vertices lie off a scan of the real
        head: under the jaw they pulled the weights by 0.1 mm on the sides of the face,
        issue 22): where a scan constrains the weights.
    """

    mean: np.ndarray
    modes: np.ndarray
    skin: np.ndarray


@lru_cache(maxsize=2)
def _basis(model: FaceModel, count: int) -> HeadBasis:
    emb = _embedding(model)
    tmpl = template_mesh().vertices
    w = emb.neck[:, None]

    def head(model_vertices: np.ndarray) -> np.ndarray:
        out = np.einsum("vk,vkc->vc", emb.bary, model_vertices[emb.triangle])
        _extend_neck(out, emb.hit)
        return (1.0 - w) * out + w * tmpl

    base = model.neutral + emb.offset
    mean = head(base)
    modes = np.empty((len(mean), 3, count))
    for k in range(count):
        modes[:, :, k] = head(base + model.identity[k]) - mean
    skin = emb.hit & (emb.eye == 0.0) & (emb.neck == 0.0)
    for a in (mean, modes, skin):
        a.flags.writeable = False  # shared by every caller (cached)
    return HeadBasis(mean, modes, skin)


def face_model_head_basis(model: FaceModel, count: int | None = None) -> HeadBasis:
    """The first ``count`` identity modes (all when None) of ``model`` in template
    topology (computed once per model and count, about 2 s for 100 modes; the arrays
    are shared and read-only).

    ``mean + modes @ w`` equals ``face_model_head(model, w).vertices`` except below the
    face model's neck, where the extension is not linear (within a millimetre at |w| ~ 1).
    """
    k = model.identity_modes if count is None else int(count)
    if not 1 <= k <= model.identity_modes:
        raise ConfigError(f"face model: basis needs 1 to {model.identity_modes} identity modes, got {k}")
    return _basis(model, k)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def face_model_eyes(
    model: FaceModel,
    identity: np.ndarray | None = None,
    expression: dict[str, float] | None = None,
) -> Eyes:
    """The eyeballs of the head of :func:`face_model_head` with the same arguments."""
    emb = _embedding(model)
    verts = model.vertices(identity, expression) + emb.offset
    centres, axes = [], []
    for name in EYEBALLS:
        a, e = PART_RANGES[name]
        ball = verts[a:e]
        centre = ball.mean(axis=0)
        front = ball[np.argmax((ball - centre) @ np.array([0.0, 0.0, 1.0]))]  # the cornea's apex
        centres.append(centre)
        axes.append((front - centre) / np.linalg.norm(front - centre))
    order = np.argsort([-c[0] for c in centres])  # subject's left (+x) first
    return Eyes(emb.eye.copy(), np.asarray(centres)[order], np.asarray(axes)[order])


def _extend_neck(vertices: np.ndarray, hit: np.ndarray) -> None:
    """Fill the vertices of rays that missed (in place): per column, below its lowest
    crossing, a vertical cylinder through that crossing; anything else missed takes the
    nearest crossing ring above it."""
    dirs, ring = template_rays()
    for j in range(ring.shape[1]):
        col = ring[:, j]
        ok = hit[col]
        if ok.all():
            continue
        if not ok.any():
            continue
        last = np.flatnonzero(ok)
        for i in np.flatnonzero(~ok):
            above = last[last < i]
            src = col[above[-1]] if above.size else col[last[0]]
            rho = np.hypot(vertices[src, 0], vertices[src, 2])
            d = dirs[col[i]]
            horiz = max(np.hypot(d[0], d[2]), 1e-6)
            vertices[col[i]] = d * (rho / horiz)


@lru_cache(maxsize=4)
def _region_points(model: FaceModel, size: int) -> np.ndarray:
    raster = uv_raster(size)
    head = face_model_head(model)
    pos = raster.interpolate(head.vertices, head.faces)
    # warp so the neutral's landmarks land on the template's: the region shapes are drawn there
    offset = template_offset(model)
    marks = {k: model.neutral[model.landmarks68[i]] + offset for k, i in TEMPLATE_TO_DLIB.items()}
    warped = landmark_warp(pos, marks, width_m=REGION_WARP_M)
    warped.flags.writeable = False  # shared by every caller (cached)
    return warped


def face_model_region_points(model: FaceModel, size: int) -> np.ndarray:
    """Where each texel of the neutral face-model head lands after the landmark warp of
    :func:`face_model_regions`: the points at which region shapes are drawn.

    Anything drawn on the template's anatomy (the regions, a subject's eyebrows or
    hairline, :mod:`~id2reflectance.capture.simulator.appearance`) is placed on the face
    model by evaluating it at these points, so it follows the UV layout of ``uv_raster``.

    Returns
    -------
    (S, S, 3) float64 metres, template frame (read-only, cached).
    """
    return _region_points(model, size)


@lru_cache(maxsize=4)
def _regions(model: FaceModel, size: int) -> dict[str, np.ndarray]:
    return regions_at(_region_points(model, size))


def face_model_regions(model: FaceModel, size: int) -> dict[str, np.ndarray]:
    """The template's named regions (:func:`~id2reflectance.capture.geometry.regions.region_masks`)
    placed on the face model's anatomy, in the template's UV space.

    The neutral face-model head is warped (Gaussian radial basis, width ``REGION_WARP_M``)
    so that its eye corners, nasion, nose tip, mouth corners and chin meet the template's,
    and the region shapes are evaluated at the warped points.

    Returns
    -------
    {name: (S, S) float32 weight in [0, 1]} (a copy).
    """
    return {k: v.copy() for k, v in _regions(model, size).items()}


def face_model_skin_mesh(
    model: FaceModel,
    identity: np.ndarray | None = None,
    expression: dict[str, float] | None = None,
) -> FaceMesh:
    """The skin-only part (face, head and neck) of a face-model head in the face model's
    own topology and UV layout, placed in the template's frame. The neck ends where the
    heads in the procedural layout leave the face model (the bottom of the neck blend,
    ``SKIN_NECK_CUT_Y``): a skin triangle whose neutral vertices all lie below it is left
    out (the neck's flare toward the shoulders, which no head scan covers and which would
    reach the bottom of the cameras' images).

    Returns
    -------
    FaceMesh: vertices (V, 3) float64 metres (UV seams split; the vertices of skin
    triangles: 11,031), faces of the skin part, the face model's UVs (UDIM tiles 1001 and
    1002), and landmarks: the template's names (``nose_tip``, ``chin``, ...)
    and ``dlib_00`` .. ``dlib_67`` (the 68 landmarks in dlib's order), each the first
    UV copy of its model vertex. Its neutral, UVs packed, is the face-model template
    (:mod:`~id2reflectance.capture.geometry.templates`).
    """
    emb = _embedding(model)
    keep, faces = _skin_part(model)
    src = model.uv_source[keep]
    verts = model.vertices(identity, expression) + emb.offset
    first: dict[int, int] = {}
    for k, v in enumerate(src):
        first.setdefault(int(v), k)
    landmarks = {f"dlib_{i:02d}": first[int(v)] for i, v in enumerate(model.landmarks68) if int(v) in first}
    landmarks.update({name: landmarks[f"dlib_{k:02d}"] for name, k in TEMPLATE_TO_DLIB.items()})
    return FaceMesh(verts[src], faces, model.uv_mesh.uvs[keep], landmarks)


@lru_cache(maxsize=2)
def _skin_part(model: FaceModel) -> tuple[np.ndarray, np.ndarray]:
    """The skin part of ``model.uv_mesh``: (V,) int64 indices of its vertices used by a
    skin triangle above the neck's cut, and (T, 3) int64 skin triangles indexing those."""
    skin = model.uv_source < SKIN_END
    faces = model.uv_mesh.faces[np.all(skin[model.uv_mesh.faces], axis=1)]
    y = model.neutral[model.uv_source, 1] + template_offset(model)[1]  # template frame
    faces = faces[y[faces].max(axis=1) > SKIN_NECK_CUT_Y]  # the neck's flare to the shoulders is left out
    used = np.zeros(len(skin), bool)
    used[faces] = True  # a vertex only bordering other parts (mouth, eye sockets) is left out
    index = np.cumsum(used) - 1
    keep = np.flatnonzero(used)
    for a in (keep, faces):
        a.flags.writeable = False
    return keep, index[faces]


def face_model_skin_sources(model: FaceModel) -> np.ndarray:
    """(V,) int64, read-only: the model vertex of each vertex of :func:`face_model_skin_mesh`
    (the face-model template's vertex order; UV seam copies share a model vertex)."""
    src = model.uv_source[_skin_part(model)[0]]
    src.flags.writeable = False
    return src


SKIN_BASIS_MIN_Y = -0.105  # metres (neutral, template frame): below, the neck follows posture, not identity
SKIN_BASIS_MAX_EAR = 0.1  # the prior leaves out the ears (region weight above this): undercuts scans miss
HIDDEN_M = 0.02  # metres: a vertex whose normal meets the skin again this close is hidden (inside lips, nostrils)


@lru_cache(maxsize=2)
def _skin_basis(model: FaceModel, count: int) -> HeadBasis:
    src = model.uv_source[_skin_part(model)[0]]
    mean = model.neutral[src] + _embedding(model).offset
    modes = np.ascontiguousarray(np.transpose(model.identity[:count, src].astype(np.float64), (1, 2, 0)))
    skin = (mean[:, 1] > SKIN_BASIS_MIN_Y) & (regions_at(mean)["ears"] <= SKIN_BASIS_MAX_EAR)
    skin &= ~_hidden(FaceMesh(mean, _skin_part(model)[1]))
    for a in (mean, modes, skin):
        a.flags.writeable = False
    return HeadBasis(mean, modes, skin)


def _hidden(mesh: FaceMesh) -> np.ndarray:
    """(V,) bool: vertices facing another part of the same surface within ``HIDDEN_M``
    along their normal (the inside of the lips and nostrils), which no scanner sees."""
    n = mesh.vertex_normals()
    t, _, _ = cast_rays(raycasting_scene(mesh), mesh.vertices + 2e-4 * n, n)
    return np.isfinite(t) & (t < HIDDEN_M)


def face_model_skin_basis(model: FaceModel, count: int | None = None) -> HeadBasis:
    """The first ``count`` identity modes (all when None) in the topology of
    :func:`face_model_skin_mesh` (the face model's own skin, UV seams split): ``mean`` is
    the neutral skin mesh's vertices, ``modes`` (V, 3, K) the modes at the same vertices,
    exactly linear; ``skin`` (where a scan constrains the weights) leaves out the neck
    below ``SKIN_BASIS_MIN_Y`` (the face model's neck flares toward the shoulders where a
    head scan ends), the ears (undercuts) and the hidden inside of the lips and nostrils.
    Cached, read-only.
    """
    k = model.identity_modes if count is None else int(count)
    if not 1 <= k <= model.identity_modes:
        raise ConfigError(f"face model: basis needs 1 to {model.identity_modes} identity modes, got {k}")
    return _skin_basis(model, k)
