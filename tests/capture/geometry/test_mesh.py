import numpy as np
import pytest

from id2reflectance.capture.geometry.mesh import (
    FaceMesh,
    interpolate,
    rasterize_uv,
    read_mesh,
    read_obj,
    texel_uv_grid,
    wraps_in_u,
    write_obj,
)
from id2reflectance.errors import InputFileError


def _quad():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    f = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    return FaceMesh(v, f, uv, {"corner": 2})


def test_rasterize_uv_covers_and_interpolates():
    m = _quad()
    fid, bary = rasterize_uv(m, 16)
    assert (fid >= 0).all()
    np.testing.assert_allclose(bary.sum(-1), 1.0, atol=1e-5)
    uv = interpolate(m.uvs, m.faces, fid, bary)
    u, v = texel_uv_grid(16)
    np.testing.assert_allclose(uv[..., 0], u, atol=1e-6)
    np.testing.assert_allclose(uv[..., 1], v, atol=1e-6)
    # texel (0, 0) is the top-left: u small, v close to 1
    assert u[0, 0] == pytest.approx(1 / 32) and v[0, 0] == pytest.approx(1 - 1 / 32)
    pos = interpolate(m.vertices, m.faces, fid, bary)
    np.testing.assert_allclose(pos[..., :2], uv, atol=1e-6)


def test_obj_roundtrip_and_seam_split(tmp_path):
    m = _quad()
    write_obj(tmp_path / "q.obj", m)
    back = read_obj(tmp_path / "q.obj")
    np.testing.assert_allclose(back.vertices, m.vertices)
    np.testing.assert_allclose(back.uvs, m.uvs)
    assert back.landmarks == {"corner": 2}
    # a vertex used with two UVs is split
    (tmp_path / "s.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 0.5 0.5\nf 1/1 2/2 3/3\nf 1/4 3/3 2/2\n"
    )
    s = read_obj(tmp_path / "s.obj")
    assert len(s.vertices) == 4 and len(s.faces) == 2


def test_obj_text(tmp_path):
    m = _quad()
    write_obj(tmp_path / "q.obj", m, mtl="q.mtl", material="skin")
    lines = (tmp_path / "q.obj").read_text().splitlines()
    assert lines[1:3] == ["# landmark corner 2", "mtllib q.mtl"]
    assert lines[3:5] == ["v 0 0 0", "v 1 0 0"] and lines[7:9] == ["vt 0 0", "vt 1 0"]
    assert lines[11] == "vn 0 0 1" and lines[15] == "usemtl skin"
    assert lines[16:] == ["f 1/1/1 2/2/2 3/3/3", "f 1/1/1 3/3/3 4/4/4"]
    write_obj(tmp_path / "n.obj", FaceMesh(m.vertices * np.pi, m.faces))
    lines = (tmp_path / "n.obj").read_text().splitlines()
    assert lines[3] == "v 3.14159265 3.14159265 0" and lines[-2:] == ["f 1//1 2//2 3//3", "f 1//1 3//3 4//4"]


def test_normals_outward_for_ccw():
    m = _quad()
    np.testing.assert_allclose(m.face_normals(), [[0, 0, 1], [0, 0, 1]])
    np.testing.assert_allclose(m.vertex_normals(), np.tile([0, 0, 1.0], (4, 1)))


def test_bad_meshes(tmp_path):
    (tmp_path / "e.obj").write_text("v 0 0 0\nv 1 0 0\n")
    with pytest.raises(InputFileError, match="no faces"):
        read_mesh(tmp_path / "e.obj")
    (tmp_path / "r.obj").write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(InputFileError, match="out of range"):
        read_mesh(tmp_path / "r.obj")
    (tmp_path / "x.stl").write_text("")
    with pytest.raises(InputFileError, match="unsupported mesh"):
        read_mesh(tmp_path / "x.stl")
    with pytest.raises(InputFileError, match="not found"):
        read_mesh(tmp_path / "none.obj")


def test_wraps_in_u_only_for_a_chart_closed_in_u():
    from tests.processing.asset_fixtures import uv_sphere

    sphere = uv_sphere()  # seam vertices duplicated at u = 0 and u = 1
    assert wraps_in_u(sphere)
    half = FaceMesh(sphere.vertices, sphere.faces, sphere.uvs * [0.5, 1.0])  # the same surface, u in [0, 0.5]
    assert not wraps_in_u(half)
    assert not wraps_in_u(_quad())  # u = 0 and u = 1 at different places: two edges of one chart
    assert not wraps_in_u(FaceMesh(sphere.vertices, sphere.faces))
