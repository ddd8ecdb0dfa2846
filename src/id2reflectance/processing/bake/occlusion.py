"""Ambient occlusion of the registered mesh, to recover albedo in concave regions.

Under the uniform ``full`` pattern a Lambertian point receives the cosine-weighted
fraction of the sphere of lights that the head does not block,

    m0 = (1 / pi) integral V(w) max(n.w, 0) dw   (1 on open, convex skin),

so the solver's model-free diffuse albedo there is ``albedo * m0`` (nostrils, eye corners,
ears and the mouth line come out dark). The bake knows the geometry, so it divides by
``m0`` computed on the registered mesh: each vertex tests a near-uniform direction set
(:func:`~id2reflectance.capture.illumination.fibonacci_sphere`; Open3D
``RaycastingScene.test_occlusions`` from just above the vertex, the same convention as the
simulator's :mod:`~id2reflectance.capture.simulator.visibility`);
:func:`texel_ambient_visibility_normals` interpolates each direction's visibility to the
texel and integrates it against the texel's own normal (the bake's default: inside
creases ``m0`` changes faster than the mesh), :func:`texel_ambient_visibility`
interpolates the vertices' ``m0`` (the bake before 2026-12-06).
The geometry that blocks the directions is, where the bake has a scan, the registered
mesh with its vertices that leave the scan moved onto it (:func:`mesh_on_scan`): below the
jaw the template's neck stub leaves a real neck, which shadows the images more than the
stub would (issue 22).
Skin scatters light below the surface, which blurs the irradiance -- and so ``m0`` -- per
colour channel (:func:`subsurface_blur`, Gaussian widths in millimetres converted with
the chart's texel size :func:`texel_size_m`). Interreflections, which a real head adds
back, are not modelled; the bake's ``occlusion_floor`` bounds the correction where almost
everything is blocked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from id2reflectance.capture.geometry.mesh import FaceMesh, interpolate, raycasting_scene
from id2reflectance.capture.illumination import fibonacci_sphere


def mesh_on_scan(mesh: FaceMesh, scan: FaceMesh | Any, max_distance_m: float) -> FaceMesh:
    """``mesh`` with each vertex farther than ``max_distance_m`` from ``scan``'s surface moved
    to its closest point on it: the surface the scan holds, in the mesh's topology; the
    mesh itself where it follows the scan (within the fit's residual). Every farther vertex
    is moved, however far: a scan that misses a part of the head the mesh holds (a scan of
    the face alone) pulls that part onto the scan's border, and the part no longer blocks
    directions (not measured; the project's scans hold the whole head above the neck cut).

    mesh : (V, 3) vertices, metres; scan : the scan (metres, the same frame) as a FaceMesh
    or an Open3D ``RaycastingScene`` of it; max_distance_m : > 0, metres.
    Returns a FaceMesh with ``mesh``'s faces and UVs; vertices (V, 3) float64 metres.
    """
    import open3d as o3d

    scene = raycasting_scene(scan) if isinstance(scan, FaceMesh) else scan
    v = np.array(mesh.vertices, np.float64)
    query = o3d.core.Tensor(v.astype(np.float32))
    closest = scene.compute_closest_points(query)["points"].numpy().astype(np.float64)
    off = np.linalg.norm(closest - v, axis=1) > max_distance_m
    v[off] = closest[off]
    return mesh.with_vertices(v)


def vertex_direction_visibility(
    mesh: FaceMesh,
    *,
    directions: int = 128,
    offset_m: float = 1e-3,
    only: np.ndarray | None = None,
    chunk_rays: int = 1 << 21,
    occluder: FaceMesh | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which directions of ``fibonacci_sphere(directions)`` each vertex sees.

    Directions at or below a vertex's tangent plane count as visible (the surface does
    not shadow its own fine relief), so an open vertex sees every direction.

    Parameters
    ----------
    mesh : the registered head, metres.
    directions : near-uniform directions over the sphere.
    offset_m : ray origins sit this far along the vertex normal, metres.
    only : (V,) bool, cast these vertices only (the others see everything); None = all.
    chunk_rays : rays per Open3D call (bounds memory).
    occluder : the geometry the rays are tested against (metres, ``mesh``'s frame); None =
        ``mesh`` itself.

    Returns
    -------
    visible : (V, D) bool; dirs : (D, 3) float64 the directions.
    """
    import open3d as o3d

    dirs = fibonacci_sphere(directions)
    normals = mesh.vertex_normals()
    todo = np.arange(len(normals)) if only is None else np.flatnonzero(only)
    ti, di = np.nonzero(normals[todo] @ dirs.T > 0.0)
    vi = todo[ti]
    origins = (mesh.vertices + offset_m * normals).astype(np.float32)
    scene = raycasting_scene(mesh if occluder is None else occluder)
    visible = np.ones((len(normals), directions), bool)
    for s0 in range(0, len(vi), chunk_rays):
        a, b = vi[s0 : s0 + chunk_rays], di[s0 : s0 + chunk_rays]
        rays = np.concatenate([origins[a], dirs[b].astype(np.float32)], axis=1)
        occ = scene.test_occlusions(o3d.core.Tensor(rays)).numpy()
        visible[a[occ], b[occ]] = False
    return visible, dirs


def texel_ambient_visibility_normals(
    mesh: FaceMesh,
    face_id: np.ndarray,
    bary: np.ndarray,
    normals: np.ndarray,
    *,
    directions: int = 128,
    where: np.ndarray | None = None,
    chunk_texels: int = 1 << 14,
    occluder: FaceMesh | None = None,
) -> np.ndarray:
    """(S, S) float64 ``m0`` at texels for their own (detail) normals.

    The visibility of each direction is interpolated from the texel's triangle's vertices
    (barycentric, :func:`vertex_direction_visibility`), then weighted by the cosine to the
    texel's normal: ``m0 = sum_d V(d) max(n.d, 0) / sum_d max(n.d, 0)``. This is the
    quantity a full-sphere capture's diffuse albedo carries (the solver's normals are the
    detail normals, not the mesh's), so fine relief inside a crease (pores, wrinkles that
    face the opening or away from it) gets its own correction.

    Parameters
    ----------
    face_id : (S, S) int triangle per texel (-1 gives 1); bary : (S, S, 3).
    normals : (S, S, 3) float unit normals (the baked ones).
    directions : size of the direction set.
    where : (S, S) bool, texels to compute (others 1); None = all covered texels.
    chunk_texels : texels per vectorised step (bounds memory).
    occluder : the geometry that blocks the directions (metres, ``mesh``'s frame); None =
        ``mesh`` itself.
    """
    covered = face_id >= 0
    want = covered if where is None else (where & covered)
    only = np.zeros(len(mesh.vertices), bool)
    only[mesh.faces[face_id[want]].ravel()] = True
    visible, dirs = vertex_direction_visibility(mesh, directions=directions, only=only, occluder=occluder)
    open_v = visible.all(axis=1)
    out = np.ones(face_id.shape)
    tri = mesh.faces[np.where(want, face_id, 0)]
    todo = np.flatnonzero((want & ~np.all(open_v[tri], axis=-1)).ravel())
    tri = tri.reshape(-1, 3)
    b = bary.reshape(-1, 3).astype(np.float32)
    n = normals.reshape(-1, 3).astype(np.float32)
    blocked = (~visible).astype(np.float32)
    d32 = dirs.T.astype(np.float32)
    flat = out.reshape(-1)
    for s0 in range(0, len(todo), chunk_texels):
        t = todo[s0 : s0 + chunk_texels]
        tt, bt = tri[t], b[t]
        occ = bt[:, 0:1] * blocked[tt[:, 0]] + bt[:, 1:2] * blocked[tt[:, 1]] + bt[:, 2:3] * blocked[tt[:, 2]]
        w = np.maximum(n[t] @ d32, 0.0)
        flat[t] = 1.0 - np.sum(occ * w, axis=1) / np.maximum(w.sum(axis=1), 1e-12)
    return out


def vertex_ambient_visibility(
    mesh: FaceMesh,
    *,
    directions: int = 128,
    offset_m: float = 1e-3,
    only: np.ndarray | None = None,
    chunk_rays: int = 1 << 21,
    occluder: FaceMesh | None = None,
) -> np.ndarray:
    """Cosine-weighted unoccluded fraction of each vertex's hemisphere.

    Parameters
    ----------
    mesh : the registered head, metres.
    directions : near-uniform directions over the sphere (about half face each vertex).
    offset_m : ray origins sit this far along the vertex normal, metres, so that only
        macroscopic geometry (nose, ears, lips, brow) blocks a ray.
    only : (V,) bool, compute these vertices only (the others get 1); None = all.
    chunk_rays : rays per Open3D call (bounds memory).
    occluder : the geometry the rays are tested against (metres, ``mesh``'s frame); None =
        ``mesh`` itself.

    Returns
    -------
    (V,) float64 in [0, 1]; 1 where nothing blocks the vertex's hemisphere.
    """
    import open3d as o3d

    dirs = fibonacci_sphere(directions)
    normals = mesh.vertex_normals()
    todo = np.arange(len(normals)) if only is None else np.flatnonzero(only)
    cosw = np.maximum(normals[todo] @ dirs.T, 0.0)  # (T, D)
    ti, di = np.nonzero(cosw > 0)
    vi = todo[ti]
    origins = (mesh.vertices + offset_m * normals).astype(np.float32)
    scene = raycasting_scene(mesh if occluder is None else occluder)
    blocked = np.zeros(len(vi), bool)
    for s0 in range(0, len(vi), chunk_rays):
        a, b = vi[s0 : s0 + chunk_rays], di[s0 : s0 + chunk_rays]
        rays = np.concatenate([origins[a], dirs[b].astype(np.float32)], axis=1)
        blocked[s0 : s0 + chunk_rays] = scene.test_occlusions(o3d.core.Tensor(rays)).numpy()
    lost = np.zeros(len(todo))
    np.add.at(lost, ti[blocked], cosw[ti[blocked], di[blocked]])
    out = np.ones(len(normals))
    out[todo] = 1.0 - lost / np.maximum(cosw.sum(axis=1), 1e-12)
    return out


def texel_ambient_visibility(
    mesh: FaceMesh,
    face_id: np.ndarray,
    bary: np.ndarray,
    *,
    directions: int = 128,
    where: np.ndarray | None = None,
    occluder: FaceMesh | None = None,
) -> np.ndarray:
    """(S, S) float64 ``m0`` at texels.

    ``face_id`` (S, S) int (-1 gives 1), ``bary`` (S, S, 3); ``where`` (S, S) bool limits
    the ray casting to the vertices of those texels' triangles (elsewhere the value is
    interpolated from vertices set to 1); ``occluder`` the geometry that blocks the
    directions (None = ``mesh``).
    """
    only = None
    if where is not None:
        only = np.zeros(len(mesh.vertices), bool)
        only[mesh.faces[face_id[where & (face_id >= 0)]].ravel()] = True
    m0 = vertex_ambient_visibility(mesh, directions=directions, only=only, occluder=occluder)
    out = interpolate(m0[:, None], mesh.faces, face_id, bary)[..., 0]
    return np.where(face_id >= 0, out, 1.0)


def texel_size_m(mesh: FaceMesh, face_id: np.ndarray, where: np.ndarray) -> float:
    """Mean texel edge (metres) over the triangles of the ``where`` texels (S, S) bool.

    ``sqrt(3-D area / UV area) / S`` over the triangles those texels fall in.
    """
    size = face_id.shape[0]
    faces = np.unique(face_id[where & (face_id >= 0)])
    if faces.size == 0 or mesh.uvs is None:
        return 0.0
    v, f, uv = mesh.vertices, mesh.faces[faces], mesh.uvs
    a3 = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
    e1, e2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    auv = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()
    return float(np.sqrt(a3 / auv) / size) if auv > 0 else 0.0


def subsurface_blur(m0: np.ndarray, sigma_mm: tuple[float, float, float], texel_m: float) -> np.ndarray:
    """Blur the occlusion term per colour channel as subsurface scattering blurs irradiance.

    Skin's diffuse light re-emerges around where it entered (red farthest), so the
    shading a full-sphere capture records is ``albedo * (G_sigma * m0)`` per channel.

    Parameters
    ----------
    m0 : (S, S) float ambient visibility in UV space.
    sigma_mm : Gaussian sigma per R, G, B, millimetres.
    texel_m : texel edge in metres (:func:`texel_size_m`).

    Returns
    -------
    (S, S, 3) float64.
    """
    out = np.empty((*m0.shape, 3))
    for c, sg in enumerate(sigma_mm):
        px = sg * 1e-3 / texel_m if texel_m > 0 else 0.0
        out[..., c] = gaussian_filter(m0, px, mode="nearest") if px > 0 else m0
    return out
