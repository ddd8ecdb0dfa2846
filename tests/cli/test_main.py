"""The command group's error handling: a full disk and a read-only output folder during solve
and training, and hostile input files, give one line naming the path, exit code 2, no
traceback, nothing (half-)written and the previous output intact."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from id2reflectance._shared.imageio import read_exr, write_exr
from id2reflectance.capture.simulator.analytic import write_sphere_session
from id2reflectance.cli.main import _register, cli
from id2reflectance.model.codebook.config import config_to_dict, tiny
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.engine.runlog import MetricsLog
from tests.dataset.synthetic import write_synthetic_dataset
from tests.faults import full_disk_for_exr, hostile_image, leftovers, read_only

_register()


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return write_sphere_session(tmp_path_factory.mktemp("sess") / "s", size=16, inverses=False, samples=(16, 4))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", subjects=3, size=32, views=("front",))


def _error_lines(res) -> list[str]:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), res.stderr
    return lines


def _one_line_error(res) -> str:
    lines = _error_lines(res)
    assert len(lines) == 1, res.stderr
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _solve(session: Path, out: Path):
    return CliRunner().invoke(cli, ["solve", str(session), "-o", str(out), "--no-progress"])


def test_solve_on_a_full_disk_names_the_file_and_keeps_the_previous_output(session, tmp_path, monkeypatch):
    out = tmp_path / "solved"
    assert _solve(session, out).exit_code == 0
    before = _snapshot(out)
    tried = full_disk_for_exr(monkeypatch, after=2)  # the third map finds the disk full
    line = _one_line_error(_solve(session, out))
    assert len(tried) > 2  # maps are written concurrently: a few more may try before the solve stops
    assert line.startswith(f"error: {out}/cam0/") and line.endswith(".exr: cannot write: no space left on device")
    assert _snapshot(out) == before  # the previous solve, byte for byte
    assert leftovers(tmp_path) == [] and leftovers(out / "cam0") == []


def test_solve_into_a_read_only_folder_is_one_clear_error(session, tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    read_only(parent, monkeypatch)
    line = _one_line_error(_solve(session, parent / "solved"))
    assert line.startswith(f"error: {parent / 'solved'}: cannot write: ")
    assert line.endswith(("read-only file system", "permission denied"))
    parent.chmod(0o755)
    assert list(parent.iterdir()) == []


def _train(dataset: Path, run: Path, cfg: Path, *extra: str):
    args = ["train", "codebook", "--stage", "1", "--config", str(cfg), "--dataset", str(dataset), "-o", str(run)]
    return CliRunner().invoke(cli, [*args, "--no-progress", *extra])


def _config(path: Path) -> Path:
    d = config_to_dict(tiny())
    d["train"].update(steps=4, batch_size=2, log_interval=1, ckpt_interval=2)
    d["data"]["views"] = ["front"]
    path.write_text(yaml.safe_dump(d))
    return path


def test_training_on_a_full_disk_keeps_the_last_checkpoint_and_resumes(dataset, tmp_path, monkeypatch, one_thread):
    cfg, run = _config(tmp_path / "tiny.yaml"), tmp_path / "run"
    real_save = ck.save_file

    def save_file(tensors, filename):  # full from the second checkpoint on
        if ck.list_checkpoints(run):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        return real_save(tensors, filename)

    monkeypatch.setattr(ck, "save_file", save_file)
    line = _one_line_error(_train(dataset, run, cfg))
    assert line.startswith(f"error: {run}/checkpoints/step_00000004/") and "no space left on device" in line
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000002"]
    monkeypatch.setattr(ck, "save_file", real_save)  # space freed: --resume continues from step 2
    res = _train(dataset, run, cfg, "--resume")
    assert res.exit_code == 0, res.output
    assert [r["from_step"] for r in json.loads((run / "run.json").read_text())["resumes"]] == [2]


def test_an_os_error_outside_the_atomic_writers_is_one_line_too(dataset, tmp_path, monkeypatch, one_thread):
    cfg, run = _config(tmp_path / "tiny.yaml"), tmp_path / "run"

    def write(self, step, values):  # metrics.jsonl is appended, not replaced
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run / "metrics.jsonl"))

    monkeypatch.setattr(MetricsLog, "write", write)
    line = _one_line_error(_train(dataset, run, cfg))
    assert line == f"error: {run / 'metrics.jsonl'}: no space left on device"
    shutil.rmtree(run)


# ----------------------------------------------------------------------------- hostile input files


def _huge_header(s: Path) -> None:
    hostile_image(s / "frames/cam0/gradient_x_cross.exr")


def _link_outside(s: Path) -> None:
    outside = s.parent / "elsewhere.exr"
    shutil.move(s / "frames/cam0/full_cross.exr", outside)
    os.symlink(outside, s / "frames/cam0/full_cross.exr")


def _nan_and_inf(s: Path) -> None:
    img, _ = read_exr(s / "frames/cam0/full_parallel.exr")
    img[0, 0, 0], img[1, 2, 1], img[3, 3, 2] = np.nan, np.inf, -np.inf
    write_exr(s / "frames/cam0/full_parallel.exr", img)


def _deep_json(s: Path) -> None:
    (s / "session.json").write_text("[" * 1_000_000 + "]" * 1_000_000)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_huge_header, "frames/cam0/gradient_x_cross.exr: frames[2].file: is 100000x100000 but camera 'cam0' is 16x16"),
        (_link_outside, "session.json: frames[0].file leaves the session folder through a link"),
        (_nan_and_inf, "frames/cam0/full_parallel.exr: frames[1].file: contains NaN or Inf in 3 pixel(s)"),
        (_deep_json, "session.json: bad JSON: nested too deeply to parse"),
    ],
    ids=["header-100000x100000", "symlink-outside", "nan-inf", "json-1e6-deep"],
)
def test_hostile_session_files_are_one_named_error_and_nothing_is_written(session, tmp_path, spoil, message):
    s = Path(shutil.copytree(session, tmp_path / "sess"))
    spoil(s)
    out = tmp_path / "solved"
    lines = _error_lines(_solve(s, out))  # a session's problems are listed together, one line each
    assert lines[0].startswith(f"error: {message}"), lines
    assert not out.exists() and leftovers(tmp_path) == []


def test_training_whose_checkpoint_folder_turned_read_only_is_one_clear_error(
    dataset, tmp_path, monkeypatch, one_thread
):
    cfg, run = _config(tmp_path / "tiny.yaml"), tmp_path / "run"
    assert _train(dataset, run, cfg).exit_code == 0
    ckpts = run / "checkpoints"
    before = _snapshot(ckpts)
    d = yaml.safe_load(cfg.read_text())
    d["train"]["steps"] = 6
    cfg.write_text(yaml.safe_dump(d))
    read_only(ckpts, monkeypatch)
    line = _one_line_error(_train(dataset, run, cfg, "--resume"))
    assert line.startswith(f"error: {ckpts / 'step_00000006'}: cannot write: "), line
    assert line.endswith(("read-only file system", "permission denied"))
    ckpts.chmod(0o755)
    assert _snapshot(ckpts) == before  # steps 2 and 4 as they were, nothing half-written


# ----------------------------------------------------------------------------- one writer per output

WRITERS = {
    "solve": lambda i, o: ["solve", i, "-o", o],
    "bake": lambda i, o: ["bake", i, i, "-o", o],
    "dataset build": lambda i, o: ["dataset", "build", i, "-o", o],
    "train codebook": lambda i, o: ["train", "codebook", "--stage", "1", "--config", "tiny", "--dataset", i, "-o", o],
    "train swapper": lambda i, o: ["train", "swapper", "--config", "tiny", "--dataset", i, "--base", i, "-o", o],
    "infer": lambda i, o: ["infer", i, "-o", o, "--dataset", i, "--checkpoint", i],
    "relight": lambda i, o: ["relight", i, "--env", "studio", "-o", o],
    "export": lambda i, o: ["export", i, "-o", o],
    "report": lambda i, o: ["report", i, "-o", o],
    "simulate": lambda i, o: ["simulate", "-o", o],
    "demo": lambda i, o: ["demo", "-o", o],
    "calibrate cameras": lambda i, o: [
        "calibrate",
        "cameras",
        i,
        "--board",
        "type=chessboard,squares_x=10,squares_y=7,square_size=0.02",
        "-o",
        o,
    ],
    "calibrate colour": lambda i, o: ["calibrate", "colour", i, "--camera", "a", "-o", o],
    "calibrate simulate": lambda i, o: ["calibrate", "simulate", "-o", o],
    "dataset split": lambda i, o: ["dataset", "split", "--dataset", o],  # the dataset folder a build writes
    "eval swapper": lambda i, o: ["eval", "swapper", "--dataset", i, "--checkpoint", i, "-o", o],
}


@pytest.mark.parametrize("command", list(WRITERS))
def test_every_writing_command_refuses_an_output_another_command_holds(tmp_path, command):
    from id2reflectance._shared.lock import output_lock

    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    with output_lock(out):  # as another command writing it would
        res = CliRunner().invoke(cli, WRITERS[command](str(inputs), str(out)))
    line = _one_line_error(res)
    assert line.startswith(f"error: {out}: another id2r command is writing it (pid {os.getpid()} "), line
    assert not out.exists()
