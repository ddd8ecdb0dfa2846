"""The scan's normals as the low frequencies of the solved normals (processing/solve/scan_normals.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.errors import InputFileError, ShapeError
from id2reflectance.processing.solve.accuracy import angle_between_deg, solve_accuracy
from id2reflectance.processing.solve.camera_maps import CameraMaps
from id2reflectance.processing.solve.config import SolverConfig
from id2reflectance.processing.solve.scan_normals import (
    ScanFusion,
    ScanRender,
    SessionScan,
    fuse_camera_normals,
    fuse_scan_normals,
    high_pass_gain,
    low_band_weight,
    render_scan_normals,
    scan_scene,
    scan_shift,
)
from id2reflectance.processing.solve.solver import solve_session

from .noisy_sessions import ISSUE_NOISE, shared_clean, shared_noisy

RADIUS = 0.1  # metres: the test sphere


def _sphere(centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> FaceMesh:
    import open3d as o3d

    m = o3d.geometry.TriangleMesh.create_sphere(radius=RADIUS, resolution=60)
    return FaceMesh(np.asarray(m.vertices, np.float64) + np.asarray(centre), np.asarray(m.triangles, np.int64))


def _camera(size: int = 96) -> Camera:
    R, t = look_at(np.array([0.0, 0.0, 0.6]), np.zeros(3))
    f = size * 1.6
    K = np.array([[f, 0, size / 2 - 0.5], [0, f, size / 2 - 0.5], [0, 0, 1.0]])
    return Camera("front", size, size, K, np.array([0.05, 0.0, 0.0, 0.0]), R, t)


def _true_normals(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """The exact sphere's (H, W, 3) outward normals and (H, W) hit mask (rays through the lens model)."""
    o, d = camera.pixel_rays()
    b = d @ o
    disc = b * b - (o @ o - RADIUS**2)
    hit = disc > 0
    t = -b - np.sqrt(np.maximum(disc, 0))
    n = (o + t[:, None] * d) / RADIUS
    shape = (camera.height, camera.width)
    return n.reshape(*shape, 3).astype(np.float32), hit.reshape(shape)


def _noisy(truth: np.ndarray, mask: np.ndarray, rng: np.random.Generator, low: float, white: float) -> np.ndarray:
    """``truth`` plus noise correlated over a few pixels (``low``, radians) and per pixel (``white``)."""
    smooth = np.stack(
        [cv2.GaussianBlur(rng.standard_normal(mask.shape).astype(np.float32), (0, 0), 2.0) for _ in "xyz"], -1
    )
    smooth *= low / smooth.std()
    n = truth + smooth + white * rng.standard_normal(truth.shape).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.where(mask[..., None], n, 0).astype(np.float32)


