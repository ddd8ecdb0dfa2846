"""The shared training loop on a toy job: a linear regression with a noisy input (global RNG)."""

import json
import os
import random
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.engine.loop import (
    LoopSettings,
    MetricSums,
    RunRecords,
    TrainParts,
    run_training,
    seed_everything,
    single_process,
)
from id2reflectance.model.engine.runlog import read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")
DATA_SHA = "0" * 64
TRUE_W = torch.tensor([[1.0, -2.0, 0.5, 3.0]])


class ToyJob:
    """``y = W x`` with ``x`` drawn per step (generator seeded by the step) plus global-RNG noise,
    so an exact resume needs the restored weights, optimiser, EMA and RNG states."""

    def __init__(self, steps, *, ckpt_interval=2, keep=2, with_disc=False, kind="toy"):
        self.settings = LoopSettings(
            steps=steps,
            log_interval=1,
            ckpt_interval=ckpt_interval,
            keep_checkpoints=keep,
            seed=3,
            lr=1e-2,
            betas=(0.9, 0.99),
            ema_decay=0.9,
            bf16=False,
            disc_start=2,
            progress_stage="train toy",
        )
        self.config = {"toy": {"width": 4}, "train": {"steps": steps}}
        self.kind = kind
        self.with_disc = with_disc
        self.steps_run = []
        self.gans = []

    def check_run(self, meta, meta_path):
        if meta.get("kind") != self.kind:
            raise InputFileError(meta_path, "kind", f"not a {self.kind} run")

    def build(self, rt, resume_from):
        self.model = nn.Linear(4, 1)  # initialised from the seeded global RNG
        self.initial = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.disc = nn.Linear(1, 1) if self.with_disc else None
        return TrainParts(
            model=self.model,
            params=list(self.model.parameters()),
            disc=self.disc,
            gen_name="gen",
            arch={"kind": self.kind},
            perceptual=False,
        )

    def compile_targets(self, rt):
        return []

    def records(self, git):
        return RunRecords(
            meta={"kind": self.kind, "git_revision": git},
            fresh={"kind": self.kind, "dataset": {"sha256": DATA_SHA}},
        )

    def start(self, ctx):
        self.ctx = ctx

    def step(self, step, *, gan, sums):
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(step))
        y = x @ TRUE_W.T
        x = x + 0.05 * torch.randn_like(x)  # global RNG
        loss = ((self.ctx.model(x) - y) ** 2).mean()
        opt = self.ctx.optim.gen
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        metrics = {"loss": loss.detach()}
        if gan:
            d_loss = self.ctx.disc(self.ctx.model(x).detach()).mean()
            self.ctx.optim.disc.zero_grad(set_to_none=True)
            d_loss.backward()
            self.ctx.optim.disc.step()
            metrics["d_loss"] = d_loss.detach()
        sums.add(metrics, images=x.shape[0])
        sums.add({"noise": float(np.random.rand())}, images=0)  # numpy's RNG: restored on resume too
        self.steps_run.append(step)
        self.gans.append(gan)

    def log_extras(self):
        return {"extra": 7.0}

    def log_line(self, values):
        return f"loss {values['loss']:.4f}"


def _train(job, out, *, resume=False, progress=None):
    return run_training(job, run_dir=out, rt=single_process("cpu"), resume=resume, data_sha=DATA_SHA, progress=progress)


def test_runs_the_steps_logs_every_step_and_saves_at_intervals(tmp_path, caplog):
    calls = []
    job = ToyJob(5, ckpt_interval=2, keep=2)
    with caplog.at_level("INFO", logger="id2reflectance.model.engine.loop"):
        res = _train(job, tmp_path / "run", progress=lambda *a: calls.append(a))
    assert job.steps_run == [0, 1, 2, 3, 4] and res.step == 5
    assert calls == [("train toy", n, 5) for n in range(1, 6)]
    # saved at 2, 4 and the last step; the 2 newest kept
    assert [p.name for p in ck.list_checkpoints(tmp_path / "run")] == ["step_00000004", "step_00000005"]
    assert res.checkpoint == ck.step_dir(tmp_path / "run", 5)
    doc = ck.read_checkpoint_meta(res.checkpoint)
    assert doc["step"] == 5 and doc["arch"] == {"kind": "toy"} and doc["meta"]["kind"] == "toy"
    assert set(doc["files"]) == {"model.safetensors", "ema.safetensors", "optim.safetensors", "rng.safetensors"}
    records = read_metrics(tmp_path / "run")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert list(records[0])[2:] == ["loss", "noise", "extra", "images_per_s", "lr", "gan_active"]
    assert records[-1]["extra"] == 7.0 and records[-1]["lr"] == 1e-2 and records[-1]["gan_active"] == 0.0
    assert records[-1]["loss"] < records[0]["loss"]
    assert res.metrics["loss"] == records[-1]["loss"] and res.perceptual is False
    ema, model = load_file(str(res.checkpoint / "ema.safetensors")), job.model.state_dict()
    for k, v in ema.items():  # the EMA moved from the initial weights, and lags behind the model
        assert torch.equal(v, res.ema.shadow[k]) and not torch.equal(v, job.initial[k]) and not torch.equal(v, model[k])
    run = json.loads((tmp_path / "run" / ck.RUN_FILE).read_text())
    assert run["kind"] == "toy" and run["config"] == job.config and run["resumes"] == []
    assert "compile" not in run and "world_size" not in run and run["device"] == "cpu" and run["bf16"] is False
    assert f"step 5/5 loss {records[-1]['loss']:.4f}" in caplog.messages


