"""Tangent frames and normal-map conversions against analytic references."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.errors import ShapeError
from id2reflectance.processing.tangents import object_to_tangent, tangent_to_object, vertex_tangents
from tests.processing.asset_fixtures import sphere_maps, sphere_normal_map, uv_sphere


def _sphere_frame(mesh: FaceMesh, mirrored: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic +u tangent and +v direction of the UV sphere at its vertices, and a mask off the poles."""
    u = 1 - mesh.uvs[:, 0] if mirrored else mesh.uvs[:, 0]
    theta = np.pi * (1 - mesh.uvs[:, 1])
    phi = 2 * np.pi * u
    dp_dphi = np.stack([np.cos(phi), 0 * phi, -np.sin(phi)], -1)  # unit d position / d phi
    t_u = -dp_dphi if mirrored else dp_dphi  # +u runs against phi when mirrored
    b_v = -np.stack([np.cos(theta) * np.sin(phi), -np.sin(theta), np.cos(theta) * np.cos(phi)], -1)
    off_pole = (theta > 0.3) & (theta < np.pi - 0.3)
    return t_u, b_v, off_pole


@pytest.mark.parametrize("mirrored", [False, True])
def test_vertex_tangents_match_analytic_sphere(mirrored: bool) -> None:
    mesh = uv_sphere(mirror_u=mirrored)
    tg = vertex_tangents(mesh)
    n = mesh.vertex_normals()
    t_u, b_v, ok = _sphere_frame(mesh, mirrored)
    assert tg.shape == (len(mesh.vertices), 4)
    np.testing.assert_allclose(np.linalg.norm(tg[:, :3], axis=1), 1.0, atol=1e-12)
    assert np.abs(np.sum(tg[:, :3] * n, 1)).max() < 1e-12  # orthogonal to the normal
    assert np.min(np.sum(tg[ok, :3] * t_u[ok], 1)) > 0.995
    expected_w = -1.0 if mirrored else 1.0
    assert np.all(tg[ok, 3] == expected_w)
    bitangent = tg[:, 3:] * np.cross(n, tg[:, :3])
    assert np.min(np.sum(bitangent[ok] * b_v[ok], 1)) > 0.995


def _plane(uv_rotation_deg: float) -> FaceMesh:
    """A unit square in the z = 0 plane facing +z, UVs rotated by the given angle about (0.5, 0.5)."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
    a = np.deg2rad(uv_rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    uv = (v[:, :2] - 0.5) @ rot.T + 0.5
    return FaceMesh(v, np.array([[0, 1, 2], [0, 2, 3]]), uv)


def test_tangent_space_of_a_plane_reference_values() -> None:
    # UV aligned with x, y: tangent space = object space (x along +u, y along +v, z = normal)
    n_obj = np.array([0.3, -0.2, 0.932737905])  # unit
    n_obj = n_obj / np.linalg.norm(n_obj)
    img = np.broadcast_to(n_obj, (256, 256, 3)).astype(np.float32)
    nt = object_to_tangent(img, _plane(0.0))
    np.testing.assert_allclose(nt[128, 128], n_obj, atol=1e-6)
    # UV rotated by +90 deg: u = 1 - y and v = x, so +u runs along -y and +v along +x:
    # t = (n.(-y), n.x, n.z)
    nt90 = object_to_tangent(img, _plane(90.0))
    np.testing.assert_allclose(nt90[128, 128], [-n_obj[1], n_obj[0], n_obj[2]], atol=1e-6)


def test_round_trip_object_tangent_object() -> None:
    mesh = uv_sphere()
    maps = sphere_maps(256)
    nt = object_to_tangent(maps.normal_object, mesh)
    assert nt.dtype == np.float32 and nt.shape == (256, 256, 3)
    np.testing.assert_allclose(np.linalg.norm(nt, axis=-1), 1.0, atol=1e-5)
    back = tangent_to_object(nt, mesh)
    assert np.abs(back - maps.normal_object).max() < 1e-5
    # the unperturbed sphere normal is (0, 0, 1) in tangent space away from the poles
    flat = object_to_tangent(sphere_normal_map(256), mesh)
    assert flat[32:-32, :, 2].min() > 0.999


def test_bad_input_raises() -> None:
    mesh = uv_sphere()
    with pytest.raises(ShapeError):
        object_to_tangent(np.zeros((8, 16, 3)), mesh)
    with pytest.raises(ShapeError):
        vertex_tangents(FaceMesh(mesh.vertices, mesh.faces))