def _noisy_lobes(
    truth: np.ndarray, hit: np.ndarray, seed: int, low: tuple[float, float] = (0.03, 0.05)
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy diffuse and specular normals of ``truth`` (:func:`_noisy`, white noise 0.02 and 0.03 rad)."""
    rng = np.random.default_rng(seed)
    return _noisy(truth, hit, rng, low=low[0], white=0.02), _noisy(truth, hit, rng, low=low[1], white=0.03)


def _rendered(scan: FaceMesh, camera: Camera) -> ScanRender:
    """``scan``'s normals rendered into the whole of ``camera``'s image."""
    scene, vn = scan_scene(scan)
    return render_scan_normals(scan, scene, vn, camera)


def _median_deg(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.median(angle_between_deg(a[where], b[where])))


def test_render_matches_the_sphere_through_the_lens() -> None:
    cam = _camera()
    truth, hit = _true_normals(cam)
    scan = _sphere()
    scene, vn = scan_scene(scan)
    one = render_scan_normals(scan, scene, vn, cam, step=1)
    inner = cv2.erode(hit.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert one.window == (0, 96, 0, 96)
    assert (one.hit == hit).mean() > 0.995  # the faceted sphere's rim against the exact one
    assert _median_deg(one.normals, truth, inner) < 0.5
    # every 3rd pixel, bilinear between: the same normals, a pixel hit only where its rays all hit
    coarse = render_scan_normals(scan, scene, vn, cam, step=3, window=(10, 90, 5, 80))
    assert coarse.normals.shape == (80, 75, 3) and coarse.hit.shape == (80, 75)
    sub = inner[10:90, 5:80] & coarse.hit
    assert _median_deg(coarse.normals, one.normals[10:90, 5:80], sub) < 0.3
    assert not (coarse.hit & ~hit[10:90, 5:80]).any()


def test_weights_are_estimated_from_the_estimates_disagreement() -> None:
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((20000, 3))
    photo, scan, witness = (truth + s * rng.standard_normal(truth.shape) for s in (0.3, 0.1, 0.5))
    # inverse-variance weight of the scan: 0.09 / (0.09 + 0.01)
    assert low_band_weight(photo, scan, witness) == pytest.approx(0.9, abs=0.02)
    assert low_band_weight(scan, photo, witness) == pytest.approx(0.1, abs=0.02)
    # high-pass gain: signal variance over signal plus noise, the scan's own noise not entering
    assert high_pass_gain(truth + 1.0 * rng.standard_normal(truth.shape), scan) == pytest.approx(0.5, abs=0.02)
    assert high_pass_gain(np.zeros((5, 3)), scan[:5]) == 1.0


def test_gain_with_a_second_witness_is_blind_to_the_scans_attenuation() -> None:
    """A smoothed scan keeps half the relief: the scan alone halves the gain, the other lobe's
    high-pass (its own attenuation and noise) as a second witness cancels that."""
    rng = np.random.default_rng(1)
    truth = rng.standard_normal((40000, 3))
    photo = truth + rng.standard_normal(truth.shape)  # the oracle gain: 1 / (1 + 1)
    scan = 0.5 * truth + 0.1 * rng.standard_normal(truth.shape)
    other = 0.7 * truth + 0.8 * rng.standard_normal(truth.shape)
    assert high_pass_gain(photo, scan) == pytest.approx(0.25, abs=0.02)
    assert high_pass_gain(photo, scan, other) == pytest.approx(0.5, abs=0.03)
    # a witness that does not correlate with the scan: the plain ratio
    assert high_pass_gain(photo, scan, -other) == high_pass_gain(photo, scan)


def test_fused_normal_beats_the_photometric_one() -> None:
    cam = _camera()
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, 1)
    scan = _sphere()
    render = _rendered(scan, cam)
    fused = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion())
    inner = cv2.erode(hit.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    for name, photo in (("diffuse", diffuse), ("specular", specular)):
        f = fused[name]
        assert f.window == (0, 96, 0, 96) and f.normals.dtype == np.float32
        assert f.used[inner].mean() > 0.95
        before, after = _median_deg(photo, truth, inner), _median_deg(f.normals, truth, inner)
        assert after < 0.6 * before, (name, before, after)
        assert 0.5 < f.weight <= 1.0  # the scan is the least noisy estimate here
        np.testing.assert_array_equal(f.normals[~hit], photo[~hit])  # nothing outside the maps' mask
    # the plain substitution (weight 1, gain 1) also helps, less
    plain = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion(weight=1.0, gain=1.0), lobes=(True, False))
    assert set(plain) == {"diffuse"} and plain["diffuse"].weight == 1.0
    assert _median_deg(fused["diffuse"].normals, truth, inner) < _median_deg(plain["diffuse"].normals, truth, inner)


def test_gate_keeps_the_photometric_normal_where_the_scan_is_wrong() -> None:
    cam = _camera()
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, 2)
    scan = _sphere(centre=(0.02, 0.0, 0.0))  # displaced by 20 mm: its normals off by 6-15 deg
    render = _rendered(scan, cam)
    fused = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion())["diffuse"]
    off = angle_between_deg(render.normals, truth) > 8
    kept = hit & render.hit & off
    assert kept.sum() > 1000
    assert not fused.used[kept].any()
    np.testing.assert_array_equal(fused.normals[kept], diffuse[kept])
    inner = cv2.erode(hit.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert _median_deg(fused.normals, truth, inner) <= _median_deg(diffuse, truth, inner) + 0.05


def test_diffuse_low_band_gate_follows_the_photometric_error() -> None:
    """A scan with a bump of 1 mm (its normals off by 1.5-4 deg there, inside the fixed 5 deg gate):
    the diffuse lobe's low band takes the scan's share only where the two agree within 3x the
    photometric low-pass's estimated error, so the bump's error is fused in less; the specular lobe
    keeps the fixed gate."""
    cam = _camera()
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, 3, low=(0.01, 0.02))
    sphere = _sphere()
    u = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    centre = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
    bump = 0.001 * np.exp(-0.5 * (np.linalg.norm(u - centre, axis=1) * RADIUS / 0.01) ** 2)
    scan = FaceMesh(sphere.vertices + u * bump[:, None], sphere.faces)
    render = _rendered(scan, cam)
    inner = cv2.erode(hit.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    wrong = inner & (angle_between_deg(render.normals, truth) > 1.5)
    assert wrong.sum() > 50
    fixed = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion(gate_noise=None))
    scaled = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion())
    assert fixed["diffuse"].gate_deg == 5.0 and scaled["diffuse"].gate_deg < 2.0
    assert scaled["specular"].gate_deg == 5.0
    assert scaled["diffuse"].low_pixels < fixed["diffuse"].low_pixels == int(fixed["diffuse"].used.sum())
    np.testing.assert_array_equal(scaled["diffuse"].used, fixed["diffuse"].used)  # the high band: the same pixels
    at_bump = _median_deg(scaled["diffuse"].normals, truth, wrong)
    assert at_bump < 0.9 * _median_deg(fixed["diffuse"].normals, truth, wrong)
    assert _median_deg(scaled["diffuse"].normals, truth, inner) <= _median_deg(fixed["diffuse"].normals, truth, inner)


def test_fusion_is_cut_to_the_scans_image() -> None:
    """A mask over the whole frame: the fusion runs on the box of the scan's image (plus the
    Gaussians' margin) and gives the maps of the fusion over the whole frame."""
    from id2reflectance.processing.solve.scan_normals import _crop_to_scan

    cam = _camera(160)
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, 4)
    scan = _sphere()
    scene, vn = scan_scene(scan)
    everywhere = np.ones(hit.shape, bool)
    render = render_scan_normals(scan, scene, vn, cam)
    cut = _crop_to_scan(render, everywhere, 20)
    assert cut is not None
    window = cut.window
    assert (window[1] - window[0]) * (window[3] - window[2]) < 0.7 * 160 * 160
    whole = fuse_scan_normals(diffuse, specular, render, everywhere, ScanFusion())
    maps = CameraMaps.empty("front", 160, 160)
    maps.mask[...] = everywhere
    maps.normal_diffuse[...] = diffuse
    maps.normal_specular[...] = specular
    record = fuse_camera_normals(maps, cam, SessionScan(scan, scene, vn), (True, True), ScanFusion(register=False))
    for name in ("diffuse", "specular"):
        np.testing.assert_allclose(getattr(maps, f"normal_{name}"), whole[name].normals, atol=1e-6)
        assert record[name]["pixels"] == int(whole[name].used.sum()) > 1000


