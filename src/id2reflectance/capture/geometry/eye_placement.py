"""The face model's eyeballs placed into a head fitted to the face-model template.

An asset's mesh in the face-model template's layout (``id2r-ict-face-skin-v2``,
:mod:`~id2reflectance.capture.geometry.templates`) is skin only: the eyes are holes
between the lids. The asset format stays as it is; the eyes are rebuilt from the mesh
(which has the template's vertex order) in two steps:

1. frame: the similarity (scale, rotation, translation; least squares, Umeyama's closed
   form) that carries the template's neutral onto the mesh over the skin vertices a scan
   constrains (``face_model_skin_basis(...).skin``: no ears, no neck below the jaw, not
   the inside of lips and nostrils);
2. shape: the mesh brought back into the template's frame is explained, over the same
   vertices, by the face model's identity modes and expression shapes plus a small
   similarity correction (linearised: translation, scale, rotation), in one ridge least
   squares (prior ``N(0, 1)`` on every identity and expression weight against
   :data:`FIT_NOISE_M` of residual; the correction free). The eyeballs are the face
   model's at those weights (the expression shapes turn the eyes too), carried by the
   corrected similarity into the mesh's frame.

The weights are recomputed from the mesh every time (0.02-0.04 CPU s; the fit's design
matrix and its factor, about 0.5 CPU s, once per process and model) and stored
nowhere. On heads made by the face model itself (random identities, a smile, any frame)
the eyeball vertices land 0.02-0.35 mm RMS from the model's own (test:
``tests/capture/geometry/test_eye_placement.py``). :func:`procrustes_eyes` is step 1 alone,
done per eye on the skin around it (the neutral eyeball carried by it), kept for
comparison: 1.2-2.1 mm RMS off on the same heads.

The procedural template has closed lids and no eyeballs: a mesh in its layout (or in any
other) gets no eyes (:func:`place_eyes` returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from id2reflectance.capture.geometry.face_model import PART_RANGES, FaceModel
from id2reflectance.capture.geometry.face_model_heads import (
    EYEBALLS,
    face_model_skin_basis,
    face_model_skin_sources,
    template_offset,
)
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.templates import face_model_template_mesh
from id2reflectance.errors import ConfigError, ShapeError

ANCHOR_RADIUS_M = 0.010  # procrustes_eyes: template skin vertices this close to an eyeball (neutral) carry it
FIT_NOISE_M = 5e-4  # metres: residual per coordinate the identity fit expects (the ridge's weight)
UV_TOLERANCE = 1e-4  # a mesh is in the face-model layout when its UVs match the template's this closely


@dataclass(frozen=True, eq=False)
class PlacedEyes:
    """Both eyeballs of one head, in the head's frame.

    mesh : FaceMesh of both eyeballs (no UVs): vertices (V, 3) float64 metres, faces
        (F, 3) int64 counter-clockwise seen from outside.
    centres : (2, 3) float64 metres, the eyeballs' centres (subject's left, +x, first).
    axes : (2, 3) float64 unit gaze directions (centre toward the cornea's apex).
    scales : (2,) float64, the similarity's scale per eye (1: the template's size).
    identity : (K,) float64 the fitted identity weights (empty for :func:`procrustes_eyes`).
    """

    mesh: FaceMesh
    centres: np.ndarray
    axes: np.ndarray
    scales: np.ndarray
    identity: np.ndarray


@dataclass(frozen=True, eq=False)
class _EyeRig:
    """The neutral eyeballs and their anchors in the template's frame (per model)."""

    template: FaceMesh  # the face-model template's neutral (its mesh)
    balls: tuple[np.ndarray, ...]  # per eye: (M, 3) neutral eyeball vertices, template frame
    faces: tuple[np.ndarray, ...]  # per eye: (T, 3) triangles indexing those
    anchors: tuple[np.ndarray, ...]  # per eye: template vertex indices around it
    parts: tuple[tuple[int, int], ...]  # per eye: its model-vertex range


