"""Training job of the identity swapper (:mod:`.swapper`) on a frozen stage-2 model.

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
or ArcFace. The discriminator (hinge loss) sees templates as real and swaps as fake. The loop
itself (resume, seeding, EMA, checkpoints, stop signals, run records) is
:func:`~id2reflectance.model.engine.loop.run_training`; :class:`SwapperJob` supplies the
models, the identity targets and the step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.dataset.manifest import dataset_template
from id2reflectance.dataset.torch_dataset import dataset_sha256
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import config_from_dict, config_to_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.engine.distributed import Runtime
from id2reflectance.model.engine.loop import (
    CompileTarget,
    LoopContext,
    LoopSettings,
    MetricSums,
    RunRecords,
    TrainParts,
    run_training,
    single_process,
)
from id2reflectance.model.loading import load_model
from id2reflectance.model.losses import PerceptualLoss, load_perceptual
from id2reflectance.model.swapper.config import SwapperRunConfig
from id2reflectance.model.swapper.network import IdentitySwapper, build_swapper, swapper_arch
from id2reflectance.model.swapper.step import SwapperStep
from id2reflectance.training.swapper_data import FaceImages, load_face_images
from id2reflectance.training.swapper_identity import build_identity_net, heldout_identity_check

log = logging.getLogger(__name__)


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


class SwapperJob:
    """The swapper on a frozen stage-2 base as a :class:`~id2reflectance.model.engine.loop.TrainJob`.

    Parameters as for :func:`train_swapper` (``cfg`` already resolved: ArcFace's ``id_dim``),
    with ``data_sha`` the SHA-256 of the dataset's dataset.json.
    """

    swapper: IdentitySwapper
    disc: PatchDiscriminator | None
    faces: FaceImages
    idnet: nn.Module
    targets: torch.Tensor
    id_info: dict[str, Any]
    base_info: dict[str, Any]
    step_fn: SwapperStep

    def __init__(
        self,
        cfg: SwapperRunConfig,
        *,
        data: Path,
        data_sha: str,
        base: str | Path | None,
        run_dir: Path,
        photos: str | Path | None,
        arcface: str | Path | None,
        max_subjects: int | None,
        identity_net: nn.Module | None,
        progress: ProgressFn | None,
    ) -> None:
        tc = cfg.train
        self.cfg, self.data, self.data_sha, self.base, self.run_dir = cfg, data, data_sha, base, run_dir
        self.photos, self.arcface, self.max_subjects, self.custom_net = photos, arcface, max_subjects, identity_net
        self.progress = progress
        self.config = config_to_dict(cfg)
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
            disc_start=tc.disc_start,
            progress_stage="train swapper",
        )
        self.perceptual: PerceptualLoss | None = None

    def check_run(self, meta: dict[str, Any], meta_path: Path) -> None:
        if meta.get("kind") != "swapper":
            raise InputFileError(meta_path, "kind", f"not a swapper run (kind {meta.get('kind')!r})")

    def _swapper(self, resume_from: Path | None) -> IdentitySwapper:
        """A fresh swapper on the base, or (resume) an empty one of the run's architecture."""
        cfg, run_dir = self.cfg, self.run_dir
        base_info: dict[str, Any] | None = None
        if self.base is not None:
            base_model, base_info = load_base(self.base, cfg)
        if resume_from is not None:
            run_meta = json.loads((run_dir / ckpt.RUN_FILE).read_text(encoding="utf-8"))
            if base_info is not None and base_info["sha256"] != run_meta["base"]["sha256"]:
                raise ConfigError(
                    f"{run_dir / ckpt.RUN_FILE}: --base {self.base} has weights sha256 {base_info['sha256'][:12]}… but "
                    f"the run was trained on {run_meta['base']['sha256'][:12]}…; resume with the same base or omit "
                    "--base"
                )
            self.base_info = run_meta["base"]
            return build_swapper(
                swapper_arch(self.base_info["config"], cfg.swapper), where=str(run_dir / ckpt.RUN_FILE)
            )
        assert base_info is not None  # train_swapper refuses a fresh run without --base
        self.base_info = base_info
        return IdentitySwapper(base_model, cfg.swapper)

    def build(self, rt: Runtime, resume_from: Path | None) -> TrainParts:
        cfg, tc, dev = self.cfg, self.cfg.train, rt.device
        self.swapper = self._swapper(resume_from)
        self.swapper.to(dev)
        self.faces = load_face_images(
            self.data, cfg, photos=self.photos, max_subjects=self.max_subjects, run_dir=self.run_dir
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.idnet, self.targets, self.id_info = build_identity_net(
            cfg,
            self.faces,
            self.run_dir,
            arcface=self.arcface,
            custom=self.custom_net,
            resume=resume_from is not None,
            device=dev,
            progress=self.progress,
        )
        if tc.perceptual_weight > 0:
            self.perceptual = load_perceptual(tc.perceptual_weights, device=dev)
        if self.perceptual is None:
            log.warning("swapper trains without the perceptual loss (no train.perceptual_weights)")
        self.disc = PatchDiscriminator(cfg.disc).to(dev) if cfg.disc.enabled and tc.adversarial_weight > 0 else None
        return TrainParts(
            model=self.swapper,
            params=list(self.swapper.trainable_parameters()),
            disc=self.disc,
            gen_name="swapper",
            arch=swapper_arch(self.base_info["config"], cfg.swapper),
            perceptual=self.perceptual is not None,
        )

    def compile_targets(self, rt: Runtime) -> list[CompileTarget]:
        return []  # the swapper has no compile option

    def records(self, git: dict[str, Any]) -> RunRecords:
        faces, base_info = self.faces, self.base_info
        meta = {
            "kind": "swapper",
            "identity_network": self.id_info,
            "perceptual": self.perceptual is not None,
            "git_revision": git,
            "dataset_sha256": self.data_sha,
            "template": dataset_template(self.data),  # the UV layout the model was trained in
            "base": {k: base_info[k] for k in ("path", "checkpoint", "weights", "sha256", "step")},
            "max_subjects": self.max_subjects,
            "train_subjects": faces.subject_count,
            "photos": len(faces.photo_keys),
        }
        fresh = {
            "kind": "swapper",
            "dataset": {"path": str(self.data.resolve()), "sha256": self.data_sha, "images": len(faces)},
            "base": base_info,
            "identity_network": self.id_info,
            "max_subjects": self.max_subjects,
            "train_subjects": faces.subjects,
            "photos": {
                "folder": None if self.photos is None else str(Path(self.photos).resolve()),
                "used": faces.photo_keys,
                "skipped": faces.photos_skipped,
            },
        }
        return RunRecords(meta=meta, fresh=fresh)

    def start(self, ctx: LoopContext) -> None:
        self.device = ctx.rt.device
        o = ctx.optim
        self.step_fn = SwapperStep(
            self.swapper, self.idnet, self.disc, o.gen, o.disc, self.perceptual, self.cfg.train, self.device.type
        )

    def step(self, step: int, *, gan: bool, sums: MetricSums) -> None:
        tc, dev = self.cfg.train, self.device
        tmpl_idx, src_idx, same, flip = self.faces.draw_pairs(step, tc.batch_size, tc.same_identity_prob, tc.seed)
        x = self.faces.tensor(tmpl_idx, flip=flip).to(dev)
        e = self.targets[torch.as_tensor(src_idx, device=dev)]
        metrics = self.step_fn(x, e, torch.as_tensor(same, device=dev), gan=gan)
        metrics["same_share"] = float(np.mean(same))
        sums.add(metrics, images=x.shape[0])

    def log_extras(self) -> dict[str, float]:
        return {}

    def log_line(self, values: dict[str, float]) -> str:
        return f"loss {values['loss']:.4f} identity {values['identity']:.4f}"


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
    job = SwapperJob(
        cfg,
        data=data,
        data_sha=data_sha,
        base=base,
        run_dir=run_dir,
        photos=photos,
        arcface=arcface,
        max_subjects=max_subjects,
        identity_net=identity_net,
        progress=progress,
    )
    rt = single_process(device)
    res = run_training(job, run_dir=run_dir, rt=rt, resume=resume, data_sha=data_sha, progress=progress)
    swapper = job.swapper
    swapper.eval()
    if res.ema is not None:
        res.ema.copy_to(swapper)
    external = job.idnet if job.id_info["kind"] != "dlib-student" else None
    heldout = heldout_identity_check(swapper, job.faces, data, cfg, teacher_net=external, device=rt.device)
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
        step=res.step,
        checkpoint=res.checkpoint,
        metrics=res.metrics,
        perceptual=res.perceptual,
        identity_network=job.id_info["kind"],
        student_agreement=job.id_info.get("student_agreement"),
        heldout=heldout,
        seconds=res.seconds,
    )
