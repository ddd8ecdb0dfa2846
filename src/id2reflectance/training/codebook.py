"""Training job of the codebook model (stage 1: shared codebook; stage 2: domain codebooks + fusion).

One call, :func:`train_codebook`, runs a whole training job in ``RUN``:

    RUN/run.json          stage, resolved config, git revision, dataset path + sha256 of
                          its dataset.json, stage-1 source (stage 2), perceptual flag,
                          compile check results, world size, software versions
    RUN/config.yaml       the resolved config (loadable again with --config)
    RUN/metrics.jsonl     one record per log interval (TensorBoard events in RUN/tensorboard
                          too when the ``tensorboard`` package is installed)
    RUN/checkpoints/step_<N>/   see :mod:`~id2reflectance.model.engine.checkpoint`

The loop itself (resume, seeding, EMA, checkpoints, stop signals, run records) is
:func:`~id2reflectance.model.engine.loop.run_training`; :class:`CodebookJob` supplies the
models, the data and the step. Features: bf16 autocast (``train.bf16``), ``torch.compile``
of the encoder and the decoder body (the decoder's last layer stays eager) after a
compiled-vs-eager gradient check, DistributedDataParallel when started by ``torchrun``,
gradient accumulation, EMA of the generator weights, optional dead-code restart (rank 0,
then broadcast), exact resume from the newest checkpoint (weights, EMA, optimisers, RNG
states; the data order is a function of the step, see
:mod:`~id2reflectance.model.engine.sampling`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import RunConfig, config_from_dict, config_to_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.quantizer import QuantOut, VectorQuantizer
from id2reflectance.model.codebook.steps import GenResult, StepContext, disc_step, stage1_step, stage2_step
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.engine.distributed import Runtime, broadcast_module, setup, teardown
from id2reflectance.model.engine.loop import (
    CompileTarget,
    LoopContext,
    LoopSettings,
    MetricSums,
    RunRecords,
    TrainParts,
    run_training,
)
from id2reflectance.model.engine.sampling import StepBatchSampler
from id2reflectance.model.engine.stop import ignore_stop_signals
from id2reflectance.model.loading import load_model
from id2reflectance.model.losses import PerceptualLoss, load_perceptual

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Summary of a finished :func:`train_codebook` call.

    Attributes
    ----------
    run_dir : the run folder.
    step : optimiser steps completed.
    checkpoint : the last checkpoint folder written.
    metrics : the last logged record.
    perceptual : whether the perceptual loss was used.
    compiled : per module name, whether the compiled version was used.
    seconds : wall time of the training loop (excluding setup).
    """

    run_dir: Path
    step: int
    checkpoint: Path
    metrics: dict[str, float]
    perceptual: bool
    compiled: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0


def _stage1_source(init_from: str | Path, cfg: RunConfig) -> VQGAN:
    model, doc = load_model(init_from, weights="ema")
    where = Path(doc["loaded_from"]) / ckpt.META_FILE
    if not isinstance(model, VQGAN):
        raise InputFileError(
            where, "arch.kind", f"stage 2 starts from a stage-1 (vqgan) checkpoint, got {doc['arch']['kind']!r}"
        )
    old = config_to_dict(config_from_dict(doc["arch"]["config"]))["model"]
    diff = ckpt.first_difference(old, config_to_dict(cfg)["model"])
    if diff is not None:
        raise ConfigError(f"{where}: stage-1 model.{diff[0]} is {diff[1]!r} but the stage-2 config has {diff[2]!r}")
    log.info("stage 2 initialised from %s (%s)", doc["loaded_from"], doc["loaded_weights"])
    return model


