"""The solved roughness map's filter (roughness_filter.py): scatter removed, regions and unsolved pixels kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.simulator.analytic import write_sphere_session
from id2reflectance.processing.solve.roughness_filter import roughness_radius, smooth_roughness

from .session_copies import record_maps_in_files, uncompressed_copy


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 96 x 96 disc of two albedo regions (left 0.3, right 0.1) with roughness 0.35 and 0.7
    (a gentle ramp inside each), the solved map the truth plus noise of sigma 0.05, and the disc
    as the solved pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    disc = (yy - 48) ** 2 + (xx - 48) ** 2 < 40**2
    right = xx >= 48
    guide = np.where(right, 0.1, 0.3).astype(np.float32) * disc
    truth = (np.where(right, 0.7, 0.35) + 0.001 * (yy - 48)).astype(np.float32)
    noisy = (truth + 0.05 * rng.standard_normal(truth.shape)).astype(np.float32)
    return np.where(disc, noisy, 0.0).astype(np.float32), truth, guide, disc


def test_scatter_removed_and_the_region_edge_kept() -> None:
    rough, truth, guide, disc = _scene()
    before = np.median(np.abs(rough - truth)[disc])
    out = rough.copy()
    assert smooth_roughness(out, guide, disc, radius=3) == int(disc.sum())
    after = np.abs(out - truth)
    assert before > 0.03 and np.median(after[disc]) < 0.4 * before
    # the edge between the regions (0.35 vs 0.7) is not blurred: the guide separates them
    edge = disc & (np.abs(np.mgrid[0:96, 0:96][1] - 47.5) < 2)
    assert np.median(after[edge]) < 0.5 * before
    # a box filter of the same window blurs it (what the guide is for)
    flat = rough.copy()
    smooth_roughness(flat, np.where(disc, 0.2, 0.0).astype(np.float32), disc, radius=3)
    assert np.median(np.abs(flat - truth)[edge]) > 0.1
    np.testing.assert_array_equal(out[~disc], rough[~disc])  # nothing written outside


def test_unsolved_pixels_neither_written_nor_pulling() -> None:
    rough, truth, guide, disc = _scene(1)
    fallback = disc & (np.add.outer(np.arange(96), np.arange(96)) % 7 == 0)  # every 7th diagonal
    rough[fallback] = 0.4  # the solver's default_roughness
    solved = disc & ~fallback
    out = rough.copy()
    smooth_roughness(out, guide, solved, radius=3)
    np.testing.assert_array_equal(out[fallback], np.float32(0.4))
    right = solved & (np.mgrid[0:96, 0:96][1] >= 56)
    # the 0.4 fallbacks among the 0.7 pixels do not pull them down
    assert abs(np.median(out[right] - truth[right])) < 0.005


def test_radius_follows_the_specular_lobe_and_a_strided_map_is_written() -> None:
    # the specular lobe unfiltered: neither is the roughness; else the window follows the noise
    assert roughness_radius(np.radians(20.0), 0) == 0
    assert [roughness_radius(np.radians(d), 1) for d in (2.5, 5.4, 7.9, 9.6, 15.6)] == [0, 1, 2, 3, 4]
    rough, truth, guide, disc = _scene(2)
    unchanged = rough.copy()
    assert smooth_roughness(unchanged, guide, disc, radius=0) == 0
    np.testing.assert_array_equal(unchanged, rough)
    # a view of a mapped file's rows (not C-contiguous), as the solver's maps in their files
    rows = np.zeros((96, 2, 96), np.float32)
    rows[:, 0] = rough
    view = rows[:, 0]
    ref = rough.copy()
    smooth_roughness(ref, guide, disc, radius=3)
    smooth_roughness(view, guide, disc, radius=3)
    np.testing.assert_array_equal(rows[:, 0], ref)
    assert not rows[:, 1].any()


def test_a_noisy_session_gets_the_filtered_roughness_in_every_write_path(tmp_path: Path, monkeypatch) -> None:
    """The solver filters the roughness map of a noisy session after the solve (radius in solve.json):
    lower error than unfiltered, and the same map whether the maps are written after the solve
    (decoded frames, compressed or not) or solved straight into their mapped files."""
    from id2reflectance.processing.solve import roughness_filter
    from id2reflectance.processing.solve.accuracy import solve_accuracy
    from id2reflectance.processing.solve.solver import SolverConfig, solve_session

    session = write_sphere_session(tmp_path / "sess", size=40, cameras=2, inverses=True, noise=0.004, samples=(64, 16))
    made = record_maps_in_files(monkeypatch)
    runs = {
        "memory": (session, SolverConfig(workers=2, align="none")),
        "zip": (session, SolverConfig(workers=2, compression="zip", align="none")),
        "files": (uncompressed_copy(session, tmp_path / "plain"), SolverConfig(workers=2, align="none")),
    }
    for tag, (s, cfg) in runs.items():
        solve_session(s, tmp_path / tag, config=cfg)
    assert made == ["cam0", "cam1"]  # the uncompressed frames' maps solved into their files
    doc = json.loads((tmp_path / "memory" / "solve.json").read_text())
    assert all(c["noise"]["radius_roughness"] >= 1 for c in doc["cameras"].values())
    for cam in doc["cameras"]:
        ref = read_exr(tmp_path / "memory" / cam / "roughness.exr")[0]
        for tag in ("zip", "files"):
            np.testing.assert_array_equal(read_exr(tmp_path / tag / cam / "roughness.exr")[0], ref, err_msg=tag)
    monkeypatch.setattr(roughness_filter, "smooth_roughness", lambda *args, **kwargs: 0)
    solve_session(session, tmp_path / "unfiltered", config=SolverConfig(workers=2, align="none"))
    filtered = solve_accuracy(session, tmp_path / "memory", visibility_min=0.0)["all"]
    unfiltered = solve_accuracy(session, tmp_path / "unfiltered", visibility_min=0.0)["all"]
    assert filtered.roughness_abs < 0.7 * unfiltered.roughness_abs, (filtered, unfiltered)
    # nothing else changes
    assert filtered.specular_normal_deg == unfiltered.specular_normal_deg
    assert filtered.diffuse_normal_deg == unfiltered.diffuse_normal_deg