@lru_cache(maxsize=2)
def _rig(model: FaceModel) -> _EyeRig:
    template = face_model_template_mesh(model)
    offset = template_offset(model)
    balls, faces, anchors = [], [], []
    for name in EYEBALLS:
        a, e = PART_RANGES[name]
        ball = model.neutral[a:e] + offset
        dist, _ = cKDTree(ball).query(template.vertices)
        balls.append(ball)
        faces.append(model.part_triangles((name,)) - a)
        anchors.append(np.flatnonzero(dist < ANCHOR_RADIUS_M))
    order = np.argsort([-b.mean(axis=0)[0] for b in balls])  # subject's left (+x) first
    return _EyeRig(
        template,
        tuple(balls[i] for i in order),
        tuple(faces[i] for i in order),
        tuple(anchors[i] for i in order),
        tuple(PART_RANGES[EYEBALLS[i]] for i in order),
    )


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991), no reflection.

    Parameters
    ----------
    src, dst : (N, 3) float, metres, corresponding points (N >= 3, not collinear).

    Returns
    -------
    s : scale; R : (3, 3) float64 rotation; t : (3,) float64 metres.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or len(src) < 3:
        raise ShapeError(f"similarity: expected two (N >= 3, 3) point sets, got {src.shape} and {dst.shape}")
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag(d) @ vt
    var = float(np.mean(np.sum(a * a, axis=1)))
    s = float(np.sum(sig * d) / var) if var > 0 else 1.0
    return s, rot, md - s * rot @ ms


def in_face_model_layout(mesh: FaceMesh, model: FaceModel) -> bool:
    """True when ``mesh`` has the face-model template's vertex count and UVs (an asset
    baked or predicted in ``id2r-ict-face-skin-v2``)."""
    ref = _rig(model).template
    return (
        mesh.uvs is not None
        and mesh.vertices.shape == ref.vertices.shape
        and np.allclose(mesh.uvs, ref.uvs, atol=UV_TOLERANCE)
    )


@lru_cache(maxsize=2)
def _skin_expressions(model: FaceModel) -> np.ndarray:
    """(V, 3, E) float64 metres: the expression shapes at the template's vertices (read-only)."""
    src = face_model_skin_sources(model)
    out = np.ascontiguousarray(np.transpose(model.expression[:, src].astype(np.float64), (1, 2, 0)))
    out.flags.writeable = False
    return out


@lru_cache(maxsize=4)
def _design(model: FaceModel, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The fit's fixed parts (cached per model and ``k``): the vertices it uses (skin a scan
    constrains), their neutral positions (M, 3), the design matrix (3M, k + E + 7) of ``k``
    identity modes, the E expression shapes and the small similarity, and the ridge
    normal equations' solver (Cholesky)."""
    basis = face_model_skin_basis(model, max(k, 1))
    sel = np.flatnonzero(basis.skin)
    mean = basis.mean[sel]
    if k == 0:
        return sel, mean, np.zeros((3 * len(sel), 0)), lambda rhs: rhs
    expr = _skin_expressions(model)[sel]
    cols = [basis.modes[sel][:, :, :k], expr, _small_similarity(mean)]
    a = np.concatenate(cols, axis=2).reshape(3 * len(sel), -1)
    prior = np.zeros(a.shape[1])
    prior[: k + expr.shape[2]] = FIT_NOISE_M**2  # w ~ N(0, 1), expressions likewise; the correction free
    factor = cho_factor(a.T @ a + np.diag(prior))
    for arr in (sel, mean, a):
        arr.flags.writeable = False
    return sel, mean, a, lambda rhs: cho_solve(factor, rhs)


def _small_similarity(points: np.ndarray) -> np.ndarray:
    """(N, 3, 7) columns of a small similarity about the origin at ``points`` (N, 3):
    translation x, y, z, scale, rotation about x, y, z (linearised)."""
    n = len(points)
    out = np.zeros((n, 3, 7))
    out[:, :, :3] = np.eye(3)
    out[:, :, 3] = points
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1.0
        out[:, :, 4 + i] = np.cross(e, points)
    return out


