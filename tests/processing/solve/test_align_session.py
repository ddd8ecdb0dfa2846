"""Alignment inside the solve, on a simulated session whose head moves between exposures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.frames import load_camera_frames, load_mask
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
from id2reflectance.cli.main import _register, cli
from id2reflectance.processing.solve.accuracy import solve_accuracy
from id2reflectance.processing.solve.align_features import Similarity
from id2reflectance.processing.solve.solver import SolverConfig, solve_camera_frames, solve_session

pytestmark = pytest.mark.slow
_register()

# rendered in the procedural layout, where this file's figures were measured (in the face
# model's layout, the default since 2026-12-06, the noisy solve adds a warning: 1.01 % of the
# front camera's pixels with too little specular signal), with the painted appearance (a photo
# subject, the default where ../shared holds the photos, adds the same warning: 1.36 %)
MOVING = SimulatorConfig(
    template="procedural",
    appearance_source="procedural",
    image_size=192,
    uv_size=256,
    cameras=1,
    motion_px=1.5,
    motion_deg=0.4,
    visibility_directions=128,
    specular_samples=(8, 8),
    diffuse_samples=(4, 8),
)


def _residual_vs_truth(session: Path, frames: list[dict]) -> float:
    """Median over the front camera's moved frames of the median distance (pixels) between
    each reported similarity and the simulator's true per-pixel motion."""
    errors = []
    for f in (f for f in frames if f["method"] != "reference"):
        flow, _ = read_exr(session / "truth" / "front" / "motion" / f"{f['frame']}.exr")
        h, w = flow.shape[:2]
        M = Similarity(f["tx"], f["ty"], f["rotation_deg"], f["scale"]).matrix(w, h)
        yy, xx = np.nonzero(flow[..., 2] > 0)
        est = np.stack([xx, yy, np.ones_like(xx)]).T.astype(np.float64) @ M[:2].T - np.stack([xx, yy], 1)
        errors.append(np.median(np.hypot(*(est - flow[yy, xx, :2]).T)))
    return float(np.median(errors))


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One camera, 192 px, every frame but full-cross moved up to 1.5 px and 0.4 deg (about 20 s)."""
    return simulate_subject(tmp_path_factory.mktemp("moving"), subject_index=0, config=MOVING)


def test_truth_records_the_motion(moving: Path) -> None:
    truth = json.loads((moving / "truth" / "motion.json").read_text())
    assert truth["reference"] == "full_cross"
    assert set(truth["frames"]) == {f"{p}_{pol}" for p in MOVING.patterns for pol in ("cross", "parallel")}
    assert truth["frames"]["full_cross"]["translation_m"] == [0.0, 0.0, 0.0]
    sims = truth["cameras"]["front"]
    assert len(sims) == 13
    shifts = [np.hypot(s["tx"], s["ty"]) for s in sims.values()]
    assert 0.3 < max(shifts) <= 1.6
    assert max(abs(s["rotation_deg"]) for s in sims.values()) <= 0.45


def test_rigid_alignment_meets_the_issue_figures(moving: Path, tmp_path: Path) -> None:
    report = solve_session(moving, tmp_path / "rigid", config=SolverConfig(align="rigid", backend="numpy"))
    acc = solve_accuracy(moving, tmp_path / "rigid")["all"]
    assert acc.diffuse_normal_deg < 1.0
    assert acc.specular_normal_deg < 3.0
    assert acc.specular_albedo_rel < 0.05
    assert acc.roughness_abs < 0.05
    # estimated vs true motion at face pixels
    doc = json.loads((tmp_path / "rigid" / "solve.json").read_text())
    frames = doc["cameras"]["front"]["alignment"]["frames"]
    assert doc["cameras"]["front"]["alignment"]["mode"] == "rigid"
    assert doc["cameras"]["front"]["alignment"]["skipped"] is None
    assert doc["cameras"]["front"]["alignment"]["outside_pixels"] >= 0
    assert {"tx", "ty", "rotation_deg", "scale", "residual_px", "displacement_px", "method", "file"} <= set(frames[1])
    assert _residual_vs_truth(moving, frames) < 0.1
    assert report.cameras["front"].timings["align"] > 0


def test_without_alignment_the_figures_fail(moving: Path, tmp_path: Path) -> None:
    solve_session(moving, tmp_path / "none", config=SolverConfig(align="none", backend="numpy"))
    acc = solve_accuracy(moving, tmp_path / "none")["all"]
    assert acc.specular_normal_deg > 3.0  # the motion matters: the test above can fail


def test_align_none_is_todays_solve(moving: Path, tmp_path: Path) -> None:
    config = SolverConfig(align="none", backend="numpy")
    solve_session(moving, tmp_path / "none", config=config)
    session = load_session(moving)
    maps = solve_camera_frames(
        load_camera_frames(session, "front"), session.cameras["front"], session.rig, load_mask(session, "front"), config
    )
    for name, img in maps.images().items():
        got, _ = read_exr(tmp_path / "none" / "front" / f"{name}.exr")
        np.testing.assert_array_equal(got.reshape(img.shape), img)
    assert json.loads((tmp_path / "none" / "solve.json").read_text())["cameras"]["front"]["alignment"] is None


def test_cli_align_option(moving: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(cli, ["solve", str(moving), "-o", str(out), "--align", "rigid", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "solve.json").read_text())["config"]["align"] == "rigid"
    res = runner.invoke(cli, ["solve", str(moving), "-o", str(tmp_path / "bad"), "--align", "warp"])
    assert res.exit_code == 2 and "--align" in res.output


def test_report_shows_the_alignment(moving: Path, tmp_path: Path) -> None:
    from id2reflectance.report.build import build_report

    solve_session(moving, tmp_path / "solved", config=SolverConfig(align="rigid", backend="numpy"))
    html = build_report(tmp_path / "solved", tmp_path / "r.html").read_text()
    assert "Frame alignment (rigid" in html and "inverse_z_parallel" in html


def test_noise_and_motion_together(moving: Path, tmp_path: Path) -> None:
    """Issue 20's sensor noise on the moving head, no mask file, default options (about 10 s).

    The issue's limits hold here except the diffuse normal, which this 192 px one-camera session
    misses (1.28 deg measured; the noise alone gives 0.99 deg on the same head still): asserted
    with that margin; the 256 px figures are in docs/results.md (bench_motion.py --part noise).
    Every frame is aligned but ``inverse_z_parallel`` (lit from behind: its fitted motion explains
    0.113 of its mismatch, under the 0.12 the still sessions need), which must carry the
    ``[motion_refused]`` warning naming it. Residual 0.068 px measured with the features' log
    floor at 25 % of the face's median (``align.LOG_EPS``; 0.087 px at the former 5 %, which
    this test's bound rejects; 0.103 before the complementary templates were fitted on the
    frame's lit points only).
    """
    from .noisy_sessions import ISSUE_NOISE, derive_session

    session = derive_session(moving, tmp_path / "noisy", **ISSUE_NOISE)
    out = tmp_path / "auto"
    report = solve_session(session, out)
    refused = [w for w in report.warnings if "[motion_refused]" in w]
    assert len(refused) == len(report.warnings) <= 1
    assert all("frames/front/inverse_z_parallel.exr" in w and "used as decoded" in w for w in refused)
    acc = solve_accuracy(session, out)["all"]
    assert acc.specular_normal_deg < 3.0
    assert acc.diffuse_albedo_rel < 0.02 and acc.specular_albedo_rel < 0.05
    assert acc.roughness_abs < 0.05
    assert acc.diffuse_normal_deg < 1.5
    m = read_exr(out / "front" / "mask.exr")[0][..., 0] > 0.5
    t = read_exr(session / "truth" / "front" / "mask.exr")[0][..., 0] > 0.5
    assert (m & ~t).sum() <= 0.01 * (~t).sum() and (m & t).sum() >= 0.95 * t.sum()
    frames = json.loads((out / "solve.json").read_text())["cameras"]["front"]["alignment"]["frames"]
    methods = {f["frame"]: f["method"] for f in frames}
    assert sum(m == "rigid" for m in methods.values()) >= 11 and set(methods.values()) <= {"reference", "rigid", "none"}
    assert [name for name, m in methods.items() if m == "none"] == [f["frame"] for f in frames if f["refused"]]
    assert len(refused) == sum(f["refused"] for f in frames)
    assert _residual_vs_truth(session, frames) < 0.08
    # the control: without alignment the same noisy session misses the specular limit by far (the
    # photometric normals alone); the scan's low frequencies (scan_normals, the default) do not
    # make up for it (here 3.69 deg against 4.0+ without them)
    solve_session(session, tmp_path / "none", config=SolverConfig(align="none", scan_normals="off"))
    assert solve_accuracy(session, tmp_path / "none")["all"].specular_normal_deg > 4.0
    solve_session(session, tmp_path / "none_scan", config=SolverConfig(align="none"))
    assert solve_accuracy(session, tmp_path / "none_scan")["all"].specular_normal_deg > 3.0


def test_still_noisy_three_camera_session_is_left_untouched(tmp_path: Path) -> None:
    """Issue 20: the still head with the issue's noise, 3 cameras, 192 px, seed 1, no mask file (about 13 s).

    The default ``auto`` used to move frames of the side cameras (left: ``inverse_x_cross`` rigid
    1.49 px, ``inverse_x_parallel`` flow 3.13 px, three more rigid; right: three rigid): lighting
    fitted as motion, a systematic difference the significance test does not see. Every frame must
    be the decoded one, so the solve equals ``--align none``'s."""
    import shutil

    from id2reflectance.processing.solve.align import align_camera_frames

    config = SimulatorConfig(image_size=192, uv_size=256, cameras=3, seed=1, noise=5e-5, read_noise=0.002)
    session = simulate_subject(tmp_path / "still", subject_index=0, config=config)
    shutil.rmtree(session / "masks")
    loaded = load_session(session)
    assert len(loaded.cameras) == 3
    for cam in loaded.cameras:
        frames = load_camera_frames(loaded, cam)
        aligned, report = align_camera_frames(frames, None, mode="auto")
        moved = [(f.frame, f.method, round(f.displacement_px, 2)) for f in report.frames if f.method != "none"]
        assert {f.method for f in report.frames} == {"reference", "none"}, (cam, moved)
        assert all(aligned.images[k] is frames.images[k] for k in frames.images)