def _to_device(batch: dict[str, Any], device: torch.device, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {n: batch[n].to(device, non_blocking=True) for n in names}


def worker_start_method(workers: int) -> str | None:
    """How DataLoader workers start: ``forkserver`` where the platform has it, else the default.

    A forked worker inherits every lock another thread of the process held at the fork (a
    Dask client's event loop, a progress bar's monitor, logging) and can hang on it;
    forkserver workers fork from a clean single-threaded server process instead.
    """
    if workers > 0 and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return None


def _restart_pairs(model: nn.Module, quant: dict[str, QuantOut]) -> list[tuple[VectorQuantizer, torch.Tensor]]:
    """(codebook, encoder outputs it quantised this micro-step) for dead-code restarts."""
    if isinstance(model, VQGAN):
        return [(model.quantizer, quant["shared"].z)]
    if isinstance(model, MultiDomainVQGAN) and model.mode == "joint":
        return [(model.codebooks["joint"], torch.cat([q.z for q in quant.values()]))]
    return [(model.codebook(n), q.z) for n, q in quant.items()]


class CodebookJob:
    """Stage 1 or 2 of the codebook model as a :class:`~id2reflectance.model.engine.loop.TrainJob`.

    Parameters
    ----------
    cfg : the run configuration.
    stage : 1 or 2.
    data : dataset folder; ``data_sha`` the SHA-256 of its dataset.json.
    init_from : stage 2: the stage-1 run or checkpoint a fresh run starts from.
    """

    model: VQGAN | MultiDomainVQGAN
    disc: PatchDiscriminator | None
    rt: Runtime
    ctx: StepContext
    batches: Iterator[dict[str, Any]]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None

    def __init__(self, cfg: RunConfig, *, stage: int, data: Path, data_sha: str, init_from: str | Path | None) -> None:
        tc = cfg.train
        self.cfg, self.stage, self.data, self.data_sha, self.init_from = cfg, stage, data, data_sha, init_from
        self.config = config_to_dict(cfg)
        self.names = ("rgb", *cfg.data.domains)
        self.settings = LoopSettings(
            steps=tc.steps,
            log_interval=tc.log_interval,
            ckpt_interval=tc.ckpt_interval,
            keep_checkpoints=tc.keep_checkpoints,
            seed=tc.seed,
            lr=tc.lr,
            betas=tc.betas,
            ema_decay=tc.ema_decay,
            bf16=tc.bf16,
            disc_start=cfg.disc.start_step,
            progress_stage=f"train stage {stage}",
            compile=tc.compile,
            distributed=True,
        )
        self.perceptual: PerceptualLoss | None = None
        self.restarted = 0  # dead codes restarted since the last metric record

    def check_run(self, meta: dict[str, Any], meta_path: Path) -> None:
        if meta.get("stage") != self.stage:
            raise ConfigError(f"{meta_path}: stage is {meta.get('stage')}, --stage asks for {self.stage}")

    def build(self, rt: Runtime, resume_from: Path | None) -> TrainParts:
        # the dataset module imports OpenCV; this module stays importable without it (model-only GPU boxes)
        from id2reflectance.dataset.torch_dataset import ReflectanceDataset

        cfg = self.cfg
        self.rt = rt
        self.dataset = ReflectanceDataset(
            self.data,
            split=cfg.data.train_split,
            domains=self.names,
            views=cfg.data.views,
            resolution=cfg.model.resolution,
            environments=cfg.data.environments,
            augment=cfg.data.augment,
            seed=cfg.train.seed,
        )
        if self.stage == 1:
            self.model = VQGAN(cfg.model)
        elif resume_from is not None:
            self.model = MultiDomainVQGAN(cfg.model, cfg.fusion, cfg.data.domains)
        else:
            assert self.init_from is not None
            stage1 = _stage1_source(self.init_from, cfg)
            self.model = MultiDomainVQGAN.from_stage1(stage1, cfg.fusion, cfg.data.domains)
        self.model.to(rt.device)
        frozen_autoencoder = self.stage == 2 and not cfg.fusion.train_autoencoder
        if frozen_autoencoder:
            self.model.encoder.requires_grad_(False)
            self.model.decoder.requires_grad_(False)
        with_disc = cfg.disc.enabled and not frozen_autoencoder
        self.disc = PatchDiscriminator(cfg.disc).to(rt.device) if with_disc else None
        if cfg.loss.perceptual_weight > 0:
            self.perceptual = load_perceptual(cfg.loss.perceptual_weights, device=rt.device)
        return TrainParts(
            model=self.model,
            params=[p for p in self.model.parameters() if p.requires_grad],
            disc=self.disc,
            gen_name="gen",
            arch={"kind": "vqgan" if self.stage == 1 else "multidomain", "config": config_to_dict(cfg)},
            perceptual=self.perceptual is not None,
        )

    def compile_targets(self, rt: Runtime) -> list[CompileTarget]:
        """The encoder and the decoder body (the decoder's last layer stays eager)."""
        cfg, model = self.cfg, self.model
        b = cfg.train.batch_size * (1 if self.stage == 1 else len(self.names))
        x = torch.zeros(b, cfg.model.in_channels, cfg.model.resolution, cfg.model.resolution, device=rt.device)
        x.uniform_(-1, 1, generator=torch.Generator(device=rt.device).manual_seed(1))
        with torch.no_grad():
            z = model.encoder(x)

        def install(name: str) -> Callable[[Callable], None]:
            return lambda fn: model.compiled.__setitem__(name, fn)

        return [
            CompileTarget("encoder", model.encoder, x, install("encoder")),
            CompileTarget("decoder.body", model.decoder.body, z, install("decoder.body")),
        ]

    def records(self, git: dict[str, Any]) -> RunRecords:
        from id2reflectance.dataset.manifest import dataset_template  # as the dataset import below: lazily

        meta = {
            "stage": self.stage,
            "perceptual": self.perceptual is not None,
            "git_revision": git,
            "dataset_sha256": self.data_sha,
            "template": dataset_template(self.data),  # the UV layout the model was trained in
            "world_size": self.rt.world_size,
        }
        fresh = {
            "stage": self.stage,
            "dataset": {"path": str(self.data.resolve()), "sha256": self.data_sha, "items": len(self.dataset)},
            "init_from": None if self.init_from is None else str(Path(self.init_from).resolve()),
        }
        return RunRecords(meta=meta, fresh=fresh)

    def start(self, ctx: LoopContext) -> None:
        cfg, tc = self.cfg, self.cfg.train
        self.opt_g, self.opt_d = ctx.optim.gen, ctx.optim.disc
        self.ctx = StepContext(
            cfg=cfg,
            model=ctx.model,
            core=self.model,
            disc=ctx.disc,
            disc_core=self.disc,
            perceptual=self.perceptual,
            autocast=ctx.autocast,
        )
        sampler = StepBatchSampler(
            len(self.dataset),
            batch=tc.batch_size,
            accum=tc.grad_accum,
            world=self.rt.world_size,
            rank=self.rt.rank,
            seed=tc.seed,
            start_step=ctx.optim.start,
        )
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=cfg.data.workers,
            pin_memory=self.rt.device.type == "cuda",
            persistent_workers=False,
            worker_init_fn=ignore_stop_signals,
            multiprocessing_context=worker_start_method(cfg.data.workers),
        )
        self.batches = iter(loader)

    def step(self, step: int, *, gan: bool, sums: MetricSums) -> None:
        """``train.grad_accum`` micro-steps, the optimiser steps, then dead-code restarts."""
        res: GenResult | None = None
        for micro in range(self.cfg.train.grad_accum):
            res = self._micro_step(step, micro, gan=gan)
            sums.add(res.metrics, images=res.real.shape[0] * self.rt.world_size)
        assert res is not None  # grad_accum >= 1
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)
        if gan and self.opt_d is not None:
            self.opt_d.step()
            self.opt_d.zero_grad(set_to_none=True)
        mc = self.cfg.model
        if mc.dead_code_restart:
            if self.rt.is_main:
                for book, z in _restart_pairs(self.model, res.quant):
                    self.restarted += book.restart_dead_codes(z, threshold=mc.dead_code_threshold)
            broadcast_module(self.model.quantizer if isinstance(self.model, VQGAN) else self.model.codebooks, self.rt)

    def _micro_step(self, step: int, micro: int, *, gan: bool) -> GenResult:
        """Forward and backward of one micro-batch (gradients synchronised on the last one)."""
        tc, rt, ctx = self.cfg.train, self.rt, self.ctx
        batch = _to_device(next(self.batches), rt.device, self.names)
        sync = micro == tc.grad_accum - 1 or not rt.distributed
        no_sync_g = contextlib.nullcontext() if sync else ctx.model.no_sync()  # type: ignore[attr-defined]
        with no_sync_g:
            sample0 = ((step * tc.grad_accum + micro) * rt.world_size + rt.rank) * tc.batch_size
            step_fn = stage1_step if self.stage == 1 else stage2_step
            res = step_fn(ctx, batch, sample0=sample0, gan=gan)
            (res.loss / tc.grad_accum).backward()
        if gan:
            no_sync_d = contextlib.nullcontext() if sync else ctx.disc.no_sync()  # type: ignore[union-attr]
            with no_sync_d:
                d_loss, d_metrics = disc_step(ctx, res.real, res.fake)
                (d_loss / tc.grad_accum).backward()
            res.metrics.update(d_metrics)
        return res

    def log_extras(self) -> dict[str, float]:
        extras = {"codes_restarted": float(self.restarted)} if self.cfg.model.dead_code_restart else {}
        self.restarted = 0
        return extras

    def log_line(self, values: dict[str, float]) -> str:
        return f"loss {values.get('loss', float('nan')):.4f}"