def _placed(
    rig: _EyeRig, balls: list[np.ndarray], transforms: list[tuple[float, np.ndarray, np.ndarray]], w: np.ndarray
) -> PlacedEyes:
    """PlacedEyes of the eyeballs ``balls`` (template frame), each carried by its similarity."""
    verts, faces, centres, axes, scales = [], [], [], [], []
    count = 0
    for ball, tris, (s, rot, t) in zip(balls, rig.faces, transforms, strict=True):
        centre = ball.mean(axis=0)
        apex = ball[np.argmax(ball[:, 2] - centre[2])]  # the cornea's apex (the template looks along +z)
        axis = rot @ (apex - centre)
        verts.append(s * ball @ rot.T + t)
        faces.append(tris + count)
        centres.append(s * rot @ centre + t)
        axes.append(axis / np.linalg.norm(axis))
        scales.append(s)
        count += len(ball)
    return PlacedEyes(
        FaceMesh(np.concatenate(verts), np.concatenate(faces)),
        np.asarray(centres),
        np.asarray(axes),
        np.asarray(scales),
        np.asarray(w, np.float64),
    )


def place_eyes(mesh: FaceMesh, model: FaceModel, *, modes: int | None = None) -> PlacedEyes | None:
    """The face model's eyeballs placed into ``mesh`` (see the module's text).

    Parameters
    ----------
    mesh : a head in the face-model template's topology and UVs, any frame (metres).
    model : the loaded face model.
    modes : identity modes fitted (None: all of them; 0: the neutral eyeballs, frame only).

    Returns
    -------
    PlacedEyes in ``mesh``'s frame, or None when ``mesh`` is not in the face-model
    layout (the procedural template's heads: closed lids, no eyes).
    """
    if not in_face_model_layout(mesh, model):
        return None
    rig = _rig(model)
    k = model.identity_modes if modes is None else int(modes)
    if not 0 <= k <= model.identity_modes:
        raise ConfigError(f"place_eyes: modes must be in [0, {model.identity_modes}], got {modes}")
    sel, mean, a, solve = _design(model, k)
    target = np.asarray(mesh.vertices, np.float64)[sel]
    s, rot, t = similarity(mean, target)
    w = np.zeros(k)
    offset = template_offset(model)
    balls = [model.neutral[lo:hi] + offset for lo, hi in rig.parts]
    if k:
        back = ((target - t) @ rot) / s  # the mesh in the template's frame
        x = solve(a.T @ (back - mean).reshape(-1))
        ne = model.expression.shape[0]
        w, e = x[:k], x[k : k + ne]
        dt, ds, dr = x[k + ne : k + ne + 3], x[k + ne + 3], x[k + ne + 4 :]
        # the correction (translation dt, scale 1 + ds, small rotation dr) made exact
        c_rot = Rotation.from_rotvec(dr).as_matrix()
        balls = [
            (1.0 + ds)
            * (
                b
                + np.tensordot(w, model.identity[:k, lo:hi], axes=1)
                + np.tensordot(e, model.expression[:, lo:hi], axes=1)
            )
            @ c_rot.T
            + dt
            for b, (lo, hi) in zip(balls, rig.parts, strict=True)
        ]
    return _placed(rig, balls, [(s, rot, t)] * len(balls), w)


def procrustes_eyes(mesh: FaceMesh, model: FaceModel) -> PlacedEyes | None:
    """The neutral eyeballs, each carried by the similarity of the template's skin within
    :data:`ANCHOR_RADIUS_M` of it onto the same vertices of ``mesh`` (no identity fit);
    None outside the face-model layout. For comparison with :func:`place_eyes`."""
    if not in_face_model_layout(mesh, model):
        return None
    rig = _rig(model)
    transforms = [similarity(rig.template.vertices[anc], mesh.vertices[anc]) for anc in rig.anchors]
    return _placed(rig, list(rig.balls), transforms, np.zeros(0))
