"""Moving UV maps between two layouts of one surface."""

from __future__ import annotations

import numpy as np

from id2reflectance.capture.geometry.layout_transfer import layout_correspondence, transfer_map
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.regions import uv_raster
from id2reflectance.capture.geometry.template_mesh import template_mesh


def test_a_mirrored_layout_mirrors_the_map() -> None:
    src = template_mesh()
    flipped = FaceMesh(src.vertices, src.faces, np.stack([1.0 - src.uvs[:, 0], src.uvs[:, 1]], axis=1))
    size = 64
    corr = layout_correspondence(src, flipped, size)
    assert corr.valid.mean() > 0.9 and np.all(corr.distance_m[corr.valid] < 1e-6)
    rng = np.random.default_rng(0)
    img = rng.random((size, size, 3)).astype(np.float32)
    out = transfer_map(img, corr)
    inner = corr.valid & uv_raster(size).covered[:, ::-1]
    inner[:, :2] = inner[:, -2:] = False  # the seam columns (u = 0 and u = 1 are one place)
    np.testing.assert_allclose(out[inner], img[:, ::-1][inner], atol=1e-4)
    n = transfer_map(img - 0.5, corr, unit_vectors=True)
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)


def test_points_off_the_source_are_invalid() -> None:
    src = template_mesh()
    moved = FaceMesh(src.vertices * 1.01, src.faces, src.uvs)  # 1 % larger: ~1 mm away
    corr = layout_correspondence(src, moved, 32)
    assert corr.valid.mean() < 0.2
