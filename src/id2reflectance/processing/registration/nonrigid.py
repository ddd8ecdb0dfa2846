"""Laplacian-regularised non-rigid ICP: move the template's vertices onto a scan.

Energy minimised at each iteration (``X`` the welded template vertices, ``X_ref`` the
template after the global alignment, ``c_i`` the closest scan point to ``x_i``, ``L`` the
uniform graph Laplacian of the template, ``lambda`` the stiffness of the current stage)::

    E(X) = sum_i |x_i - c_i|^2 + lambda |L (X - X_ref)|^2

A correspondence is valid when it is closer than ``max_distance_m``, the scan
normal there agrees with the template normal within ``max_normal_angle_deg`` and the
closest point is not on the scan's open boundary. The stiffness runs from high to low
(coarse-to-fine), each stage iterating closest points and one sparse solve. Vertices
without a valid correspondence get their current position as target for that step (a
lagged target: the neighbours carry them along), so every step solves
``(I + lambda L^T L) X = C + lambda L^T L X_ref``: symmetric positive definite with
eigenvalues >= 1, well conditioned at the stiffnesses used, solved for x, y and z together
by conjugate gradients warm-started at the current vertices. Optionally a last step uses
radial correspondences (rays from a centre, see :func:`fit_nonrigid`). A final pass snaps
the vertices that have a valid correspondence onto the scan surface.

Vertices duplicated on UV seams are welded by position before fitting and scattered back
afterwards, so seams cannot open; the UV layout is untouched (only positions change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.geometry.mesh import FaceMesh


@dataclass(frozen=True)
class NonrigidResult:
    """Outcome of :func:`fit_nonrigid`.

    mesh : the template with vertices on the scan (template topology, UVs, landmarks).
    matched : (V,) bool, vertices that had a valid scan correspondence at the end.
    iterations : closest-point iterations run.
    """

    mesh: FaceMesh
    matched: np.ndarray
    iterations: int


def weld(mesh: FaceMesh, *, tolerance_m: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge vertices that share a position (UV-seam duplicates).

    Returns
    -------
    vertices : (N, 3) float64 welded positions, metres.
    faces : (F, 3) int64 faces on the welded vertices.
    inverse : (V,) int64 welded index of each original vertex.
    """
    key = np.round(mesh.vertices / tolerance_m).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    return mesh.vertices[first], inverse[mesh.faces], inverse


