"""The training loop shared by every training job (codebook stages 1 and 2, the swapper).

A job (:class:`TrainJob`) builds its modules, writes its provenance entries and runs one
optimiser step; :func:`run_training` does everything around that, in this order (the RNG
stream, and with it exact resume, depends on the order):

1. check the run folder (:func:`~.checkpoint.prepare_run_dir`; on resume: its newest checkpoint);
2. seed torch, numpy and Python from ``settings.seed`` (:func:`seed_everything`);
3. ``job.build``: models, discriminator, losses, data;
4. Adam + EMA, and on resume the weights, optimiser and RNG states (:mod:`.optimisation`);
   ranks > 0 of a torchrun job are reseeded per rank; rank 0's weights are broadcast;
5. ``torch.compile`` of ``job.compile_targets`` after a gradient check (:mod:`.compiled`);
6. DistributedDataParallel wrappers under torchrun (:mod:`.distributed`);
7. ``RUN/run.json`` + ``RUN/config.yaml`` (:mod:`.provenance`), ``RUN/metrics.jsonl`` (:mod:`.runlog`);
8. ``job.start``, then per step: ``job.step``, EMA update, a metric record every
   ``log_interval`` steps and at the last, ``progress``, a checkpoint every ``ckpt_interval``
   steps, at the last, and at a stop request (SIGINT/SIGTERM, :mod:`.stop`; never under
   torchrun), after which the loop ends (``--resume`` continues from that step).

Only the main rank writes files; the other ranks wait at a barrier after each checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.engine.compiled import compile_checked
from id2reflectance.model.engine.distributed import Runtime, broadcast_module, mean_over_ranks
from id2reflectance.model.engine.ema import EMA
from id2reflectance.model.engine.optimisation import Optimisation, setup_optimisation
from id2reflectance.model.engine.provenance import git_revision, software_versions, write_run_record
from id2reflectance.model.engine.runlog import MetricsLog
from id2reflectance.model.engine.stop import StopRequest

log = logging.getLogger(__name__)

AutocastFn = Callable[[], contextlib.AbstractContextManager]


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global generator and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def single_process(device: str | None = None) -> Runtime:
    """The :class:`~.distributed.Runtime` of a job that never joins a process group: rank 0
    of 1 on ``device`` (default ``"cuda"`` when available, else ``"cpu"``), taken as given."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return Runtime(rank=0, world_size=1, local_rank=0, device=dev)


