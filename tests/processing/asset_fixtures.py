"""Small analytic meshes and asset folders for the asset, relight and export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.processing.asset import AssetMaps, write_asset

SPHERE_RADIUS = 0.1  # metres


def uv_sphere(*, n_u: int = 48, n_v: int = 24, radius: float = SPHERE_RADIUS, mirror_u: bool = False) -> FaceMesh:
    """Lat-long UV sphere centred at the origin: u = azimuth / 2 pi from +z toward +x,
    v = 1 - theta / pi (theta from +y); seam vertices duplicated, every vertex used; faces counter-clockwise
    seen from outside. ``mirror_u`` uses u -> 1 - u (a mirrored UV layout)."""
    i, j = np.meshgrid(np.arange(n_v + 1), np.arange(n_u + 1), indexing="ij")
    theta = np.pi * i / n_v
    phi = 2 * np.pi * j / n_u
    pos = radius * np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1)
    u = j / n_u
    uvs = np.stack([1 - u if mirror_u else u, 1 - i / n_v], -1).reshape(-1, 2)
    idx = (i * (n_u + 1) + j)[:-1, :-1]
    a, b, c, d = idx, idx + 1, idx + n_u + 2, idx + n_u + 1
    tris = []
    for r in range(n_v):
        if r > 0:
            tris.append(np.stack([a[r], d[r], b[r]], -1))
        if r < n_v - 1:
            tris.append(np.stack([b[r], d[r], c[r]], -1))
    faces = np.concatenate(tris).astype(np.int64)
    used, faces = np.unique(faces, return_inverse=True)  # drop pole vertices no face uses
    faces = faces.reshape(-1, 3)
    verts = pos.reshape(-1, 3)[used]
    uvs = uvs[used]
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    if np.mean(np.sum(fn * verts[faces].mean(1), 1)) < 0:
        faces = faces[:, ::-1].copy()
    return FaceMesh(verts, faces, uvs)


def sphere_normal_map(size: int) -> np.ndarray:
    """(S, S, 3) float32 analytic outward normals of :func:`uv_sphere` at texel centres."""
    c = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(c, 1 - c)
    theta = np.pi * (1 - v)
    phi = 2 * np.pi * u
    return np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1).astype(np.float32)


def sphere_maps(size: int = 256, *, seed: int = 0, bumpy: bool = True) -> AssetMaps:
    """Skin-like maps for the UV sphere: smooth albedo and roughness variation, specular
    albedo 0.03-0.05, normals tilted by a smooth bump pattern (when ``bumpy``)."""
    rng = np.random.default_rng(seed)
    c = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(c, 1 - c)
    phase = rng.uniform(0, 2 * np.pi, 3)
    albedo = np.stack(
        [0.55 + 0.1 * np.sin(2 * np.pi * u + phase[0]), 0.38 + 0.05 * np.cos(2 * np.pi * v), 0.3 + 0 * u], -1
    )
    spec = 0.04 + 0.01 * np.sin(4 * np.pi * u + phase[1])
    rough = 0.4 + 0.1 * np.cos(2 * np.pi * u + phase[2]) * np.sin(np.pi * v)
    n = sphere_normal_map(size).astype(np.float64)
    if bumpy:
        n[..., 0] += 0.15 * np.sin(12 * np.pi * v)
        n[..., 1] += 0.15 * np.cos(10 * np.pi * u)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return AssetMaps(
        diffuse_albedo=albedo.astype(np.float32),
        specular_albedo=spec.astype(np.float32),
        roughness=rough.astype(np.float32),
        normal_object=n.astype(np.float32),
        coverage=np.ones((size, size), np.float32),
    )


def write_sphere_asset(out: Path, *, size: int = 256, mesh: FaceMesh | None = None, previews: bool = False) -> Path:
    """A complete asset folder of the UV sphere."""
    return write_asset(
        out,
        mesh=mesh or uv_sphere(),
        maps=sphere_maps(size),
        subject_id="SPH01",
        attributes={"ita_deg": 30.0},
        template_name="uv-sphere",
        template_sha256="0" * 64,
        frame="template",
        source={"kind": "photo", "photo_sha256": "1" * 64},
        stats={"coverage_seen": 1.0},
        previews=previews,
    )


def write_face_model_asset(
    out: Path, *, identity_seed: int = 3, size: int = 256, subject_id: str = "S0003", ita_deg: float = 35.0
) -> Path:
    """An asset in the face-model template's layout (needs the face model): a random
    identity's head in the template frame, a uniform skin albedo (linear Rec.709
    0.45, 0.30, 0.25), specular 0.04, roughness 0.45, the mesh's own normals."""
    from id2reflectance.capture.geometry.face_model import load_face_model
    from id2reflectance.capture.geometry.regions import mesh_uv_raster
    from id2reflectance.capture.geometry.templates import face_model_template_mesh, resolve_template

    model = load_face_model()
    template = resolve_template("face_model")
    mesh = face_model_template_mesh(model, np.random.default_rng(identity_seed).standard_normal(model.identity_modes))
    mesh = FaceMesh(mesh.vertices, mesh.faces, template.mesh.uvs, dict(template.mesh.landmarks))
    normals = mesh_uv_raster(mesh, size).interpolate(mesh.vertex_normals(), mesh.faces)
    normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
    maps = AssetMaps(
        diffuse_albedo=np.full((size, size, 3), (0.45, 0.30, 0.25), np.float32),
        specular_albedo=np.full((size, size), 0.04, np.float32),
        roughness=np.full((size, size), 0.45, np.float32),
        normal_object=normals.astype(np.float32),
        coverage=np.ones((size, size), np.float32),
    )
    return write_asset(
        out,
        mesh=mesh,
        maps=maps,
        subject_id=subject_id,
        attributes={"ita_deg": ita_deg},
        template_name=template.name,
        template_sha256=template.sha256,
        frame="template",
        source={"kind": "photo", "photo_sha256": "1" * 64},
        previews=False,
    )
