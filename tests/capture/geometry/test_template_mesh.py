"""The procedural head template: topology, frame, landmarks, normals, UV chart, shipped file."""

import numpy as np
import pytest

from id2reflectance.capture.geometry.mesh import rasterize_uv, read_obj
from id2reflectance.capture.geometry.template_mesh import (
    GRID_COLUMNS,
    HeadParams,
    _grid,
    head_mesh,
    is_template_topology,
    main,
    shipped_template_path,
    template_mesh,
)
from id2reflectance.errors import ConfigError


@pytest.fixture(scope="module")
def template():
    return template_mesh()


@pytest.fixture(scope="module")
def subjects():
    out = []
    for i, sex in enumerate(("female", "male", None)):
        params = HeadParams.random(np.random.default_rng([11, i]), sex=sex)
        out.append(head_mesh(params))
    return out


def test_topology_identical_across_subjects(template, subjects):
    assert 15_000 <= len(template.vertices) <= 30_000
    for m in subjects:
        assert is_template_topology(m)
        np.testing.assert_array_equal(m.faces, template.faces)
        np.testing.assert_array_equal(m.uvs, template.uvs)
        assert m.landmarks == template.landmarks
        # the shape does change
        assert np.abs(m.vertices - template.vertices).max() > 2e-3


def test_frame_and_size(template):
    v = template.vertices
    lm = template.landmarks
    crown_to_chin = v[:, 1].max() - v[lm["chin"], 1]
    assert 0.22 <= crown_to_chin <= 0.25
    # head roughly centred on the origin, wider than deep is false for humans: deeper than wide
    assert abs(v[:, 0].mean()) < 1e-9  # mirror symmetric
    width = np.ptp(v[np.abs(v[:, 1]) < 0.03, 0])
    depth = np.ptp(v[np.abs(v[:, 0]) < 0.01, 2])
    assert 0.14 < width < 0.18 and 0.19 < depth < 0.23
    # not a sphere: the face is flatter and the nose sticks out
    assert v[:, 2].max() > 0.11 and -v[:, 2].min() < 0.11


def test_landmarks_on_the_right_features(template, subjects):
    for m in [template, *subjects]:
        v = m.vertices
        p = {k: v[i] for k, i in m.landmarks.items()}
        # nose tip: the most forward point near the face centre line
        central = np.abs(v[:, 0]) < 0.02
        assert p["nose_tip"][2] > v[central, 2].max() - 0.003
        assert abs(p["nose_tip"][0]) < 1e-3
        # mouth below the nose, eyes above it, chin lowest
        assert p["mouth_left"][1] < p["nose_tip"][1] - 0.02
        for e in ("eye_outer_left", "eye_inner_left", "eye_inner_right", "eye_outer_right"):
            assert p[e][1] > p["nose_tip"][1] + 0.015
        assert p["chin"][1] < p["mouth_left"][1] - 0.03
        # subject's left is +x; outer corners further out than inner ones
        assert p["eye_outer_left"][0] > p["eye_inner_left"][0] > 0.01
        assert p["eye_outer_right"][0] < p["eye_inner_right"][0] < -0.01
        assert p["mouth_left"][0] > 0.015 and p["mouth_right"][0] < -0.015


def test_normals_point_outward(template):
    v, f = template.vertices, template.faces
    fn = template.face_normals()
    c = v[f].mean(axis=1)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    outward = np.sum(fn * c, axis=1) > 0
    assert np.sum(area[outward]) / area.sum() > 0.99
    # signed volume seen from the origin (the open neck adds a little): a head of a few litres
    vol = np.sum(np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]]))) / 6.0
    assert 0.003 < vol < 0.007
    n = template.vertex_normals()[template.landmarks["nose_tip"]]
    assert n[2] > 0.9


def test_uv_chart_single_and_non_overlapping(template):
    uv, f = template.uvs, template.faces
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    e1, e2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    signed = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert np.all(signed > 0)  # same orientation everywhere, no flipped or degenerate triangle
    # overlapping triangles would cover less than the sum of their areas
    fid, _ = rasterize_uv(template, 512)
    covered = np.mean(fid >= 0)
    assert covered == pytest.approx(signed.sum(), abs=2e-3)
    # the face gets most of the chart: the front 180 degrees hold well over half of it
    front = template.vertices[f].mean(axis=1)[:, 2] > 0
    assert signed[front].sum() > 0.6 * signed.sum()


def test_seam_vertices_duplicated(template):
    g = _grid()
    first, last = g.ring_index[:, 0], g.ring_index[:, GRID_COLUMNS]
    np.testing.assert_allclose(template.vertices[first], template.vertices[last], atol=1e-12)
    assert np.all(template.uvs[first, 0] == 0.0) and np.all(template.uvs[last, 0] == 1.0)


def test_shipped_template_equals_fresh_generation(template):
    shipped = read_obj(shipped_template_path())
    np.testing.assert_allclose(shipped.vertices, template.vertices, atol=1e-6)
    np.testing.assert_array_equal(shipped.faces, template.faces)
    np.testing.assert_allclose(shipped.uvs, template.uvs, atol=1e-7)
    assert shipped.landmarks == template.landmarks


def test_module_entry_point_writes_template(tmp_path, template):
    out = tmp_path / "t.obj"
    assert main([str(out)]) == 0
    lines = out.read_text().splitlines()
    assert sum(line.startswith("v ") for line in lines) == len(template.vertices)
    assert sum(line.startswith("f ") for line in lines) == len(template.faces)
    assert f"# landmark nose_tip {template.landmarks['nose_tip']}" in lines
    assert main([]) == 2


def test_head_params_random_and_validation():
    a = HeadParams.random(np.random.default_rng(5))
    b = HeadParams.random(np.random.default_rng(5))
    assert a == b
    males = [HeadParams.random(np.random.default_rng(i), sex="male") for i in range(20)]
    females = [HeadParams.random(np.random.default_rng(i), sex="female") for i in range(20)]
    assert np.mean([m.jaw_width for m in males]) > np.mean([f.jaw_width for f in females])
    with pytest.raises(ConfigError, match="HeadParams.width"):
        HeadParams(width=0.3)
    with pytest.raises(ConfigError, match="HeadParams.nose_length"):
        HeadParams(nose_length=2.0)