def test_resume_continues_exactly(tmp_path):
    full = _train(ToyJob(6), tmp_path / "full")
    part = _train(ToyJob(3), tmp_path / "part")
    assert part.step == 3
    job = ToyJob(6)
    resumed = _train(job, tmp_path / "part", resume=True)
    assert job.steps_run == [3, 4, 5] and resumed.step == 6
    a, b = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "part")
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b, strict=True):
        assert (ra["loss"], ra["noise"]) == (rb["loss"], rb["noise"]), ra["step"]
    for weights in ("model", "ema"):
        sa = load_file(str(full.checkpoint / f"{weights}.safetensors"))
        sb = load_file(str(resumed.checkpoint / f"{weights}.safetensors"))
        assert all(torch.equal(sa[k], sb[k]) for k in sa), weights
    run = json.loads((tmp_path / "part" / ck.RUN_FILE).read_text())
    assert run["config"]["train"]["steps"] == 6 and [r["from_step"] for r in run["resumes"]] == [3]


def test_a_stop_signal_saves_the_current_step_and_resume_finishes_the_run(tmp_path):
    before = signal.getsignal(signal.SIGINT)

    def interrupt_at_3(stage, done, total):
        if done == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would

    job = ToyJob(8, ckpt_interval=5)
    stopped = _train(job, tmp_path / "run", progress=interrupt_at_3)
    assert stopped.step == 3 and job.steps_run == [0, 1, 2]
    assert [p.name for p in ck.list_checkpoints(tmp_path / "run")] == ["step_00000003"]
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    resumed = _train(ToyJob(8, ckpt_interval=5), tmp_path / "run", resume=True)
    full = _train(ToyJob(8, ckpt_interval=5), tmp_path / "full")
    assert resumed.step == 8
    a = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "full")}
    b = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "run")}
    assert a == b and full.metrics["loss"] == resumed.metrics["loss"]


def test_the_adversarial_terms_start_at_disc_start(tmp_path):
    job = ToyJob(4, with_disc=True)
    res = _train(job, tmp_path / "run")
    assert job.gans == [False, False, True, True]
    assert [r["gan_active"] for r in read_metrics(tmp_path / "run")] == [0.0, 0.0, 1.0, 1.0]
    assert "d_loss" in res.metrics and (res.checkpoint / "disc.safetensors").is_file()
    assert set(ck.read_checkpoint_meta(res.checkpoint)["optimizers"]) == {"gen", "disc"}


def test_run_folders_in_the_way_are_refused(tmp_path):
    _train(ToyJob(2), tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run"):
        _train(ToyJob(2), tmp_path / "run")
    with pytest.raises(InputFileError, match="not a other run"):
        _train(ToyJob(4, kind="other"), tmp_path / "run", resume=True)
    with pytest.raises(InputFileError, match="nothing to resume"):
        _train(ToyJob(2), tmp_path / "new", resume=True)


def test_metric_sums_average_tensors_and_numbers():
    sums = MetricSums(torch.device("cpu"))
    sums.add({"a": torch.tensor(1.0), "b": 2.0}, images=4)
    sums.add({"a": torch.tensor(2.0, dtype=torch.float64)}, images=4)
    assert sums.means() == {"a": 1.5, "b": 2.0} and sums.images == 8
    assert isinstance(sums.sums["a"], torch.Tensor) and sums.sums["a"].dtype == torch.float32
    sums.reset()
    assert sums.means() == {} and sums.images == 0


def test_seed_everything_seeds_torch_numpy_and_python():
    seed_everything(11)
    first = (torch.rand(2), np.random.rand(2), random.random())
    seed_everything(11)
    again = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]
