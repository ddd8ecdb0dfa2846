"""``id2r calibrate`` and ``id2r rig`` through the CLI: outputs, and bad input failing cleanly."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from id2reflectance._shared.imageio import linear_to_srgb, write_png
from id2reflectance.capture.calibration.boards import BoardSpec
from id2reflectance.capture.session import REQUIRED_PATTERNS, Frame, load_session, session_json, write_session_json
from id2reflectance.capture.simulator.calibration_captures import (
    SimCalibrationConfig,
    render_board_image,
    rolled_board_poses,
    sim_rig,
)
from id2reflectance.cli.main import _register, cli

_register()
BOARD = "type=charuco,squares_x=11,squares_y=8,square_size=0.03,marker_size=0.022,dictionary=DICT_5X5_100"


def _run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_error(res, *needles: str) -> None:
    """Exit code 2, exactly one 'error:' line on stderr naming every needle, no traceback."""
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "calib"
    res = _run("calibrate", "simulate", "-o", out, "--poses", "5", "--image-size", "640x480", "--no-progress")
    assert res.exit_code == 0, res.output
    return out


def _session(root: Path, size: tuple[int, int]) -> Path:
    cams = sim_rig(dataclasses.replace(SimCalibrationConfig(), width=size[0], height=size[1]))
    frames = [
        Frame(n, p, pol, f"frames/{n}/{p}_{pol}.exr", "linear", 1.0)
        for n in cams
        for pol in ("cross", "parallel")
        for p in REQUIRED_PATTERNS
    ]
    write_session_json(root, session_json(subject_id="S1", cameras=cams, frames=frames))
    return root


@pytest.mark.slow
def test_simulate_calibrate_and_apply(simulated: Path, tmp_path: Path) -> None:
    truth = json.loads((simulated / "truth.json").read_text())
    assert sorted(truth["cameras"]) == ["front", "left", "right"]
    assert len(list((simulated / "boards" / "left").glob("pose_*.png"))) == 5
    rig = tmp_path / "rig.json"
    res = _run(
        "calibrate",
        "cameras",
        simulated / "boards",
        "--board",
        simulated / "board.json",
        "-o",
        rig,
        "--reference",
        "front",
        "--no-progress",
    )
    assert res.exit_code == 0, res.output
    assert "RMS reprojection" in res.stdout and "vs OpenCV" in res.stdout
    data = json.loads(rig.read_text())
    assert data["format"] == "id2r-rig" and sorted(data["cameras"]) == ["front", "left", "right"]
    assert data["report"]["rms_after_px"] < 0.35
    fx_true = truth["cameras"]["left"]["K"][0][0]
    assert abs(data["cameras"]["left"]["K"][0][0] / fx_true - 1) < 0.01
    # colour, written into the rig too
    colour = tmp_path / "colour.json"
    res = _run(
        "calibrate",
        "colour",
        simulated / "colour" / "front" / "chart.exr",
        "--camera",
        "front",
        "--white-level",
        "0.5",
        "-o",
        colour,
        "--rig",
        rig,
    )
    assert res.exit_code == 0, res.output
    assert "CIEDE2000 mean" in res.stdout
    cm = json.loads(colour.read_text())["color_matrix"]
    np.testing.assert_allclose(cm, truth["color_matrix"], rtol=0.05, atol=0.02)
    assert json.loads(rig.read_text())["color_matrix"] == cm
    # into a session of the same image size, keeping its world frame
    sess = _session(tmp_path / "sess", (640, 480))
    res = _run("rig", "apply", rig, sess, "--align")
    assert res.exit_code == 0, res.output
    s = load_session(sess)
    np.testing.assert_allclose(s.rig.color_matrix, cm)
    np.testing.assert_allclose(s.cameras["left"].K, data["cameras"]["left"]["K"])
    np.testing.assert_allclose(
        s.cameras["left"].center,
        np.array(truth["cameras"]["left"]["R"]).T @ -np.array(truth["cameras"]["left"]["t"]),
        atol=0.01,
    )


def test_no_board_in_any_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for cam in ("a", "b"):
        for i in range(2):
            write_png(tmp_path / "cap" / cam / f"p{i}.png", rng.uniform(0, 1, (120, 160, 3)))
    res = _run("calibrate", "cameras", tmp_path / "cap", "--board", BOARD, "-o", tmp_path / "rig.json", "--no-progress")
    _one_error(res, "no board found in any image", "a/p0.png", "b/p1.png")
    assert not (tmp_path / "rig.json").exists()


@pytest.mark.slow
def test_disconnected_cameras(simulated: Path, tmp_path: Path) -> None:
    cap = Path(shutil.copytree(simulated / "boards", tmp_path / "cap"))
    for f in sorted((cap / "right").iterdir()):
        f.rename(f.with_name("other_" + f.name))
    res = _run("calibrate", "cameras", cap, "--board", BOARD, "-o", tmp_path / "rig.json", "--no-progress")
    _one_error(res, "cameras ['right']", "['front', 'left']", "disconnected")
    assert not (tmp_path / "rig.json").exists()


@pytest.mark.slow
def test_mismatched_image_sizes(simulated: Path, tmp_path: Path) -> None:
    cap = Path(shutil.copytree(simulated / "boards", tmp_path / "cap"))
    write_png(cap / "left" / "pose_002.png", np.zeros((100, 120, 3)))
    res = _run("calibrate", "cameras", cap, "--board", BOARD, "-o", tmp_path / "rig.json", "--no-progress")
    _one_error(res, "camera 'left'", "differ in size", "left/pose_002.png", "left/pose_000.png")
    assert not (tmp_path / "rig.json").exists()


@pytest.mark.slow
def test_bad_board_spec(simulated: Path, tmp_path: Path) -> None:
    res = _run(
        "calibrate",
        "cameras",
        simulated / "boards",
        "--board",
        "type=charuco,marker_size=0.5",
        "-o",
        tmp_path / "rig.json",
        "--no-progress",
    )
    _one_error(res, "marker_size")
    assert not (tmp_path / "rig.json").exists()


def test_chart_not_found(tmp_path: Path) -> None:
    write_png(tmp_path / "wall.png", np.full((90, 120, 3), 0.4))
    rig_text = (
        '{"format": "id2r-rig", "version": 1, "name": "r", "cameras": '
        + json.dumps({n: c.to_json() for n, c in sim_rig(SimCalibrationConfig()).items()})
        + "}"
    )
    (tmp_path / "rig.json").write_text(rig_text)
    res = _run(
        "calibrate",
        "colour",
        tmp_path / "wall.png",
        "--camera",
        "front",
        "-o",
        tmp_path / "colour.json",
        "--rig",
        tmp_path / "rig.json",
    )
    _one_error(res, "no ColorChecker found", "wall.png")
    assert not (tmp_path / "colour.json").exists()
    assert (tmp_path / "rig.json").read_text() == rig_text


def test_rig_apply_refuses_a_rig_without_the_session_cameras(tmp_path: Path) -> None:
    sess = _session(tmp_path / "sess", (1600, 1200))
    before = (sess / "session.json").read_bytes()
    cams = sim_rig(SimCalibrationConfig())
    (tmp_path / "rig.json").write_text(
        json.dumps({"format": "id2r-rig", "version": 1, "name": "r", "cameras": {"front": cams["front"].to_json()}})
    )
    res = _run("rig", "apply", tmp_path / "rig.json", sess)
    _one_error(res, "['left', 'right']", str(sess))
    assert (sess / "session.json").read_bytes() == before


def test_simulate_refuses_to_replace_an_unrelated_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    res = _run("calibrate", "simulate", "-o", tmp_path, "--poses", "1", "--no-progress")
    _one_error(res, "not a simulated calibration folder")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "sub", [["calibrate", "cameras"], ["calibrate", "colour"], ["calibrate", "simulate"], ["rig", "apply"]]
)
def test_help_has_examples(sub: list[str]) -> None:
    res = _run(*sub, "--help")
    assert res.exit_code == 0 and "Examples:" in res.output


CHESS = "type=chessboard,squares_x=10,squares_y=7,square_size=0.025"  # 9x6 inner corners


@pytest.fixture(scope="module")
def one_camera(tmp_path_factory) -> Path:
    """A capture folder with one camera: the 10x7-square chessboard at 4 rolls, 640 x 480 PNG."""
    spec = BoardSpec("chessboard", 10, 7, 0.025, 0.018)
    cfg = SimCalibrationConfig(
        width=640, height=480, fov_deg=40.0, names=("a",), yaws_deg=(0.0,), board=spec, min_visible=1.0,
        spread_m=(0.04, 0.03, 0.05), max_tilt_deg=30.0, supersample=2, chart=False,
    )  # fmt: skip
    rng = np.random.default_rng(3)
    cams = sim_rig(cfg)
    root = tmp_path_factory.mktemp("one") / "cap"
    for i, pose in enumerate(rolled_board_poses(cams, cfg, [0, 90, 180, 270], rng=rng)):
        write_png(root / "a" / f"p{i}.png", linear_to_srgb(render_board_image(cams["a"], pose, cfg, rng=rng)))
    return root


def test_one_camera_capture_warns(one_camera: Path, tmp_path: Path) -> None:
    res = _run("calibrate", "cameras", one_camera, "--board", CHESS, "-o", tmp_path / "rig.json", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "warning: only one camera ('a')" in res.stderr
    assert "over 4 image(s)" in res.stdout


def test_inner_corners_given_for_squares(one_camera: Path, tmp_path: Path) -> None:
    res = _run(
        "calibrate",
        "cameras",
        one_camera,
        "--board",
        "type=chessboard,squares_x=9,squares_y=6,square_size=0.025",
        "-o",
        tmp_path / "rig.json",
        "--no-progress",
    )
    _one_error(res, "10x7 squares (9x6 inner corners)", "counts squares, not inner corners", "squares_x=10")
    assert not (tmp_path / "rig.json").exists()


def test_simulate_at_given_rolls(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    res = _run(
        "calibrate", "simulate", "-o", out, "--rolls", "90,270", "--image-size", "320x240", "--no-chart",
        "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    poses = json.loads((out / "truth.json").read_text())["board_poses"]
    assert sorted(poses) == ["pose_000", "pose_001"]  # one pose per roll, --poses ignored
    _one_error(_run("calibrate", "simulate", "-o", tmp_path / "x", "--rolls", "0,abc"), "--rolls", "'0,abc'")
