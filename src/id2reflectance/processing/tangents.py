"""Per-vertex tangent frames and object <-> tangent-space normal maps.

The tangent frame is the one the asset format and the glTF export share
(``shared/asset-format.md``), built like MikkTSpace:

1. per triangle, the tangent ``T_f`` and bitangent ``B_f`` are the derivatives of the
   position along u and v (solved from the edge vectors and the UV edge deltas);
2. at each corner, ``T_f`` is projected into the plane of the vertex normal, normalised
   and accumulated with the corner angle as weight; ``B_f`` is accumulated likewise;
3. the vertex tangent is the normalised sum, orthogonal to the vertex normal
   (Gram-Schmidt); its sign ``w = sign((N x T) . B)`` records the UV winding
   (-1 on mirrored UV islands).

Vertex normals are :meth:`FaceMesh.vertex_normals` (area weighted, merged across UV
seams): the same normals go into the glTF ``NORMAL`` attribute.

Per texel (and per pixel in a viewer) the frame is reconstructed the way MikkTSpace's
reference pixel shader does: ``vN`` and ``vT`` are the barycentric interpolants of the
vertex normal and tangent (not re-normalised), ``vB = w * cross(vN, vT)``, and a
tangent-space normal ``t`` (OpenGL convention: x along +u, y along +v, "+Y up") maps to
the object-space normal ``normalize(t.x vT + t.y vB + t.z vN)``. The inverse used for
writing ``normal_tangent`` solves that 3x3 system, so the two conversions round-trip.
Texels outside every UV triangle use the frame of the nearest covered texel.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from id2reflectance.capture.geometry.mesh import FaceMesh, interpolate, rasterize_uv
from id2reflectance.capture.ggx import tangent_frame
from id2reflectance.errors import ShapeError


def vertex_tangents(mesh: FaceMesh, *, normals: np.ndarray | None = None) -> np.ndarray:
    """Per-vertex tangents with bitangent sign, as glTF's ``TANGENT`` attribute.

    Parameters
    ----------
    mesh : FaceMesh with UVs (OBJ convention).
    normals : (V, 3) float unit vertex normals; default ``mesh.vertex_normals()``.

    Returns
    -------
    (V, 4) float64: xyz unit tangent along +u, orthogonal to the vertex normal; w = +1 or
    -1, the bitangent sign (bitangent = w * cross(normal, tangent), along +v).
    Vertices whose UVs are degenerate get an arbitrary unit tangent orthogonal to the
    normal and w = +1.
    """
    if mesh.uvs is None:
        raise ShapeError("vertex_tangents: mesh has no UVs")
    n = mesh.vertex_normals() if normals is None else np.asarray(normals, np.float64)
    if n.shape != mesh.vertices.shape:
        raise ShapeError(f"vertex_tangents: normals must be {mesh.vertices.shape}, got {n.shape}")
    p = mesh.vertices
    uv = mesh.uvs
    f = mesh.faces
    e1 = p[f[:, 1]] - p[f[:, 0]]
    e2 = p[f[:, 2]] - p[f[:, 0]]
    d1 = uv[f[:, 1]] - uv[f[:, 0]]
    d2 = uv[f[:, 2]] - uv[f[:, 0]]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    ok = np.abs(det) > 1e-20
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)[:, None]
    tf = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv
    bf = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv

    t_acc = np.zeros_like(p)
    b_acc = np.zeros_like(p)
    for k in range(3):
        vi = f[:, k]
        a = p[f[:, (k + 1) % 3]] - p[vi]
        b = p[f[:, (k + 2) % 3]] - p[vi]
        cosang = np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
        angle = np.arccos(np.clip(cosang, -1.0, 1.0))[:, None]
        nv = n[vi]
        tp = tf - nv * np.sum(tf * nv, 1, keepdims=True)
        tp /= np.maximum(np.linalg.norm(tp, axis=1, keepdims=True), 1e-30)
        bp = bf - nv * np.sum(bf * nv, 1, keepdims=True)
        bp /= np.maximum(np.linalg.norm(bp, axis=1, keepdims=True), 1e-30)
        np.add.at(t_acc, vi, tp * angle)
        np.add.at(b_acc, vi, bp * angle)

    t = t_acc - n * np.sum(t_acc * n, 1, keepdims=True)
    norm = np.linalg.norm(t, axis=1, keepdims=True)
    fallback, _ = tangent_frame(n)
    bad = norm[:, 0] < 1e-12
    t = np.where(bad[:, None], fallback, t / np.maximum(norm, 1e-30))
    w = np.where(np.sum(np.cross(n, t) * b_acc, 1) < 0, -1.0, 1.0)
    w[bad] = 1.0
    return np.concatenate([t, w[:, None]], axis=1)


def _nearest_covered(face_id: np.ndarray, bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill uncovered texels (face_id -1) with the face and barycentrics of the nearest covered one."""
    miss = face_id < 0
    if not miss.any() or miss.all():
        return face_id, bary
    _, (ii, jj) = distance_transform_edt(miss, return_indices=True)
    return face_id[ii, jj], bary[ii, jj]


