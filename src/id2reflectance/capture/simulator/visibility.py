"""Self-shadowing of a head: per-vertex visibility over a fixed set of light directions.

For every vertex and each of ``D`` near-uniform directions (:func:`fibonacci_sphere`) a
ray leaves the vertex (offset along its normal) and is tested against the mesh with
Open3D. A shading point inside a triangle interpolates its three vertices' visibility
barycentrically; a query direction uses its nearest direction of the set, found through
a cube-map table. The result is a :data:`~id2reflectance.capture.ggx.VisibilityFn` for
the quadratures of :mod:`~id2reflectance.capture.ggx`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from id2reflectance.capture.geometry.mesh import FaceMesh, raycasting_scene
from id2reflectance.capture.ggx import VisibilityFn
from id2reflectance.capture.illumination import fibonacci_sphere
from id2reflectance.errors import ConfigError, ShapeError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class DirectionTable:
    """Nearest-direction lookup for a fixed direction set through a cube map.

    directions : (D, 3) float64 unit directions.
    table : (6, R, R) int32, index of the nearest direction to each cell centre.
    """

    directions: np.ndarray
    table: np.ndarray

    def nearest(self, dirs: np.ndarray) -> np.ndarray:
        """Index of the nearest set direction for each of ``dirs`` (..., 3) (any length > 0)."""
        d = np.asarray(dirs)
        x, y, z = d[..., 0], d[..., 1], d[..., 2]
        ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
        on_x = (ax >= ay) & (ax >= az)
        on_y = ~on_x & (ay >= az)
        on_z = ~on_x & ~on_y
        major = np.where(on_x, x, np.where(on_y, y, z))
        inv = 1.0 / np.maximum(np.abs(major), 1e-30)
        s = np.where(on_x, y, x) * inv
        t = np.where(on_z, y, z) * inv
        face = np.where(on_x, 0, np.where(on_y, 2, 4)) + (major < 0)
        res = self.table.shape[1]
        i = np.clip(((s + 1.0) * (0.5 * res)).astype(np.int64), 0, res - 1)
        j = np.clip(((t + 1.0) * (0.5 * res)).astype(np.int64), 0, res - 1)
        return self.table.reshape(-1)[(face * res + i) * res + j]


@lru_cache(maxsize=4)
def direction_table(count: int, *, resolution: int = 96) -> DirectionTable:
    """The cube-map lookup of ``fibonacci_sphere(count)`` (cached)."""
    dirs = fibonacci_sphere(count)
    c = (np.arange(resolution) + 0.5) / resolution * 2.0 - 1.0
    s, t = np.meshgrid(c, c, indexing="ij")
    one = np.ones_like(s)
    cells = []
    for face in range(6):
        axis, sign = divmod(face, 2)
        major = -one if sign else one
        v = np.zeros((resolution, resolution, 3))
        v[..., axis] = major
        v[..., 1 if axis == 0 else 0] = s
        v[..., 1 if axis == 2 else 2] = t
        cells.append(v)
    centres = np.stack(cells).reshape(-1, 3)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    _, idx = cKDTree(dirs).query(centres)
    return DirectionTable(dirs, idx.reshape(6, resolution, resolution).astype(np.int32))


@dataclass(frozen=True, eq=False)
class VertexVisibility:
    """Visibility of each vertex toward each direction of a fixed set.

    visible : (V, D) uint8, 1 where the ray toward the direction escapes the mesh.
    open : (V,) bool, every direction is visible (nothing shadows the vertex).
    normals : (V, 3) float64 vertex normals used for the ray offsets.
    faces : (F, 3) int64 the mesh's triangles.
    lookup : the direction set and its nearest-direction table.
    """

    visible: np.ndarray
    open: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    lookup: DirectionTable

    def function(
        self,
        face_id: np.ndarray,
        bary: np.ndarray,
        *,
        on_call: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    ) -> VisibilityFn:
        """A VisibilityFn for shading points on triangles ``face_id`` (P,) at ``bary`` (P, 3).

        The returned callable maps (idx (Q,) into these P points, dirs (Q, S, 3)) to
        (Q, S) float64 visibility in [0, 1]. ``on_call(idx, dirs, values)``, when given,
        sees every query and answer (e.g. to note which points met a shadow).
        """
        face_id = np.asarray(face_id, np.int64)
        bary = np.asarray(bary, np.float64)
        if face_id.ndim != 1 or bary.shape != (len(face_id), 3):
            raise ShapeError(f"visibility: face_id (P,) and bary (P, 3) expected, got {face_id.shape}, {bary.shape}")
        tri = self.faces[face_id]
        flat = self.visible.reshape(-1)
        n_dirs = self.visible.shape[1]
        nearest = self.lookup.nearest

        def fn(idx: np.ndarray, dirs: np.ndarray) -> np.ndarray:
            k = nearest(dirs)
            rows = tri[idx] * n_dirs
            b = bary[idx]
            # 1 - sum(b * occluded): exactly 1 where all three vertices see the direction
            occ = b[:, 0:1] * (1 - flat[rows[:, 0:1] + k])
            occ += b[:, 1:2] * (1 - flat[rows[:, 1:2] + k])
            occ += b[:, 2:3] * (1 - flat[rows[:, 2:3] + k])
            out = 1.0 - occ
            if on_call is not None:
                on_call(idx, dirs, out)
            return out

        return fn

    def unoccluded(self, face_id: np.ndarray) -> np.ndarray:
        """(P,) bool: points on triangles whose three vertices are open.

        Every direction a quadrature can use then has visibility exactly 1, so the lookup
        can be skipped without changing any value.
        """
        tri = self.faces[np.asarray(face_id, np.int64)]
        return np.all(self.open[tri], axis=1)


def vertex_visibility(
    mesh: FaceMesh,
    *,
    directions: int = 768,
    offset: float = 1e-3,
    chunk_rays: int = 2_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> VertexVisibility:
    """Per-vertex visibility of ``mesh`` over ``fibonacci_sphere(directions)``.

    Directions at or below a vertex's tangent plane (``n . w <= 0``) count as visible:
    only other parts of the head cast shadows, the surface does not shadow its own
    fine relief (the usual normal-mapping convention). So an exposed convex region
    is visible from its whole hemisphere and its diffuse ``m0`` is exactly 1.

    Parameters
    ----------
    mesh : the head, metres.
    directions : size of the direction set (e.g. 512-1024).
    offset : ray origins sit this far (metres) along the vertex normal, so a ray only
        meets the mesh where macroscopic geometry (nose, ears, lips, brow) is in the way.
    chunk_rays : rays per Open3D call (bounds memory).
    progress : optional callback (done, total) over ray chunks.
    """
    import open3d as o3d

    if directions < 16:
        raise ConfigError(f"visibility directions must be >= 16, got {directions}")
    lookup = direction_table(directions)
    normals = mesh.vertex_normals()
    origins = (mesh.vertices + offset * normals).astype(np.float32)
    dirs = lookup.directions.astype(np.float32)
    facing = normals @ lookup.directions.T > 0.0
    vi, di = np.nonzero(facing)
    scene = raycasting_scene(mesh)
    visible = np.ones(facing.shape, np.uint8)
    total = len(vi)
    for s0 in range(0, total, chunk_rays):
        a, b = vi[s0 : s0 + chunk_rays], di[s0 : s0 + chunk_rays]
        rays = np.concatenate([origins[a], dirs[b]], axis=1)
        occ = scene.test_occlusions(o3d.core.Tensor(rays)).numpy()
        visible[a[occ], b[occ]] = 0
        if progress is not None:
            progress(min(s0 + chunk_rays, total), total)
    open_ = np.all(visible == 1, axis=1)
    log.debug("visibility: %d vertices x %d directions, %.1f%% open", len(origins), directions, 100 * open_.mean())
    return VertexVisibility(visible, open_, normals, mesh.faces, lookup)
