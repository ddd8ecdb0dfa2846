"""Optimisers, EMA and resume of a training run (codebook stages and swapper alike)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.engine.ema import EMA


@dataclass
class Optimisation:
    """What a training loop steps and checkpoints.

    Attributes
    ----------
    optimizers : by checkpoint name: the generator's under ``gen_name``, ``disc`` when there
        is a discriminator.
    gen, disc : the generator's and the discriminator's Adam (``disc`` None without one).
    ema : EMA of the model's weights, or None when ``ema_decay`` is 0.
    start : first step to run (0, or the resumed checkpoint's step).
    resumed : the resumed checkpoint's ``checkpoint.json``, or None for a fresh run.
    """

    optimizers: dict[str, torch.optim.Optimizer]
    gen: torch.optim.Optimizer
    disc: torch.optim.Optimizer | None
    ema: EMA | None
    start: int
    resumed: dict[str, Any] | None


def setup_optimisation(
    model: nn.Module,
    params: Iterable[nn.Parameter],
    disc: nn.Module | None,
    *,
    gen_name: str,
    lr: float,
    betas: tuple[float, float],
    ema_decay: float,
    resume_from: str | Path | None,
) -> Optimisation:
    """Adam for ``params`` (and ``disc``), EMA of ``model``, and the state of ``resume_from``.

    Parameters
    ----------
    model : the module checkpointed as ``model.safetensors`` (and averaged by the EMA).
    params : the parameters the generator optimiser updates (all of ``model``'s, or only
        the trainable ones of a frozen base).
    disc : the discriminator, or None.
    resume_from : a checkpoint folder: weights, EMA, discriminator, optimiser and RNG
        states are restored strictly from it.
    """
    gen = torch.optim.Adam(params, lr=lr, betas=betas)
    optimizers: dict[str, torch.optim.Optimizer] = {gen_name: gen}
    opt_d = None
    if disc is not None:
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
        optimizers["disc"] = opt_d
    ema = EMA(model, decay=ema_decay) if ema_decay > 0 else None
    doc = None
    if resume_from is not None:
        doc = ckpt.load_checkpoint(
            resume_from, model=model, ema=ema.shadow if ema else None, disc=disc, optimizers=optimizers, rng=True
        )
    start = int(doc["step"]) if doc is not None else 0
    return Optimisation(optimizers=optimizers, gen=gen, disc=opt_d, ema=ema, start=start, resumed=doc)
