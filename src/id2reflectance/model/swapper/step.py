"""One optimiser step of the identity swapper (generator, then discriminator).

Shared by the training loop (:mod:`.train_swapper`, whose docstring gives the losses) and
``benchmarks/bench_train_swapper.py``, so the benchmark times exactly the step that trains.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from id2reflectance.model.discriminator import hinge_d_loss, hinge_g_loss
from id2reflectance.model.losses import PerceptualLoss
from id2reflectance.model.swapper.config import SwapperTrainConfig
from id2reflectance.model.swapper.network import IdentitySwapper


@dataclass(frozen=True)
class SwapperStep:
    """What a swapper step needs.

    Attributes
    ----------
    swapper : the identity swapper being trained (its frozen stage-2 model inside).
    idnet : frozen identity network, (B, 3, R, R) in [-1, 1] -> (B, D) unit vectors.
    disc : the discriminator, or None (no adversarial loss).
    opt_g, opt_d : optimisers of the swapper's trainable parameters and of ``disc``.
    perceptual : LPIPS-style loss on same-identity rows, or None.
    train : loss weights (``identity_weight``, ``l1_weight``, ``perceptual_weight``,
        ``adversarial_weight``) and ``bf16`` (autocast of the forward passes).
    device_type : ``"cpu"`` or ``"cuda"`` (the autocast device).
    """

    swapper: IdentitySwapper
    idnet: nn.Module
    disc: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    perceptual: PerceptualLoss | None
    train: SwapperTrainConfig
    device_type: str

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when ``train.bf16``, else a no-op context."""
        if not self.train.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=torch.bfloat16)

    def __call__(self, x: torch.Tensor, e: torch.Tensor, same: torch.Tensor, *, gan: bool) -> dict[str, float]:
        """Run one step; return its detached scalar metrics.

        Parameters
        ----------
        x : (B, 3, R, R) float32 template RGB faces in [-1, 1] (sRGB, the dataset's encoding).
        e : (B, D) float32 unit source identities (teacher embeddings).
        same : (B,) bool, rows whose source identity is the template's own subject
            (they get the reconstruction losses).
        gan : whether the adversarial terms and the discriminator update run this step.

        Returns
        -------
        ``identity``, ``id_sim``, ``loss`` and, when they ran, ``l1_same``,
        ``perceptual_same``, ``g_loss``, ``d_loss``.
        """
        tc = self.train
        with self.autocast():
            y = self.swapper.swap_rgb(x, e)
            emb = self.idnet(y)
        y = y.float()
        id_loss = (1.0 - (emb.float() * e).sum(dim=1)).mean()
        loss = tc.identity_weight * id_loss
        metrics: dict[str, float] = {"identity": float(id_loss.detach()), "id_sim": 1.0 - float(id_loss.detach())}
        if bool(same.any()):
            l1 = (y[same] - x[same]).abs().mean()
            loss = loss + tc.l1_weight * l1
            metrics["l1_same"] = float(l1.detach())
            if self.perceptual is not None:
                p = self.perceptual(x[same], y[same]).mean()
                loss = loss + tc.perceptual_weight * p
                metrics["perceptual_same"] = float(p.detach())
        disc = self.disc if gan else None
        if disc is not None:
            disc.requires_grad_(False)
            with self.autocast():
                g = hinge_g_loss(disc(y))
            disc.requires_grad_(True)
            loss = loss + tc.adversarial_weight * g
            metrics["g_loss"] = float(g.detach())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        if disc is not None:
            assert self.opt_d is not None
            with self.autocast():
                logits = disc(torch.cat([x, y.detach()]))
            n = x.shape[0]
            d_loss = hinge_d_loss(logits[:n], logits[n:])
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            metrics["d_loss"] = float(d_loss.detach())
        metrics["loss"] = float(loss.detach())
        return metrics
