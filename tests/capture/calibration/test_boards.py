"""Board specs, board geometry and corner detection on renders with known truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance.capture.calibration.boards import (
    BoardSpec,
    board_texture,
    charuco_board,
    detect_board,
    object_points,
    parse_board_spec,
)
from id2reflectance.capture.simulator.calibration_captures import (
    SimCalibrationConfig,
    project_board,
    random_board_poses,
    render_board_image,
    sim_rig,
    simulate_detections,
)
from id2reflectance.errors import ConfigError

SPEC = BoardSpec("charuco", 11, 8, 0.03, 0.022, "DICT_5X5_100")


def test_parse_board_spec_every_form_gives_the_same_board(tmp_path) -> None:
    inline = "type=charuco,squares_x=11,squares_y=8,square_size=0.03,marker_size=0.022,dictionary=DICT_5X5_100"
    (tmp_path / "b.toml").write_text(
        'type = "charuco"\nsquares_x = 11\nsquares_y = 8\nsquare_size = 0.03\nmarker_size = 0.022\n'
        'dictionary = "DICT_5X5_100"\n'
    )
    (tmp_path / "b.json").write_text(json.dumps(SPEC.to_json()))
    for form in (inline, json.dumps(SPEC.to_json()), str(tmp_path / "b.toml"), str(tmp_path / "b.json")):
        assert parse_board_spec(form) == SPEC


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("type=charuco,squares_x=11,squares_y=8,square_size=0.03,marker_size=0.03", "marker_size"),
        ("type=charuco,squares_x=11,squares_y=8,square_size=30,marker_size=22", "metres"),
        ("type=charuco,dictionary=DICT_NOPE", "dictionary"),
        ("type=charuco,squares_x=20,squares_y=20,dictionary=DICT_4X4_50", "needs 200"),
        ("type=hexagon", "type"),
        ("type=charuco,colour=red", "unknown key"),
        ("missing_file.toml", "neither a board file"),
    ],
)
def test_parse_board_spec_rejects_bad_specs(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_board_spec(spec)


def test_object_points_match_opencv_charuco_corners() -> None:
    # Reference: OpenCV's own CharucoBoard.getChessboardCorners().
    ref = charuco_board(SPEC).getChessboardCorners()
    np.testing.assert_allclose(object_points(SPEC), ref, atol=1e-7)
    assert object_points(SPEC).shape == (70, 3)


def test_board_texture_puts_the_board_inside_its_margin() -> None:
    tex, margin = board_texture(SPEC, px_per_square=40)
    assert tex.shape == (8 * 40 + 2 * margin, 11 * 40 + 2 * margin)
    assert tex[margin + 5, margin + 5] == 0.0  # top-left square is black
    assert tex[margin + 2, margin + 42] == 1.0  # its neighbour holds a marker on white: white corner
    assert tex[2, 2] == 1.0  # white margin


def _rendered(config: SimCalibrationConfig, n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    cams = sim_rig(config)
    poses = random_board_poses(cams, config, rng=rng)[:n]
    return cams, poses, rng


def _errors(det, ids, px) -> np.ndarray:
    truth = dict(zip(ids.tolist(), px, strict=True))
    assert set(det.ids.tolist()) <= set(truth)
    return np.array([c - truth[int(i)] for i, c in zip(det.ids, det.corners, strict=True)])


def test_charuco_corners_are_subpixel_accurate_on_renders() -> None:
    cfg = SimCalibrationConfig(width=640, height=480, supersample=2)
    cams, poses, rng = _rendered(cfg, 2)
    errs = []
    for name in ("front", "left"):
        for pose in poses:
            img = render_board_image(cams[name], pose, cfg, rng=rng)
            # through 8-bit sRGB, like a JPEG/PNG photograph
            img8 = np.round(linear_to_srgb(img) * 255).astype(np.uint8)
            det = detect_board(img8, SPEC)
            ids, px = project_board(cams[name], pose, SPEC)
            assert det is not None and len(det) >= 0.8 * len(ids)
            errs.append(_errors(det, ids, px))
    e = np.concatenate(errs)
    rms = np.sqrt((e**2).sum(axis=1).mean())
    assert rms < 0.15, rms  # measured about 0.07 px
    np.testing.assert_allclose(e.mean(axis=0), 0.0, atol=0.03)  # no bias


def test_partial_blurred_charuco_view_keeps_the_right_ids() -> None:
    cfg = SimCalibrationConfig(width=800, height=600, supersample=2, blur_sigma_px=1.5)
    cams = sim_rig(cfg)
    cam = cams["front"]
    w, h = SPEC.size_m
    R = np.diag([1.0, -1.0, -1.0])
    pose = (R, np.array([0.16, 0.0, 0.0]) - R @ np.array([w / 2, h / 2, 0.0]))  # shifted right: cut off
    ids, px = project_board(cam, pose, SPEC)
    assert 20 < len(ids) < SPEC.n_corners
    det = detect_board(render_board_image(cam, pose, cfg, rng=np.random.default_rng(0)), SPEC)
    assert det is not None and len(det) >= 0.7 * len(ids)
    assert np.sqrt((_errors(det, ids, px) ** 2).sum(axis=1).mean()) < 0.2


def test_chessboard_detection_in_canonical_order() -> None:
    spec = BoardSpec("chessboard", 9, 7, 0.025, 0.018)
    cfg = SimCalibrationConfig(
        width=640,
        height=480,
        supersample=2,
        board=spec,
        min_visible=1.0,
        spread_m=(0.04, 0.03, 0.05),
        max_tilt_deg=25.0,
        max_roll_deg=20.0,
    )
    cams, poses, rng = _rendered(cfg, 2, seed=5)
    for name in ("front", "right"):
        for pose in poses:
            det = detect_board(render_board_image(cams[name], pose, cfg, rng=rng), spec)
            ids, px = project_board(cams[name], pose, spec)
            assert det is not None and len(det) == spec.n_corners == len(ids)
            e = _errors(det, ids, px)  # fails if the order were flipped: errors of centimetres
            assert np.sqrt((e**2).sum(axis=1).mean()) < 0.2


def test_no_board_in_noise() -> None:
    img = np.random.default_rng(0).uniform(0, 1, (240, 320, 3)).astype(np.float32)
    assert detect_board(img, SPEC) is None
    assert detect_board(img, BoardSpec("chessboard", 9, 7, 0.025, 0.018)) is None


def test_simulated_detection_noise_level() -> None:
    cfg = SimCalibrationConfig(n_poses=5)
    cams, poses, rng = _rendered(cfg, 5)
    det = simulate_detections(cams, poses, SPEC, noise_px=0.3, rng=rng)
    e = []
    for name, cam in cams.items():
        for i, pose in enumerate(poses):
            ids, px = project_board(cam, pose, SPEC)
            d = det[name][f"pose_{i:03d}"]
            np.testing.assert_array_equal(d.ids, ids)
            e.append(d.corners - px)
    rms = np.sqrt((np.concatenate(e) ** 2).sum(axis=1).mean())
    assert abs(rms - 0.3) < 0.02
