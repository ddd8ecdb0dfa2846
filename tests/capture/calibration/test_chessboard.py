"""Plain chessboards at any roll: labels from the image, labels agreeing between cameras, wrong sizes."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from id2reflectance._shared.imageio import linear_to_srgb, write_png
from id2reflectance.capture.calibration.board_captures import CameraDetections, detect_capture
from id2reflectance.capture.calibration.boards import BoardSpec, board_texture, detect_board, to_gray
from id2reflectance.capture.calibration.cameras import CameraCalibrationConfig, calibrate_rig, initialise_rig
from id2reflectance.capture.calibration.chessboard import larger_grid
from id2reflectance.capture.calibration.labels import pattern_symmetries, relabel
from id2reflectance.capture.simulator.calibration_captures import (
    SimCalibrationConfig,
    detections_as_capture,
    project_board,
    render_board_image,
    rig_errors,
    rolled_board_poses,
    sim_rig,
    simulate_detections,
    turned_over,
)
from id2reflectance.errors import CaptureError

ROLLS = [0, 45, 90, 135, 180, 270]
ASYMMETRIC = BoardSpec("chessboard", 10, 7, 0.025, 0.018)  # 9x6 inner corners: colours fix a 180 degree turn
SYMMETRIC = BoardSpec("chessboard", 9, 7, 0.025, 0.018)  # 8x6 inner corners: the same turned by 180 degrees


def _config(spec: BoardSpec) -> SimCalibrationConfig:
    """A two-camera stereo rig at 640 x 480 that sees the whole board."""
    return SimCalibrationConfig(
        width=640,
        height=480,
        fov_deg=40.0,
        names=("a", "b"),
        yaws_deg=(-12.0, 12.0),
        board=spec,
        min_visible=1.0,
        spread_m=(0.04, 0.03, 0.05),
        max_tilt_deg=30.0,
        supersample=2,
        chart=False,
    )


def _truth_labels(det, cam, pose, spec, *, two_sided: bool = False) -> list[int]:
    """Which labelling ``det`` has: 0 = the truth, 1 + k = the truth turned by symmetry k, -1 = neither."""
    ids, px = project_board(cam, pose, spec, two_sided=two_sided)
    truth = dict(zip(ids.tolist(), px, strict=True))
    options = [np.arange(spec.n_corners)] + [g.perm for g in pattern_symmetries(spec)]
    out = []
    for k, perm in enumerate(options):
        back = np.argsort(perm)[det.ids]  # the true id of each labelled corner under option k
        err = np.array([np.linalg.norm(c - truth[int(i)]) for i, c in zip(back, det.corners, strict=True)])
        if err.max() < 1.0:
            out.append(k)
    return out or [-1]


@pytest.fixture(scope="module")
def rendered():
    """Both boards at every roll of ROLLS, seen by the two cameras: {spec: (cameras, poses, detections)}."""
    out = {}
    for spec in (ASYMMETRIC, SYMMETRIC):
        cfg = _config(spec)
        rng = np.random.default_rng(1)
        cams = sim_rig(cfg)
        poses = rolled_board_poses(cams, cfg, ROLLS, rng=rng)
        dets = {}
        for n, cam in cams.items():
            found = {}
            for r, pose in zip(ROLLS, poses, strict=True):
                img8 = np.round(linear_to_srgb(render_board_image(cam, pose, cfg, rng=rng)) * 255).astype(np.uint8)
                found[f"roll_{r:03d}"] = detect_board(img8, spec)
            dets[n] = CameraDetections(n, (cfg.width, cfg.height), found, {p: f"{n}/{p}.png" for p in found})
        out[spec] = (cams, poses, dets)
    return out


def test_pattern_symmetries() -> None:
    assert pattern_symmetries(ASYMMETRIC) == []
    (g,) = pattern_symmetries(SYMMETRIC)
    assert g.perm[0] == SYMMETRIC.n_corners - 1 and sorted(g.perm.tolist()) == list(range(SYMMETRIC.n_corners))
    assert len(pattern_symmetries(BoardSpec("chessboard", 9, 9, 0.02, 0.01))) == 3  # odd square board: 90 degrees
    assert len(pattern_symmetries(BoardSpec("chessboard", 8, 8, 0.02, 0.01))) == 1
    assert pattern_symmetries(BoardSpec()) == []  # ChArUco: every corner has its id


@pytest.mark.slow
def test_asymmetric_board_labelled_right_at_every_roll(rendered) -> None:
    cams, poses, dets = rendered[ASYMMETRIC]
    for n, cam in cams.items():
        for r, pose in zip(ROLLS, poses, strict=True):
            det = dets[n].detections[f"roll_{r:03d}"]
            assert det is not None and len(det) >= ASYMMETRIC.n_corners - 2, (n, r)
            assert _truth_labels(det, cam, pose, ASYMMETRIC) == [0], (n, r)
            assert not det.from_behind


@pytest.mark.slow
@pytest.mark.parametrize("spec", [ASYMMETRIC, SYMMETRIC], ids=["10x7", "9x7"])
def test_every_roll_calibrates_with_labels_agreeing(rendered, spec: BoardSpec) -> None:
    cams, poses, dets = rendered[spec]
    init = initialise_rig(dets, spec)
    for r, pose in zip(ROLLS, poses, strict=True):
        labels = [_truth_labels(init.detections[n].detections[f"roll_{r:03d}"], cams[n], pose, spec) for n in cams]
        assert labels[0] == labels[1] and labels[0] != [-1], (r, labels)
    result = calibrate_rig(dets, spec, config=CameraCalibrationConfig(reference_camera="a"))
    rep = result.report
    assert rep["outliers"] == [] and rep["board_poses"] == len(ROLLS)
    assert all(c["images"] == len(ROLLS) for c in rep["cameras"].values())
    assert rep["rms_after_px"] < 0.2  # measured 0.12 px
    errs = rig_errors(result.cameras, cams, reference="a")
    # 6 poses of a small board at 640 x 480: measured focal within 0.5 %, 0.26 deg, 3.4 mm.
    for name, e in errs.items():
        assert abs(e["fx_pct"]) < 1.0 and abs(e["fy_pct"]) < 1.0, (name, e)
        assert e["rotation_deg"] < 0.5 and e["centre_mm"] < 6.0, (name, e)
    cv = rep["opencv"]["cameras"]["b"]
    assert cv["shared_poses"] == len(ROLLS) and cv["rms_stereo_px"] < 0.3
    assert cv["ours_minus_opencv"]["rotation_deg"] < 1.0


def test_turned_labels_in_one_camera_are_turned_back() -> None:
    """One camera labelling two poses turned by 180 degrees: the rig makes them agree again."""
    cfg = dataclasses.replace(_config(SYMMETRIC), width=1280, height=960)
    rng = np.random.default_rng(2)
    truth = sim_rig(cfg)
    poses = rolled_board_poses(truth, cfg, ROLLS * 2, rng=rng)
    det = simulate_detections(truth, poses, SYMMETRIC, noise_px=0.1, rng=rng)
    (g,) = pattern_symmetries(SYMMETRIC)
    for p in ("pose_002", "pose_005", "pose_009"):
        det["b"][p] = relabel(det["b"][p], g)
    dets = detections_as_capture(det, (cfg.width, cfg.height))
    result = calibrate_rig(dets, SYMMETRIC, config=CameraCalibrationConfig(reference_camera="a"))
    rep = result.report
    assert rep["relabelled"] == ["b/pose_002", "b/pose_005", "b/pose_009"]
    assert rep["outliers"] == [] and rep["rms_after_px"] < 0.15
    e = rig_errors(result.cameras, truth, reference="a")["b"]
    assert e["rotation_deg"] < 0.1 and e["centre_mm"] < 1.0, e
    assert rep["opencv"]["cameras"]["b"]["ours_minus_opencv"]["rotation_deg"] < 0.1


def _render_asymmetric(roll: float = 30.0):
    cfg = _config(ASYMMETRIC)
    rng = np.random.default_rng(4)
    cams = sim_rig(cfg)
    (pose,) = rolled_board_poses(cams, cfg, [roll], rng=rng)
    return cfg, cams, pose, render_board_image(cams["a"], pose, cfg, rng=rng)


def test_a_part_of_a_larger_board_is_recognised() -> None:
    _, _, _, img = _render_asymmetric()
    gray = to_gray(img)
    det = detect_board(img, ASYMMETRIC)
    assert det is not None and len(det) == 54 and det.larger_board is None
    assert larger_grid(gray, det.corners, 9, 6) == (9, 6)
    grid = det.corners.reshape(6, 9, 2)
    assert larger_grid(gray, grid[:, 1:].reshape(-1, 2), 8, 6) == (9, 6)  # left column missing
    assert larger_grid(gray, grid[:-1, :-1].reshape(-1, 2), 8, 5) == (9, 6)  # bottom row, right column missing


def _write_capture(root, cams, poses, cfg, rng, names=("a", "b")) -> None:
    for n in names:
        for i, pose in enumerate(poses):
            write_png(root / n / f"p{i}.png", linear_to_srgb(render_board_image(cams[n], pose, cfg, rng=rng)))


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory):
    """The 9x6-inner-corner chessboard, 4 poses, two cameras, as 8-bit PNG."""
    cfg = _config(ASYMMETRIC)
    rng = np.random.default_rng(6)
    cams = sim_rig(cfg)
    poses = rolled_board_poses(cams, cfg, [0, 90, 180, 300], rng=rng)
    root = tmp_path_factory.mktemp("chess")
    _write_capture(root, cams, poses, cfg, rng)
    return root


def test_a_board_spec_too_small_is_refused_with_the_size_seen(capture_dir, monkeypatch) -> None:
    """8x6 inner corners given for the 9x6 board, the detector returning a sub-grid (as OpenCV's fallback can)."""
    real = cv2.findChessboardCornersSB

    def sub_grid(gray, size, *args, **kwargs):
        if tuple(size) != (8, 6):
            return real(gray, size, *args, **kwargs)
        ok, corners = real(gray, (9, 6), *args, **kwargs)
        return ok, (corners.reshape(6, 9, 1, 2)[:, :8].reshape(-1, 1, 2).copy() if ok else corners)

    monkeypatch.setattr(cv2, "findChessboardCornersSB", sub_grid)
    with pytest.raises(CaptureError, match=r"show a larger one in 8 of 8 image") as info:
        detect_capture(capture_dir, SYMMETRIC, workers=1)
    assert "10x7 squares (9x6 inner corners) found whole in a/p0.png" in str(info.value)
    assert str(info.value).endswith("use squares_x=10, squares_y=7")


@pytest.mark.slow
def test_inner_corners_given_for_squares_get_a_hint(capture_dir) -> None:
    wrong = BoardSpec("chessboard", 9, 6, 0.025, 0.018)  # the inner corners of the 10x7 board
    with pytest.raises(CaptureError) as info:
        detect_capture(capture_dir, wrong, workers=1)
    assert "counts squares, not inner corners" in str(info.value)
    assert "squares_x=10, squares_y=7" in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [BoardSpec("chessboard", 8, 6, 0.025, 0.018), BoardSpec("charuco", 7, 5, 0.03, 0.022, "DICT_4X4_50")],
    ids=["chessboard-8x6", "charuco"],
)
def test_a_board_seen_from_behind_keeps_its_labels(spec: BoardSpec) -> None:
    """A board on glass, seen from its back: the 8x6-square chessboard's colours are not mirror-symmetric.

    (They are the same turned by 180 degrees: either labelling of that turn is right.)
    """
    cfg = _config(spec)
    rng = np.random.default_rng(8)
    cams = sim_rig(cfg)
    (pose,) = rolled_board_poses(cams, cfg, [120.0], rng=rng)
    for view, behind in ((pose, False), (turned_over(pose, spec), True)):
        img = render_board_image(cams["a"], view, cfg, rng=rng, two_sided=True)
        det = detect_board(img, spec)
        assert det is not None and det.from_behind == behind
        ids, _ = project_board(cams["a"], view, spec, two_sided=True)
        assert len(det) >= 0.7 * len(ids)
        assert _truth_labels(det, cams["a"], view, spec, two_sided=True) != [-1], behind