def train_codebook(
    config: RunConfig,
    *,
    stage: Literal[1, 2],
    data: str | Path,
    out: str | Path,
    resume: bool = False,
    init_from: str | Path | None = None,
    device: str | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train the codebook model and write checkpoints into ``out``.

    Parameters
    ----------
    config : the run configuration.
    stage : 1 (shared codebook on RGB + reflectance) or 2 (domain codebooks + fusion).
    data : dataset folder (docs/dataset-format.md).
    out : run folder; must be new or empty unless ``resume``.
    resume : continue the newest checkpoint of ``out`` (config must match except ``train.steps``).
    init_from : stage 2 only: a stage-1 run or checkpoint folder (EMA weights when present).
    device : force ``"cpu"`` or ``"cuda"``; default CUDA when available.
    progress : ``progress(stage_name, done, total)`` callback.

    Raises
    ------
    ConfigError, InputFileError
        Bad options, a dataset without a configured domain, a run folder in the way, a
        checkpoint that does not fit.
    """
    # the dataset module imports OpenCV; this module stays importable without it (model-only GPU boxes)
    from id2reflectance.dataset.torch_dataset import dataset_sha256

    if stage not in (1, 2):
        raise ConfigError(f"--stage must be 1 or 2, got {stage}")
    if stage == 2 and init_from is None and not resume:
        raise ConfigError("stage 2 needs --init pointing at a stage-1 run or checkpoint")
    run_dir = Path(out)
    data_sha = dataset_sha256(data)
    rt = setup(device=device)
    try:
        job = CodebookJob(config, stage=stage, data=Path(data), data_sha=data_sha, init_from=init_from)
        res = run_training(job, run_dir=run_dir, rt=rt, resume=resume, data_sha=data_sha, progress=progress)
    finally:
        teardown(rt)
    return TrainResult(
        run_dir=run_dir,
        step=res.step,
        checkpoint=res.checkpoint,
        metrics=res.metrics,
        perceptual=res.perceptual,
        compiled={k: bool(v["used"]) for k, v in res.compile_report.items()},
        seconds=res.seconds,
    )
