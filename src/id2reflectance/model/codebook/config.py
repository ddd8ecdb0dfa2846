"""Typed configuration of the codebook model and its training (frozen dataclasses).

A run is described by one :class:`RunConfig` (model, discriminator, losses, fusion, data,
training). The class defaults are the paper-scale model (:func:`paper_512`); two smaller
presets exist for this project's CPU work: :func:`cpu_128` (reduced-size training) and
:func:`tiny` (tests). Files are read with :func:`load_run_config` (TOML/YAML, unknown keys
rejected with :class:`~id2reflectance.errors.ConfigError` naming the key).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from id2reflectance._shared.config import from_dict, load_config
from id2reflectance.errors import ConfigError
from id2reflectance.model.discriminator import DiscConfig

REFLECTANCE_DOMAINS = ("diffuse", "specular", "roughness", "normal")


@dataclass(frozen=True)
class VQGANConfig:
    """Encoder/quantiser/decoder shape.

    The latent grid is ``resolution / 2 ** (len(channel_mult) - 1)`` on a side.
    """

    resolution: int = 512  # pixels, square input
    in_channels: int = 3
    base_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8)  # one level per entry; a 2x downsample between levels
    res_blocks: int = 2  # residual blocks per level (decoder: res_blocks + 1)
    attn_resolutions: tuple[int, ...] = (16,)  # feature-map sizes (pixels) that get self-attention
    latent_channels: int = 256  # code vector dimension
    codebook_size: int = 1024
    beta: float = 0.25  # commitment loss weight
    norm_groups: int = 32  # GroupNorm groups; must divide every level's channel count
    dead_code_restart: bool = False  # re-seed codes unused for a while from encoder outputs
    dead_code_threshold: float = 0.03  # restart a code when its usage EMA falls below this share of uniform use
    usage_decay: float = 0.99  # EMA decay of the per-code usage statistics

    def __post_init__(self) -> None:
        levels = len(self.channel_mult)
        if levels < 1:
            raise ConfigError("model.channel_mult must have at least one entry")
        if self.resolution % (2 ** (levels - 1)) != 0:
            raise ConfigError(
                f"model.resolution {self.resolution} must be divisible by "
                f"2**(len(channel_mult)-1) = {2 ** (levels - 1)}"
            )
        for name in ("resolution", "base_channels", "res_blocks", "latent_channels", "codebook_size", "norm_groups"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        for m in self.channel_mult:
            if m < 1 or (self.base_channels * m) % self.norm_groups != 0:
                raise ConfigError(
                    f"model.norm_groups {self.norm_groups} must divide every level width base_channels*mult "
                    f"({[self.base_channels * k for k in self.channel_mult]})"
                )
        if not 0.0 <= self.beta:
            raise ConfigError(f"model.beta must be >= 0, got {self.beta}")
        if not 0.0 < self.usage_decay < 1.0:
            raise ConfigError(f"model.usage_decay must be in (0, 1), got {self.usage_decay}")

    @property
    def latent_resolution(self) -> int:
        """Side of the latent grid in positions."""
        return self.resolution // 2 ** (len(self.channel_mult) - 1)


@dataclass(frozen=True)
class LossConfig:
    """Weights of the training losses.

    ``perceptual_weights`` is a LOCAL safetensors file (see :mod:`.losses` for its keys);
    nothing is downloaded. Without it the perceptual term is off, the run says so in its log
    and its checkpoints record ``perceptual: false``.
    """

    l1_weight: float = 1.0
    perceptual_weight: float = 1.0
    perceptual_weights: str | None = None  # path to the LPIPS-style backbone weights (.safetensors)
    codebook_weight: float = 1.0  # multiplies codebook + beta * commitment loss
    fusion_ce_weight: float = 1.0  # stage 2: cross-entropy of fusion logits vs the domain's own code indices
    fusion_latent_weight: float = 1.0  # stage 2: MSE of the fused code vectors vs the domain's quantised latent
    fusion_image_weight: float = 0.0  # stage 2: L1 of the decoded fused latent vs the domain map (costs a decode)


@dataclass(frozen=True)
class FusionConfig:
    """Stage 2: per-domain codebooks and the fusion module (see :mod:`.fusion`)."""

    mode: Literal["multi", "joint"] = "multi"  # multi: one codebook per domain; joint: one shared (ablation)
    channels: int = 256  # trunk width of the fusion network
    blocks: int = 2  # residual blocks in the trunk
    attention: bool = True  # one self-attention block over the latent grid
    temperature: float = 1.0  # softmax temperature of the per-position code weights
    detach_input: bool = True  # fusion gradients do not flow into the encoder
    # stage 2 also fine-tunes the shared encoder/decoder; False freezes them (and the
    # discriminator, which could then only train nothing), so only the codebooks (codebook
    # loss, dead-code restarts) and the fusion network learn
    train_autoencoder: bool = True

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"fusion.temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class DataConfig:
    """Which parts of the dataset (docs/dataset-format.md) a run reads."""

    views: tuple[str, ...] = ("front", "left", "right")
    environments: tuple[str, ...] = ("full",)  # rgb images: "full", "env0", ...
    domains: tuple[str, ...] = REFLECTANCE_DOMAINS  # reflectance domains (rgb is always read)
    train_split: str = "train"
    eval_split: str = "test"
    augment: bool = True  # deterministic horizontal flips
    workers: int = 2  # DataLoader worker processes (0: load in the main process)

    def __post_init__(self) -> None:
        bad = [d for d in self.domains if d not in REFLECTANCE_DOMAINS]
        if bad or not self.domains:
            raise ConfigError(f"data.domains must be a non-empty subset of {list(REFLECTANCE_DOMAINS)}, got {bad}")
        if not self.views or not self.environments:
            raise ConfigError("data.views and data.environments must not be empty")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping."""

    steps: int = 400000  # optimiser steps
    batch_size: int = 4  # samples per process per micro-step
    grad_accum: int = 1  # micro-steps per optimiser step
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    ema_decay: float = 0.999  # 0 disables the EMA copy
    bf16: bool = True  # bfloat16 autocast (meant for GPUs; slow on CPUs without native bf16)
    compile: bool = False  # torch.compile the encoder/decoder after a gradient check
    log_interval: int = 50  # steps between metric records
    ckpt_interval: int = 5000  # steps between checkpoints (the last step is always saved)
    keep_checkpoints: int = 3  # newest checkpoints kept
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "log_interval", "ckpt_interval", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the dataset path and the stage."""

    model: VQGANConfig = field(default_factory=VQGANConfig)
    disc: DiscConfig = field(default_factory=DiscConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def paper_512() -> RunConfig:
    """The paper-scale model: 512x512 input, 16x16x256 latent, 1024 codes (the class defaults)."""
    return RunConfig()


def cpu_128() -> RunConfig:
    """Reduced-size model for training on a CPU: 128x128 input, 16x16x256 latent, 1024 codes."""
    return RunConfig(
        model=VQGANConfig(
            resolution=128,
            base_channels=16,
            channel_mult=(1, 2, 4, 8),
            res_blocks=1,
            attn_resolutions=(16,),
            norm_groups=8,
        ),
        disc=DiscConfig(base_channels=16, layers=3, start_step=5000),
        fusion=FusionConfig(channels=128, blocks=2),
        train=TrainConfig(
            steps=20000, batch_size=4, lr=2e-4, bf16=False, log_interval=20, ckpt_interval=1000, ema_decay=0.999
        ),
        data=DataConfig(workers=1),
    )


def tiny() -> RunConfig:
    """A narrow model for tests: 32x32 input, 8x8x32 latent, 64 codes."""
    return RunConfig(
        model=VQGANConfig(
            resolution=32,
            base_channels=16,
            channel_mult=(1, 2, 2),
            res_blocks=1,
            attn_resolutions=(8,),
            latent_channels=32,
            codebook_size=64,
            norm_groups=8,
            dead_code_restart=True,
        ),
        disc=DiscConfig(base_channels=16, layers=2, start_step=100),
        fusion=FusionConfig(channels=32, blocks=1),
        train=TrainConfig(
            steps=200, batch_size=4, lr=1e-3, ema_decay=0.99, bf16=False, log_interval=10, ckpt_interval=100
        ),
        data=DataConfig(workers=0),
    )


PRESETS = {"paper_512": paper_512, "cpu_128": cpu_128, "tiny": tiny}


def load_run_config(source: str | Path) -> RunConfig:
    """A preset name (``paper_512``, ``cpu_128``, ``tiny``) or a TOML/YAML file.

    A file's missing fields take the class defaults (= ``paper_512``); unknown keys and
    wrong types raise :class:`ConfigError` naming the key (``c.toml: unknown key(s) ...``).
    """
    if str(source) in PRESETS:
        return PRESETS[str(source)]()
    path = Path(source)
    if not path.suffix:
        raise ConfigError(f"config {str(source)!r} is neither a preset {sorted(PRESETS)} nor a .toml/.yaml file")
    return load_config(path, RunConfig)


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON/YAML-able plain dict of a config dataclass (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(config))


def config_from_dict(data: dict[str, Any], *, where: str = "config") -> RunConfig:
    """Inverse of :func:`config_to_dict` with the same key/type checks as files."""
    return from_dict(RunConfig, data, where=where)
