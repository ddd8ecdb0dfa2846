"""Relighting: exact pattern path (vs brute force and vs the simulator), shadows, cameras,
tone mapping and the batch output folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr, write_exr
from id2reflectance.capture.frames import load_camera_frames
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.ggx import ggx_brdf
from id2reflectance.capture.illumination import fibonacci_sphere, pattern_radiance
from id2reflectance.capture.session import load_session
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.processing.asset import asset_from_truth, read_asset
from id2reflectance.processing.relight.batch import relight_assets
from id2reflectance.processing.relight.envmap import load_environment
from id2reflectance.processing.relight.render import (
    RelightConfig,
    orbit_cameras,
    render_view,
    surface_samples,
    tone_map,
)
from tests.face_model_data import needs_model
from tests.processing.asset_fixtures import SPHERE_RADIUS, sphere_maps, uv_sphere, write_sphere_asset


@pytest.fixture(scope="module")
def sphere(tmp_path_factory: pytest.TempPathFactory):
    root = write_sphere_asset(tmp_path_factory.mktemp("relight") / "SPH01")
    return read_asset(root)


def test_orbit_cameras_frame_the_mesh(sphere) -> None:
    cams = orbit_cameras(sphere.mesh, 4, size=64, fov_deg=20.0)
    assert [c.name for c in cams] == ["orbit000", "orbit001", "orbit002", "orbit003"]
    c0 = cams[0].center
    assert c0[2] > 0 and abs(c0[0]) < 1e-9 and abs(c0[1]) < 1e-9  # frontal: on +z
    np.testing.assert_allclose(cams[1].center / np.linalg.norm(cams[1].center), [1, 0, 0], atol=1e-9)
    px, depth = cams[2].project(np.zeros((1, 3)))
    np.testing.assert_allclose(px, [[31.5, 31.5]], atol=1e-9)
    assert depth[0] > 0
    # the sphere's silhouette fits: radius 0.1 m at distance d -> fraction of the half-width
    half = np.linalg.norm(c0) * np.tan(np.deg2rad(10))
    assert SPHERE_RADIUS < half


def test_a_layout_open_in_u_is_sampled_without_wrapping(tmp_path: Path) -> None:
    """In a layout of separate charts (the face model's) the first and last texture columns
    are unrelated: the texels by u = 0 must not take the last column's colour."""
    import dataclasses

    from id2reflectance.processing.asset import Asset

    closed = uv_sphere()
    mesh = FaceMesh(closed.vertices, closed.faces, closed.uvs * [0.5, 1.0])  # u in [0, 0.5]; u = 0 faces +z
    maps = sphere_maps(64, bumpy=False)
    albedo = np.full_like(maps.diffuse_albedo, 0.5)
    albedo[:, -1] = 0.0  # the last column: on no triangle
    asset = Asset(tmp_path, {}, mesh, dataclasses.replace(maps, diffuse_albedo=albedo))
    cam = orbit_cameras(mesh, 1, size=48)[0]  # frontal: sees the chart's u = 0 edge
    s, _ = surface_samples(asset, cam)
    assert len(s.idx) > 500
    np.testing.assert_array_equal(s.albedo, 0.5)
    # the same surface with its chart closed in u (u in [0, 1]) wraps: its seam mixes both sides
    wrapped, _ = surface_samples(dataclasses.replace(asset, mesh=closed), cam)
    assert wrapped.albedo.min() < 0.5


def test_pattern_path_matches_brute_force_integration(sphere) -> None:
    cam = orbit_cameras(sphere.mesh, 1, size=32)[0]
    cfg = RelightConfig(background="black")
    s, _ = surface_samples(sphere, cam)
    pick = np.linspace(0, len(s.idx) - 1, 8).astype(int)
    w = fibonacci_sphere(60_000)
    for pattern in ("gradient_x", "inverse_y", "gradient_z"):
        r = render_view(sphere, cam, load_environment(f"pattern:{pattern}"), config=cfg)
        lrad = pattern_radiance(pattern, w)
        for p in pick:
            n, v = s.n[p], s.v[p]
            cos = np.maximum(w @ n, 0.0)
            dw = 4 * np.pi / len(w)
            diffuse = s.albedo[p] * np.sum(lrad * cos) * dw / np.pi
            f = ggx_brdf(n[None], v[None], w, s.rough[p], s.k[p])
            spec = np.sum(lrad * f * cos) * dw
            i = s.idx[p]
            np.testing.assert_allclose(r.diffuse.reshape(-1, 3)[i], diffuse, rtol=2e-3)
            np.testing.assert_allclose(r.specular.reshape(-1, 3)[i, 0], spec, rtol=0.03)  # 16x16 quadrature


def test_pattern_full_reproduces_albedo_and_polarisations(sphere) -> None:
    cam = orbit_cameras(sphere.mesh, 1, size=32)[0]
    r = render_view(sphere, cam, load_environment("pattern:full"), config=RelightConfig())
    s, _ = surface_samples(sphere, cam)
    np.testing.assert_allclose(r.diffuse.reshape(-1, 3)[s.idx], s.albedo, rtol=1e-6)
    np.testing.assert_allclose(r.image("cross"), 0.5 * r.diffuse)
    np.testing.assert_allclose(r.image("parallel"), 0.5 * r.diffuse + r.specular)
    # background is the environment (radiance 1 for the full pattern) off the sphere
    assert r.mask.sum() == len(s.idx)
    np.testing.assert_allclose(r.background[~r.mask], 1.0)
    assert np.all(r.background[r.mask] == 0)


def test_shadows_darken_only_occluded_pixels(tmp_path: Path) -> None:
    sph = uv_sphere(n_u=32, n_v=16)
    # a wall at x = +0.13 m facing the sphere, UVs in a corner of the map
    wall = np.array([[0.13, -0.3, -0.3], [0.13, -0.3, 0.3], [0.13, 0.3, 0.3], [0.13, 0.3, -0.3]])
    verts = np.concatenate([sph.vertices, wall])
    faces = np.concatenate([sph.faces, len(sph.vertices) + np.array([[0, 1, 2], [0, 2, 3]])])
    uvs = np.concatenate([sph.uvs, np.array([[0.0, 0.0], [0.01, 0.0], [0.01, 0.01], [0.0, 0.01]])])
    mesh = FaceMesh(verts, faces, uvs)
    asset = read_asset(write_sphere_asset(tmp_path / "A", mesh=mesh))
    cam = orbit_cameras(uv_sphere(), 1, size=40, fov_deg=30)[0]
    env = load_environment("pattern:gradient_x")
    open_ = render_view(asset, cam, env, config=RelightConfig(background="black"))
    shadowed = render_view(asset, cam, env, config=RelightConfig(background="black", shadows=True))
    s, _ = surface_samples(asset, cam)
    on_sphere = np.linalg.norm(s.points, axis=1) < SPHERE_RADIUS * 1.01
    facing_wall = on_sphere & (s.n[:, 0] > 0.5)
    facing_away = on_sphere & (s.n[:, 0] < -0.5)
    lum_open = open_.image().reshape(-1, 3)[s.idx].sum(1)
    lum_shadow = shadowed.image().reshape(-1, 3)[s.idx].sum(1)
    assert facing_wall.sum() > 10 and facing_away.sum() > 10
    assert np.median(lum_shadow[facing_wall] / lum_open[facing_wall]) < 0.8
    assert np.all(lum_shadow <= lum_open * (1 + 1e-9))
    # points facing away from the wall see no more than a sliver of it
    assert np.median(lum_shadow[facing_away] / lum_open[facing_away]) > 0.97


def test_tone_map_reference_values() -> None:
    x = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [4.0, 4.0, 4.0]]])
    out = tone_map(x, exposure_stops=0.0)
    # Reinhard extended, white 4: L' = L (1 + L/16) / (1 + L); 1 -> 0.53125, 4 -> 1
    srgb_053125 = 1.055 * 0.53125 ** (1 / 2.4) - 0.055
    np.testing.assert_allclose(out[0, 0], srgb_053125, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], 0.0)
    np.testing.assert_allclose(out[0, 2], 1.0, atol=1e-6)
    # auto exposure: the median foreground luminance goes to 0.25
    img = np.full((4, 4, 3), 8.0)
    auto = tone_map(img)
    np.testing.assert_allclose(auto, 1.055 * (0.25 * 1.015625 / 1.25) ** (1 / 2.4) - 0.055, atol=1e-6)


