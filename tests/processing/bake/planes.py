"""A flat square mesh with UVs, the bake tests' simplest surface."""

from __future__ import annotations

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh


def square_mesh(
    half: float, *, z: float = 0.0, n: int = 16, uv0: tuple[float, float] = (0.0, 0.0), uv_size: float = 1.0
) -> FaceMesh:
    """The square |x|, |y| <= ``half`` (metres) at height ``z`` facing +z, split into ``n`` x ``n``
    cells of two triangles; UVs ``uv0 + (xy + half) / (2 half) * uv_size``."""
    g = np.linspace(-half, half, n + 1)
    x, y = np.meshgrid(g, g)
    v = np.stack([x.ravel(), y.ravel(), np.full(x.size, z)], axis=1)
    idx = np.arange(v.shape[0]).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    f = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    uv = np.asarray(uv0) + (v[:, :2] + half) / (2 * half) * uv_size
    return FaceMesh(v, f.astype(np.int64), uv)
