"""Ambient visibility of the registered mesh and its subsurface blur."""

from __future__ import annotations

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh, rasterize_uv
from id2reflectance.processing.bake.occlusion import (
    subsurface_blur,
    texel_ambient_visibility_normals,
    texel_size_m,
    vertex_ambient_visibility,
)
from id2reflectance.processing.bake.views import texel_geometry
from tests.processing.asset_fixtures import uv_sphere
from tests.processing.bake.test_views import _plane


def _corner(n: int = 40, half: float = 0.5) -> FaceMesh:
    """A floor (y = 0, facing +y) meeting a wall (x = 0, facing +x), both large."""
    g = np.linspace(0.0, half, n + 1)
    a, b = np.meshgrid(g, np.linspace(-half, half, n + 1))
    floor = np.stack([a.ravel(), np.zeros(a.size), b.ravel()], 1)
    wall = np.stack([np.zeros(a.size), a.ravel(), b.ravel()], 1)
    idx = np.arange(a.size).reshape(n + 1, n + 1)
    q0, q1, q2, q3 = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    tris = np.concatenate([np.stack([q0, q2, q1], -1).reshape(-1, 3), np.stack([q0, q3, q2], -1).reshape(-1, 3)])
    f_floor = tris
    f_wall = tris[:, ::-1] + a.size
    v = np.concatenate([floor, wall])
    f = np.concatenate([f_floor, f_wall]).astype(np.int64)
    # orient: floor normals +y, wall normals +x
    m = FaceMesh(v, f)
    fn = m.face_normals()
    up = np.where(np.arange(len(f)) < len(f_floor), fn[:, 1], fn[:, 0])
    f = np.where((up < 0)[:, None], f[:, ::-1], f)
    return FaceMesh(v, f)


def test_convex_surface_is_fully_open() -> None:
    m0 = vertex_ambient_visibility(uv_sphere(n_u=24, n_v=12), directions=64)
    np.testing.assert_allclose(m0, 1.0)


def test_floor_next_to_a_wall() -> None:
    mesh = _corner()
    only = np.zeros(len(mesh.vertices), bool)
    v = mesh.vertices
    probe = (v[:, 1] == 0) & (np.abs(v[:, 2]) < 0.05) & (v[:, 0] > 0)
    only[probe] = True
    m0 = vertex_ambient_visibility(mesh, directions=2048, only=only)
    assert np.all(m0[~only] == 1.0)
    x = v[probe, 0]
    # at the foot of a (large) wall half of the cosine lobe is hidden; the wall (0.5 m high)
    # hides less and less away from it
    near = m0[probe][x == x.min()]
    assert np.all(np.abs(near - 0.5) < 0.06)
    far = m0[probe][x == x.max()]
    assert np.all(far > 0.85)
    order = np.argsort(x)
    assert np.all(np.diff(m0[probe][order]) > -0.02)  # opens up away from the wall


def test_texel_visibility_follows_the_texel_normal() -> None:
    mesh = _corner()
    v = mesh.vertices
    probe = np.flatnonzero((v[:, 1] == 0) & (np.abs(v[:, 2]) < 0.05) & (v[:, 0] > 0) & (v[:, 0] < 0.2))
    # one "texel" on each probe vertex: a triangle holding it, barycentric weight 1 there
    face_of = {int(vi): fi for fi, tri in enumerate(mesh.faces) for vi in tri}
    fid = np.array([[face_of[int(p)] for p in probe]])
    bary = (mesh.faces[fid] == probe[None, :, None]).astype(np.float32)
    up = np.broadcast_to([0.0, 1.0, 0.0], (*fid.shape, 3))
    m0 = texel_ambient_visibility_normals(mesh, fid, bary, up, directions=512)
    only = np.zeros(len(v), bool)
    only[probe] = True
    # with the vertex's own normal it is the vertex's value (same rays, same weights)
    np.testing.assert_allclose(m0[0], vertex_ambient_visibility(mesh, directions=512, only=only)[probe], atol=1e-6)
    # a detail normal turned toward the wall sees less of the open sky, turned away more
    towards = np.broadcast_to(np.array([-1.0, 1.0, 0.0]) / np.sqrt(2), up.shape)
    away = np.broadcast_to(np.array([1.0, 1.0, 0.0]) / np.sqrt(2), up.shape)
    m_t = texel_ambient_visibility_normals(mesh, fid, bary, towards, directions=512)
    m_a = texel_ambient_visibility_normals(mesh, fid, bary, away, directions=512)
    assert np.all(m_t < m0 - 0.05) and np.all(m_a > m0 + 0.02)
    # uncovered texels and texels outside ``where`` stay 1
    fid2 = np.concatenate([fid, -np.ones_like(fid)])
    out = texel_ambient_visibility_normals(
        mesh, fid2, np.concatenate([bary, bary]), np.concatenate([up, up]), directions=64, where=fid2 >= 0
    )
    assert np.all(out[1] == 1.0) and np.all(out[0] < 1.0)


