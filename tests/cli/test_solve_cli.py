"""``id2r solve`` through the CLI: outputs, and every bad input failing cleanly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from id2reflectance._shared.imageio import read_exr, write_exr
from id2reflectance.capture.simulator.analytic import write_sphere_session
from id2reflectance.cli.main import _register, cli

_register()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return write_sphere_session(tmp_path_factory.mktemp("tpl") / "sess", size=24, inverses=False, samples=(32, 8))


@pytest.fixture
def session(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "sess"))


def _solve(*args: str):
    return CliRunner().invoke(cli, ["solve", *args, "--no-progress"])


def test_solve_writes_maps_and_report(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out), "--tile-rows", "5", "--threads", "2")
    assert res.exit_code == 0, res.output
    assert "cam0:" in res.stdout and "valid pixel(s)" in res.stdout
    img, names = read_exr(out / "cam0" / "normal_specular.exr")
    assert names == ("R", "G", "B") and img.shape == (24, 24, 3)
    mask, _ = read_exr(out / "cam0" / "mask.exr")
    np.testing.assert_allclose(np.linalg.norm(img[mask[..., 0] > 0.5], axis=1), 1.0, atol=1e-5)
    data = json.loads((out / "solve.json").read_text())
    assert data["config"]["tile_rows"] == 5 and data["config"]["workers"] == 2


def test_backends_write_the_same_maps(session: Path, tmp_path: Path) -> None:
    maps = {}
    for backend in ("numpy", "numba"):
        out = tmp_path / backend
        res = _solve(str(session), "-o", str(out), "--backend", backend)
        assert res.exit_code == 0, res.output
        data = json.loads((out / "solve.json").read_text())
        assert data["config"]["backend"] == data["backend"] == backend
        maps[backend] = read_exr(out / "cam0" / "normal_specular.exr")[0]
    np.testing.assert_allclose(maps["numba"], maps["numpy"], atol=1e-5)
    assert np.abs(maps["numpy"]).max() > 0.5
    res = _solve(str(session), "-o", str(tmp_path / "x"), "--backend", "cuda")
    assert res.exit_code == 2 and "cuda" in res.output


def test_config_file_and_help(session: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "solve.yaml"
    cfg.write_text("diffuse_normal_channel: b\ndefault_roughness: 0.5\n")
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out), "--config", str(cfg))
    assert res.exit_code == 0, res.output
    data = json.loads((out / "solve.json").read_text())
    assert data["config"]["diffuse_normal_channel"] == "b" and data["config"]["default_roughness"] == 0.5
    helptext = CliRunner().invoke(cli, ["solve", "--help"]).output
    assert "Examples:" in helptext and "--tile-rows" in helptext


def _drop_file(root: Path) -> None:
    (root / "frames/cam0/gradient_y_parallel.exr").unlink()


def _truncate(root: Path) -> None:
    p = root / "frames/cam0/full_cross.exr"
    p.write_bytes(p.read_bytes()[:200])


def _nan(root: Path) -> None:
    img, _ = read_exr(root / "frames/cam0/gradient_x_cross.exr")
    img[3, 4, 1] = np.nan
    write_exr(root / "frames/cam0/gradient_x_cross.exr", img)


def _size(root: Path) -> None:
    write_exr(root / "frames/cam0/gradient_z_cross.exr", np.zeros((20, 24, 3), np.float32))


def _edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = json.loads((root / "session.json").read_text())
        change(data)
        (root / "session.json").write_text(json.dumps(data))

    return apply


def _bad_json(root: Path) -> None:
    (root / "session.json").write_text('{"format": "id2r-session", "version": 1,')


def _bad_mask(root: Path) -> None:
    (root / "masks/cam0.png").write_bytes(b"not a png")


CASES = {
    "missing frame": (_drop_file, "frames/cam0/gradient_y_parallel.exr: frames[5].file: file not found"),
    "truncated": (_truncate, "frames/cam0/full_cross.exr: frames[0].file: not a readable OpenEXR file"),
    "nan": (_nan, "frames/cam0/gradient_x_cross.exr: frames[2].file: contains NaN or Inf in 1 pixel(s)"),
    "size": (_size, "frames/cam0/gradient_z_cross.exr: frames[6].file: is 24x20 but camera 'cam0' is 24x24"),
    "leaves session": (
        _edit(lambda d: d["frames"][1].update(file="../outside.exr")),
        "session.json: frames[1].file must be a relative path inside the session",
    ),
    "unknown pattern": (
        _edit(lambda d: d["frames"][2].update(pattern="gradient_w")),
        "session.json: frames[2].pattern",
    ),
    "unknown polarisation": (
        _edit(lambda d: d["frames"][3].update(polarization="circular")),
        "session.json: frames[3].polarization must be 'cross' or 'parallel'",
    ),
    "bad json": (_bad_json, "session.json: bad JSON at line 1"),
    "bad mask": (_bad_mask, "masks/cam0.png: not a readable image file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_cleanly(case: str, session: Path, tmp_path: Path) -> None:
    breaker, message = CASES[case]
    breaker(session)
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out))
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert res.stderr.startswith("error: ")
    assert "Traceback" not in res.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # no temporary left


def test_bad_options_fail_cleanly(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = tmp_path / "solve.toml"
    cfg.write_text("tile_row = 3\n")
    for args, message in (
        (["--config", str(cfg)], "unknown key(s) ['tile_row']"),
        (["--tile-rows", "-4"], "tile_rows must be >= 0"),
    ):
        res = _solve(str(session), "-o", str(out), *args)
        assert res.exit_code == 2 and message in res.stderr, res.output
        assert not out.exists()


def test_refuses_to_replace_the_session_or_an_unrelated_folder(session: Path, tmp_path: Path) -> None:
    res = _solve(str(session), "-o", str(session))
    assert res.exit_code == 2 and "must not be the session folder" in res.stderr
    assert (session / "session.json").is_file()
    other = tmp_path / "documents"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    res = _solve(str(session), "-o", str(other))
    assert res.exit_code == 2 and "is not a solve output" in res.stderr
    assert (other / "notes.txt").read_text() == "keep me"


def test_maps_option_writes_only_the_maps_named(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out), "--maps", "roughness, mask,roughness")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "cam0").iterdir()) == ["mask.exr", "roughness.exr"]
    data = json.loads((out / "solve.json").read_text())
    assert data["config"]["maps"] == ["roughness", "mask"]
    assert data["cameras"]["cam0"]["stats"]["diffuse_albedo_g"]["mean"] > 0  # every map is still solved


@pytest.mark.parametrize("maps", ["roughness,normal_diffuse_x", "albedo", ","])
def test_unknown_or_no_maps_are_refused(maps: str, session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out), "--threads", "1", "--maps", maps)
    assert res.exit_code == 2 and "--maps:" in res.output and "diffuse_albedo" in res.output
    assert "Traceback" not in res.output and not out.exists()


def test_denoise_option(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out), "--denoise", "none")
    assert res.exit_code == 0, res.output
    data = json.loads((out / "solve.json").read_text())
    assert data["config"]["denoise"] == "none"
    assert data["cameras"]["cam0"]["noise"]["radius_diffuse"] == 0
    assert read_exr(out / "cam0" / "confidence.exr")[1] == ("Y",)
    res = _solve(str(session), "-o", str(tmp_path / "x"), "--denoise", "strong")
    assert res.exit_code == 2 and "strong" in res.output and "Traceback" not in res.output


def test_scan_normals_option(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _solve(str(session), "-o", str(out), "--scan-normals", "off")
    assert res.exit_code == 0, res.output
    data = json.loads((out / "solve.json").read_text())
    assert data["config"]["scan_normals"] == "off"
    assert data["cameras"]["cam0"]["scan_normals"] == {"used": False}
    res = _solve(str(session), "-o", str(tmp_path / "x"), "--scan-normals", "always")
    assert res.exit_code == 2 and "always" in res.output and "Traceback" not in res.output
