"""Simulated sessions: format validity, determinism, physics of the frames against the truth."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from id2reflectance._shared.config import load_config
from id2reflectance._shared.imageio import read_exr, read_image, read_mask
from id2reflectance.capture.frames import load_camera_frames, saturation_mask
from id2reflectance.capture.geometry.mesh import read_mesh, sample_bilinear
from id2reflectance.capture.geometry.template_mesh import is_template_topology
from id2reflectance.capture.geometry.templates import resolve_template
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator import sessions as simulator
from id2reflectance.capture.simulator.face_model_subjects import resolve_face_model
from id2reflectance.capture.simulator.footprint import footprint_taps
from id2reflectance.capture.simulator.sessions import (
    SimulatorConfig,
    load_truth,
    rig_cameras,
    simulate_sessions,
    simulate_subject,
)
from id2reflectance.capture.simulator.truth_layout import layout_geometry, scanned_surface
from id2reflectance.capture.validate import validate_session
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.processing.solve.accuracy import angle_between_deg

# uv_size 192: the default layout (auto) is the face model's where it is found, whose texels over the
# face are 1.4x the procedural layout's (0.39 vs 0.29 m of face per UV unit); at 192 they are about the
# procedural layout's at 128 (2.2 vs 2.3 mm), so the subsurface blur (sigma 1 mm in red) spans a texel's fraction
SMALL = SimulatorConfig(image_size=128, uv_size=192, visibility_directions=256, seed=3)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return simulate_subject(tmp_path_factory.mktemp("sim"), subject_index=1, config=SMALL)


def test_session_is_valid(session):
    assert session.name == "S0001"
    report = validate_session(session)
    assert report.ok, report.problems
    assert not report.warnings
    s = report.session
    assert list(s.cameras) == ["front", "left", "right"]
    assert len(s.frames) == 3 * 7 * 2
    assert {f.scale for f in s.frames} == {s.frames[0].scale}
    attrs = s.attributes
    assert attrs["fitzpatrick"] in range(1, 7) and -90 < attrs["ita_deg"] < 90
    assert attrs["sex"] in ("female", "male") and 0 < attrs["melanin"] < 1
    # the scan has a different topology, the truth mesh the default template's (auto: the
    # face model's where it is found, else the procedural one)
    scan = read_mesh(session / s.mesh)
    truth = read_mesh(session / "truth" / "mesh.obj")
    template = resolve_template("auto").mesh
    assert np.array_equal(truth.faces, template.faces) and len(truth.vertices) == len(template.vertices)
    assert len(scan.vertices) != len(template.vertices) and not is_template_topology(scan)
    subject = simulator.config_subject(SMALL, 1)
    rendered, _, _ = simulator.subject_geometry(subject, SMALL)
    if simulator.layout_template(subject, SMALL) is not None:  # the face model's layout: no mouth interior
        model = resolve_face_model("auto", None)
        rendered = scanned_surface(layout_geometry(model, subject.face_head, size=SMALL.uv_size))
    assert 0.4 < len(scan.faces) / len(rendered.faces) < 0.8  # decimated (scan_decimation 0.6)
    # the scan is the rendered head's surface: area-weighted centroids (a vertex mean depends on
    # where the meshes are dense)
    np.testing.assert_allclose(_centroid(scan), _centroid(rendered), atol=3e-3)


def _centroid(mesh):
    v, f = mesh.vertices, mesh.faces
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    return (v[f].mean(axis=1) * area[:, None]).sum(axis=0) / area.sum()


def test_masks_and_truth_maps(session):
    s = load_session(session)
    for cam in s.cameras:
        t = load_truth(session, cam)
        m = t["mask"] > 0.5
        assert 0.15 < m.mean() < 0.7  # the head fills a good part of the frame
        np.testing.assert_array_equal(read_mask(session / "masks" / f"{cam}.png"), m)
        np.testing.assert_array_equal(t["uv"][..., 2] > 0.5, m)
        np.testing.assert_allclose(np.linalg.norm(t["normal"][m], axis=-1), 1.0, atol=1e-5)
        assert t["diffuse_albedo"].shape == (128, 128, 3) and t["roughness"].shape == (128, 128)
        assert np.all(t["visibility"][m] <= 1.0) and np.median(t["visibility"][m]) > 0.99
        assert not t["diffuse_albedo"][~m].any()
    # cameras see the face from where they stand: front normals toward +z, left toward +x
    nf = load_truth(session, "front")["normal"]
    nl = load_truth(session, "left")["normal"]
    mf, ml = load_truth(session, "front")["mask"] > 0.5, load_truth(session, "left")["mask"] > 0.5
    assert np.median(nf[mf][:, 2]) > 0.5 and np.median(nl[ml][:, 0]) > 0.3
    uv_spec, _ = read_exr(session / "truth" / "uv" / "specular_albedo.exr")
    assert uv_spec.shape == (SMALL.uv_size, SMALL.uv_size, 1)
    with pytest.raises(InputFileError, match="no ground truth"):
        load_truth(session, "nope")


def test_full_cross_is_half_the_albedo(session):
    s = load_session(session)
    for cam in s.cameras:
        frames = load_camera_frames(s, cam)
        t = load_truth(session, cam)
        m = t["mask"] > 0.5
        d = 2 * frames.images[("full", "cross")]
        rel = (np.abs(d - t["diffuse_albedo"]) / t["diffuse_albedo"].clip(1e-6)).max(-1)
        unshadowed = m & (t["visibility"] > 0.99)
        assert unshadowed.sum() > 0.5 * m.sum()
        assert np.median(rel[unshadowed]) < 1e-5
        # where the subsurface blur only gathers unshadowed skin, the equality is tight
        clear = ndimage.minimum_filter(np.where(m, t["visibility"], 0.0), size=5) > 0.999
        assert clear.sum() > 0.15 * m.sum()
        assert rel[clear].max() < 1e-3


def test_gradient_normals_match_truth(session):
    s = load_session(session)
    for cam in s.cameras:
        f = load_camera_frames(s, cam).images
        t = load_truth(session, cam)
        sel = (t["mask"] > 0.5) & (t["visibility"] > 0.99)
        full = f[("full", "cross")]
        errs = []
        for c in range(3):
            g = np.stack([2 * f[(f"gradient_{a}", "cross")][..., c] - full[..., c] for a in "xyz"], -1)
            errs.append(np.median(angle_between_deg(g[sel], t["normal"][sel])))
        # the subsurface blur (red widest) smooths the diffuse normals, blue the least. With the
        # pixel footprint (issue 20) the truth normal is the footprint's mean, and the albedo
        # weighting inside the footprint (strongest in blue) also parts the colours: with the
        # default box * 0.25 px lens blur red stays the worst (here red 0.086-0.144 deg, blue
        # 0.063-0.131); with a 0.5 px blur the order no longer holds (red 0.18, blue 0.21)
        assert errs[2] < 1.0 and errs[1] < 2.0 and errs[0] < 3.0
        assert errs[0] > errs[2]
        # inverse patterns carry the same information: gradient + inverse = full
        inv = f[("inverse_x", "cross")] + f[("gradient_x", "cross")]
        np.testing.assert_allclose(inv[sel], full[sel], rtol=1e-4, atol=1e-6)


def test_specular_albedo_is_parallel_minus_cross(session):
    s = load_session(session)
    cams = rig_cameras(SMALL)
    uv_spec = read_exr(session / "truth" / "uv" / "specular_albedo.exr")[0][..., 0]
    for cam in s.cameras:
        f = load_camera_frames(s, cam).images
        t = load_truth(session, cam)
        sel = (t["mask"] > 0.5) & (t["visibility"] > 0.99) & (t["specular_albedo"] > 0)
        spec = (f[("full", "parallel")] - f[("full", "cross")]).mean(-1)
        rel = np.abs(spec[sel] - t["specular_albedo"][sel]) / t["specular_albedo"][sel]
        assert np.median(rel) < 1e-3
        # seen head-on, a pixel responds with the UV map's specular albedo
        _, dirs = cams[cam].pixel_rays()
        cos = -np.sum(dirs.reshape(128, 128, 3) * t["normal"], -1)
        head_on = (t["mask"] > 0.5) & (cos > 0.995)
        assert head_on.sum() >= 10
        ref = sample_bilinear(uv_spec, t["uv"][head_on][:, :2].astype(np.float64))
        # the truth is the map's mean over the pixel's footprint (box * 0.25 px lens blur), the
        # reference its value at the centre: equal in the median, and where the map is smooth
        # (here up to 10 % apart at a few pixels on the edge of a feature of the map; 24 % with
        # a 0.5 px blur)
        ratio = t["specular_albedo"][head_on] / ref
        assert abs(np.median(ratio) - 1) < 0.01
        assert np.mean(np.abs(ratio - 1) < 0.03) >= 0.75


def test_exposure_scale_and_storage(session):
    s = load_session(session)
    peak = 0.0
    for f in s.frames:
        img, _ = read_exr(session / f.file)
        peak = max(peak, float(img.max()))
        assert img.min() >= 0.0
    assert peak == pytest.approx(SMALL.exposure_peak, rel=1e-5)


@pytest.fixture(scope="module")
def noisy_pair(tmp_path_factory):
    base = SimulatorConfig(
        image_size=96, uv_size=64, cameras=1, inverses=False, visibility_directions=128, dark_offset=0.05, seed=5
    )
    noisy = dataclasses.replace(base, noise=4e-4, read_noise=3e-3, saturation=0.6)
    root = tmp_path_factory.mktemp("noise")
    clean = simulate_subject(root / "clean", subject_index=0, config=base)
    return clean, simulate_subject(root / "noisy", subject_index=0, config=noisy), noisy


def test_deterministic(noisy_pair, tmp_path):
    clean, _, _ = noisy_pair
    cfg = SimulatorConfig(**load_config_json(clean))
    again = simulate_sessions(tmp_path, subjects=[0], config=cfg)[0]
    s = load_session(clean)
    for f in s.frames:
        a, _ = read_exr(clean / f.file)
        b, _ = read_exr(again / f.file)
        np.testing.assert_array_equal(a, b)
    for name in ("normal", "specular_albedo", "visibility"):
        np.testing.assert_array_equal(load_truth(clean, "front")[name], load_truth(again, "front")[name])
    assert (again / "session.json").read_text() == (clean / "session.json").read_text()
    assert (again / "mesh" / "scan.obj").read_text() == (clean / "mesh" / "scan.obj").read_text()


def load_config_json(session):
    """The simulator config recorded in truth/uv/params.json."""
    import json

    d = json.loads((session / "truth" / "uv" / "params.json").read_text())["config"]
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def test_noise_has_the_expected_variance(noisy_pair):
    clean, noisy, cfg = noisy_pair
    s = load_session(noisy)
    zs = []
    for f in s.frames:
        a, _ = read_exr(clean / f.file)
        b, _ = read_exr(noisy / f.file)
        ok = b < cfg.saturation
        x = a - cfg.dark_offset
        z = (b - a)[ok] / np.sqrt(cfg.noise * np.maximum(x[ok], 0) + cfg.read_noise**2)
        zs.append(z)
    z = np.concatenate(zs)
    assert abs(z.mean()) < 0.03 and z.std() == pytest.approx(1.0, abs=0.03)
    dark, _ = read_exr(noisy / "frames/front/dark_cross.exr")
    assert dark.mean() == pytest.approx(cfg.dark_offset, abs=3e-4)
    assert dark.std() == pytest.approx(cfg.read_noise, rel=0.05)


def whole_footprint_unoccluded(truth: dict, cfg: SimulatorConfig) -> np.ndarray:
    """(H, W) bool: pixels whose whole footprint (``footprint_taps``: the pixel's box and lens
    blur, ``reach`` pixels either side) lies on one unoccluded stretch of the head: every pixel
    within the reach is on the head, unshadowed (truth visibility > 0.999), and no step between
    neighbouring pixels' UVs there exceeds 4x the face's median step (a jump between surfaces at
    an occlusion edge, or a chart seam). Only there is a footprint mean of the full pattern's
    radiance exactly the footprint mean of the albedo: a footprint that straddles an occlusion
    edge or reaches a shadowed pixel mixes in texels whose subsurface-blurred irradiance is
    below 1 (their weight in the truth's visibility mean can stay under 0.1 %)."""
    taps, _ = footprint_taps(cfg.pixel_samples, cfg.lens_blur_px)
    reach = int(np.ceil(np.max(np.abs((taps + 0.5) / cfg.pixel_samples - 0.5))))
    window = np.ones((2 * reach + 1, 2 * reach + 1), bool)
    head = truth["mask"] > 0.5
    uv = truth["uv"][..., :2].astype(np.float64)
    step = np.zeros(head.shape)
    for axis in (0, 1):
        d = np.linalg.norm(np.diff(uv, axis=axis), axis=-1)
        both = np.diff(head.astype(np.int8), axis=axis) == 0
        d = np.where(both, d, 0.0)
        lo, hi = [slice(None)] * 2, [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        step[tuple(lo)] = np.maximum(step[tuple(lo)], d)
        step[tuple(hi)] = np.maximum(step[tuple(hi)], d)
    jump = head & (step > 4 * np.median(step[head]))
    clear = ndimage.minimum_filter(np.where(head, truth["visibility"], 0.0), footprint=window, mode="constant") > 0.999
    return ndimage.binary_erosion(head, window, border_value=0) & ~ndimage.binary_dilation(jump, window) & clear


def test_dark_offset_and_saturation(noisy_pair):
    clean, noisy, cfg = noisy_pair
    s = load_session(clean)
    assert "dark" in s.patterns("front", "cross") and "dark" in s.patterns("front", "parallel")
    # dark subtraction restores radiance: clean frames equal the offset-free render
    frames = load_camera_frames(s, "front")
    truth = load_truth(clean, "front")
    sel = whole_footprint_unoccluded(truth, cfg)
    assert sel.sum() > 0.2 * (truth["mask"] > 0.5).sum()
    d = 2 * frames.images[("full", "cross")]
    np.testing.assert_allclose(d[sel], truth["diffuse_albedo"][sel], rtol=1e-4)
    # the noisy session clips at the level: a plateau the loader flags
    sn = load_session(noisy)
    f = sn.frame("front", "full", "parallel")
    img, _ = read_exr(noisy / f.file)
    clipped = np.any(img >= cfg.saturation, axis=2)
    assert clipped.sum() > 20 and img.max() == pytest.approx(cfg.saturation)
    sat = saturation_mask(img, f)
    assert np.array_equal(sat, clipped)
    assert load_camera_frames(sn, "front").saturated.sum() >= clipped.sum()
    report = validate_session(noisy)
    assert report.ok and any("saturated" in w for w in report.warnings)


def test_over_exposed_session_clips_its_highlights(noisy_pair, tmp_path):
    # a technician's exposure for a dark face: twice the default's stored values, the brightest clipped
    clean, _, noisy = noisy_pair
    base = dataclasses.replace(noisy, noise=0.0, read_noise=0.0, saturation=None)  # the clean session's config
    cfg = dataclasses.replace(base, exposure_peak=2 * base.exposure_peak, saturation=1.0)
    over = simulate_subject(tmp_path, subject_index=0, config=cfg)
    s, so = load_session(clean), load_session(over)
    assert so.frames[0].scale == pytest.approx(s.frames[0].scale / 2, rel=1e-5)
    clipped = 0
    for f in s.frames:
        a, _ = read_exr(clean / f.file)
        b, _ = read_exr(over / f.file)
        expected = np.minimum(2 * (a - base.dark_offset) + base.dark_offset, 1.0)
        np.testing.assert_allclose(b, expected, rtol=1e-5, atol=1e-6)
        clipped += int(np.count_nonzero(b >= 1.0))
    assert clipped > 0
    full = so.frame("front", "full", "parallel")
    img, _ = read_exr(over / full.file)
    assert saturation_mask(img, full).sum() > 0


@pytest.mark.parametrize("fmt, tol", [("exr32", 0.0), ("exr16", 1e-3), ("tiff16", 1 / 65535)])
def test_frame_formats_round_trip(tmp_path, fmt, tol):
    img = np.random.default_rng(0).uniform(0, 0.8, (8, 8, 3)).astype(np.float32)
    path = tmp_path / f"f{simulator.FRAME_SUFFIX[fmt]}"
    simulator._write_frame(path, img, fmt)
    np.testing.assert_allclose(read_image(path, "linear"), img, atol=tol)


def test_config_validation_and_file(tmp_path):
    with pytest.raises(ConfigError, match="image_size"):
        SimulatorConfig(image_size=4)
    with pytest.raises(ConfigError, match="cameras"):
        SimulatorConfig(cameras=9)
    with pytest.raises(ConfigError, match="saturation"):
        SimulatorConfig(saturation=0.0)
    with pytest.raises(ConfigError, match="exposure_peak"):
        SimulatorConfig(exposure_peak=1.5)  # over-exposed only where the sensor clips
    with pytest.raises(ConfigError, match="exposure_peak"):
        SimulatorConfig(exposure_peak=0.0)
    assert SimulatorConfig(exposure_peak=1.5, saturation=1.0).exposure_peak == 1.5
    with pytest.raises(ConfigError, match="pixel_samples"):
        SimulatorConfig(pixel_samples=2)  # odd: a sub-sample at the pixel centre
    with pytest.raises(ConfigError, match="lens_blur_px"):
        SimulatorConfig(lens_blur_px=-0.1)
    (tmp_path / "c.toml").write_text("image_size = 64\nspecular_samples = [8, 8]\nsss_mm = [1.0, 0.5, 0.2]\n")
    cfg = load_config(tmp_path / "c.toml", SimulatorConfig)
    assert cfg.image_size == 64 and cfg.specular_samples == (8, 8) and cfg.sss_mm == (1.0, 0.5, 0.2)
    (tmp_path / "d.toml").write_text("imagesize = 64\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(tmp_path / "d.toml", SimulatorConfig)


def test_failed_run_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(simulator, "_scan_mesh", boom)
    cfg = SimulatorConfig(image_size=32, uv_size=32, cameras=1, inverses=False, visibility_directions=32)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_subject(tmp_path, subject_index=0, config=cfg)
    assert list(tmp_path.iterdir()) == []


def test_rig_cameras_follow_the_layout_given():
    """rig_cameras places each camera at its row's yaw and elevation (default: CAMERA_LAYOUT),
    looking at the target; another layout moves only the cameras whose rows differ."""
    cfg = SimulatorConfig(image_size=64, uv_size=32, cameras=3)
    target = np.asarray(simulator.CAMERA_TARGET)

    def angles(cam) -> tuple[float, float]:
        d = cam.center - target
        return float(np.degrees(np.arctan2(d[0], d[2]))), float(np.degrees(np.arcsin(d[1] / np.linalg.norm(d))))

    default = rig_cameras(cfg)
    assert list(default) == [row[0] for row in simulator.CAMERA_LAYOUT[:3]]
    for name, yaw, elev, *_ in simulator.CAMERA_LAYOUT[:3]:
        assert angles(default[name]) == pytest.approx((yaw, elev), abs=1e-9)
        assert np.linalg.norm(default[name].center - target) == pytest.approx(cfg.camera_distance)
    layout = tuple((n, 55.0 if n == "left" else yaw, *rest) for n, yaw, *rest in simulator.CAMERA_LAYOUT)
    moved = rig_cameras(cfg, layout)
    assert angles(moved["left"]) == pytest.approx((55.0, simulator.CAMERA_LAYOUT[1][2]), abs=1e-9)
    # the moved camera still looks at the target: its optical axis passes through it
    axis = moved["left"].R[2]
    to_target = (target - moved["left"].center) / np.linalg.norm(target - moved["left"].center)
    assert float(axis @ to_target) > np.cos(np.radians(1.5))  # roll and principal-point shift only
    for name in ("front", "right"):
        np.testing.assert_array_equal(moved[name].R, default[name].R)
        np.testing.assert_array_equal(moved[name].K, default[name].K)