def test_texel_size_and_subsurface_blur() -> None:
    plane = _plane(half=0.1)
    fid, _ = rasterize_uv(plane, 64)
    t = texel_size_m(plane, fid, fid >= 0)
    assert abs(t - 0.2 / 64) < 1e-9
    m0 = np.ones((64, 64))
    np.testing.assert_allclose(subsurface_blur(m0, (1.0, 0.5, 0.25), t), 1.0)
    m0[:, 32:] = 0.2
    out = subsurface_blur(m0, (3.0, 1.5, 0.0), t)
    # a texel is 3.125 mm here: red blurs over ~1 texel, green over half, blue not at all
    red, green, blue = out[10, 28:36, 0], out[10, 28:36, 1], out[10, 28:36, 2]
    np.testing.assert_allclose(blue, m0[10, 28:36])
    assert np.abs(np.diff(red)).max() < np.abs(np.diff(green)).max() < np.abs(np.diff(blue)).max()


def test_occlusion_mesh_blocks_the_directions_but_not_the_cameras() -> None:
    """``bake_maps(..., occlusion_mesh=)``: the ambient-occlusion rays meet that geometry
    (a wall the registered plane does not hold), the cameras' visibility does not."""
    from id2reflectance.processing.bake.baker import BakeConfig, bake_maps
    from tests.processing.bake.test_views import HALF, _albedo, _camera, _render, _union

    plane = _plane(16)
    w = _plane(8).vertices
    wall = FaceMesh(np.stack([np.full(len(w), HALF), w[:, 1], w[:, 0] + HALF], axis=1), _plane(8).faces)
    view = _render(_camera())
    cfg = BakeConfig(size=256, previews=False)
    alone = bake_maps(plane, [view], config=cfg)
    walled = bake_maps(plane, [view], config=cfg, occlusion_mesh=_union(plane, wall))
    g = texel_geometry(plane, 256)
    p = g.points
    truth = _albedo(p.reshape(-1, 3)).reshape(p.shape)
    near = alone.seen & walled.seen & (p[..., 0] > 0.08) & (np.abs(p[..., 1]) < 0.05)
    far = alone.seen & walled.seen & (p[..., 0] < -0.07) & (np.abs(p[..., 1]) < 0.05)
    assert near.sum() > 100 and far.sum() > 100
    # the plane alone is open: its albedo is the images'; the wall hides up to half of the
    # lobe beside it, so the bake divides by m0 < 1 there, less and less away from it
    np.testing.assert_allclose(alone.diffuse_albedo[near], truth[near], atol=0.01)
    ratio = walled.diffuse_albedo / truth
    assert ratio[near].min() > 1.25
    assert np.all(ratio[far] < ratio[near].min())
    # the cameras' visibility does not see the wall: the same texels are seen
    np.testing.assert_array_equal(alone.seen | ~(near | far), walled.seen | ~(near | far))


def test_occlusion_geometry_follows_the_scan_where_the_fit_leaves_it() -> None:
    """Where the registered mesh leaves the scan (a flat template strip where the scan
    rises, as the template's neck stub leaves a real neck), the default occlusion geometry
    is the fit moved onto the scan: its vertices lie on the scan, and the ramp it gains
    shadows the texels beside it, so the bake divides their albedo by m0 < 1. ``"fitted"``
    and a bake without a scan keep the flat fit (open: the images' albedo)."""
    import dataclasses

    import open3d as o3d

    from id2reflectance.capture.geometry.mesh import raycasting_scene
    from id2reflectance.processing.bake.baker import BakeConfig, bake_maps
    from id2reflectance.processing.bake.occlusion import mesh_on_scan
    from tests.processing.bake.test_views import _albedo, _camera, _render

    plane = _plane(16)  # the fit: flat; grid step 12.5 mm, x = 0.05 is a grid line
    v = plane.vertices.copy()
    v[:, 2] = np.maximum(v[:, 0] - 0.05, 0.0)  # the scan rises at 45 degrees beyond x = 0.05
    scan = FaceMesh(v, plane.faces)
    moved = mesh_on_scan(plane, scan, 0.001)
    d = raycasting_scene(scan).compute_distance(o3d.core.Tensor(moved.vertices.astype(np.float32))).numpy()
    assert d.max() < 1e-5
    assert moved.vertices[:, 2].max() > 0.02  # it gained the ramp (up to half its height)
    np.testing.assert_array_equal(moved.faces, plane.faces)
    np.testing.assert_array_equal(
        moved.vertices[plane.vertices[:, 0] <= 0.05], plane.vertices[plane.vertices[:, 0] <= 0.05]
    )

    view = _render(_camera())
    cfg = BakeConfig(size=256, previews=False, surface="template")  # the scan as occluder only
    default = bake_maps(plane, [view], config=cfg, occluder=scan)
    fitted = bake_maps(plane, [view], config=dataclasses.replace(cfg, occlusion_geometry="fitted"), occluder=scan)
    no_scan = bake_maps(plane, [view], config=cfg)
    explicit = bake_maps(plane, [view], config=cfg, occluder=scan, occlusion_mesh=moved)
    p = texel_geometry(plane, 256).points
    truth = _albedo(p.reshape(-1, 3)).reshape(p.shape)
    near = default.seen & fitted.seen & (p[..., 0] > 0.035) & (p[..., 0] < 0.048) & (np.abs(p[..., 1]) < 0.05)
    assert near.sum() > 100
    np.testing.assert_allclose(fitted.diffuse_albedo[near], truth[near], atol=0.01)
    np.testing.assert_array_equal(fitted.diffuse_albedo[near], no_scan.diffuse_albedo[near])
    np.testing.assert_array_equal(default.diffuse_albedo, explicit.diffuse_albedo)
    assert (default.diffuse_albedo[near] / truth[near]).min() > 1.05