def uniform_laplacian(faces: np.ndarray, count: int) -> sp.csr_matrix:
    """Uniform graph Laplacian ``L = I - D^-1 A`` of a triangle mesh, (count, count) CSR."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(count, count)).tocsr()
    a.data[:] = 1.0  # duplicate edges counted once
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)
    return sp.identity(count, format="csr") - sp.diags(inv) @ a


def open_edges(faces: np.ndarray) -> np.ndarray:
    """(F, 3) bool: column k is whether the edge of each face opposite its vertex k is used
    by that face only (an open boundary)."""
    e = np.sort(np.stack([faces[:, [(k + 1) % 3, (k + 2) % 3]] for k in range(3)], axis=1), axis=2)  # (F, 3, 2)
    _, inv, counts = np.unique(e.reshape(-1, 2), axis=0, return_inverse=True, return_counts=True)
    return (counts[inv.ravel()] == 1).reshape(-1, 3)


def boundary_faces(faces: np.ndarray) -> np.ndarray:
    """(F,) bool: faces with at least one edge used by only one face (open boundary)."""
    return open_edges(faces).any(axis=1)


def vertex_normals_welded(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """(N, 3) float64 unit area-weighted vertex normals of vertices ``v`` and faces ``f``."""
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)


class ScanQuery:
    """Closest points on the scan, with its face normals and open-boundary faces."""

    def __init__(self, scan: FaceMesh) -> None:
        import open3d as o3d

        self._o3d = o3d
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(scan.to_open3d())
        self.normals = scan.face_normals()
        self.boundary = boundary_faces(scan.faces)

    def outermost(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits of rays (N, 3) from outside: points (N, 3), face normals (N, 3), hit (N,) bool."""
        rays = np.concatenate([origins, dirs], axis=1).astype(np.float32)
        ans = self.scene.cast_rays(self._o3d.core.Tensor(rays))
        t = ans["t_hit"].numpy().astype(np.float64)
        hit = np.isfinite(t)
        pid = np.where(hit, ans["primitive_ids"].numpy().astype(np.int64), 0)
        pts = origins + np.where(hit, t, 0.0)[:, None] * dirs
        return pts, self.normals[pid], hit

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 3) points -> closest points (N, 3), scan face normals (N, 3), on-boundary (N,)."""
        q = self._o3d.core.Tensor(np.ascontiguousarray(points, np.float32))
        ans = self.scene.compute_closest_points(q)
        pid = ans["primitive_ids"].numpy().astype(np.int64)
        return ans["points"].numpy().astype(np.float64), self.normals[pid], self.boundary[pid]


def _solve_spd(
    a: sp.csr_matrix, rhs: np.ndarray, x0: np.ndarray, *, rtol: float = 1e-9, maxiter: int = 2000
) -> np.ndarray:
    """Solve the SPD system ``a X = rhs`` (all columns at once) by conjugate gradients from ``x0``.

    Element-wise numpy only (no BLAS calls: small dot products on a busy machine are
    slowed down by threaded BLAS).
    """
    x = np.array(x0, np.float64)
    r = rhs - a @ x
    p = r.copy()
    rs = np.sum(r * r, axis=0)
    stop = (rtol * np.sqrt(np.sum(rhs * rhs, axis=0))) ** 2
    for _ in range(maxiter):
        if np.all(rs <= stop):
            break
        ap = a @ p
        alpha = rs / np.maximum(np.sum(p * ap, axis=0), 1e-300)
        x += alpha * p
        r -= alpha * ap
        rs_new = np.sum(r * r, axis=0)
        p = r + (rs_new / np.maximum(rs, 1e-300)) * p
        rs = rs_new
    return x


def fit_nonrigid(
    template: FaceMesh,
    scan: FaceMesh,
    *,
    stiffness: tuple[float, ...] = (10.0, 1.0),
    iterations_per_stage: int = 3,
    max_distance_m: float = 0.01,
    max_normal_angle_deg: float = 60.0,
    ray_origin: np.ndarray | None = None,
    snap: bool = True,
    progress: ProgressFn | None = None,
) -> NonrigidResult:
    """Deform an aligned template onto a scan, keeping its topology and UVs.

    Parameters
    ----------
    template : the template already aligned to the scan (world frame, metres).
    scan : the scanned mesh (any topology, world frame, metres).
    stiffness : Laplacian weights ``lambda`` of the successive stages (high to low); they
        multiply ``|L d|^2`` with ``d`` in metres against unit data weights.
    iterations_per_stage : closest-point iterations per stage.
    max_distance_m : correspondences farther than this are ignored, metres.
    max_normal_angle_deg : correspondences whose normals differ more are ignored, degrees.
    ray_origin : (3,) world point, or None. When given, a last step uses *radial*
        correspondences: each vertex's target is the outermost crossing of the scan along
        the ray from ``ray_origin`` through the vertex of the aligned template (a template
        built as a grid of rays from its origin, like the project's, defines
        correspondence that way), where it is valid (as above); the step solves once at
        the lowest stiffness and the final snap uses those crossings.
    snap : finally move matched vertices exactly onto their correspondences.
    progress : optional ``progress(stage, done, total)`` callback.

    Returns
    -------
    NonrigidResult; ``result.mesh`` has the template's faces, UVs and landmarks.
    """
    x_ref, faces, inverse = weld(template)
    n = len(x_ref)
    lap = uniform_laplacian(faces, n)
    ltl = (lap.T @ lap).tocsr()
    ltl_ref = ltl @ x_ref
    query = ScanQuery(scan)
    cos_max = np.cos(np.radians(max_normal_angle_deg))
    x = x_ref.copy()
    total = len(stiffness) * iterations_per_stage + (ray_origin is not None)
    done = 0

    def closest(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, cn, on_border = query.closest(x)
        nrm = vertex_normals_welded(x, faces)
        ok = (np.linalg.norm(c - x, axis=1) < max_distance_m) & (np.sum(nrm * cn, axis=1) > cos_max) & ~on_border
        return c, ok

    def radial(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x_ref - ray_origin
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        reach = 2.0 * float(np.linalg.norm(scan.vertices - ray_origin, axis=1).max())
        c, cn, hit = query.outermost(ray_origin + reach * d, -d)
        # the ray's outermost crossing is the correspondence by construction: it only has to
        # be near and on an outward-facing part of the scan (no normal test: in creases
        # such as the mouth line the normals turn faster than the vertices follow)
        ok = hit & (np.linalg.norm(c - x, axis=1) < max_distance_m) & (np.sum(cn * d, axis=1) > 0.0)
        return c, ok

    a = sp.identity(n, format="csr")
    for lam in stiffness:
        a = (sp.identity(n, format="csr") + lam * ltl).tocsr()
        for _ in range(iterations_per_stage):
            c, valid = closest(x)
            # unmatched vertices are held where they are for this step (lagged target)
            x = _solve_spd(a, np.where(valid[:, None], c, x) + lam * ltl_ref, x)
            done += 1
            if progress is not None:
                progress("register", done, total)
    find = closest
    if ray_origin is not None:
        find = radial
        c, valid = radial(x)
        x = _solve_spd(a, np.where(valid[:, None], c, x) + stiffness[-1] * ltl_ref, x)
        done += 1
        if progress is not None:
            progress("register", done, total)
    c, valid = find(x)
    if snap:
        x = np.where(valid[:, None], c, x)
    return NonrigidResult(mesh=template.with_vertices(x[inverse]), matched=valid[inverse], iterations=done)