def test_without_inverses_the_gradient_frames_are_aligned_on_their_chromaticity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without inverse patterns a cross-polarised gradient frame is fitted on its ratio template with
    the silhouette (whose contour does not move like the skin: a scale bias) and on its log chromaticity
    inside the face (docs/solve.md section 1b). Noise-free 192 px head, seed 1: the three gradient
    frames' errors against the simulator's motion 0.04-0.07 px (0.09-0.14 px on the ratio template alone)."""
    from dataclasses import replace

    from id2reflectance.processing.solve import align
    from id2reflectance.processing.solve.align import align_camera_frames

    session = simulate_subject(tmp_path / "s", subject_index=0, config=replace(MOVING, inverses=False, seed=1))
    frames = load_camera_frames(load_session(session), "front")

    def gradient_errors() -> list[float]:
        _, report = align_camera_frames(frames, None, mode="rigid")
        doc = [f.to_json() for f in report.frames if f.frame.startswith("gradient") and f.frame.endswith("_cross")]
        assert len(doc) == 3 and all(f["method"] == "rigid" for f in doc)
        return [_residual_vs_truth(session, [f]) for f in doc]

    errors = gradient_errors()
    assert max(errors) < 0.09 and float(np.median(errors)) < 0.06
    monkeypatch.setattr(align, "CHROMA", False)  # the ratio template alone, as before the chromaticity
    assert float(np.median(gradient_errors())) > 0.08
