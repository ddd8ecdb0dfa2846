import json

import numpy as np
from click.testing import CliRunner

from id2reflectance._shared.imageio import write_exr
from id2reflectance.cli.main import _register, cli
from tests.conftest import make_tiny_session

_register()


def test_valid_session_summary(tmp_path):
    root = make_tiny_session(tmp_path / "s", cameras=("cam0", "cam1"))
    res = CliRunner().invoke(cli, ["validate", str(root)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output and "cam1: 8x8" in res.output and "saturated" in res.output


def test_problems_listed_with_file_and_field(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    data = json.loads((root / "session.json").read_text())
    data["frames"][2]["scale"] = -1
    (root / "session.json").write_text(json.dumps(data))
    bad = np.ones((8, 8, 3), np.float32)
    bad[0, 0] = np.inf
    write_exr(root / "frames/cam0/full_cross.exr", bad)
    res = CliRunner().invoke(cli, ["validate", str(root)])
    assert res.exit_code == 1
    assert "session.json: frames[2].scale must be > 0, got -1" in res.output
    assert "Traceback" not in res.output


def test_image_problems(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    (root / "frames/cam0/gradient_x_parallel.exr").write_bytes(b"garbage")
    write_exr(root / "frames/cam0/full_cross.exr", np.full((8, 8, 3), np.nan, np.float32))
    res = CliRunner().invoke(cli, ["validate", str(root), "--json"])
    assert res.exit_code == 1
    report = json.loads(res.output)
    text = "\n".join(report["problems"])
    assert "gradient_x_parallel.exr" in text and "not a readable OpenEXR" in text
    assert "full_cross.exr" in text and "NaN" in text
