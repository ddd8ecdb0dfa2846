"""Training killed with SIGKILL mid-step, a torn checkpoint, and a full disk while saving."""

import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from id2reflectance.errors import OutputError
from id2reflectance.model.codebook.config import tiny
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.engine.runlog import read_metrics
from id2reflectance.training.codebook import train_codebook

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[2]
STEPS = 8


def _cfg(steps=STEPS):
    """The tiny preset: batch 2, a metric record every step, a checkpoint every 2 steps, GAN from step 2."""
    c = tiny()
    return dataclasses.replace(
        c,
        train=dataclasses.replace(c.train, steps=steps, batch_size=2, log_interval=1, ckpt_interval=2),
        disc=dataclasses.replace(c.disc, start_step=2),
    )


# Trains _cfg() in a child process and SIGKILLs it at the first backward pass after step 4
# completed (its checkpoint saved): in the middle of step 5, gradients half computed.
_CHILD = """
import os, signal, sys
import torch
from id2reflectance.training.codebook import train_codebook
from tests.training.test_training_faults import _cfg

torch.set_num_threads(1)
armed = []
backward = torch.Tensor.backward

def killing_backward(self, *args, **kwargs):
    if armed:
        os.kill(os.getpid(), signal.SIGKILL)
    return backward(self, *args, **kwargs)

torch.Tensor.backward = killing_backward
train_codebook(_cfg(), stage=1, data=sys.argv[1], out=sys.argv[2], device="cpu",
               progress=lambda stage, done, total: armed.append(done) if done == 4 else None)
raise SystemExit("not killed")
"""


def _losses(run):
    return {r["step"]: r["loss"] for r in read_metrics(run)}


@pytest.mark.slow
def test_sigkill_mid_step_then_resume_continues_from_the_last_complete_checkpoint(synthetic_dataset, tmp_path, caplog):
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(synthetic_dataset), str(killed)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert [p.name for p in ck.list_checkpoints(killed)] == ["step_00000002", "step_00000004"]
    torn = tmp_path / "torn"
    shutil.copytree(killed, torn)

    full = train_codebook(_cfg(), stage=1, data=synthetic_dataset, out=tmp_path / "full")
    resumed = train_codebook(_cfg(), stage=1, data=synthetic_dataset, out=killed, resume=True)
    assert resumed.step == STEPS
    assert [r["from_step"] for r in json.loads((killed / ck.RUN_FILE).read_text())["resumes"]] == [4]
    a, b = _losses(full.run_dir), _losses(killed)
    assert sorted(b) == list(range(1, STEPS + 1))
    assert all(a[k] == b[k] for k in b), (a, b)  # the killed run continues the same loss curve, GAN included

    # the same kill, then the newest checkpoint torn (truncated weights): never loaded, step 2 is used
    weights = ck.step_dir(torn, 4) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with caplog.at_level("WARNING", logger=ck.__name__):
        again = train_codebook(_cfg(), stage=1, data=synthetic_dataset, out=torn, resume=True)
    assert "step_00000004/model.safetensors" in caplog.text and "torn" in caplog.text
    assert [r["from_step"] for r in json.loads((torn / ck.RUN_FILE).read_text())["resumes"]] == [2]
    c = _losses(torn)
    assert again.step == STEPS and sorted(c) == list(range(1, STEPS + 1))
    assert all(a[k] == c[k] for k in c), (a, c)


def test_full_disk_while_saving_a_checkpoint_names_it_and_keeps_the_previous(synthetic_dataset, tmp_path, monkeypatch):
    run = tmp_path / "run"
    saves = []
    real_save = ck.save_file

    def save_file(tensors, filename):  # the disk fills up during the 2nd checkpoint's optimiser state
        saves.append(filename)
        if len(ck.list_checkpoints(run)) == 1 and filename.endswith("optim.safetensors"):
            Path(filename).write_bytes(b"\0" * 100)  # part of it written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        return real_save(tensors, filename)

    monkeypatch.setattr(ck, "save_file", save_file)
    with pytest.raises(OutputError, match=r"run/checkpoints/step_00000004/optim.safetensors: .*no space left") as info:
        train_codebook(_cfg(), stage=1, data=synthetic_dataset, out=run)
    assert info.value.errno == errno.ENOSPC
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000002"]  # nothing half-written
    assert ck.newest_intact_checkpoint(run) == ck.step_dir(run, 2)
