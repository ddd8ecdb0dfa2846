"""Small trained runs for the swapper, inference and evaluation tests.

:func:`train_tiny_stage2` trains stage 1 then stage 2 of the ``tiny`` codebook preset on a
dataset (the 32 px ``face_dataset``); :func:`train_tiny_swapper` trains the ``tiny``
swapper preset on top. Both run single-threaded on the CPU in well under a minute each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from id2reflectance.model.codebook.config import RunConfig, tiny
from id2reflectance.model.swapper.config import SwapperRunConfig
from id2reflectance.model.swapper.config import tiny as swapper_tiny

STAGE1_STEPS = 120
STAGE2_STEPS = 80
SWAPPER_STEPS = 40


def tiny_codebook_config(steps: int, *, environments: tuple[str, ...] = ("full",)) -> RunConfig:
    """The ``tiny`` preset with ``steps`` steps, no GAN, batch 4, logs every 10 steps."""
    c = tiny()
    return dataclasses.replace(
        c,
        disc=dataclasses.replace(c.disc, enabled=False),
        train=dataclasses.replace(c.train, steps=steps, batch_size=4, log_interval=10, ckpt_interval=steps),
        data=dataclasses.replace(c.data, environments=environments),
    )


def train_tiny_stage2(
    data: Path, out: Path, *, stage1_steps: int = STAGE1_STEPS, stage2_steps: int = STAGE2_STEPS
) -> Path:
    """Stage 1 then stage 2 of the tiny preset on ``data``; returns the stage-2 run folder (``out/stage2``)."""
    from id2reflectance.training.codebook import train_codebook

    torch.set_num_threads(1)
    s1 = out / "stage1"
    s2 = out / "stage2"
    train_codebook(tiny_codebook_config(stage1_steps), stage=1, data=data, out=s1, device="cpu")
    train_codebook(tiny_codebook_config(stage2_steps), stage=2, data=data, out=s2, init_from=s1, device="cpu")
    return s2


def tiny_swapper_config(steps: int = SWAPPER_STEPS, **train: object) -> SwapperRunConfig:
    """The ``tiny`` swapper preset with ``steps`` steps (the "full" environment)."""
    c = swapper_tiny()
    return dataclasses.replace(
        c,
        train=dataclasses.replace(c.train, steps=steps, **train),  # type: ignore[arg-type]
        data=dataclasses.replace(c.data, environments=("full",)),
    )


def train_tiny_swapper(data: Path, base: Path, out: Path, *, steps: int = SWAPPER_STEPS) -> Path:
    """The tiny swapper trained from ``base`` on ``data``; returns the run folder ``out``."""
    from id2reflectance.training.swapper import train_swapper

    torch.set_num_threads(1)
    train_swapper(tiny_swapper_config(steps), data=data, base=base, out=out, device="cpu")
    return out