@pytest.mark.parametrize("step", [2, 3, 4])
def test_compiled_render_interpolates_as_the_remap(step: int) -> None:
    """The compiled interpolation between the rays against ``cv2.remap``'s: equal where the ray spacing
    is a power of two (remap's weights come in 1/32 pixel steps), within that step's rounding else."""
    scan, cam = _sphere(), _camera()
    scene, vn = scan_scene(scan)
    window = (10, 90, 5, 80)
    fast = render_scan_normals(scan, scene, vn, cam, step=step, window=window, compiled=True)
    ref = render_scan_normals(scan, scene, vn, cam, step=step, window=window, compiled=False)
    assert fast.window == ref.window and fast.normals.shape == ref.normals.shape == (80, 75, 3)
    np.testing.assert_array_equal(fast.hit, ref.hit)
    tol = 1e-6 if step in (2, 4) else 0.01
    np.testing.assert_allclose(fast.normals, ref.normals, atol=tol)
    np.testing.assert_allclose(fast.cos_view, ref.cos_view, atol=tol)


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_fusion_agrees_with_numpys(seed: int) -> None:
    """The compiled passes against the numpy version: rays every pixel, the same fusion (float32
    rounding); rays every 2nd pixel (the gate's Gaussian on the half-resolution grid), the same
    weights and gate, the same pixels fused but a few at the gate's edge, the same normals elsewhere
    and the same error against the truth; and, as the numpy version, the same fusion over a window
    cut anywhere (the half-resolution grid is the image's)."""
    cam = _camera(160)
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, seed)
    scan = _sphere()
    scene, vn = scan_scene(scan)
    exact = render_scan_normals(scan, scene, vn, cam, step=1)
    fast = fuse_scan_normals(diffuse, specular, exact, hit, ScanFusion(), compiled=True)
    ref = fuse_scan_normals(diffuse, specular, exact, hit, ScanFusion(), compiled=False)
    for name in ("diffuse", "specular"):
        np.testing.assert_array_equal(fast[name].used, ref[name].used)
        np.testing.assert_allclose(fast[name].normals, ref[name].normals, atol=2e-6)
        assert (fast[name].weight, fast[name].gain, fast[name].gate_deg) == (
            ref[name].weight,
            ref[name].gain,
            ref[name].gate_deg,
        )
    render = render_scan_normals(scan, scene, vn, cam, step=2)
    assert render.step == 2
    fast = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion(), compiled=True)
    ref = fuse_scan_normals(diffuse, specular, render, hit, ScanFusion(), compiled=False)
    r0, c0 = 13, 21  # odd: the window's 2 x 2 blocks would be the image's shifted by a pixel
    cut = ScanRender(
        (r0, 150, c0, 160), render.normals[r0:150, c0:], render.hit[r0:150, c0:], render.cos_view[r0:150, c0:], 2
    )
    part = fuse_scan_normals(diffuse, specular, cut, hit, ScanFusion(), compiled=True)
    for name in ("diffuse", "specular"):
        f, r = fast[name], ref[name]
        assert f.used.sum() > 5000 and (f.used != r.used).sum() <= 0.002 * f.used.sum()
        assert abs(f.low_pixels - r.low_pixels) <= 0.002 * r.low_pixels
        assert f.weight == pytest.approx(r.weight, abs=0.002) and f.gain == pytest.approx(r.gain, abs=0.002)
        assert f.gate_deg == pytest.approx(r.gate_deg, rel=0.02)
        photo = diffuse if name == "diffuse" else specular
        np.testing.assert_array_equal(f.normals[~f.used], photo[~f.used])
        same = hit & (f.used == r.used)
        assert np.percentile(angle_between_deg(f.normals[same], r.normals[same]), 99) < 0.05
        assert abs(_median_deg(f.normals, truth, hit) - _median_deg(r.normals, truth, hit)) < 0.002
        np.testing.assert_array_equal(part[name].used, f.used[r0:150, c0:])
        np.testing.assert_allclose(part[name].normals, f.normals[r0:150, c0:], atol=2e-6)


