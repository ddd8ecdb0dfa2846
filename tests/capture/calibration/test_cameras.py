"""Rig calibration: the accuracy figures on the simulated rig, the image pipeline, failures."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from id2reflectance._shared.imageio import linear_to_srgb, write_png
from id2reflectance.capture.calibration.board_captures import detect_capture
from id2reflectance.capture.calibration.boards import Detection
from id2reflectance.capture.calibration.bundle_adjust import bundle_adjust, project
from id2reflectance.capture.calibration.cameras import CameraCalibrationConfig, calibrate_rig, initialise_rig
from id2reflectance.capture.simulator.calibration_captures import (
    FIGURE_RIG,
    SimCalibrationConfig,
    detections_as_capture,
    project_board,
    random_board_poses,
    render_board_image,
    rig_errors,
    sim_rig,
    simulate_detections,
)
from id2reflectance.errors import CaptureError

NO_CV = CameraCalibrationConfig(reference_camera="front", compare_opencv=False)


@pytest.fixture(scope="module")
def figure_rig():
    """The figures' simulated rig: 3 cameras, 20 board poses, corners with 0.3 px RMS noise."""
    rng = np.random.default_rng(7)
    truth = sim_rig(FIGURE_RIG)
    poses = random_board_poses(truth, FIGURE_RIG, rng=rng)
    det = simulate_detections(truth, poses, FIGURE_RIG.board, noise_px=0.3, rng=rng)
    dets = detections_as_capture(det, (FIGURE_RIG.width, FIGURE_RIG.height))
    result = calibrate_rig(dets, FIGURE_RIG.board, config=NO_CV)
    return truth, poses, dets, result


def test_calibration_figures(figure_rig) -> None:
    truth, _, _, result = figure_rig
    errs = rig_errors(result.cameras, truth, reference="front")
    for name, e in errs.items():
        for key in ("fx_pct", "fy_pct", "cx_pct", "cy_pct"):
            assert abs(e[key]) < 0.2, (name, key, e)
        assert e["rotation_deg"] < 0.05, (name, e)
        assert e["centre_mm"] < 0.5, (name, e)
        np.testing.assert_allclose(result.cameras[name].dist[:2], truth[name].dist[:2], atol=0.05)
    rep = result.report
    assert rep["rms_after_px"] < 0.35
    assert rep["rms_after_px"] < rep["rms_before_px"]
    assert rep["outliers"] == []
    assert rep["board_poses"] == 20 and set(rep["cameras"]) == {"front", "left", "right"}
    assert all(len(c["per_image_px"]) == 20 for c in rep["cameras"].values())


