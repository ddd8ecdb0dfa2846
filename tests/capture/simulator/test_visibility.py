import numpy as np
import pytest
from scipy.spatial import cKDTree

from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.ggx import diffuse_moments
from id2reflectance.capture.illumination import fibonacci_sphere
from id2reflectance.capture.simulator.visibility import direction_table, vertex_visibility


def _sphere(radius=0.1, n=24):
    th = np.linspace(0, np.pi, n + 1)
    ph = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    t, p = np.meshgrid(th[1:-1], ph, indexing="ij")
    v = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], -1).reshape(-1, 3)
    v = np.concatenate([[[0, 1.0, 0]], v, [[0, -1.0, 0]]]) * radius
    rings, m = n - 1, 2 * n
    idx = 1 + np.arange(rings * m).reshape(rings, m)
    faces = [[0, idx[0, (j + 1) % m], idx[0, j]] for j in range(m)]
    for i in range(rings - 1):
        for j in range(m):
            a, b, c, d = idx[i, j], idx[i, (j + 1) % m], idx[i + 1, (j + 1) % m], idx[i + 1, j]
            faces += [[a, b, c], [a, c, d]]
    last = len(v) - 1
    faces += [[last, idx[-1, j], idx[-1, (j + 1) % m]] for j in range(m)]
    return FaceMesh(v, np.asarray(faces, np.int64))


def test_nearest_direction_lookup():
    table = direction_table(512)
    d = np.random.default_rng(0).normal(size=(50000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    k = table.nearest(d)
    _, ref = cKDTree(table.directions).query(d)
    assert np.mean(k == ref) > 0.9
    got = np.sum(table.directions[k] * d, 1)
    best = np.sum(table.directions[ref] * d, 1)
    assert np.degrees(np.arccos(np.clip(got, -1, 1))).max() < 8.5  # covering radius of 512 directions
    assert np.degrees(np.arccos(np.clip(got, -1, 1)) - np.arccos(np.clip(best, -1, 1))).max() < 1.5
    np.testing.assert_array_equal(table.nearest(table.directions), np.arange(512))


def test_convex_sphere_is_open_everywhere():
    s = _sphere()
    assert np.all(np.sum(s.face_normals() * s.vertices[s.faces].mean(1), 1) > 0)  # outward
    vis = vertex_visibility(s, directions=128)
    assert vis.open.all() and (vis.visible == 1).all()


def test_plate_above_a_sphere_shadows_the_top():
    s = _sphere()
    plate_v = np.array([[-1, 0.2, -1], [1, 0.2, -1], [1, 0.2, 1], [-1, 0.2, 1.0]])
    plate_f = np.array([[0, 1, 2], [0, 2, 3]]) + len(s.vertices)
    mesh = FaceMesh(np.concatenate([s.vertices, plate_v]), np.concatenate([s.faces, plate_f]))
    vis = vertex_visibility(mesh, directions=1024)
    top, bottom = 0, len(s.vertices) - 1
    assert vis.open[bottom] and not vis.open[top]
    # evaluate at the two poles as shading points on a triangle touching each pole
    tri_top = int(np.flatnonzero((mesh.faces == top).any(1))[0])
    tri_bot = int(np.flatnonzero((mesh.faces == bottom).any(1))[0])
    bary = np.zeros((2, 3))
    bary[0, list(mesh.faces[tri_top]).index(top)] = 1.0
    bary[1, list(mesh.faces[tri_bot]).index(bottom)] = 1.0
    fn = vis.function(np.array([tri_top, tri_bot]), bary)
    n = np.array([[0, 1.0, 0], [0, -1.0, 0]])
    m0, m1 = diffuse_moments(n, samples=(32, 64), visibility=fn)
    # the plate hides everything above ~6 deg elevation from the top: m0 = sin^2(5.7 deg) ~ 0.01
    assert m0[0] == pytest.approx(0.01, abs=0.01)
    assert m0[1] == 1.0 and np.array_equal(m1[1], 2 / 3 * n[1])
    assert list(vis.unoccluded(np.array([tri_top, tri_bot]))) == [False, True]
    # an all-visible query returns exactly 1
    d = fibonacci_sphere(64)[None]
    np.testing.assert_array_equal(fn(np.array([1]), d), 1.0)
