import json

import yaml
from click.testing import CliRunner

from id2reflectance.cli.main import _register, cli
from id2reflectance.model.codebook.config import config_to_dict
from tests.model_runs import tiny_swapper_config

_register()


def _config(path, **train):
    d = config_to_dict(tiny_swapper_config(2, student_steps=2, eval_pairs=2, **train))
    path.write_text(yaml.safe_dump(d))
    return path


def test_help_has_examples():
    res = CliRunner().invoke(cli, ["train", "swapper", "--help"])
    assert res.exit_code == 0
    assert "Examples:" in res.output and "--arcface" in res.output and "--max-subjects" in res.output


def test_missing_dataset_exits_2(tmp_path, tiny_stage2_run):
    res = CliRunner().invoke(
        cli,
        [
            "train",
            "swapper",
            "--config",
            "tiny",
            "--data",
            str(tmp_path / "nope"),  # the retired --data still names the dataset
            "--base",
            str(tiny_stage2_run),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 2
    assert "dataset.json" in res.output and "missing" in res.output and "Traceback" not in res.output


def test_wrong_checkpoint_kind_exits_2(tmp_path, face_dataset, tiny_stage2_run):
    stage1 = tiny_stage2_run.parent / "stage1"
    res = CliRunner().invoke(
        cli,
        [
            "train",
            "swapper",
            "--config",
            "tiny",
            "--dataset",
            str(face_dataset),
            "--base",
            str(stage1),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 2
    assert "arch.kind" in res.output and "stage-2" in res.output and "'vqgan'" in res.output
    res = CliRunner().invoke(
        cli,
        [
            "train",
            "swapper",
            "--config",
            "cpu_128",
            "--dataset",
            str(face_dataset),
            "--base",
            str(tiny_stage2_run),
            "--out",
            str(tmp_path / "run2"),
        ],
    )
    assert res.exit_code == 2 and "32 px" in res.output and "resolution 128" in res.output
    res = CliRunner().invoke(
        cli, ["train", "swapper", "--config", "huge", "--dataset", str(face_dataset), "--base", str(tiny_stage2_run)]
    )
    assert res.exit_code == 2 and "preset" in res.output


def test_train_swapper_cli_runs_and_summarises(tmp_path, face_dataset, tiny_stage2_run, one_thread):
    cfg = _config(tmp_path / "swap.yaml")
    out = tmp_path / "run"
    args = [
        "train",
        "swapper",
        "--config",
        str(cfg),
        "--dataset",
        str(face_dataset),
        "--base",
        str(tiny_stage2_run),
        "--out",
        str(out),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--no-progress",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "2 steps" in res.output and "final losses: loss" in res.output
    assert "held-out cosine agreement" in res.output
    assert "held-out identity similarity (dlib, 2 pairs)" in res.output
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "swapper" and run["config"]["train"]["steps"] == 2
    res = CliRunner().invoke(cli, args)  # same --out without --resume
    assert res.exit_code == 2 and "--resume" in res.output