def test_misregistered_scan_is_shifted_back() -> None:
    """A scan displaced by 2 mm across the view (a calibration error; about 0.6 px here): the
    shift estimated against the photometric low band puts its normals back on the pixels they
    belong to, and the fusion with it beats the one without it."""
    cam = _camera()
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, 5, low=(0.01, 0.015))
    scan = _sphere(centre=(0.002, 0.001, 0.0))
    scene, vn = scan_scene(scan)
    render = render_scan_normals(scan, scene, vn, cam)
    dx, dy = scan_shift(render, diffuse, specular, hit)
    # 2 mm and 1 mm seen from 0.5-0.6 m: 0.51-0.61 px and 0.26-0.31 px (y down in the image)
    assert 0.45 < dx < 0.7 and -0.35 < dy < -0.15, (dx, dy)
    back = render_scan_normals(scan, scene, vn, cam, shift=(dx, dy))
    inner = cv2.erode((hit & render.hit).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert _median_deg(back.normals, truth, inner) < 0.5 * _median_deg(render.normals, truth, inner)
    # the shift of a registered scan is small, and the record carries it
    assert np.hypot(*scan_shift(_rendered(_sphere(), cam), diffuse, specular, hit)) < 0.15
    fused = {}
    for on in (False, True):
        maps = _maps_of(cam, hit, diffuse, specular)
        record = fuse_camera_normals(maps, cam, SessionScan(scan, scene, vn), (True, True), ScanFusion(register=on))
        fused[on] = (maps, record)
    assert "shift_px" not in fused[False][1] and fused[True][1]["shift_px"] == [round(dx, 4), round(dy, 4)]
    for name in ("diffuse", "specular"):
        err = {on: _median_deg(getattr(fused[on][0], f"normal_{name}"), truth, inner) for on in (False, True)}
        assert err[True] < 0.9 * err[False], (name, err)


def test_shift_of_a_scan_cast_every_second_pixel_is_estimated_on_every_second_pixel() -> None:
    """A camera whose scan is ray cast every 2nd pixel (as from 768 px wide): the shift is iterated on
    every 2nd pixel of the low-passed fields and scaled back: the same shift, in the image's pixels,
    as on every pixel (2 mm and 1 mm across the view at 192 px: about 1.0-1.2 and 0.5-0.6 px)."""
    cam = _camera(192)
    truth, hit = _true_normals(cam)
    diffuse, specular = _noisy_lobes(truth, hit, 7, low=(0.01, 0.015))
    scan = _sphere(centre=(0.002, 0.001, 0.0))
    scene, vn = scan_scene(scan)
    every = scan_shift(render_scan_normals(scan, scene, vn, cam, step=1), diffuse, specular, hit)
    second = scan_shift(render_scan_normals(scan, scene, vn, cam, step=2), diffuse, specular, hit)
    assert 0.9 < every[0] < 1.35 and -0.7 < every[1] < -0.4, every
    assert np.hypot(second[0] - every[0], second[1] - every[1]) < 0.1, (every, second)


def _maps_of(cam: Camera, mask: np.ndarray, diffuse: np.ndarray, specular: np.ndarray) -> CameraMaps:

    maps = CameraMaps.empty(cam.name, cam.height, cam.width)
    maps.mask[...] = mask
    maps.normal_diffuse[...] = diffuse
    maps.normal_specular[...] = specular
    return maps


def test_bad_gate_noise_is_a_config_error() -> None:
    from id2reflectance.errors import ConfigError

    with pytest.raises(ConfigError, match="scan_normals_gate_noise"):
        SolverConfig(scan_normals_gate_noise=0.0)
    assert SolverConfig(scan_normals_gate_noise=None).scan_normals_gate_noise is None


def test_bad_shapes_raise() -> None:
    cam = _camera(32)
    scan = _sphere()
    render = _rendered(scan, cam)
    n = np.zeros((32, 32, 3), np.float32)
    with pytest.raises(ShapeError):
        fuse_scan_normals(n, n[:, :31], render, np.ones((32, 32), bool), ScanFusion())
    with pytest.raises(ShapeError):
        fuse_scan_normals(n[:16], n[:16], render, np.ones((16, 32), bool), ScanFusion())


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # the 128 px head of seed 1 and its noisy copy, shared with test_denoise (read-only)
    root = tmp_path_factory.mktemp("scan_normals")
    clean = shared_clean(tmp_path_factory, 1)
    noisy = shared_noisy(tmp_path_factory, 1, **ISSUE_NOISE)
    no_mesh = root / "no_mesh"
    shutil.copytree(noisy, no_mesh)
    doc = json.loads((no_mesh / "session.json").read_text())
    del doc["mesh"]
    (no_mesh / "session.json").write_text(json.dumps(doc))
    return {"clean": clean, "noisy": noisy, "no_mesh": no_mesh}


def _maps(out: Path) -> dict[str, np.ndarray]:
    return {p.stem: read_exr(p)[0] for p in sorted((out / "front").glob("*.exr"))}


def _record(out: Path) -> dict:
    return json.loads((out / "solve.json").read_text())["cameras"]["front"]["scan_normals"]


@pytest.mark.slow
def test_solve_with_the_scan_lowers_both_normals_errors(sessions: dict[str, Path], tmp_path: Path) -> None:
    on, off = tmp_path / "on", tmp_path / "off"
    solve_session(sessions["noisy"], on, config=SolverConfig(align="none"))
    solve_session(sessions["noisy"], off, config=SolverConfig(align="none", scan_normals="off"))
    a, b = solve_accuracy(sessions["noisy"], on)["all"], solve_accuracy(sessions["noisy"], off)["all"]
    # diffuse: 0.714 -> 0.706 deg (0.694 before branch scan20s's weights: the scan the less accurate
    # low band here, its share and the high band's shrink smaller; 0.674 with the fixed gate alone);
    # specular 1.051 -> 0.813
    assert a.diffuse_normal_deg < 0.995 * b.diffuse_normal_deg
    assert a.specular_normal_deg < 0.95 * b.specular_normal_deg
    rec = _record(on)
    assert rec["used"] and rec["diffuse"]["pixels"] > 1000 and rec["specular"]["pixels"] > 1000
    assert _record(off) == {"used": False}
    ma, mb = _maps(on), _maps(off)
    for name in ma:  # only the two normals change
        if name not in ("normal_diffuse", "normal_specular"):
            np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)


