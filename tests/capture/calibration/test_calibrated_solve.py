"""Calibration results fed to the solver: a calibrated rig and a fitted colour matrix.

The analytic sphere (``capture/simulator/analytic.py``) is rendered with the true cameras of the
figure rig, binned 16 x to 256 x 192 pixels (intrinsics scaled, distortion and pose kept),
and solved (``processing/solve/solver.py``) once with the true cameras and once with the
calibrated ones; then once more from camera-RGB frames corrected by the fitted matrix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import write_exr, write_png
from id2reflectance.capture.calibration.cameras import CameraCalibrationConfig, calibrate_rig
from id2reflectance.capture.calibration.colour import ColourCalibrationConfig, calibrate_colour, reference_rec709
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.rig import RigFile, apply_rig
from id2reflectance.capture.session import Frame, session_json, write_session_json
from id2reflectance.capture.simulator.analytic import render_sphere_view
from id2reflectance.capture.simulator.calibration_captures import (
    FIGURE_RIG,
    SimCalibrationConfig,
    detections_as_capture,
    random_board_poses,
    sim_rig,
    simulate_detections,
)
from id2reflectance.capture.simulator.chart import SIM_COLOR_MATRIX, render_chart_image
from id2reflectance.processing.solve.accuracy import solve_accuracy
from id2reflectance.processing.solve.solver import solve_session

BIN = 16


def _binned(c: Camera) -> Camera:
    """The camera with pixels BIN x BIN larger (pixel-centre convention kept)."""
    K = c.K.copy()
    K[0, 0], K[1, 1] = K[0, 0] / BIN, K[1, 1] / BIN
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) / BIN - 0.5, (K[1, 2] + 0.5) / BIN - 0.5
    return Camera(c.name, c.width // BIN, c.height // BIN, K, c.dist, c.R, c.t)


def _write_session(root: Path, cams: dict[str, Camera], *, to_camera_rgb: np.ndarray | None = None) -> Path:
    """The analytic sphere seen by ``cams`` (frames, masks, truth) as a session."""
    frames = []
    for name, cam in cams.items():
        view = render_sphere_view(cam, inverses=False, samples=(16, 8))
        for (pat, pol), img in view.frames.items():
            if to_camera_rgb is not None:
                img = (img.reshape(-1, 3) @ to_camera_rgb.T).reshape(img.shape).astype(np.float32)
            rel = f"frames/{name}/{pat}_{pol}.exr"
            write_exr(root / rel, img)
            frames.append(Frame(name, pat, pol, rel, "linear", 1.0))
        for key, img in view.truth.items():
            write_exr(root / "truth" / name / f"{key}.exr", img)
        write_png(root / "masks" / f"{name}.png", view.truth["mask"])
    write_session_json(root, session_json(subject_id="SPHERE", cameras=cams, frames=frames))
    return root


@pytest.fixture(scope="module")
def rigs():
    """(true cameras, calibrated cameras), binned, the calibration at the conditions of its accuracy figures."""
    rng = np.random.default_rng(21)
    truth = sim_rig(FIGURE_RIG)
    poses = random_board_poses(truth, FIGURE_RIG, rng=rng)
    det = simulate_detections(truth, poses, FIGURE_RIG.board, noise_px=0.3, rng=rng)
    cal = calibrate_rig(
        detections_as_capture(det, (FIGURE_RIG.width, FIGURE_RIG.height)),
        FIGURE_RIG.board,
        config=CameraCalibrationConfig(reference_camera="front", compare_opencv=False),
    )
    return {n: _binned(c) for n, c in truth.items()}, {n: _binned(c) for n, c in cal.cameras.items()}


@pytest.mark.slow
def test_calibrated_rig_gives_the_true_rigs_accuracy(rigs, tmp_path: Path) -> None:
    truth, calibrated = rigs
    true_sess = _write_session(tmp_path / "true", truth)
    cal_sess = Path(shutil.copytree(true_sess, tmp_path / "cal"))
    # the calibration's world is the front camera's frame: align it to the session's
    info = apply_rig(RigFile("cal", calibrated), [cal_sess], align=True)
    assert info[str(cal_sess)]["align_residual_mm"] < 1.0
    acc = {}
    for name, sess in (("true", true_sess), ("cal", cal_sess)):
        solve_session(sess, tmp_path / f"solved_{name}")
        acc[name] = solve_accuracy(sess, tmp_path / f"solved_{name}")["all"]
    t, c = acc["true"], acc["cal"]
    assert c.pixels == t.pixels > 15000
    assert abs(c.diffuse_normal_deg - t.diffuse_normal_deg) < 0.05, (t, c)
    assert abs(c.specular_normal_deg - t.specular_normal_deg) < 0.05, (t, c)
    assert abs(c.diffuse_albedo_rel - t.diffuse_albedo_rel) < 0.002, (t, c)
    assert abs(c.specular_albedo_rel - t.specular_albedo_rel) < 0.002, (t, c)
    assert abs(c.roughness_abs - t.roughness_abs) < 0.005, (t, c)


def test_fitted_colour_matrix_corrects_diffuse_albedo(rigs, tmp_path: Path) -> None:
    truth, _ = rigs
    cam = sim_rig(SimCalibrationConfig(width=800, height=600))["front"]
    chart = render_chart_image(cam, reference_rec709(), SIM_COLOR_MATRIX, white_level=0.5, rng=np.random.default_rng(4))
    write_exr(tmp_path / "chart.exr", chart)
    fit = calibrate_colour([tmp_path / "chart.exr"], camera="front", config=ColourCalibrationConfig(white_level=0.5))
    only_front = {"front": truth["front"]}
    sess = _write_session(tmp_path / "raw", only_front, to_camera_rgb=np.linalg.inv(SIM_COLOR_MATRIX))
    solve_session(sess, tmp_path / "uncorrected")
    raw = solve_accuracy(sess, tmp_path / "uncorrected")["all"]
    apply_rig(RigFile("cal", only_front), [sess], color_matrix=fit.color_matrix)
    solve_session(sess, tmp_path / "corrected")
    corrected = solve_accuracy(sess, tmp_path / "corrected")["all"]
    assert corrected.diffuse_albedo_rel < 0.02, corrected
    assert raw.diffuse_albedo_rel > 0.1, raw  # camera RGB without the matrix is far off
