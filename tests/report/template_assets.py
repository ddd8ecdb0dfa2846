"""In-memory assets on the template mesh (its UV layout, so region masks apply)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from id2reflectance.capture.geometry.regions import region_masks, uv_raster
from id2reflectance.capture.geometry.template_mesh import template_mesh
from id2reflectance.processing.asset import Asset, AssetMaps


def template_maps(size: int) -> AssetMaps:
    """Skin-like maps: the template's own normals, albedo 0.5 with the lips redder (region
    masks), specular 0.04 (0.08 on the nose), roughness 0.45 (0.3 on the forehead), full coverage
    on the chart and 0 on the padding."""
    r = uv_raster(size)
    mesh = template_mesh()
    n = r.interpolate(mesh.vertex_normals(), mesh.faces)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    g = region_masks(size)
    albedo = np.full((size, size, 3), 0.5, np.float32)
    albedo[..., 0] += 0.3 * g["lips"]
    spec = (0.04 + 0.04 * g["nose"]).astype(np.float32)
    rough = (0.45 - 0.15 * g["forehead"]).astype(np.float32)
    return AssetMaps(albedo, spec, rough, n.astype(np.float32), r.covered.astype(np.float32))


def template_asset(size: int = 128) -> Asset:
    maps = template_maps(size)
    manifest = {"subject": {"id": "T0"}, "size": size, "frame": "template", "source": {"kind": "photo"}}
    return Asset(Path("."), manifest, template_mesh(), maps)
