"""Training loop of the identity swapper (:mod:`.swapper`) on a frozen stage-2 model.

One call, :func:`train_swapper`, runs a whole job in ``RUN``:

    RUN/run.json                  resolved config, git revision, dataset path + sha256,
                                  base checkpoint path + sha256, identity network, photos used
    RUN/config.yaml               the resolved config (loadable again with --config)
    RUN/metrics.jsonl             one record per log interval (+ TensorBoard when installed)
    RUN/identity_targets.npy      (N, D) float32 teacher embeddings of every training image
    RUN/identity_targets.json     their keys (``<subject>/<view>/<file>`` or ``photo:<file>``),
                                  how dlib found the face (``detected`` / ``box``), network
    RUN/identity_student.safetensors   the distilled student (dlib runs)
    RUN/checkpoints/step_<N>/     :mod:`.checkpoint` folders, arch kind ``swapper``

Each step draws (deterministically from ``seed`` and the step) ``batch_size`` templates
``T_a`` (subject a) and a source identity per template: with probability
``same_identity_prob`` the teacher embedding ``e_a`` of another image of subject a (the
same image when a has only one), otherwise ``e_b`` of an image of a subject ``b != a``.
Generator loss::

    identity_weight * mean(1 - cos(idnet(swap(T_a, e)), e))
    + [same-identity rows] l1_weight * L1(swap(T_a, e_a), T_a) + perceptual_weight * LPIPS
    + [step >= disc_start] adversarial_weight * hinge_g(D(swap))

``idnet`` is the frozen identity student (distilled from dlib before the swapper trains)
or ArcFace. The discriminator (hinge loss) sees templates as real and swaps as fake.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import config_from_dict, config_to_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.engine.optimisation import setup_optimisation
from id2reflectance.model.engine.provenance import git_revision, software_versions, write_run_record
from id2reflectance.model.engine.runlog import MetricsLog
from id2reflectance.model.engine.stop import StopRequest
from id2reflectance.model.loading import load_model
from id2reflectance.model.losses import load_perceptual
from id2reflectance.model.swapper.config import SwapperRunConfig
from id2reflectance.model.swapper.network import IdentitySwapper, swapper_arch
from id2reflectance.model.swapper.step import SwapperStep
from id2reflectance.training.swapper_data import load_face_images
from id2reflectance.training.swapper_identity import build_identity_net, heldout_identity_check

log = logging.getLogger(__name__)

RUN_FILE = ckpt.RUN_FILE


@dataclass(frozen=True)
class SwapperTrainResult:
    """Summary of a finished :func:`train_swapper` call.

    Attributes
    ----------
    run_dir : the run folder.
    step : optimiser steps completed.
    checkpoint : the last checkpoint folder.
    metrics : the last logged record.
    perceptual : whether the perceptual loss was used.
    identity_network : ``"dlib-student"``, ``"arcface"`` or ``"custom:<class>"``.
    student_agreement : held-out mean cosine student vs dlib (None for ArcFace).
    heldout : end-of-run identity check on held-out pairs: ``pairs``, ``sim_swapped``
        (mean cos(teacher(swap(T_a, e_b)), e_b)), ``sim_template`` (mean cos(teacher(T_a), e_b)),
        ``teacher`` (``"dlib"`` or the identity network's class); empty without a held-out identity.
    seconds : wall time of the swapper loop.
    """

    run_dir: Path
    step: int
    checkpoint: Path
    metrics: dict[str, float]
    perceptual: bool
    identity_network: str
    student_agreement: float | None
    heldout: dict[str, Any]
    seconds: float


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def load_base(path: str | Path, cfg: SwapperRunConfig) -> tuple[MultiDomainVQGAN, dict[str, Any]]:
    """The frozen stage-2 base from a run or checkpoint folder, with provenance.

    Returns ``(model, {"path", "checkpoint", "weights", "sha256", "step", "config"})``.

    Raises
    ------
    InputFileError
        Not a checkpoint, or not a stage-2 (``multidomain``) checkpoint.
    ConfigError
        The base model's resolution differs from ``cfg.resolution``.
    """
    model, doc = load_model(path, weights="ema")
    where = Path(doc["loaded_from"]) / ckpt.META_FILE
    if not isinstance(model, MultiDomainVQGAN):
        raise InputFileError(
            where,
            "arch.kind",
            f"the swapper needs a stage-2 base (kind 'multidomain', from `id2r train codebook --stage 2`), "
            f"got {doc['arch'].get('kind')!r}",
        )
    if model.cfg.resolution != cfg.resolution:
        raise ConfigError(
            f"{where}: the base model is {model.cfg.resolution} px but the swapper config has resolution "
            f"{cfg.resolution}; use the matching preset"
        )
    weights_file = Path(doc["loaded_from"]) / doc["loaded_weights"]
    info = {
        "path": str(Path(path).resolve()),
        "checkpoint": doc["loaded_from"],
        "weights": doc["loaded_weights"],
        "sha256": sha256_file(weights_file),
        "step": int(doc["step"]),
        "config": config_to_dict(config_from_dict(doc["arch"]["config"])),
    }
    return model, info


def _prepare_run_dir(run_dir: Path, *, resume: bool, cfg: SwapperRunConfig, data_sha: str) -> Path | None:
    def swapper_run(meta: dict[str, Any], meta_path: Path) -> None:
        if meta.get("kind") != "swapper":
            raise InputFileError(meta_path, "kind", f"not a swapper run (kind {meta.get('kind')!r})")

    return ckpt.prepare_run_dir(
        run_dir, resume=resume, config=config_to_dict(cfg), data_sha=data_sha, check_kind=swapper_run
    )


def train_swapper(
    config: SwapperRunConfig,
    *,
    data: str | Path,
    base: str | Path | None,
    out: str | Path,
    photos: str | Path | None = None,
    arcface: str | Path | None = None,
    resume: bool = False,
    device: str | None = None,
    max_subjects: int | None = None,
    identity_net: nn.Module | None = None,
    progress: ProgressFn | None = None,
) -> SwapperTrainResult:
    """Train the identity swapper on a frozen stage-2 model; write checkpoints into ``out``.

    Parameters
    ----------
    config : the run configuration (its ``resolution`` must equal the base model's).
    data : dataset folder (docs/dataset-format.md); the RGB views of ``data.train_split`` are used.
    base : stage-2 run or checkpoint folder (``id2r train codebook --stage 2``); optional on
        resume (the swapper checkpoint holds the base weights), checked against the run when given.
    out : run folder; new or empty unless ``resume``.
    photos : optional folder of real face photos (.png/.jpg); each must hold exactly one face
        (others are skipped with a warning listing them), aligned to the model resolution.
    arcface : local ArcFace IResNet weights: identity network and embeddings become ArcFace's
        (512-d; ``swapper.id_dim`` follows).
    resume : continue the newest checkpoint of ``out``.
    device : ``"cpu"`` or ``"cuda"``; default CUDA when available.
    max_subjects : train on the first N training subjects only (data-scaling curve).
    identity_net : library use: any differentiable identity network (B, 3, R, R) in [-1, 1]
        -> (B, D) unit vectors, used as teacher and loss network instead of dlib/ArcFace
        (``swapper.id_dim`` must equal D). Recorded as ``custom:<class name>``.
    progress : ``progress(stage_name, done, total)`` callback.

    Raises
    ------
    ConfigError, InputFileError
        Bad options, a base that is not stage 2 or of another resolution, a missing or broken
        dataset, a run folder in the way.
    """
    from id2reflectance.dataset.torch_dataset import dataset_sha256

    cfg = config
    if arcface is not None and cfg.swapper.id_dim != 512:
        log.info("ArcFace identity network: swapper.id_dim %d -> 512", cfg.swapper.id_dim)
        cfg = dataclasses.replace(cfg, swapper=dataclasses.replace(cfg.swapper, id_dim=512))
    if arcface is not None and identity_net is not None:
        raise ConfigError("give either --arcface or a custom identity network, not both")
    if arcface is None and identity_net is None and cfg.swapper.id_dim != cfg.student.dim:
        raise ConfigError(
            f"swapper.id_dim {cfg.swapper.id_dim} must equal student.dim {cfg.student.dim} (dlib embeddings are "
            "128-d; pass --arcface for 512-d ArcFace embeddings)"
        )
    if max_subjects is not None and max_subjects < 1:
        raise ConfigError(f"--max-subjects must be >= 1, got {max_subjects}")
    if base is None and not resume:
        raise ConfigError("the swapper needs --base pointing at a stage-2 run or checkpoint")
    run_dir = Path(out)
    data = Path(data)
    data_sha = dataset_sha256(data)
    resume_from = _prepare_run_dir(run_dir, resume=resume, cfg=cfg, data_sha=data_sha)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    _seed_everything(cfg.train.seed)

    # ---- base and swapper
    base_info: dict[str, Any] | None = None
    if base is not None:
        base_model, base_info = load_base(base, cfg)
    if resume_from is not None:
        run_meta = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        if base_info is not None and base_info["sha256"] != run_meta["base"]["sha256"]:
            raise ConfigError(
                f"{run_dir / RUN_FILE}: --base {base} has weights sha256 {base_info['sha256'][:12]}… but the run "
                f"was trained on {run_meta['base']['sha256'][:12]}…; resume with the same base or omit --base"
            )
        base_info = run_meta["base"]
        from id2reflectance.model.swapper.network import build_swapper

        swapper = build_swapper(swapper_arch(base_info["config"], cfg.swapper), where=str(run_dir / RUN_FILE))
    else:
        assert base_info is not None
        swapper = IdentitySwapper(base_model, cfg.swapper)
    assert base_info is not None
    arch = swapper_arch(base_info["config"], cfg.swapper)
    swapper.to(dev)

    # ---- data and identity network
    faces = load_face_images(
        data,
        cfg,
        photos=photos,
        max_subjects=max_subjects,
        run_dir=run_dir,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    idnet, targets, id_info = build_identity_net(
        cfg,
        faces,
        run_dir,
        arcface=arcface,
        custom=identity_net,
        resume=resume_from is not None,
        device=dev,
        progress=progress,
    )
    tc = cfg.train
    perceptual = load_perceptual(tc.perceptual_weights, device=dev) if tc.perceptual_weight > 0 else None
    if perceptual is None:
        log.warning("swapper trains without the perceptual loss (no train.perceptual_weights)")
    disc = PatchDiscriminator(cfg.disc).to(dev) if cfg.disc.enabled and tc.adversarial_weight > 0 else None
    optim = setup_optimisation(
        swapper,
        swapper.trainable_parameters(),
        disc,
        gen_name="swapper",
        lr=tc.lr,
        betas=tc.betas,
        ema_decay=tc.ema_decay,
        resume_from=resume_from,
    )
    opt_g, opt_d, ema, optimizers, start = optim.gen, optim.disc, optim.ema, optim.optimizers, optim.start
    if resume_from is not None:
        log.info("resuming %s from step %d", run_dir, start)

    # ---- provenance
    meta = {
        "kind": "swapper",
        "identity_network": id_info,
        "perceptual": perceptual is not None,
        "git_revision": git_revision(),
        "dataset_sha256": data_sha,
        "base": {k: base_info[k] for k in ("path", "checkpoint", "weights", "sha256", "step")},
        "max_subjects": max_subjects,
        "train_subjects": faces.subject_count,
        "photos": len(faces.photo_keys),
    }
    metrics_log = MetricsLog(run_dir, resume_step=start if resume_from is not None else None)
    session = {
        "git_revision": meta["git_revision"],
        "perceptual": meta["perceptual"],
        "bf16": tc.bf16,
        "device": str(dev),
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
            "kind": "swapper",
            "dataset": {"path": str(data.resolve()), "sha256": data_sha, "images": len(faces)},
            "base": base_info,
            "identity_network": id_info,
            "max_subjects": max_subjects,
            "train_subjects": faces.subjects,
            "photos": {
                "folder": None if photos is None else str(Path(photos).resolve()),
                "used": faces.photo_keys,
                "skipped": faces.photos_skipped,
            },
        },
        session=session,
    )

    # ---- loop
    step_fn = SwapperStep(swapper, idnet, disc, opt_g, opt_d, perceptual, tc, dev.type)
    swapper.train()
    if disc is not None:
        disc.train()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    last: dict[str, float] = {}
    last_ckpt = resume_from
    t0 = time.perf_counter()
    t_log = t0
    images_since = 0
    stop = StopRequest().install()
    stopped_at: int | None = None
    try:
        for step in range(start, tc.steps):
            gan = disc is not None and step >= tc.disc_start
            tmpl_idx, src_idx, same, flip = faces.draw_pairs(step, tc.batch_size, tc.same_identity_prob, tc.seed)
            x = faces.tensor(tmpl_idx, flip=flip).to(dev)
            e = targets[torch.as_tensor(src_idx, device=dev)]
            metrics = step_fn(x, e, torch.as_tensor(same, device=dev), gan=gan)
            if ema is not None:
                ema.update(swapper, step=step)
            metrics["same_share"] = float(np.mean(same))
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            images_since += x.shape[0]
            done = step + 1
            if done % tc.log_interval == 0 or done == tc.steps:
                values = {k: v / counts[k] for k, v in sums.items()}
                now = time.perf_counter()
                values["images_per_s"] = images_since / max(now - t_log, 1e-9)
                values["lr"] = opt_g.param_groups[0]["lr"]
                values["gan_active"] = float(gan)
                if not all(math.isfinite(v) for v in values.values()):
                    log.warning("non-finite metrics at step %d: %s", done, values)
                metrics_log.write(done, values)
                log.info("step %d/%d loss %.4f identity %.4f", done, tc.steps, values["loss"], values["identity"])
                last = values
                sums, counts, images_since, t_log = {}, {}, 0, now
            if progress is not None:
                progress("train swapper", done, tc.steps)
            stopping = stop.requested  # read once: a signal arriving now is seen next step
            if done % tc.ckpt_interval == 0 or done == tc.steps or stopping:
                last_ckpt = ckpt.save_and_prune(
                    run_dir,
                    step=done,
                    keep=tc.keep_checkpoints,
                    arch=arch,
                    model=swapper,
                    ema=ema.shadow if ema else None,
                    disc=disc,
                    optimizers=optimizers,
                    meta=meta,
                )
            if stopping:
                log.warning("%s at step %d: checkpoint saved, stopping (--resume continues)", stop.signal_name, done)
                stopped_at = done
                break
    finally:
        stop.restore()
    seconds = time.perf_counter() - t0
    metrics_log.close()
    if last_ckpt is None:
        last_ckpt = ckpt.list_checkpoints(run_dir)[-1]
    swapper.eval()
    if ema is not None:
        ema.copy_to(swapper)
    external = idnet if id_info["kind"] != "dlib-student" else None
    heldout = heldout_identity_check(swapper, faces, data, cfg, teacher_net=external, device=dev)
    if heldout:
        log.info(
            "held-out identity similarity (%s, %d pairs): swapped %.3f, template %.3f",
            heldout["teacher"],
            heldout["pairs"],
            heldout["sim_swapped"],
            heldout["sim_template"],
        )
    return SwapperTrainResult(
        run_dir=run_dir,
        step=stopped_at if stopped_at is not None else max(start, tc.steps),
        checkpoint=Path(last_ckpt),
        metrics=last,
        perceptual=perceptual is not None,
        identity_network=id_info["kind"],
        student_agreement=id_info.get("student_agreement"),
        heldout=heldout,
        seconds=seconds,
    )
