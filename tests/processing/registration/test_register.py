"""Template registration pieces on analytic shapes; the full fit on a simulated head is in
``test_bake.py`` (against the simulator's truth mesh)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from id2reflectance.capture.geometry.mesh import FaceMesh, write_obj
from id2reflectance.capture.session import load_session
from id2reflectance.errors import CaptureError, ConfigError, InputFileError
from id2reflectance.processing.registration.nonrigid import fit_nonrigid, uniform_laplacian, weld
from id2reflectance.processing.registration.register import RegistrationConfig, fit_residual, load_scan
from id2reflectance.processing.registration.rigid import align_scaled, nose_tip
from tests.conftest import make_tiny_session
from tests.processing.asset_fixtures import uv_sphere


def _bumpy(mesh: FaceMesh, *, amount: float = 0.01) -> FaceMesh:
    """Radially displaced sphere: a 'nose' toward +z and a ridge around y = 0.03."""
    v = mesh.vertices
    d = v / np.linalg.norm(v, axis=1, keepdims=True)
    r = np.linalg.norm(v, axis=1)
    r = (
        r
        + amount * np.exp(-np.sum((d - [0, 0, 1]) ** 2, 1) / 0.05)
        + 0.3 * amount * np.exp(-((d[:, 1] - 0.3) ** 2) / 0.01)
    )
    return mesh.with_vertices(d * r[:, None])


def test_weld_and_laplacian() -> None:
    m = uv_sphere(n_u=12, n_v=6)
    x, f, inv = weld(m)
    assert len(x) < len(m.vertices)  # seam duplicates merged
    np.testing.assert_allclose(x[inv], m.vertices, atol=1e-12)
    lap = uniform_laplacian(f, len(x))
    np.testing.assert_allclose(lap @ np.ones(len(x)), 0.0, atol=1e-12)
    assert np.allclose(lap.diagonal(), 1.0)


def test_nose_tip_is_the_front_most_point_on_the_centre_line() -> None:
    m = _bumpy(uv_sphere(n_u=48, n_v=24, radius=0.09))
    tip = nose_tip(FaceMesh(m.vertices, m.faces))
    np.testing.assert_allclose(tip, [0, 0, m.vertices[:, 2].max()], atol=1e-9)
    m2 = FaceMesh(m.vertices, m.faces, m.uvs, {"nose_tip": 3})
    np.testing.assert_array_equal(nose_tip(m2), m.vertices[3])


def test_align_scaled_recovers_axis_scales_and_pose() -> None:
    tmpl = _bumpy(uv_sphere(n_u=64, n_v=32, radius=0.09))
    c, s = np.cos(np.radians(4.0)), np.sin(np.radians(4.0))
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    k = np.array([1.06, 0.95, 1.02])
    t = np.array([0.004, -0.01, 0.02])
    scan_v = (tmpl.vertices * k) @ R.T + t
    scan = _bumpy(uv_sphere(n_u=90, n_v=45, radius=0.09))  # other tessellation, same shape
    scan = FaceMesh((scan.vertices * k) @ R.T + t, scan.faces)
    start = np.eye(4)
    start[:3, 3] = t
    xw, fw, _ = weld(tmpl)
    from id2reflectance.processing.registration.nonrigid import vertex_normals_welded

    T = align_scaled(xw, vertex_normals_welded(xw, fw), scan, start)
    got_k = np.linalg.norm(T[:3, :3], axis=0)
    np.testing.assert_allclose(got_k, k, rtol=3e-3)
    np.testing.assert_allclose(T[:3, :3] / got_k, R, atol=3e-3)
    fitted = tmpl.vertices @ T[:3, :3].T + T[:3, 3]
    assert np.abs(fitted - scan_v).max() < 1e-3


def test_fit_nonrigid_radial_lands_on_the_rays() -> None:
    tmpl = uv_sphere(n_u=48, n_v=24, radius=0.09)
    scan = _bumpy(uv_sphere(n_u=120, n_v=60, radius=0.09))
    scan = FaceMesh(scan.vertices, scan.faces)
    res = fit_nonrigid(tmpl, scan, ray_origin=np.zeros(3), stiffness=(3.0, 0.3))
    v = res.mesh.vertices
    assert res.matched.mean() > 0.95
    np.testing.assert_array_equal(res.mesh.faces, tmpl.faces)
    np.testing.assert_array_equal(res.mesh.uvs, tmpl.uvs)
    # matched vertices stay on their template ray and lie on the scan
    d0 = tmpl.vertices / np.linalg.norm(tmpl.vertices, axis=1, keepdims=True)
    d1 = v / np.linalg.norm(v, axis=1, keepdims=True)
    m = res.matched
    assert np.degrees(np.arccos(np.clip(np.sum(d0[m] * d1[m], 1), -1, 1))).max() < 1e-3
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(scan.to_open3d())
    on_scan = scene.compute_distance(o3d.core.Tensor(v[m].astype(np.float32))).numpy()
    assert on_scan.max() < 1e-5
    # between the (7.5 degree) template vertices the chords cut the curved scan by ~0.2 mm
    before = fit_residual(tmpl, scan, samples=20_000)
    after = fit_residual(res.mesh, scan, samples=20_000)
    assert after.mean < 0.3 and after.p95 < 0.6 and before.p95 > 2.5
    # closest-point correspondences also fit the surface, but slide along it
    res_c = fit_nonrigid(tmpl, scan, stiffness=(3.0, 0.3))
    d2 = res_c.mesh.vertices / np.linalg.norm(res_c.mesh.vertices, axis=1, keepdims=True)
    assert np.degrees(np.arccos(np.clip(np.sum(d0 * d2, 1), -1, 1))).max() > 0.05


def test_fit_residual_measures_offsets_in_mm() -> None:
    a = uv_sphere(n_u=64, n_v=32, radius=0.1)
    r0 = fit_residual(a, a, samples=5000)
    assert r0.mean < 1e-3 and r0.p95 < 1e-3
    b = a.with_vertices(a.vertices * 1.01)  # 1 mm larger
    r1 = fit_residual(a, b, samples=5000)
    assert r1.mean == pytest.approx(1.0, abs=0.05) and r1.scan_to_fit_p95 == pytest.approx(1.0, abs=0.05)
    assert set(r1.to_json()) == {
        "mean",
        "p95",
        "scan_to_fit_mean",
        "scan_to_fit_p95",
        "fit_to_scan_mean",
        "fit_to_scan_p95",
    }


def test_load_scan_errors(tmp_path: Path) -> None:
    root = make_tiny_session(tmp_path / "s")
    with pytest.raises(CaptureError, match="no scanned mesh"):
        load_scan(load_session(root))
    manifest = json.loads((root / "session.json").read_text())
    manifest["mesh"] = "mesh/scan.obj"
    (root / "session.json").write_text(json.dumps(manifest))
    with pytest.raises(InputFileError, match=r"mesh/scan.obj: mesh: mesh file not found"):
        load_scan(load_session(root))
    (root / "mesh").mkdir()
    (root / "mesh" / "scan.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(InputFileError, match=r"mesh/scan.obj: mesh: mesh has no faces"):
        load_scan(load_session(root))
    (root / "mesh" / "scan.obj").write_text("v 0 0 0\nv 1 0 x\nf 1 2 3\n")
    with pytest.raises(InputFileError, match=r"mesh/scan.obj: mesh: not a valid OBJ"):
        load_scan(load_session(root))
    write_obj(root / "mesh" / "scan.obj", uv_sphere(radius=100.0))
    with pytest.raises(InputFileError, match="metres"):
        load_scan(load_session(root))
    write_obj(root / "mesh" / "scan.obj", uv_sphere())
    assert len(load_scan(load_session(root)).faces) > 0


def test_registration_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="stiffness"):
        RegistrationConfig(stiffness=())
    with pytest.raises(ConfigError, match="correspondence"):
        RegistrationConfig(correspondence="nearest")  # type: ignore[arg-type]