@pytest.mark.slow
def test_maps_written_into_their_files_are_fused_the_same(
    sessions: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the frames cannot hold the maps the solve writes them into their mapped files: the
    fused normals replace the solved ones there (in place), as in memory."""
    from id2reflectance.processing.solve import solver

    solve_session(sessions["noisy"], tmp_path / "memory", config=SolverConfig(align="none"))
    monkeypatch.setattr(solver, "spent_frames", lambda *args, **kwargs: [])
    solve_session(sessions["noisy"], tmp_path / "files", config=SolverConfig(align="none"))
    assert _record(tmp_path / "files")["used"]
    ma, mb = _maps(tmp_path / "memory"), _maps(tmp_path / "files")
    assert ma.keys() == mb.keys()
    for name in ma:
        np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)


@pytest.mark.slow
def test_session_without_mesh_and_clean_session_are_unchanged(sessions: dict[str, Path], tmp_path: Path) -> None:
    for name in ("no_mesh", "clean"):
        on, off = tmp_path / f"{name}_on", tmp_path / f"{name}_off"
        solve_session(sessions[name], on, config=SolverConfig(align="none"))
        solve_session(sessions[name], off, config=SolverConfig(align="none", scan_normals="off"))
        assert _record(on) == {"used": False}
        ma, mb = _maps(on), _maps(off)
        assert ma.keys() == mb.keys()
        for key in ma:
            np.testing.assert_array_equal(ma[key], mb[key], err_msg=f"{name}: {key}")


@pytest.mark.slow
def test_unreadable_scan_names_the_field_and_writes_nothing(sessions: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sessions["noisy"], broken)
    scan = broken / json.loads((broken / "session.json").read_text())["mesh"]
    scan.write_text("v 0 0 0\nf 1 2 3\n")
    out = tmp_path / "out"
    with pytest.raises(InputFileError) as err:
        solve_session(broken, out, config=SolverConfig(align="none"))
    assert err.value.field == "mesh"
    assert not out.exists()