def test_world_frame_on_a_board_pose(figure_rig) -> None:
    truth, poses, dets, result = figure_rig
    cfg = dataclasses.replace(NO_CV, world="board", world_pose="pose_004")
    moved = calibrate_rig(dets, FIGURE_RIG.board, config=cfg)
    R, t = moved.board_poses["pose_004"]
    np.testing.assert_allclose(R, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(t, 0.0, atol=1e-12)
    # In the board's frame the cameras are where the truth puts them relative to that pose.
    Rb, tb = poses[4]
    for name, cam in moved.cameras.items():
        true_centre = Rb.T @ (truth[name].center - tb)
        assert np.linalg.norm(cam.center - true_centre) < 2e-3
    assert moved.report["world"] == {"frame": "board", "pose": "pose_004"}


def test_outlier_images_are_found_and_removed(figure_rig) -> None:
    truth, _, dets, _ = figure_rig
    bad = dict(dets)
    d = dets["left"].detections["pose_003"]
    shifted = Detection(d.ids, d.corners + np.random.default_rng(1).normal(0, 4.0, d.corners.shape))
    bad["left"] = dataclasses.replace(dets["left"], detections={**dets["left"].detections, "pose_003": shifted})
    result = calibrate_rig(bad, FIGURE_RIG.board, config=dataclasses.replace(NO_CV, compare_opencv=True))
    assert [o["image"] for o in result.report["outliers"]] == ["left/pose_003"]
    assert result.report["rms_after_px"] < 0.35
    # Counts and OpenCV's reference cover what was used: the outlier image is left out.
    assert result.report["cameras"]["left"]["images"] == 19 and result.report["cameras"]["front"]["images"] == 20
    assert "left/pose_003" not in result.report["cameras"]["left"]["per_image_px"]
    assert result.report["board_poses"] == 20  # pose_003 is still used by the other cameras
    assert result.report["opencv"]["cameras"]["left"]["shared_poses"] == 19
    assert result.report["opencv"]["cameras"]["left"]["ours_minus_opencv"]["rotation_deg"] < 0.05
    errs = rig_errors(result.cameras, truth, reference="front")
    assert max(e["rotation_deg"] for e in errs.values()) < 0.05


def test_disconnected_cameras_are_named(figure_rig) -> None:
    _, _, dets, _ = figure_rig
    lonely = dets["right"]
    renamed = {f"other_{p}": d for p, d in lonely.detections.items()}
    cut = {**dets, "right": dataclasses.replace(lonely, detections=renamed)}
    with pytest.raises(
        CaptureError,
        match=r"cameras \['right'\] share fewer than 2 board pose\(s\) with cameras "
        r"\['front', 'left'\]",
    ):
        calibrate_rig(cut, FIGURE_RIG.board, config=NO_CV)


def test_sparse_and_dense_jacobians_reach_the_same_optimum() -> None:
    cfg = dataclasses.replace(FIGURE_RIG, n_poses=5, names=("a", "b"), yaws_deg=(0.0, 30.0))
    rng = np.random.default_rng(3)
    truth = sim_rig(cfg)
    poses = random_board_poses(truth, cfg, rng=rng)
    det = simulate_detections(truth, poses, cfg.board, noise_px=0.3, rng=rng)
    dets = detections_as_capture(det, (cfg.width, cfg.height))
    init = initialise_rig(dets, cfg.board)
    kw = dict(fixed_cam=init.fixed, dist_model="k1k2")
    dense = bundle_adjust(init.state, init.obs, jacobian="dense", **kw)
    sparse = bundle_adjust(init.state, init.obs, jacobian="sparse", **kw)
    assert dense.jacobian == "dense" and sparse.jacobian == "sparse"
    assert dense.rms_after_px < 0.35 and dense.rms_after_px < dense.rms_before_px
    np.testing.assert_allclose(sparse.rms_after_px, dense.rms_after_px, rtol=1e-4)
    np.testing.assert_allclose(sparse.state.intrinsics[:, :4], dense.state.intrinsics[:, :4], rtol=1e-4)
    res = project(dense.state, init.obs) - init.obs.uv
    np.testing.assert_allclose(res, dense.residuals, atol=1e-9)


@pytest.fixture(scope="module")
def rendered_capture(tmp_path_factory):
    """3 cameras x 6 board poses rendered at 800 x 600, written as 8-bit sRGB PNG and JPEG."""
    cfg = SimCalibrationConfig(width=800, height=600, n_poses=6, supersample=2, chart=False)
    rng = np.random.default_rng(11)
    truth = sim_rig(cfg)
    poses = random_board_poses(truth, cfg, rng=rng)
    root = tmp_path_factory.mktemp("capture")
    for name, cam in truth.items():
        (root / name).mkdir()
        for i, pose in enumerate(poses):
            img = render_board_image(cam, pose, cfg, rng=rng)
            if name == "right":  # JPEG, like a camera's own output
                bgr = np.round(linear_to_srgb(img)[..., ::-1] * 255).astype(np.uint8)
                cv2.imwrite(str(root / name / f"pose_{i:03d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            else:
                write_png(root / name / f"pose_{i:03d}.png", linear_to_srgb(img))
    return cfg, truth, poses, root


@pytest.mark.slow
def test_calibration_from_rendered_images(rendered_capture) -> None:
    cfg, truth, poses, root = rendered_capture
    config = CameraCalibrationConfig(reference_camera="front")
    dets = detect_capture(root, cfg.board)
    assert {n: len(d.detections) for n, d in dets.items()} == {"front": 6, "left": 6, "right": 6}
    # The detector's own error on these renders (the "corner noise" of this capture).
    err = []
    for name, d in dets.items():
        for pose, det in d.detections.items():
            ids, px = project_board(truth[name], poses[int(pose[-3:])], cfg.board)
            tr = dict(zip(ids.tolist(), px, strict=True))
            err += [c - tr[int(j)] for j, c in zip(det.ids, det.corners, strict=True)]
    detector_rms = float(np.sqrt((np.array(err) ** 2).sum(axis=1).mean()))
    assert detector_rms < 0.2
    result = calibrate_rig(dets, cfg.board, config=config)
    rep = result.report
    assert rep["rms_after_px"] < 0.35
    assert rep["dropped"] == [] and rep["outliers"] == []
    assert rep["cameras"]["right"]["per_image_px"].keys() == {f"right/pose_{i:03d}.jpg" for i in range(6)}
    # Tolerances: 3 sigma of this smaller capture (6 poses, 800x600, ~0.1 px corners),
    # from the adjustment's covariance: sigma(f) 0.04 %, sigma(c) 0.24 %, 0.06 deg, 0.5 mm.
    errs = rig_errors(result.cameras, truth, reference="front")
    for name, e in errs.items():
        assert abs(e["fx_pct"]) < 0.15 and abs(e["fy_pct"]) < 0.15, (name, e)
        assert abs(e["cx_pct"]) < 0.7 and abs(e["cy_pct"]) < 0.7, (name, e)
        assert e["rotation_deg"] < 0.2 and e["centre_mm"] < 1.5, (name, e)
    # OpenCV's own calibration of the same detections is reported and close to ours.
    cv = rep["opencv"]["cameras"]
    assert cv["left"]["rms_stereo_px"] < 0.35
    assert abs(cv["left"]["ours_minus_opencv"]["fx_pct"]) < 0.3