def texel_frames(
    mesh: FaceMesh, size: int, *, tangents: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unnormalised per-texel tangent frames of a size x size map (MikkTSpace pixel shader).

    Parameters
    ----------
    mesh : FaceMesh with UVs; size : map size in texels.
    tangents : (V, 4) from :func:`vertex_tangents` (computed when None).

    Returns
    -------
    vT, vB, vN : (size, size, 3) float64, object frame: interpolated vertex tangent,
        ``w * cross(vN, vT)``, interpolated vertex normal.
    covered : (size, size) bool, texel centre inside a UV triangle.
    """
    if mesh.uvs is None:
        raise ShapeError("texel_frames: mesh has no UVs")
    n = mesh.vertex_normals()
    tg = vertex_tangents(mesh, normals=n) if tangents is None else np.asarray(tangents, np.float64)
    if tg.shape != (len(mesh.vertices), 4):
        raise ShapeError(f"texel_frames: tangents must be ({len(mesh.vertices)}, 4), got {tg.shape}")
    fid, bary = rasterize_uv(mesh, size)
    covered = fid >= 0
    fid, bary = _nearest_covered(fid, bary)
    vn = interpolate(n, mesh.faces, fid, bary)
    vt = interpolate(tg[:, :3], mesh.faces, fid, bary)
    w = np.where(interpolate(tg[:, 3:4], mesh.faces, fid, bary)[..., 0] < 0, -1.0, 1.0)
    vb = w[..., None] * np.cross(vn, vt)
    if not covered.any():
        vn[...] = (0.0, 0.0, 1.0)
        vt[...] = (1.0, 0.0, 0.0)
        vb[...] = (0.0, 1.0, 0.0)
    return vt, vb, vn, covered


def _check_map(a: np.ndarray, size: int, name: str) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if a.shape != (size, size, 3):
        raise ShapeError(f"{name} must be ({size}, {size}, 3), got {a.shape}")
    return a


def _unit(x: np.ndarray, default: tuple[float, float, float]) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    ok = norm > 1e-12
    return np.where(ok, x / np.where(ok, norm, 1.0), np.asarray(default, np.float64))


def object_to_tangent(
    normal_object: np.ndarray,
    mesh: FaceMesh,
    *,
    tangents: np.ndarray | None = None,
    frames: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Object-space normal map -> tangent-space normal map (OpenGL, +Y up).

    Parameters
    ----------
    normal_object : (S, S, 3) float, unit normals in the mesh's frame (x, y, z), UV space
        with row 0 at the top (v = 1).
    mesh : FaceMesh with UVs whose frame the normals are in.
    tangents : (V, 4) from :func:`vertex_tangents`; computed when None.
    frames : :func:`texel_frames` of ``mesh`` at S (e.g. kept by
        :class:`~id2reflectance.processing.bake.prepared_mesh.PreparedMesh`); computed when None.

    Returns
    -------
    (S, S, 3) float32 unit tangent-space normals (x along +u, y along +v, z out of the
    surface). Zero-length input normals give (0, 0, 1).
    """
    no = np.asarray(normal_object)
    if no.ndim != 3 or no.shape[0] != no.shape[1]:
        raise ShapeError(f"normal_object must be (S, S, 3), got {no.shape}")
    size = no.shape[0]
    no = _check_map(no, size, "normal_object")
    if frames is None:
        frames = texel_frames(mesh, size, tangents=tangents)
    vt, vb, vn, _ = frames
    if vt.shape != (size, size, 3):
        raise ShapeError(f"object_to_tangent: frames are for {vt.shape[0]} texels, the map has {size}")
    m = np.stack([vt, vb, vn], axis=-1)  # columns T, B, N: object = m @ t
    det = np.linalg.det(m)
    good = np.abs(det) > 1e-12
    m_safe = np.where(good[..., None, None], m, np.eye(3))
    t = np.linalg.solve(m_safe, no[..., None])[..., 0]
    zero = np.linalg.norm(no, axis=-1) < 1e-12
    t[zero] = (0.0, 0.0, 1.0)
    return _unit(t, (0.0, 0.0, 1.0)).astype(np.float32)


def tangent_to_object(normal_tangent: np.ndarray, mesh: FaceMesh, *, tangents: np.ndarray | None = None) -> np.ndarray:
    """Tangent-space normal map (OpenGL, +Y up) -> object-space normal map.

    Parameters
    ----------
    normal_tangent : (S, S, 3) float tangent-space normals, row 0 at the top (v = 1).
    mesh, tangents : as in :func:`object_to_tangent`.

    Returns
    -------
    (S, S, 3) float32 unit normals in the mesh's frame.
    """
    nt = np.asarray(normal_tangent)
    if nt.ndim != 3 or nt.shape[0] != nt.shape[1]:
        raise ShapeError(f"normal_tangent must be (S, S, 3), got {nt.shape}")
    size = nt.shape[0]
    nt = _check_map(nt, size, "normal_tangent")
    vt, vb, vn, _ = texel_frames(mesh, size, tangents=tangents)
    no = nt[..., 0:1] * vt + nt[..., 1:2] * vb + nt[..., 2:3] * vn
    return _unit(no, (0.0, 0.0, 1.0)).astype(np.float32)
