import json

import pytest
import yaml
from click.testing import CliRunner

from id2reflectance.cli.main import _register, cli
from id2reflectance.model.codebook.config import config_to_dict, tiny
from tests.dataset.synthetic import write_synthetic_dataset

_register()


def _config(path, **train):
    d = config_to_dict(tiny())
    d["train"].update(steps=2, batch_size=2, log_interval=1, **train)
    d["data"]["views"] = ["front"]
    path.write_text(yaml.safe_dump(d))
    return path


@pytest.mark.slow
def test_train_then_eval_codebook(tmp_path, one_thread):
    ds = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=32, views=("front",))
    cfg = _config(tmp_path / "tiny.yaml")
    run = tmp_path / "run"
    args = ["train", "codebook", "--stage", "1", "--config", str(cfg), "--dataset", str(ds), "-o", str(run)]
    res = CliRunner().invoke(cli, [*args, "--no-progress", "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert "2 steps, last checkpoint step_00000002" in res.output and "(no perceptual loss)" in res.output
    assert json.loads((run / "run.json").read_text())["config"]["train"]["seed"] == 5  # --seed overrides
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"] == 5
    res = CliRunner().invoke(
        cli, ["eval", "codebook", str(run), "--dataset", str(ds), "--json", str(tmp_path / "e.json"), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "stage1-shared @2 | recon" in res.output and "perceptual=false" in res.output
    out = json.loads((tmp_path / "e.json").read_text())
    assert out[0]["split"] == "test" and set(out[0]["psnr"]["recon"]) == {
        "rgb",
        "diffuse",
        "specular",
        "roughness",
        "normal",
    }
    res = CliRunner().invoke(cli, args)  # same --out again without --resume
    assert res.exit_code == 2 and "already holds a run; pass --resume" in res.output


def test_bad_config_and_missing_domain_are_one_line_errors(tmp_path):
    ds = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=32, views=("front",), domains=("rgb", "diffuse"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nstpes = 3\n")
    base = ["train", "codebook", "--stage", "1", "--out", str(tmp_path / "r"), "--no-progress"]
    base += ["--data", str(ds)]  # the retired spelling of --dataset
    res = CliRunner().invoke(cli, [*base, "--config", str(bad)])
    assert res.exit_code == 2 and "error: bad.toml.train: unknown key(s) ['stpes']" in res.output
    res = CliRunner().invoke(cli, [*base, "--config", str(_config(tmp_path / "ok.yaml"))])
    assert res.exit_code == 2
    assert "dataset.json: domains: the config asks for ['specular', 'roughness', 'normal']" in res.output
    res = CliRunner().invoke(cli, ["train", "codebook", "--help"])
    assert res.exit_code == 0 and "id2r train codebook --stage 2" in res.output