def autocast_factory(device: torch.device, bf16: bool) -> AutocastFn:
    """A function returning the run's autocast context: bf16 on ``device.type``, or a no-op."""

    def make() -> contextlib.AbstractContextManager:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    return make


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs of a job's configuration.

    Attributes
    ----------
    steps : optimiser steps of the run (a resume may extend or shorten it).
    log_interval, ckpt_interval : steps between metric records / checkpoints (the last
        step always gets both).
    keep_checkpoints : newest checkpoints kept.
    seed : seed of the whole run (:func:`seed_everything`; rank ``r > 0`` of a torchrun job
        uses ``seed + 7919 r`` (+ the resumed step) for torch).
    lr, betas : Adam's, for the generator and the discriminator.
    ema_decay : EMA of the model's weights; 0 disables it.
    bf16 : bfloat16 autocast of the forward passes.
    disc_start : first step (0-based) with the adversarial terms, when there is a discriminator.
    progress_stage : the stage name given to ``progress``.
    compile : ``torch.compile`` the job's :meth:`TrainJob.compile_targets`; None for a job
        without the option (run.json then has no ``compile`` entry).
    distributed : the job can run under torchrun (run.json records ``world_size``).
    """

    steps: int
    log_interval: int
    ckpt_interval: int
    keep_checkpoints: int
    seed: int
    lr: float
    betas: tuple[float, float]
    ema_decay: float
    bf16: bool
    disc_start: int
    progress_stage: str
    compile: bool | None = None
    distributed: bool = False


@dataclass(frozen=True)
class TrainParts:
    """What :meth:`TrainJob.build` returns.

    Attributes
    ----------
    model : the module saved as ``model.safetensors`` and averaged by the EMA (unwrapped).
    params : the parameters the generator optimiser updates.
    disc : the discriminator (``disc.safetensors``), or None.
    gen_name : the generator optimiser's name in checkpoints (``"gen"``, ``"swapper"``).
    arch : the checkpoints' ``arch`` entry (enough to rebuild ``model``).
    perceptual : whether the perceptual loss is used (recorded in run.json).
    """

    model: nn.Module
    params: list[nn.Parameter]
    disc: nn.Module | None
    gen_name: str
    arch: dict[str, Any]
    perceptual: bool


@dataclass(frozen=True)
class CompileTarget:
    """A submodule to compile: ``install(fn)`` makes the job train with the compiled ``fn``.

    ``example`` is an input of the training shape (the gradient check runs on it).
    """

    name: str
    module: nn.Module
    example: torch.Tensor
    install: Callable[[Callable[[torch.Tensor], torch.Tensor]], None]


@dataclass(frozen=True)
class RunRecords:
    """A job's provenance: ``meta`` goes into every checkpoint.json, ``fresh`` into the
    run.json of a new run (besides the config and the loop's session entries)."""

    meta: dict[str, Any]
    fresh: dict[str, Any]


@dataclass(frozen=True)
class LoopContext:
    """What the loop built around the job's parts, given to :meth:`TrainJob.start`.

    Attributes
    ----------
    rt : the process's rank, world size and device.
    optim : the optimisers (``optim.gen``, ``optim.disc``), the EMA and the start step.
    model, disc : the modules as called for training (DDP-wrapped under torchrun).
    autocast : returns the run's autocast context (bf16 or a no-op).
    """

    rt: Runtime
    optim: Optimisation
    model: Callable
    disc: Callable | None
    autocast: AutocastFn


class MetricSums:
    """Running sums of a job's step metrics and the images seen since the last record.

    Tensor metrics are summed as float32 tensors on ``device`` (no host sync per step),
    numbers as Python floats; a record holds each metric's mean over its ``add`` calls.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.counts: dict[str, int] = {}
        self.images = 0

    def add(self, metrics: Mapping[str, torch.Tensor | float], *, images: int) -> None:
        """Add one (micro-)step's scalar metrics and the images it trained on (all ranks)."""
        for k, v in metrics.items():
            if isinstance(v, torch.Tensor):
                self.sums[k] = self.sums.get(k, torch.zeros((), device=self.device)) + v.detach().float()
            else:
                self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1
        self.images += images

    def means(self) -> dict[str, float]:
        return {k: float(v) / self.counts[k] for k, v in self.sums.items()}


class TrainJob(Protocol):
    """The per-job part of a training run (see the module docstring for when each hook runs).

    Attributes
    ----------
    settings : the loop's settings.
    config : the resolved config as a dict (run.json, config.yaml, the resume check).
    """

    settings: LoopSettings
    config: dict[str, Any]

    def check_run(self, meta: dict[str, Any], meta_path: Path) -> None:
        """On resume: raise when the run.json ``meta`` at ``meta_path`` is of another kind of run."""

    def build(self, rt: Runtime, resume_from: Path | None) -> TrainParts:
        """Build (or, when resuming, build empty for) the modules and the data, after seeding."""

    def compile_targets(self, rt: Runtime) -> list[CompileTarget]:
        """What to compile (only called when ``settings.compile``)."""

    def records(self, git: dict[str, Any]) -> RunRecords:
        """Provenance of the run; ``git`` is :func:`~.provenance.git_revision`'s."""

    def start(self, ctx: LoopContext) -> None:
        """Last set-up before the first step (step functions, data loaders from ``ctx.optim.start``)."""

    def step(self, step: int, *, gan: bool, sums: MetricSums) -> None:
        """One optimiser step (0-based ``step``); ``gan``: the adversarial terms are on.

        Adds each micro-step's metrics to ``sums``; the loop updates the EMA afterwards.
        """

    def log_extras(self) -> dict[str, float]:
        """Entries added to each metric record after the means (and reset for the next)."""

    def log_line(self, values: dict[str, float]) -> str:
        """The record as logged after ``step N/M`` (e.g. ``loss 0.1234``)."""


@dataclass(frozen=True)
class LoopResult:
    """What :func:`run_training` returns.

    Attributes
    ----------
    step : steps completed (the stop step when stopped by a signal).
    checkpoint : the last checkpoint folder.
    metrics : the last metric record.
    perceptual : whether the perceptual loss was used.
    compile_report : per compiled module: ``used``, ``reason``, ``max_rel_err``, ``graphs``.
    ema : the EMA (None when off), e.g. to copy its weights into the model after the run.
    seconds : wall time of the steps (excluding set-up).
    """

    step: int
    checkpoint: Path
    metrics: dict[str, float]
    perceptual: bool
    compile_report: dict[str, dict[str, Any]]
    ema: EMA | None
    seconds: float


@dataclass
class _Run:
    """The loop's own state while stepping."""

    job: TrainJob
    parts: TrainParts
    optim: Optimisation
    rt: Runtime
    run_dir: Path
    meta: dict[str, Any]
    metrics_log: MetricsLog | None
    last_ckpt: Path | None
    last: dict[str, float]


def run_training(
    job: TrainJob,
    *,
    run_dir: Path,
    rt: Runtime,
    resume: bool,
    data_sha: str,
    progress: ProgressFn | None = None,
) -> LoopResult:
    """Train ``job`` into ``run_dir`` (see the module docstring); checkpoints in ``RUN/checkpoints``.

    Parameters
    ----------
    run_dir : the run folder; new or empty unless ``resume``.
    rt : this process's rank, world size and device (:func:`~.distributed.setup` or
        :func:`single_process`).
    resume : continue the newest checkpoint of ``run_dir`` (same config except ``train.steps``).
    data_sha : SHA-256 of the dataset's ``dataset.json`` (must equal the run's on resume).
    progress : ``progress(settings.progress_stage, done, steps)`` after every step (main rank).

    Raises
    ------
    ConfigError, InputFileError
        A run folder in the way, or a run / checkpoint that does not fit (and the job's own errors).
    """
    s = job.settings
    resume_from = ckpt.prepare_run_dir(
        run_dir, resume=resume, config=job.config, data_sha=data_sha, check_kind=job.check_run, is_main=rt.is_main
    )
    seed_everything(s.seed)
    parts = job.build(rt, resume_from)
    optim = setup_optimisation(
        parts.model,
        parts.params,
        parts.disc,
        gen_name=parts.gen_name,
        lr=s.lr,
        betas=s.betas,
        ema_decay=s.ema_decay,
        resume_from=resume_from,
    )
    start = optim.start
    if rt.rank > 0:  # every rank draws its own augmentation and quantiser noise
        torch.manual_seed(s.seed + 7919 * rt.rank + (start if resume_from is not None else 0))
    if resume_from is not None:
        log.info("resuming %s from step %d", run_dir, start)
    broadcast_module(parts.model, rt)
    # compile after the weights are final (the compiled wrappers share the parameters)
    autocast = autocast_factory(rt.device, s.bf16)
    compile_report = _compile(job, rt) if s.compile else {}
    model, disc = _wrap_ddp(parts, rt)
    records = job.records(git_revision())
    metrics_log = MetricsLog(run_dir, resume_step=start if resume_from is not None else None) if rt.is_main else None
    if metrics_log is not None:
        session = _session(records, parts, s, rt, compile_report, tensorboard=metrics_log.tensorboard)
        write_run_record(
            run_dir,
            run_file=ckpt.RUN_FILE,
            config=job.config,
            steps=s.steps,
            resumed_at=None if resume_from is None else start,
            fresh=records.fresh,
            session=session,
        )
    job.start(LoopContext(rt=rt, optim=optim, model=model, disc=disc, autocast=autocast))
    run = _Run(job, parts, optim, rt, run_dir, records.meta, metrics_log, last_ckpt=resume_from, last={})
    t0 = time.perf_counter()
    stopped_at = _steps(run, start, progress)
    seconds = time.perf_counter() - t0
    if metrics_log is not None:
        metrics_log.close()
    last_ckpt = run.last_ckpt if run.last_ckpt is not None else ckpt.list_checkpoints(run_dir)[-1]
    return LoopResult(
        step=stopped_at if stopped_at is not None else max(start, s.steps),
        checkpoint=Path(last_ckpt),
        metrics=run.last,
        perceptual=parts.perceptual,
        compile_report=compile_report,
        ema=optim.ema,
        seconds=seconds,
    )


def _compile(job: TrainJob, rt: Runtime) -> dict[str, dict[str, Any]]:
    """Compile every target that passes the gradient check; the report by target name."""
    report: dict[str, dict[str, Any]] = {}
    dtype = torch.bfloat16 if job.settings.bf16 else None
    for target in job.compile_targets(rt):
        fn, res = compile_checked(target.module, target.example, autocast_dtype=dtype, name=target.name)
        report[target.name] = {
            "used": res.ok,
            "reason": res.reason,
            "max_rel_err": res.max_rel_err,
            "graphs": res.graphs,
        }
        if res.ok:
            target.install(fn)
    return report


def _wrap_ddp(parts: TrainParts, rt: Runtime) -> tuple[Callable, Callable | None]:
    """The model and the discriminator as called for training: DDP-wrapped under torchrun."""
    if not rt.distributed:
        return parts.model, parts.disc
    ids = [rt.device.index] if rt.device.type == "cuda" else None
    disc = DistributedDataParallel(parts.disc, device_ids=ids) if parts.disc is not None else None
    return DistributedDataParallel(parts.model, device_ids=ids), disc


def _session(
    records: RunRecords,
    parts: TrainParts,
    s: LoopSettings,
    rt: Runtime,
    compile_report: dict[str, dict[str, Any]],
    *,
    tensorboard: bool,
) -> dict[str, Any]:
    """run.json entries describing this process (a resume appends them to ``resumes``)."""
    session: dict[str, Any] = {"git_revision": records.meta["git_revision"], "perceptual": parts.perceptual}
    if s.compile is not None:
        session["compile"] = compile_report
    session["bf16"] = s.bf16
    if s.distributed:
        session["world_size"] = rt.world_size
    session.update(device=str(rt.device), software=software_versions(), tensorboard=tensorboard)
    return session


def _steps(run: _Run, start: int, progress: ProgressFn | None) -> int | None:
    """Steps ``start`` .. ``settings.steps - 1``; the step stopped at by a signal, or None."""
    s, parts, ema = run.job.settings, run.parts, run.optim.ema
    parts.model.train()
    if parts.disc is not None:
        parts.disc.train()
    sums = MetricSums(run.rt.device)
    t_log = time.perf_counter()
    stop = StopRequest(enabled=not run.rt.distributed).install()
    try:
        for step in range(start, s.steps):
            gan = parts.disc is not None and step >= s.disc_start
            run.job.step(step, gan=gan, sums=sums)
            if ema is not None:
                ema.update(parts.model, step=step)
            done = step + 1
            if done % s.log_interval == 0 or done == s.steps:
                t_log = _record(run, sums, done=done, gan=gan, t_log=t_log)
            if progress is not None and run.rt.is_main:
                progress(s.progress_stage, done, s.steps)
            stopping = stop.requested  # read once: a signal arriving now is seen next step
            if done % s.ckpt_interval == 0 or done == s.steps or stopping:
                _checkpoint(run, done)
            if stopping:
                log.warning("%s at step %d: checkpoint saved, stopping (--resume continues)", stop.signal_name, done)
                return done
    finally:
        stop.restore()
    return None


def _record(run: _Run, sums: MetricSums, *, done: int, gan: bool, t_log: float) -> float:
    """Write the metric record of step ``done`` (means over ranks); returns its time."""
    values = sums.means()
    values.update(run.job.log_extras())
    now = time.perf_counter()
    values["images_per_s"] = sums.images / max(now - t_log, 1e-9)
    values["lr"] = run.optim.gen.param_groups[0]["lr"]
    values["gan_active"] = float(gan)
    values = mean_over_ranks(values, run.rt)
    if not all(math.isfinite(v) for v in values.values()):
        log.warning("non-finite metrics at step %d: %s", done, values)
    if run.metrics_log is not None:
        run.metrics_log.write(done, values)
    log.info("step %d/%d %s", done, run.job.settings.steps, run.job.log_line(values))
    run.last = values
    sums.reset()
    return now


def _checkpoint(run: _Run, done: int) -> None:
    """Save (main rank) and prune the checkpoint of step ``done``; every rank waits for it."""
    if run.rt.is_main:
        run.last_ckpt = ckpt.save_and_prune(
            run.run_dir,
            step=done,
            keep=run.job.settings.keep_checkpoints,
            arch=run.parts.arch,
            model=run.parts.model,
            ema=run.optim.ema.shadow if run.optim.ema else None,
            disc=run.parts.disc,
            optimizers=run.optim.optimizers,
            meta=run.meta,
        )
    if run.rt.distributed:
        torch.distributed.barrier()
