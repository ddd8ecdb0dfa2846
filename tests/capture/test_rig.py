"""rig.json read/write, rig alignment and applying a rig to sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.rig import RigFile, align_cameras, apply_rig, read_colour_matrix, read_rig, write_rig
from id2reflectance.capture.session import REQUIRED_PATTERNS, Frame, load_session, session_json, write_session_json
from id2reflectance.capture.simulator.calibration_captures import SimCalibrationConfig, sim_rig
from id2reflectance.capture.simulator.chart import SIM_COLOR_MATRIX
from id2reflectance.errors import InputFileError, SessionInvalidError

CFG = SimCalibrationConfig(width=640, height=480)


def _moved(cams: dict[str, Camera], W: np.ndarray, s: np.ndarray) -> dict[str, Camera]:
    """The same rig in another world frame (X_new = W X_old + s)."""
    return {n: Camera(n, c.width, c.height, c.K, c.dist, c.R @ W.T, c.t - c.R @ W.T @ s) for n, c in cams.items()}


def _session(root: Path, cams: dict[str, Camera]) -> Path:
    frames = [
        Frame(n, p, pol, f"frames/{n}/{p}_{pol}.exr", "linear", 1.0)
        for n in cams
        for pol in ("cross", "parallel")
        for p in REQUIRED_PATTERNS
    ]
    write_session_json(root, session_json(subject_id="S1", cameras=cams, frames=frames, rig_name="old"))
    return root


def test_rig_json_round_trip(tmp_path: Path) -> None:
    cams = sim_rig(CFG)
    rig = RigFile("stage", cams, SIM_COLOR_MATRIX, {"rms_after_px": 0.3})
    write_rig(tmp_path / "rig.json", rig)
    back = read_rig(tmp_path / "rig.json")
    assert back.name == "stage" and back.report == {"rms_after_px": 0.3}
    np.testing.assert_array_equal(back.color_matrix, SIM_COLOR_MATRIX)
    for n, c in cams.items():
        assert back.cameras[n].to_json() == c.to_json()
    # the cameras block is exactly the session format's
    data = json.loads((tmp_path / "rig.json").read_text())
    assert data["cameras"] == session_json(subject_id="x", cameras=cams, frames=[])["cameras"]
    np.testing.assert_array_equal(read_colour_matrix(tmp_path / "rig.json"), SIM_COLOR_MATRIX)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(format="nope"), "format"),
        (lambda d: d["cameras"]["left"].update(K=[[1, 0, 0], [0, -1, 0], [0, 0, 1]]), "cameras.left.K"),
        (lambda d: d["cameras"]["front"].pop("R"), "cameras.front.R is missing"),
        (lambda d: d.update(color_matrix=[[1, 0], [0, 1]]), "color_matrix"),
        (lambda d: d.update(extra=1), "unknown field"),
    ],
)
def test_read_rig_rejects_bad_files(tmp_path: Path, edit, needle: str) -> None:
    data = RigFile("r", sim_rig(CFG)).to_json()
    edit(data)
    (tmp_path / "rig.json").write_text(json.dumps(data))
    with pytest.raises(InputFileError, match=needle) as info:
        read_rig(tmp_path / "rig.json")
    assert "rig.json" in str(info.value)


def test_align_cameras_undoes_a_rigid_motion() -> None:
    cams = sim_rig(CFG)
    W = Rotation.from_rotvec([0.3, -1.2, 0.4]).as_matrix()
    moved = _moved(cams, W, np.array([0.5, -0.2, 1.0]))
    aligned, residual = align_cameras(moved, cams)
    assert residual < 1e-6
    for n, c in cams.items():
        np.testing.assert_allclose(aligned[n].R, c.R, atol=1e-12)
        np.testing.assert_allclose(aligned[n].t, c.t, atol=1e-12)


def test_apply_rig_round_trip(tmp_path: Path) -> None:
    nominal = sim_rig(CFG)
    sess = _session(tmp_path / "s", nominal)
    calibrated = {
        n: Camera(n, c.width, c.height, c.K * [[1.01], [1.01], [1]], c.dist * 0.5, c.R, c.t + 0.001)
        for n, c in nominal.items()
    }
    info = apply_rig(RigFile("cal", calibrated, SIM_COLOR_MATRIX), [sess])
    assert info[str(sess)]["cameras"] == sorted(nominal)
    s = load_session(sess)
    for n, c in calibrated.items():
        assert s.cameras[n].to_json() == c.to_json()
    np.testing.assert_allclose(s.rig.color_matrix, SIM_COLOR_MATRIX)
    assert s.rig.name == "old" and len(s.frames) == 3 * 8  # only cameras and colour matrix change


def test_apply_rig_with_alignment_keeps_the_session_frame(tmp_path: Path) -> None:
    nominal = sim_rig(CFG)
    sess = _session(tmp_path / "s", nominal)
    # a calibration expressed in the front camera's frame, as `calibrate cameras` writes it
    front = nominal["front"]
    in_camera_frame = _moved(nominal, front.R, front.t)
    np.testing.assert_allclose(in_camera_frame["front"].R, np.eye(3), atol=1e-12)
    info = apply_rig(RigFile("cal", in_camera_frame), [sess], align=True)
    assert info[str(sess)]["align_residual_mm"] < 1e-6
    s = load_session(sess)
    for n, c in nominal.items():
        np.testing.assert_allclose(s.cameras[n].center, c.center, atol=1e-9)


def test_apply_rig_writes_nothing_when_any_session_fails(tmp_path: Path) -> None:
    nominal = sim_rig(CFG)
    good = _session(tmp_path / "good", nominal)
    small = {n: Camera(n, 320, 240, c.K, c.dist, c.R, c.t) for n, c in nominal.items()}
    other = _session(tmp_path / "other", small)
    before = good.joinpath("session.json").read_bytes(), other.joinpath("session.json").read_bytes()
    with pytest.raises(InputFileError, match="is 640x480 but session .*other has 320x240"):
        apply_rig(RigFile("cal", nominal), [good, other])
    partial = {"front": nominal["front"]}
    with pytest.raises(InputFileError, match=r"has no camera\(s\) \['left', 'right'\]"):
        apply_rig(RigFile("cal", partial), [good])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "session.json").write_text("{")
    with pytest.raises(SessionInvalidError):
        apply_rig(RigFile("cal", nominal), [good, tmp_path / "broken"])
    assert (good.joinpath("session.json").read_bytes(), other.joinpath("session.json").read_bytes()) == before
