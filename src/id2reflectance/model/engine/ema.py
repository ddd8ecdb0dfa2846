"""Exponential moving average of a model's weights.

After every optimiser step ``shadow = d * shadow + (1 - d) * param`` for every
floating-point parameter; buffers (e.g. codebook usage statistics) are copied as they are.
With the step given, ``d = min(decay, (1 + step) / (10 + step))`` (warm-up): without it a
module that starts from a fresh initialisation (stage 2's fusion network) would keep
``decay ** steps`` of its random weights in the average, 17% after 1800 steps at 0.999.
The shadow tensors use the model's state-dict keys, so they load into a fresh model.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """EMA copy of ``model``'s state dict.

    Parameters
    ----------
    model : the trained module (unwrapped, not DDP).
    decay : in [0, 1); 0.999 averages over roughly the last 1000 steps.
    """

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        self.decay = decay
        self._params = {name for name, _ in model.named_parameters()}
        self.shadow: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, *, step: int | None = None) -> None:
        """Blend the model's current parameters into the shadow copy; copy buffers.

        ``step``: optimiser steps completed before this update (enables the warm-up).
        """
        decay = self.decay if step is None else min(self.decay, (1.0 + step) / (10.0 + step))
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if k in self._params and v.dtype.is_floating_point:
                s.lerp_(v.detach(), 1.0 - decay)
            else:
                s.copy_(v.detach())

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the shadow weights into ``model`` (strict)."""
        model.load_state_dict(self.shadow, strict=True)
