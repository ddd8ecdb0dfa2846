"""Training loop of the codebook model (stage 1: shared codebook; stage 2: domain codebooks + fusion).

One call, :func:`train_codebook`, runs a whole training job in ``RUN``:

    RUN/run.json          stage, resolved config, git revision, dataset path + sha256 of
                          its dataset.json, stage-1 source (stage 2), perceptual flag,
                          compile check results, world size, software versions
    RUN/config.yaml       the resolved config (loadable again with --config)
    RUN/metrics.jsonl     one record per log interval (TensorBoard events in RUN/tensorboard
                          too when the ``tensorboard`` package is installed)
    RUN/checkpoints/step_<N>/   see :mod:`.checkpoint`

Features: bf16 autocast (``train.bf16``), ``torch.compile`` of the encoder and the decoder
body (the decoder's last layer stays eager) after a compiled-vs-eager gradient check
(:mod:`.compiled`), DistributedDataParallel when started
by ``torchrun`` (:mod:`.distributed`), gradient accumulation, EMA of the generator
weights, optional dead-code restart (rank 0, then broadcast), exact resume from the newest
checkpoint (weights, EMA, optimisers, RNG states; the data order is a function of the step,
see :mod:`.sampling`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import RunConfig, config_from_dict, config_to_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.quantizer import QuantOut, VectorQuantizer
from id2reflectance.model.codebook.steps import StepContext, disc_step, stage1_step, stage2_step
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.engine.compiled import compile_checked
from id2reflectance.model.engine.distributed import Runtime, broadcast_module, mean_over_ranks, setup, teardown
from id2reflectance.model.engine.optimisation import setup_optimisation
from id2reflectance.model.engine.provenance import git_revision, software_versions, write_run_record
from id2reflectance.model.engine.runlog import MetricsLog
from id2reflectance.model.engine.sampling import StepBatchSampler
from id2reflectance.model.engine.stop import StopRequest, ignore_stop_signals
from id2reflectance.model.loading import load_model
from id2reflectance.model.losses import load_perceptual

log = logging.getLogger(__name__)

RUN_FILE = ckpt.RUN_FILE


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


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _autocast_factory(rt: Runtime, bf16: bool) -> Callable[[], contextlib.AbstractContextManager]:
    def make() -> contextlib.AbstractContextManager:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=rt.device.type, dtype=torch.bfloat16)

    return make


def _prepare_run_dir(
    run_dir: Path, *, resume: bool, stage: int, cfg: RunConfig, data_sha: str, is_main: bool
) -> Path | None:
    """Check the run folder; on resume return the checkpoint to continue from (None: fresh run)."""

    def same_stage(meta: dict[str, Any], meta_path: Path) -> None:
        if meta.get("stage") != stage:
            raise ConfigError(f"{meta_path}: stage is {meta.get('stage')}, --stage asks for {stage}")

    return ckpt.prepare_run_dir(
        run_dir, resume=resume, config=config_to_dict(cfg), data_sha=data_sha, check_kind=same_stage, is_main=is_main
    )


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
    import multiprocessing

    if workers > 0 and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return None


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
    from id2reflectance.dataset.torch_dataset import dataset_sha256

    if stage not in (1, 2):
        raise ConfigError(f"--stage must be 1 or 2, got {stage}")
    if stage == 2 and init_from is None and not resume:
        raise ConfigError("stage 2 needs --init pointing at a stage-1 run or checkpoint")
    run_dir = Path(out)
    data_sha = dataset_sha256(data)
    rt = setup(device=device)
    try:
        resume_from = _prepare_run_dir(
            run_dir, resume=resume, stage=stage, cfg=config, data_sha=data_sha, is_main=rt.is_main
        )
        return _train(config, rt, stage, Path(data), data_sha, run_dir, resume_from, init_from, progress)
    finally:
        teardown(rt)


def _train(
    cfg: RunConfig,
    rt: Runtime,
    stage: int,
    data: Path,
    data_sha: str,
    run_dir: Path,
    resume_from: Path | None,
    init_from: str | Path | None,
    progress: ProgressFn | None,
) -> TrainResult:
    from id2reflectance.dataset.torch_dataset import ReflectanceDataset

    tc = cfg.train
    _seed_everything(tc.seed)
    names = ("rgb", *cfg.data.domains)
    dataset = ReflectanceDataset(
        data,
        split=cfg.data.train_split,
        domains=names,
        views=cfg.data.views,
        resolution=cfg.model.resolution,
        environments=cfg.data.environments,
        augment=cfg.data.augment,
        seed=tc.seed,
    )
    # ---- models
    model: VQGAN | MultiDomainVQGAN
    if stage == 1:
        model = VQGAN(cfg.model)
    elif resume_from is not None:
        model = MultiDomainVQGAN(cfg.model, cfg.fusion, cfg.data.domains)
    else:
        assert init_from is not None
        model = MultiDomainVQGAN.from_stage1(_stage1_source(init_from, cfg), cfg.fusion, cfg.data.domains)
    model.to(rt.device)
    frozen_autoencoder = stage == 2 and not cfg.fusion.train_autoencoder
    if frozen_autoencoder:
        model.encoder.requires_grad_(False)
        model.decoder.requires_grad_(False)
    disc = PatchDiscriminator(cfg.disc).to(rt.device) if cfg.disc.enabled and not frozen_autoencoder else None
    perceptual = (
        load_perceptual(cfg.loss.perceptual_weights, device=rt.device) if cfg.loss.perceptual_weight > 0 else None
    )
    optim = setup_optimisation(
        model,
        [p for p in model.parameters() if p.requires_grad],
        disc,
        gen_name="gen",
        lr=tc.lr,
        betas=tc.betas,
        ema_decay=tc.ema_decay,
        resume_from=resume_from,
    )
    opt_g, opt_d, ema, optimizers, start = optim.gen, optim.disc, optim.ema, optim.optimizers, optim.start
    if resume_from is not None:
        if rt.rank > 0:
            torch.manual_seed(tc.seed + 7919 * rt.rank + start)
        log.info("resuming %s from step %d", run_dir, start)
    elif rt.rank > 0:
        torch.manual_seed(tc.seed + 7919 * rt.rank)
    broadcast_module(model, rt)
    # ---- compile (after weights are final; the wrappers share parameters)
    autocast = _autocast_factory(rt, tc.bf16)
    compile_report: dict[str, Any] = {}
    if tc.compile:
        b = tc.batch_size * (1 if stage == 1 else len(names))
        x = torch.zeros(b, cfg.model.in_channels, cfg.model.resolution, cfg.model.resolution, device=rt.device)
        x.uniform_(-1, 1, generator=torch.Generator(device=rt.device).manual_seed(1))
        with torch.no_grad():
            z = model.encoder(x)
        dtype = torch.bfloat16 if tc.bf16 else None
        for name, module, example in (("encoder", model.encoder, x), ("decoder.body", model.decoder.body, z)):
            fn, res = compile_checked(module, example, autocast_dtype=dtype, name=name)
            compile_report[name] = {
                "used": res.ok,
                "reason": res.reason,
                "max_rel_err": res.max_rel_err,
                "graphs": res.graphs,
            }
            if res.ok:
                model.compiled[name] = fn
    # ---- DDP
    train_model: Callable = model
    train_disc: Callable | None = disc
    if rt.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [rt.device.index] if rt.device.type == "cuda" else None
        train_model = DDP(model, device_ids=ids)
        if disc is not None:
            train_disc = DDP(disc, device_ids=ids)
    ctx = StepContext(
        cfg=cfg,
        model=train_model,
        core=model,
        disc=train_disc,
        disc_core=disc,
        perceptual=perceptual,
        autocast=autocast,
    )
    step_fn = stage1_step if stage == 1 else stage2_step
    # ---- provenance
    meta = {
        "stage": stage,
        "perceptual": perceptual is not None,
        "git_revision": git_revision(),
        "dataset_sha256": data_sha,
        "world_size": rt.world_size,
    }
    arch = {"kind": "vqgan" if stage == 1 else "multidomain", "config": config_to_dict(cfg)}
    metrics_log = MetricsLog(run_dir, resume_step=start if resume_from is not None else None) if rt.is_main else None
    if metrics_log is not None:
        session = {
            "git_revision": meta["git_revision"],
            "perceptual": meta["perceptual"],
            "compile": compile_report,
            "bf16": tc.bf16,
            "world_size": rt.world_size,
            "device": str(rt.device),
            "software": software_versions(),
            "tensorboard": metrics_log.tensorboard,
        }
        write_run_record(
            run_dir,
            run_file=RUN_FILE,
            config=config_to_dict(cfg),
            steps=tc.steps,
            resumed_at=None if resume_from is None else start,
            fresh={
                "stage": stage,
                "dataset": {"path": str(data.resolve()), "sha256": data_sha, "items": len(dataset)},
                "init_from": None if init_from is None else str(Path(init_from).resolve()),
            },
            session=session,
        )
    # ---- data
    sampler = StepBatchSampler(
        len(dataset),
        batch=tc.batch_size,
        accum=tc.grad_accum,
        world=rt.world_size,
        rank=rt.rank,
        seed=tc.seed,
        start_step=start,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.data.workers,
        pin_memory=rt.device.type == "cuda",
        persistent_workers=False,
        worker_init_fn=ignore_stop_signals,
        multiprocessing_context=worker_start_method(cfg.data.workers),
    )
    batches = iter(loader)
    # ---- loop
    model.train()
    if disc is not None:
        disc.train()
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    restarted = 0
    last: dict[str, float] = {}
    last_ckpt = resume_from
    t0 = time.perf_counter()
    t_log = t0
    images_since = 0
    stop = StopRequest(enabled=not rt.distributed).install()
    stopped_at: int | None = None
    try:
        for step in range(start, tc.steps):
            gan = disc is not None and step >= cfg.disc.start_step
            for micro in range(tc.grad_accum):
                batch = _to_device(next(batches), rt.device, names)
                sync = micro == tc.grad_accum - 1 or not rt.distributed
                no_sync_g = contextlib.nullcontext() if sync else train_model.no_sync()  # type: ignore[union-attr]
                with no_sync_g:
                    sample0 = ((step * tc.grad_accum + micro) * rt.world_size + rt.rank) * tc.batch_size
                    res = step_fn(ctx, batch, sample0=sample0, gan=gan)
                    (res.loss / tc.grad_accum).backward()
                if gan:
                    no_sync_d = contextlib.nullcontext() if sync else train_disc.no_sync()  # type: ignore[union-attr]
                    with no_sync_d:
                        d_loss, d_metrics = disc_step(ctx, res.real, res.fake)
                        (d_loss / tc.grad_accum).backward()
                    res.metrics.update(d_metrics)
                for k, v in res.metrics.items():
                    sums[k] = sums.get(k, torch.zeros((), device=rt.device)) + v.detach().float()
                    counts[k] = counts.get(k, 0) + 1
                images_since += res.real.shape[0] * rt.world_size
            opt_g.step()
            opt_g.zero_grad(set_to_none=True)
            if gan and opt_d is not None:
                opt_d.step()
                opt_d.zero_grad(set_to_none=True)
            if cfg.model.dead_code_restart:
                if rt.is_main:
                    for book, z in _restart_pairs(model, res.quant):
                        restarted += book.restart_dead_codes(z, threshold=cfg.model.dead_code_threshold)
                broadcast_module(model.quantizer if isinstance(model, VQGAN) else model.codebooks, rt)
            if ema is not None:
                ema.update(model, step=step)
            done = step + 1
            if done % tc.log_interval == 0 or done == tc.steps:
                values = {k: float(v) / counts[k] for k, v in sums.items()}
                if cfg.model.dead_code_restart:
                    values["codes_restarted"] = float(restarted)
                now = time.perf_counter()
                values["images_per_s"] = images_since / max(now - t_log, 1e-9)
                values["lr"] = opt_g.param_groups[0]["lr"]
                values["gan_active"] = float(gan)
                values = mean_over_ranks(values, rt)
                if not all(math.isfinite(v) for v in values.values()):
                    log.warning("non-finite metrics at step %d: %s", done, values)
                if metrics_log is not None:
                    metrics_log.write(done, values)
                log.info("step %d/%d loss %.4f", done, tc.steps, values.get("loss", float("nan")))
                last = values
                sums, counts, restarted, images_since, t_log = {}, {}, 0, 0, now
            if progress is not None and rt.is_main:
                progress(f"train stage {stage}", done, tc.steps)
            stopping = stop.requested  # read once: a signal arriving now is seen next step
            # a stop request (never under torchrun) saves the current step as well
            if done % tc.ckpt_interval == 0 or done == tc.steps or stopping:
                if rt.is_main:
                    last_ckpt = ckpt.save_and_prune(
                        run_dir,
                        step=done,
                        keep=tc.keep_checkpoints,
                        arch=arch,
                        model=model,
                        ema=ema.shadow if ema else None,
                        disc=disc,
                        optimizers=optimizers,
                        meta=meta,
                    )
                if rt.distributed:
                    torch.distributed.barrier()
            if stopping:
                log.warning("%s at step %d: checkpoint saved, stopping (--resume continues)", stop.signal_name, done)
                stopped_at = done
                break
    finally:
        stop.restore()
    seconds = time.perf_counter() - t0
    if metrics_log is not None:
        metrics_log.close()
    if last_ckpt is None:
        last_ckpt = ckpt.list_checkpoints(run_dir)[-1]
    return TrainResult(
        run_dir=run_dir,
        step=stopped_at if stopped_at is not None else max(start, tc.steps),
        checkpoint=Path(last_ckpt),
        metrics=last,
        perceptual=perceptual is not None,
        compiled={k: bool(v["used"]) for k, v in compile_report.items()},
        seconds=seconds,
    )


def _restart_pairs(model: nn.Module, quant: dict[str, QuantOut]) -> list[tuple[VectorQuantizer, torch.Tensor]]:
    """(codebook, encoder outputs it quantised this micro-step) for dead-code restarts."""
    if isinstance(model, VQGAN):
        return [(model.quantizer, quant["shared"].z)]
    if isinstance(model, MultiDomainVQGAN) and model.mode == "joint":
        return [(model.codebooks["joint"], torch.cat([q.z for q in quant.values()]))]
    return [(model.codebook(n), q.z) for n, q in quant.items()]
