"""Typed configuration of a swapper training run (frozen dataclasses) and its presets.

A run is one :class:`SwapperRunConfig`: the model resolution (must equal the stage-2 base
model's), the swapper shape (:class:`~.swapper.SwapperConfig`), the distilled identity
network (:class:`~id2reflectance.model.identity.student.StudentConfig`), the discriminator, the optimisation
(:class:`SwapperTrainConfig`) and the data (:class:`SwapperDataConfig`). Presets
``tiny`` (32 px), ``cpu_128`` and ``paper_512`` match the codebook presets of the same
names; files are read with :func:`load_swapper_config` (TOML/YAML, unknown keys rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from id2reflectance._shared.config import from_dict, load_config
from id2reflectance.errors import ConfigError
from id2reflectance.model.discriminator import DiscConfig
from id2reflectance.model.identity.student import StudentConfig
from id2reflectance.model.swapper.network import SwapperConfig


@dataclass(frozen=True)
class SwapperTrainConfig:
    """Optimisation, loss weights and bookkeeping of the swapper."""

    steps: int = 100000  # optimiser steps of the swapper
    batch_size: int = 4
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.99)
    identity_weight: float = 1.0  # 1 - cos(identity_net(swap(T_a, e_b)), e_b)
    l1_weight: float = 1.0  # same-identity pairs: L1(swap(T_a, e_a), T_a)
    perceptual_weight: float = 1.0  # same-identity pairs, only with perceptual_weights
    perceptual_weights: str | None = None  # LOCAL LPIPS-style weights (.safetensors, see model/losses.py)
    adversarial_weight: float = 0.1  # hinge generator loss with the PatchDiscriminator
    disc_start: int = 20000  # optimiser step from which the adversarial terms are on
    same_identity_prob: float = 0.5  # share of pairs whose source identity is the template's own
    student_steps: int = 5000  # distillation steps of the identity student (dlib teacher)
    student_lr: float = 1e-3
    student_batch_size: int = 32
    student_holdout: float = 0.2  # share of training images held out for the agreement figure when the
    # dataset has no eval-split subject
    ema_decay: float = 0.999  # 0 disables the EMA copy
    bf16: bool = False  # bfloat16 autocast (GPUs)
    log_interval: int = 50
    ckpt_interval: int = 5000  # the last step is always saved
    keep_checkpoints: int = 3
    eval_pairs: int = 8  # held-out (template, identity) pairs of the end-of-run identity check
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_interval", "ckpt_interval", "keep_checkpoints", "student_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("student_steps", "disc_start", "eval_pairs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.student_lr <= 0:
            raise ConfigError(f"train.lr and train.student_lr must be > 0, got {self.lr}, {self.student_lr}")
        for name in ("identity_weight", "l1_weight", "perceptual_weight", "adversarial_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.same_identity_prob <= 1.0:
            raise ConfigError(f"train.same_identity_prob must be in [0, 1], got {self.same_identity_prob}")
        if not 0.0 <= self.student_holdout < 1.0:
            raise ConfigError(f"train.student_holdout must be in [0, 1), got {self.student_holdout}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass(frozen=True)
class SwapperDataConfig:
    """Which RGB images of the dataset (docs/dataset-format.md) the swapper trains on."""

    views: tuple[str, ...] = ("front", "left", "right")
    environments: tuple[str, ...] = ("full",)  # rgb images: "full", "env0", ...
    train_split: str = "train"
    eval_split: str = "test"  # identities of the held-out check and the student's agreement figure

    def __post_init__(self) -> None:
        if not self.views or not self.environments:
            raise ConfigError("data.views and data.environments must not be empty")


@dataclass(frozen=True)
class SwapperRunConfig:
    """Everything a swapper run needs besides the dataset, the base model and the output folder."""

    resolution: int = 512  # pixels; must equal the base model's model.resolution
    swapper: SwapperConfig = field(default_factory=SwapperConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    disc: DiscConfig = field(default_factory=DiscConfig)
    train: SwapperTrainConfig = field(default_factory=SwapperTrainConfig)
    data: SwapperDataConfig = field(default_factory=SwapperDataConfig)

    def __post_init__(self) -> None:
        if self.resolution < 1:
            raise ConfigError(f"resolution must be >= 1, got {self.resolution}")


def paper_512() -> SwapperRunConfig:
    """The paper-scale swapper on the 512 px codebook model (levels 16, 32, 64, 128)."""
    return SwapperRunConfig()


def cpu_128() -> SwapperRunConfig:
    """Swapper for the ``cpu_128`` codebook model (128 px, levels 16, 32, 64, 128)."""
    return SwapperRunConfig(
        resolution=128,
        swapper=SwapperConfig(levels=(16, 32, 64, 128), id_dim=128, hidden=128),
        student=StudentConfig(input_size=64, width=32, stages=4),
        disc=DiscConfig(base_channels=16, layers=3),
        train=SwapperTrainConfig(
            steps=5000,
            batch_size=4,
            lr=2e-4,
            disc_start=2000,
            student_steps=2000,
            log_interval=20,
            ckpt_interval=500,
        ),
    )


def tiny() -> SwapperRunConfig:
    """Swapper for the ``tiny`` codebook model (32 px, levels 16 and 32), for tests."""
    return SwapperRunConfig(
        resolution=32,
        swapper=SwapperConfig(levels=(16, 32), id_dim=128, hidden=32),
        student=StudentConfig(input_size=32, width=16, stages=3),
        disc=DiscConfig(base_channels=16, layers=2),
        train=SwapperTrainConfig(
            steps=40,
            batch_size=4,
            lr=2e-3,
            disc_start=30,
            student_steps=60,
            student_lr=3e-3,
            student_batch_size=16,
            ema_decay=0.0,
            log_interval=5,
            ckpt_interval=20,
            eval_pairs=4,
        ),
        data=SwapperDataConfig(environments=("full",)),
    )


PRESETS = {"paper_512": paper_512, "cpu_128": cpu_128, "tiny": tiny}


def load_swapper_config(source: str | Path) -> SwapperRunConfig:
    """A preset name (``paper_512``, ``cpu_128``, ``tiny``) or a TOML/YAML file.

    A file's missing fields take the class defaults (= ``paper_512``); unknown keys and
    wrong types raise :class:`ConfigError` naming the key.
    """
    if str(source) in PRESETS:
        return PRESETS[str(source)]()
    path = Path(source)
    if not path.suffix:
        raise ConfigError(f"config {str(source)!r} is neither a preset {sorted(PRESETS)} nor a .toml/.yaml file")
    return load_config(path, SwapperRunConfig)


def swapper_config_from_dict(data: dict[str, Any], *, where: str = "config") -> SwapperRunConfig:
    """Inverse of :func:`~.config.config_to_dict` for :class:`SwapperRunConfig`."""
    return from_dict(SwapperRunConfig, data, where=where)