def test_relight_batch_outputs_and_bad_input(sphere, tmp_path: Path) -> None:
    env_img = np.full((16, 32, 3), 0.5, np.float32)
    env_img[4:8, 12:20] = 20.0
    write_exr(tmp_path / "room.exr", env_img)
    cfg = RelightConfig(orbit=2, image_size=24)
    out = relight_assets(
        [sphere.root], tmp_path / "out", envs=[str(tmp_path / "room.exr"), "pattern:gradient_y"], config=cfg
    )
    for env in ("room", "pattern_gradient_y"):
        for cam in ("orbit000", "orbit001"):
            img, names = read_exr(out / "SPH01" / env / f"{cam}.exr")
            assert img.shape == (24, 24, 3) and names == ("R", "G", "B") and np.all(np.isfinite(img))
            assert (out / "SPH01" / env / f"{cam}.png").is_file()
    import cv2

    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet.shape == (28 + 256, 120 + 2 * 256, 3)
    meta = json.loads((out / "relight.json").read_text())
    assert len(meta["renders"]) == 4 and meta["config"]["orbit"] == 2
    # bad environment: nothing written
    write_exr(tmp_path / "square.exr", np.ones((16, 16, 3), np.float32))
    with pytest.raises(InputFileError, match="square.exr"):
        relight_assets([sphere.root], tmp_path / "out2", envs=[str(tmp_path / "square.exr")], config=cfg)
    assert not (tmp_path / "out2").exists()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    """A small simulated session and its ground truth packaged as an asset."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject

    root = tmp_path_factory.mktemp("sim")
    # one point sample per pixel, as relight renders a view: the comparisons below are pixel by pixel
    # (with the simulator's pixel footprint, box * Gaussian lens blur, they differ by a few %)
    cfg = SimulatorConfig(
        image_size=96,
        uv_size=256,
        cameras=1,
        inverses=False,
        visibility_directions=128,
        pixel_samples=1,
        lens_blur_px=0.0,
    )
    session = simulate_subject(root, subject_index=1, config=cfg)
    asset = asset_from_truth(session, root / "asset", previews=False)
    return session, read_asset(asset)


def test_pattern_relighting_reproduces_simulated_frames(simulated) -> None:
    session_dir, asset = simulated
    session = load_session(session_dir)
    cam = next(iter(session.cameras.values()))
    frames = load_camera_frames(session, cam.name)
    vis, _ = read_exr(session_dir / "truth" / cam.name / "visibility.exr")
    errors = []
    for pattern in ("full", "gradient_x", "gradient_y", "gradient_z"):
        env = load_environment(f"pattern:{pattern}", lights_to_world=session.rig.lights_to_world)
        r = render_view(asset, cam, env, config=RelightConfig(background="black"))
        sel = r.mask & (vis[..., 0] > 0.99)
        assert sel.sum() > 500
        for pol in ("cross", "parallel"):
            sim = frames.images[(pattern, pol)]
            mine = r.image(pol)
            rel = np.abs(mine - sim).sum(-1)[sel] / np.maximum(sim.sum(-1)[sel], 1e-12)
            errors.append(float(np.median(rel)))
            assert np.median(rel) < 0.02, (pattern, pol, np.median(rel))
    assert max(errors) > 0  # the subsurface blur of the simulator is not modelled: never bit-exact


def test_relight_batch_with_session_cameras(simulated, tmp_path: Path) -> None:
    session_dir, asset = simulated
    session = load_session(session_dir)
    name = next(iter(session.cameras))
    cfg = RelightConfig(polarization="parallel", background="black")
    out = relight_assets(
        [asset.root], tmp_path / "o", envs=["pattern:gradient_y"], session=session_dir, camera=name, config=cfg
    )
    img, _ = read_exr(out / asset.subject_id / "pattern_gradient_y" / f"{name}.exr")
    sim = load_camera_frames(session, name).images[("gradient_y", "parallel")]
    vis, _ = read_exr(session_dir / "truth" / name / "visibility.exr")
    sel = (sim.sum(-1) > 0) & (vis[..., 0] > 0.99)
    assert np.median(np.abs(img - sim).sum(-1)[sel] / sim.sum(-1)[sel]) < 0.02
    with pytest.raises(ConfigError, match="nope"):
        relight_assets([asset.root], tmp_path / "o2", envs=["pattern:full"], session=session_dir, camera="nope")
    assert not (tmp_path / "o2").exists()


@needs_model
def test_eyes_fill_the_holes_between_the_lids_and_only_them(tmp_path: Path) -> None:
    """A face-model asset is skin only: rendered alone its eyes are background; with the
    placed eyeballs those pixels are eyes (sclera, iris, pupil), lit like the skin, and
    every pixel the lids cover stays the skin's."""
    from id2reflectance.capture.camera import Camera, look_at
    from id2reflectance.capture.eye_appearance import PUPIL_ALBEDO, SCLERA_ALBEDO
    from id2reflectance.processing.relight.eyes import asset_eyes
    from tests.processing.asset_fixtures import write_face_model_asset

    asset = read_asset(write_face_model_asset(tmp_path / "A"))
    eyes = asset_eyes(asset)
    assert eyes is not None
    target = eyes.eyes.centres.mean(axis=0)
    R, t = look_at(target + np.array([0.0, 0.0, 0.6]), target)
    size = 96
    f = size / 0.1 * 0.6  # 0.1 m across the image at 0.6 m
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    cam = Camera("eyes", size, size, K, np.zeros(0), R, t)
    env = load_environment("pattern:full")
    cfg = RelightConfig(background="black", pattern_samples=8)
    skin = render_view(asset, cam, env, config=cfg)
    both = render_view(asset, cam, env, config=cfg, eyes=eyes)
    holes = both.mask & ~skin.mask
    assert holes.sum() > 60, holes.sum()  # both eye openings
    assert np.all(both.mask[skin.mask])
    # the lids occlude the eyeballs: (nearly) every skin pixel is rendered as before
    same = np.all(both.image()[skin.mask] == skin.image()[skin.mask], axis=1)
    assert same.mean() > 0.995, same.mean()
    img = both.image()
    assert np.all(img[holes].sum(axis=1) > 0)  # eye-coloured, not the black background
    # the samples: eye hits carry the eye's albedo; the sclera is whiter than the skin, the pupil dark
    s, _ = surface_samples(asset, cam, eyes=eyes)
    assert s.eye is not None
    on_eye = np.zeros(size * size, bool)
    on_eye[s.idx[s.eye]] = True
    np.testing.assert_array_equal(on_eye.reshape(size, size) & ~skin.mask, holes)
    alb = s.albedo[s.eye]
    assert np.any(np.all(np.isclose(alb, SCLERA_ALBEDO, atol=1e-6), axis=1))
    assert np.any(np.all(np.isclose(alb, PUPIL_ALBEDO, atol=1e-6), axis=1))
    sclera = np.all(np.isclose(alb, SCLERA_ALBEDO, atol=1e-6), axis=1)
    px = s.idx[s.eye][sclera]
    ratio = img.reshape(-1, 3)[px, 2] / img.reshape(-1, 3)[px, 0]  # blue over red: the sclera's 0.75
    assert np.median(ratio) > 0.25 / 0.45  # whiter than the skin's
    # shadows: the eyeballs are in the shadow rays' scene too, and nothing breaks
    cfg = RelightConfig(background="black", shadows=True, shadow_samples=2, pattern_samples=4)
    shadowed = render_view(asset, cam, env, config=cfg, eyes=eyes)
    assert np.all(np.isfinite(shadowed.image())) and np.array_equal(shadowed.mask, both.mask)


@needs_model
def test_relight_batch_renders_eyes_when_asked(tmp_path: Path) -> None:
    from tests.processing.asset_fixtures import write_face_model_asset

    root = write_face_model_asset(tmp_path / "A")
    imgs = {}
    for eyes in (False, True):
        cfg = RelightConfig(image_size=96, fov_deg=12.0, background="black", eyes=eyes)
        out = relight_assets([root], tmp_path / f"out{eyes}", envs=["pattern:full"], config=cfg)
        assert json.loads((out / "relight.json").read_text())["config"]["eyes"] is eyes
        imgs[eyes], _ = read_exr(out / "S0003" / "pattern_full" / "orbit000.exr")
    lit = imgs[True].sum(-1) > 0
    new = lit & (imgs[False].sum(-1) == 0)  # eye pixels: black background without eyes
    assert new.sum() > 10, new.sum()
    np.testing.assert_array_equal(imgs[True][~new], imgs[False][~new])
