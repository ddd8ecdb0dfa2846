"""``stitch_views``: aligned views back into UV space.

Two references: views rendered here by ray casting from known UV maps on the shipped
template (a smooth synthetic albedo/roughness/specular and the mesh's own normals), and
the ground-truth views of a subject of ``face_dataset`` (built by the real pipeline),
stitched back and compared with its baked ``uv/*.exr``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, raycasting_scene
from id2reflectance.capture.geometry.template_mesh import load_shipped_template
from id2reflectance.dataset.views import aligned_cameras
from id2reflectance.errors import ConfigError, ShapeError
from id2reflectance.processing.bake.baker import BakedMaps
from id2reflectance.processing.bake.view_stitch import (
    StitchConfig,
    ViewMaps,
    camera_normals_to_world,
    stitch_views,
    world_normals_to_camera,
)
from id2reflectance.processing.bake.views import texel_geometry

VIEW_SIZE = 96
UV_SIZE = 256


@lru_cache(maxsize=1)
def _template() -> FaceMesh:
    return load_shipped_template()


def _known_uv(size: int) -> dict[str, np.ndarray]:
    """Smooth maps over the chart: albedo (S, S, 3), specular (S, S), roughness (S, S)."""
    c = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(c, 1.0 - c)
    alb = np.stack([0.45 + 0.2 * np.sin(6 * u), 0.3 + 0.15 * np.cos(5 * v), 0.2 + 0.1 * u * v], axis=-1)
    spec = 0.05 + 0.03 * np.sin(4 * u + 3 * v)
    rough = 0.35 + 0.2 * v
    return {"diffuse_albedo": alb.astype(np.float32), "specular_albedo": spec.astype(np.float32), "roughness": rough}


def _sample_uv(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    import cv2

    s = img.shape[0]
    x = (uv[:, 0] * s - 0.5).astype(np.float32)[None]
    y = ((1.0 - uv[:, 1]) * s - 0.5).astype(np.float32)[None]
    out = cv2.remap(np.ascontiguousarray(img, np.float32), x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out[0]


def render_views(mesh: FaceMesh, uv_maps: dict[str, np.ndarray], cams: dict[str, Camera]) -> list[ViewMaps]:
    """Ray-cast each camera's pixels; sample the UV maps at the hits; the mesh's
    interpolated vertex normals in camera space (OpenGL axes)."""
    scene = raycasting_scene(mesh)
    vn = mesh.vertex_normals()
    out = []
    for cam in cams.values():
        origin, dirs = cam.pixel_rays()
        _, fid, bary = cast_rays(scene, origin, dirs)
        hit = fid >= 0
        hit[hit] &= np.sum(mesh.face_normals()[fid[hit]] * dirs[hit], axis=1) < 0
        h, w = cam.height, cam.width
        uv = interpolate(mesh.uvs, mesh.faces, fid, bary)
        n = interpolate(vn, mesh.faces, fid, bary)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        maps = {k: _sample_uv(a, uv) for k, a in uv_maps.items()}
        m = hit.reshape(h, w)
        out.append(
            ViewMaps(
                camera=cam,
                diffuse_albedo=np.where(m[..., None], maps["diffuse_albedo"].reshape(h, w, 3), 0.0),
                specular_albedo=np.where(m, maps["specular_albedo"].reshape(h, w), 0.0),
                roughness=np.where(m, maps["roughness"].reshape(h, w), 0.0),
                normal=np.where(m[..., None], world_normals_to_camera(n, cam).reshape(h, w, 3), 0.0),
                mask=m.astype(np.float32),
            )
        )
    return out


@pytest.fixture(scope="module")
def synthetic() -> tuple[FaceMesh, dict[str, np.ndarray], list[ViewMaps], BakedMaps]:
    mesh = _template()
    truth = _known_uv(UV_SIZE)
    cams = aligned_cameras(mesh, size=VIEW_SIZE, views=("front", "left", "right"))
    views = render_views(mesh, truth, cams)
    return mesh, truth, views, stitch_views(mesh, views, config=StitchConfig(size=UV_SIZE))


def test_known_uv_maps_are_recovered(synthetic) -> None:
    mesh, truth, _, baked = synthetic
    seen = baked.seen & (baked.coverage > 0.3)
    assert seen.sum() > 0.2 * baked.covered.sum()
    mse = np.mean((baked.diffuse_albedo[seen] - truth["diffuse_albedo"][seen]) ** 2)
    assert 10 * np.log10(1.0 / mse) > 35.0
    # the specular albedo is the asset's quantity in the views: kept as is (no n.v conversion)
    rel = np.abs(baked.specular_albedo[seen] - truth["specular_albedo"][seen]) / truth["specular_albedo"][seen]
    assert np.median(rel) < 0.02
    assert np.median(np.abs(baked.roughness[seen] - truth["roughness"][seen])) < 0.01
    geo = texel_geometry(mesh, UV_SIZE).normals
    cos = np.sum(baked.normal_object[seen] * geo[seen], axis=-1)
    assert np.degrees(np.arccos(np.clip(np.median(cos), -1, 1))) < 1.0


def test_outputs_finite_unit_and_filled(synthetic) -> None:
    _, truth, _, baked = synthetic
    for a in (baked.diffuse_albedo, baked.specular_albedo, baked.roughness, baked.normal_object, baked.coverage):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(np.linalg.norm(baked.normal_object, axis=-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(baked.normal_tangent, axis=-1), 1.0, atol=1e-4)
    # unseen chart texels (back of the head) are filled, with coverage 0, within the seen range
    unseen = baked.covered & ~baked.seen
    assert unseen.sum() > 100
    assert np.all(baked.coverage[unseen] == 0)
    lo = baked.diffuse_albedo[baked.seen].min(axis=0) - 1e-3
    hi = baked.diffuse_albedo[baked.seen].max(axis=0) + 1e-3
    assert np.all((baked.diffuse_albedo[unseen] >= lo) & (baked.diffuse_albedo[unseen] <= hi))
    assert np.all((baked.coverage >= 0) & (baked.coverage <= 1))


def test_seam_columns_agree(synthetic) -> None:
    """The UV seam at the back (u = 0 and u = 1 are the same points): filled values on its
    two sides agree, so the texture is continuous there."""
    _, _, _, baked = synthetic
    cov = baked.covered
    rows = np.flatnonzero(cov.any(axis=1))
    left = np.array([np.flatnonzero(cov[r])[0] for r in rows])
    right = np.array([np.flatnonzero(cov[r])[-1] for r in rows])
    diff = np.abs(baked.diffuse_albedo[rows, left] - baked.diffuse_albedo[rows, right]).max(axis=-1)
    assert np.median(diff) < 0.02
    # gutters next to the chart are padded (not left black)
    ring = ~cov & np.roll(cov, 1, axis=1)
    assert np.all(baked.diffuse_albedo[ring].max(axis=-1) > 0.05)


def test_back_facing_and_occluded_texels_get_no_weight(synthetic) -> None:
    mesh, _, views, baked = synthetic
    geo = texel_geometry(mesh, UV_SIZE)
    scene = raycasting_scene(mesh)
    for view in views:
        cam = view.camera
        w = baked.view_weights[cam.name]
        to_cam = cam.center - geo.points
        dist = np.linalg.norm(to_cam, axis=-1)
        cos = np.sum(geo.normals * to_cam, axis=-1) / np.maximum(dist, 1e-12)
        back = geo.covered & (cos <= 0.0)
        assert back.sum() > 1000
        assert np.all(w[back] == 0), cam.name
        # front-facing texels hidden behind other parts of the face (ray hits first elsewhere)
        idx = np.flatnonzero((geo.covered & (cos > 0.2)).ravel())
        p = geo.points.reshape(-1, 3)[idx]
        d = (p - cam.center) / dist.ravel()[idx, None]
        t, _, _ = cast_rays(scene, cam.center[None], d)
        hidden = idx[t < dist.ravel()[idx] - 0.005]
        assert hidden.size > 0, cam.name
        assert np.all(w.ravel()[hidden] == 0), cam.name
        assert (w > 0).sum() > 1000


def test_normal_frames_round_trip() -> None:
    cam = aligned_cameras(_template(), size=64, views=("left",))["left"]
    rng = np.random.default_rng(0)
    n = rng.normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(camera_normals_to_world(world_normals_to_camera(n, cam), cam), n, atol=1e-6)
    # a normal facing the camera is +z in OpenGL camera axes
    towards = -cam.R[2]  # the camera's optical axis points along R[2] in world coordinates
    np.testing.assert_allclose(world_normals_to_camera(towards[None], cam)[0], [0, 0, 1], atol=1e-6)


def test_prepared_mesh_gives_the_same_maps_and_must_match(synthetic) -> None:
    import dataclasses

    from id2reflectance.processing.bake.prepared_mesh import prepare_mesh

    mesh, _, views, baked = synthetic
    assert (
        prepare_mesh(mesh, UV_SIZE).visibility(views[0].camera, StitchConfig().bake_config(96).view_weights()) is None
    )
    prepared = prepare_mesh(mesh, UV_SIZE, keep_visibility=True)
    for _ in range(2):  # reused: identical to the bake that prepared its own geometry
        again = stitch_views(mesh, views, config=StitchConfig(size=UV_SIZE), prepared=prepared)
        assert len(prepared._visibility) == len(views)  # one visibility per camera, kept
        for f in dataclasses.fields(BakedMaps):
            a, b = getattr(baked, f.name), getattr(again, f.name)
            if isinstance(a, dict):
                assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
            else:
                assert np.array_equal(a, b), f.name
    with pytest.raises(ShapeError, match="another mesh or size"):
        stitch_views(mesh, views, config=StitchConfig(size=UV_SIZE * 2), prepared=prepared)
    with pytest.raises(ShapeError, match="another mesh or size"):
        stitch_views(
            mesh.with_vertices(mesh.vertices + 0.001), views, config=StitchConfig(size=UV_SIZE), prepared=prepared
        )


def test_bad_input() -> None:
    mesh = _template()
    cam = aligned_cameras(mesh, size=32, views=("front",))["front"]
    ok = dict(
        camera=cam,
        diffuse_albedo=np.zeros((32, 32, 3), np.float32),
        specular_albedo=np.zeros((32, 32), np.float32),
        roughness=np.zeros((32, 32), np.float32),
        normal=np.zeros((32, 32, 3), np.float32),
        mask=np.ones((32, 32), np.float32),
    )
    with pytest.raises(ShapeError, match="no views"):
        stitch_views(mesh, [])
    with pytest.raises(ShapeError, match="diffuse_albedo must be"):
        stitch_views(mesh, [ViewMaps(**{**ok, "diffuse_albedo": np.zeros((16, 16, 3))})])
    bad = np.zeros((32, 32), np.float32)
    bad[3, 4] = np.nan
    with pytest.raises(ShapeError, match="roughness contains NaN"):
        stitch_views(mesh, [ViewMaps(**{**ok, "roughness": bad})])
    with pytest.raises(ShapeError, match="distinct"):
        stitch_views(mesh, [ViewMaps(**ok), ViewMaps(**ok)])
    with pytest.raises(ConfigError, match="power of two"):
        StitchConfig(size=300)
    with pytest.raises(ConfigError, match="mask_feather"):
        StitchConfig(mask_feather=-1.0)


def test_dataset_views_stitch_back_to_their_uv_maps(face_dataset: Path) -> None:
    """A built subject's own 32 px views, stitched into its mesh's UV space, agree with the
    subject's baked UV maps where the views see it."""
    from id2reflectance._shared.imageio import read_exr
    from id2reflectance.inference.template_subjects import TemplateBank

    bank = TemplateBank(face_dataset, split="train", cache_dir=None)
    sid = bank.ids()[0]
    size = bank.image_size
    cams = bank.cameras(sid, size)
    views = []
    for name, cam in cams.items():
        m = bank.view_maps(sid, name, size)
        views.append(ViewMaps(cam, m["diffuse_albedo"], m["specular_albedo"], m["roughness"], m["normal"], m["mask"]))
    baked = stitch_views(bank.mesh(sid), views, config=StitchConfig(size=256))
    seen = baked.seen & (baked.coverage > 0.5)
    assert seen.sum() > 0.2 * baked.covered.sum()
    root = bank.subject(sid).root / "uv"
    truth = {n: read_exr(root / f"{n}.exr")[0] for n in ("diffuse_albedo", "specular_albedo", "roughness")}
    assert truth["diffuse_albedo"].shape[0] == 256
    mse = np.mean((baked.diffuse_albedo[seen] - truth["diffuse_albedo"][seen]) ** 2)
    assert 10 * np.log10(1.0 / mse) > 30.0
    assert np.median(np.abs(baked.roughness[seen] - truth["roughness"][seen][:, 0])) < 0.02
    rel = (
        np.abs(baked.specular_albedo[seen] - truth["specular_albedo"][seen][:, 0])
        / truth["specular_albedo"][seen][:, 0]
    )
    assert np.median(rel) < 0.1
    n_true = read_exr(root / "normal_object.exr")[0]
    cos = np.sum(baked.normal_object[seen] * n_true[seen], axis=-1)
    assert np.degrees(np.arccos(np.clip(np.median(cos), -1, 1))) < 3.0