def _cut_short(spec: BoardSpec, keep: float = 0.45) -> tuple[np.ndarray, int]:
    """The board's texture with its outermost squares printed ``keep`` of a square wide (as many printed boards)."""
    tex, margin = board_texture(spec)
    px = 120
    h, w = spec.squares_y * px, spec.squares_x * px
    cut = int(round((1 - keep) * px))
    board = tex[margin : margin + h, margin : margin + w]
    board[:cut] = board[-cut:] = 1.0
    board[:, :cut] = board[:, -cut:] = 1.0
    return tex, margin


def test_a_part_of_a_real_looking_board_is_recognised() -> None:
    """Outer squares cut short and a short lens (k1 -0.3): the squares beyond a sub-grid are read
    next to its edge, through the nearest corners (the whole-grid homography missed them on real photos)."""
    cfg = dataclasses.replace(_config(ASYMMETRIC), k1=-0.3, k2=0.1, spread_m=(0.01, 0.01, 0.0), fov_deg=50.0)
    rng = np.random.default_rng(12)
    cams = sim_rig(cfg)
    (pose,) = rolled_board_poses(cams, cfg, [80.0], rng=rng)
    img = render_board_image(cams["a"], pose, cfg, rng=rng, texture=_cut_short(ASYMMETRIC))
    det = detect_board(img, ASYMMETRIC)
    assert det is not None and det.larger_board is None and len(det) >= 50
    gray = to_gray(img)
    ids, truth = project_board(cams["a"], pose, ASYMMETRIC)
    grid = truth.reshape(6, 9, 2)  # the true corners, in board order
    assert larger_grid(gray, grid.reshape(-1, 2), 9, 6) == (9, 6)
    assert larger_grid(gray, grid[:, 1:].reshape(-1, 2), 8, 6) == (9, 6)  # 8x6 inner corners given
    assert larger_grid(gray, grid[1:, :-1].reshape(-1, 2), 8, 5) == (9, 6)  # inner corners given for squares
    assert larger_grid(gray, grid[1:-1, 2:].reshape(-1, 2), 7, 4) == (9, 6)  # two lines out, grown from refined corners
