"""``id2r relight`` and ``id2r export`` through the CLI: outputs, and bad input failing
with one line naming the file, exit code 2 and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.imageio import write_exr
from id2reflectance.capture.geometry.mesh import FaceMesh, write_obj
from id2reflectance.cli.main import _register, cli
from tests.processing.asset_fixtures import uv_sphere, write_sphere_asset

_register()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sphere_asset(tmp_path_factory.mktemp("cli") / "SPH01")


@pytest.fixture
def asset(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "SPH01"))


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_relight_and_export_write_outputs(asset: Path, tmp_path: Path) -> None:
    env = np.full((16, 32, 3), 0.4, np.float32)
    env[3, 5] = -0.1  # clamped with a warning
    write_exr(tmp_path / "room.exr", env)
    out = tmp_path / "relit"
    res = _run(
        "relight", str(asset), "--env", str(tmp_path / "room.exr"), "--env", "pattern:full",
        "--image-size", "16", "--env-rotate", "45", "--normalize", "mean", "-o", str(out), "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (out / "contact_sheet.png").is_file() and (out / "SPH01" / "room" / "orbit000.exr").is_file()
    assert json.loads((out / "relight.json").read_text())["config"]["env_rotate_deg"] == 45.0
    res = _run("export", str(asset), "-o", str(tmp_path / "s.glb"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s.glb").read_bytes()[:4] == b"glTF"


def test_relight_eyes_flag_is_recorded_and_a_sphere_has_no_eyes(asset: Path, tmp_path: Path) -> None:
    """``--eyes`` reaches the renders (relight.json) and changes nothing for an asset that
    is not in the face-model layout."""
    imgs = []
    for flag in ((), ("--eyes",)):
        out = tmp_path / f"relit{len(flag)}"
        res = _run(
            "relight", str(asset), "--env", "pattern:full", "--image-size", "16", *flag, "-o", str(out), "--no-progress"
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        assert json.loads((out / "relight.json").read_text())["config"]["eyes"] is bool(flag)
        imgs.append((out / "SPH01" / "pattern_full" / "orbit000.exr").read_bytes())
    assert imgs[0] == imgs[1]


def test_relight_fills_the_environment_cache_unless_disabled(
    asset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_exr(tmp_path / "room.exr", np.full((16, 32, 3), 0.4, np.float32))
    base = ["relight", str(asset), "--env", str(tmp_path / "room.exr"), "--image-size", "16", "--no-progress"]
    monkeypatch.setenv("ID2R_CACHE_DIR", str(tmp_path / "off"))
    res = _run(*base, "--no-env-cache", "-o", str(tmp_path / "a"))
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "off").exists()
    monkeypatch.setenv("ID2R_CACHE_DIR", str(tmp_path / "on"))
    for out in ("b", "c"):  # the second run reads the entry the first wrote
        res = _run(*base, "-o", str(tmp_path / out))
        assert res.exit_code == 0, res.output
    assert [p.name[:5] for p in (tmp_path / "on" / "environments").iterdir()] == ["room-"]
    for name in ("orbit000.exr", "orbit000.png"):
        ref = sha256_file(tmp_path / "a" / "SPH01" / "room" / name)
        assert sha256_file(tmp_path / "c" / "SPH01" / "room" / name) == ref


def _square_env(tmp: Path, asset: Path) -> list[str]:
    write_exr(tmp / "square.exr", np.ones((16, 16, 3), np.float32))
    return ["relight", str(asset), "--env", str(tmp / "square.exr")]


def _nan_env(tmp: Path, asset: Path) -> list[str]:
    img = np.ones((16, 32, 3), np.float32)
    img[2, 2, 0] = np.nan
    write_exr(tmp / "nan.exr", img)
    return ["relight", str(asset), "--env", str(tmp / "nan.exr")]


def _junk_env(tmp: Path, asset: Path) -> list[str]:
    (tmp / "junk.hdr").write_bytes(b"garbage")
    return ["relight", str(asset), "--env", str(tmp / "junk.hdr")]


def _missing_map(tmp: Path, asset: Path) -> list[str]:
    (asset / "uv" / "normal_tangent.exr").unlink()
    return ["relight", str(asset), "--env", "pattern:full"]


def _other_size(tmp: Path, asset: Path) -> list[str]:
    write_exr(asset / "uv" / "roughness.exr", np.full((512, 512), 0.4, np.float32))
    man = json.loads((asset / "asset.json").read_text())
    man["maps"]["roughness"]["sha256"] = sha256_file(asset / "uv" / "roughness.exr")
    (asset / "asset.json").write_text(json.dumps(man))
    return ["export", str(asset)]


def _no_uvs(tmp: Path, asset: Path) -> list[str]:
    m = uv_sphere()
    write_obj(asset / "mesh.obj", FaceMesh(m.vertices, m.faces))
    return ["export", str(asset)]


def _missing_map_export(tmp: Path, asset: Path) -> list[str]:
    (asset / "uv" / "diffuse_albedo.exr").unlink()
    return ["export", str(asset)]


CASES = [
    (_square_env, "square.exr", "2:1"),
    (_nan_env, "nan.exr", "NaN or Inf"),
    (_junk_env, "junk.hdr", "Radiance"),
    (_missing_map, "normal_tangent.exr", "missing"),
    (_other_size, "roughness.exr", "512x512"),
    (_no_uvs, "mesh.obj", "no UVs"),
    (_missing_map_export, "diffuse_albedo.exr", "missing"),
]


@pytest.mark.parametrize(("make", "file", "what"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_one_line_exit_2_nothing_written(asset: Path, tmp_path: Path, make, file: str, what: str) -> None:
    args = make(tmp_path, asset)
    out = tmp_path / ("out.glb" if args[0] == "export" else "out")
    res = _run(*args, "-o", str(out))
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and file in lines[0] and what in lines[0], res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_help_has_examples() -> None:
    for cmd in ("relight", "export"):
        res = _run(cmd, "--help")
        assert res.exit_code == 0 and "Examples:" in res.output
