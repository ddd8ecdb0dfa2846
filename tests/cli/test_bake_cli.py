"""``id2r bake`` through the CLI: a bake of a small simulated capture, and bad inputs that
must fail with one clear line, exit code 2 and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from id2reflectance._shared.imageio import write_exr
from id2reflectance.capture.geometry.mesh import read_mesh, write_obj
from id2reflectance.cli.main import _register, cli
from tests.processing.bake_case import default_case, simulated_case

_register()

FAST = """
size = 256
previews = false
[registration]
icp_samples = 3000
icp_yaw_deg = [-15.0, 0.0, 15.0]
icp_pitch_deg = [0.0]
residual_samples = 20000
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return simulated_case(tmp_path_factory)


def _bake(*args: str):
    return CliRunner().invoke(cli, ["bake", *args, "--no-progress"])


def _light_copy(session: Path, dest: Path) -> Path:
    """session.json and the scan only: the bake reads nothing else from a session."""
    dest.mkdir(parents=True)
    shutil.copy(session / "session.json", dest / "session.json")
    shutil.copytree(session / "mesh", dest / "mesh")
    return dest


def _fails(res, *fragments: str, out: Path) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no temporary left


@pytest.mark.slow
def test_bake_cli_writes_the_asset(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    # the defaults: a session simulated with the simulator's, baked in the default layout
    # (auto: the face model's where it is found, else the procedural template)
    from id2reflectance.capture.geometry.templates import resolve_template

    session, solved = default_case(tmp_path_factory)
    cfg = tmp_path / "bake.toml"
    cfg.write_text(FAST)
    out = tmp_path / "asset"
    res = _bake(str(session), str(solved), "-o", str(out), "--config", str(cfg))
    assert res.exit_code == 0, res.output
    assert "fit residual mean" in res.stdout and "of the UV chart" in res.stdout
    for name in ("diffuse_albedo", "specular_albedo", "roughness", "normal_object", "normal_tangent", "coverage"):
        assert (out / "uv" / f"{name}.exr").is_file()
    assert not (out / "previews").exists()
    report = json.loads((out / "bake.json").read_text())
    assert report["size"] == 256 and report["config"]["registration"]["icp_pitch_deg"] == [0.0]
    manifest = json.loads((out / "asset.json").read_text())
    assert manifest["stats"]["fit_residual_mm"]["mean"] < 0.1 and manifest["frame"] == "world"
    auto = resolve_template("auto")
    assert manifest["template"] == {"name": auto.name, "sha256": auto.sha256}
    assert read_mesh(out / "mesh.obj").faces.shape == auto.mesh.faces.shape


def test_help_has_examples() -> None:
    res = CliRunner().invoke(cli, ["bake", "--help"])
    assert res.exit_code == 0 and "id2r bake sessions/S0000 solved/S0000 -o assets/S0000" in res.output


def test_bad_size_option(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    out = tmp_path / "asset"
    res = _bake(str(session), str(solved), "-o", str(out), "--uv-size", "300")
    _fails(res, "--uv-size", "power of two", out=out)


def test_solver_output_missing_a_camera(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    bad = Path(shutil.copytree(solved, tmp_path / "solved"))
    shutil.rmtree(bad / "left")
    out = tmp_path / "asset"
    _fails(_bake(str(session), str(bad), "-o", str(out)), "solved/left", "camera 'left'", out=out)


def test_solver_map_of_the_wrong_size(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    bad = Path(shutil.copytree(solved, tmp_path / "solved"))
    write_exr(bad / "front" / "roughness.exr", np.zeros((100, 100), np.float32))
    out = tmp_path / "asset"
    _fails(_bake(str(session), str(bad), "-o", str(out)), "solved/front/roughness.exr", "100x100", "192x192", out=out)


def test_session_without_mesh(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    s = _light_copy(session, tmp_path / "sess")
    manifest = json.loads((s / "session.json").read_text())
    del manifest["mesh"]
    (s / "session.json").write_text(json.dumps(manifest))
    out = tmp_path / "asset"
    _fails(_bake(str(s), str(solved), "-o", str(out)), "no scanned mesh", "'mesh'", out=out)


@pytest.mark.parametrize(
    ("content", "message"),
    [("v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\n", "mesh has no faces"), ("v 0 0 zero\nf 1 2 3\n", "not a valid OBJ")],
)
def test_mesh_that_does_not_load(case: tuple[Path, Path], tmp_path: Path, content: str, message: str) -> None:
    session, solved = case
    s = _light_copy(session, tmp_path / "sess")
    (s / "mesh" / "scan.obj").write_text(content)
    out = tmp_path / "asset"
    _fails(_bake(str(s), str(solved), "-o", str(out)), "mesh/scan.obj", message, out=out)


def test_mesh_outside_every_camera(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    s = _light_copy(session, tmp_path / "sess")
    scan = read_mesh(s / "mesh" / "scan.obj")
    write_obj(s / "mesh" / "scan.obj", scan.with_vertices(scan.vertices + [0.0, 0.0, 3.0]))  # behind the cameras
    out = tmp_path / "asset"
    _fails(_bake(str(s), str(solved), "-o", str(out)), "mesh/scan.obj", "outside every camera", out=out)


def test_camera_that_sees_nothing_of_the_face(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    s = _light_copy(session, tmp_path / "sess")
    manifest = json.loads((s / "session.json").read_text())
    cam = manifest["cameras"]["left"]
    R = np.asarray(cam["R"])
    flip = np.diag([-1.0, 1.0, -1.0])  # turn the camera around: it looks away from the head
    cam["R"] = (flip @ R).tolist()
    cam["t"] = (flip @ np.asarray(cam["t"])).tolist()
    (s / "session.json").write_text(json.dumps(manifest))
    out = tmp_path / "asset"
    _fails(_bake(str(s), str(solved), "-o", str(out)), "['left']", "see nothing of the face", out=out)


def test_output_must_not_replace_an_input(case: tuple[Path, Path], tmp_path: Path) -> None:
    session, solved = case
    s = _light_copy(session, tmp_path / "sess")
    res = _bake(str(s), str(solved), "-o", str(s))
    assert res.exit_code == 2 and "must not be the input folder" in res.stderr, res.output
    assert (s / "session.json").is_file() and (s / "mesh" / "scan.obj").is_file()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    res = _bake(str(s), str(solved), "-o", str(other))
    assert res.exit_code == 2 and "not an asset folder" in res.stderr, res.output
    assert (other / "todo.txt").read_text() == "keep me"


@pytest.mark.slow
def test_bake_on_a_full_disk_names_the_file_and_keeps_the_previous_asset(
    case: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC (OpenEXR's own error, as on /dev/full) from the third UV map on: one line, the previous asset intact."""
    from tests.faults import full_disk_for_exr, leftovers

    session, solved = case
    cfg = tmp_path / "bake.toml"
    cfg.write_text(FAST)
    out = tmp_path / "asset"
    (out / "uv").mkdir(parents=True)  # a previous asset (its content does not matter: it is kept whole)
    (out / "asset.json").write_text('{"previous": true}')
    (out / "uv" / "diffuse_albedo.exr").write_bytes(b"previous bake")
    before = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    tried = full_disk_for_exr(monkeypatch, after=2)
    res = _bake(str(session), str(solved), "-o", str(out), "--config", str(cfg))
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    assert len(tried) > 2
    assert lines[0].startswith(f"error: {out}/uv/") and lines[0].endswith(".exr: cannot write: no space left on device")
    after = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before  # the previous asset, byte for byte
    assert leftovers(tmp_path) == [] and leftovers(out) == []
