"""Vector quantiser: nearest-code lookup, VQ-VAE losses, straight-through gradients.

For encoder outputs ``z`` and the nearest codes ``e = E[argmin_k ||z - E_k||^2]``:

- codebook loss ``mean((sg[z] - e)^2)`` pulls the codes towards the encoder outputs,
- commitment loss ``beta * mean((z - sg[e])^2)`` keeps the encoder near its codes,
- the output ``z + sg[e - z]`` equals ``e`` in the forward pass and passes the decoder's
  gradient straight to ``z`` (van den Oord et al. 2017, "Neural Discrete Representation
  Learning").

Usage statistics: ``perplexity = exp(-sum_k p_k log p_k)`` of the batch's code histogram
(1 when one code is used, K when all K are used equally) and the number of distinct codes
used. An exponential moving average of per-code usage (a buffer, saved with the weights)
drives the optional dead-code restart: codes whose average use falls below
``threshold / K`` are re-seeded with randomly chosen encoder outputs of the current batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class QuantOut:
    """Result of :meth:`VectorQuantizer.forward`.

    Attributes
    ----------
    z_q : (B, C, h, w) float32 quantised latent with straight-through gradient to the input.
    loss : () float32, codebook loss + beta * commitment loss.
    indices : (B, h, w) int64 code index per position.
    perplexity : () float32, exp of the entropy of this batch's code histogram (no grad).
    used : () int64, number of distinct codes in this batch (no grad).
    z : (B, C, h, w) float32 continuous input, detached (for dead-code restarts).
    """

    z_q: torch.Tensor
    loss: torch.Tensor
    indices: torch.Tensor
    perplexity: torch.Tensor
    used: torch.Tensor
    z: torch.Tensor


def code_perplexity(indices: torch.Tensor, num_codes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Perplexity and number of distinct codes of an index tensor.

    Parameters
    ----------
    indices : (...) int64 code indices in [0, num_codes).
    num_codes : codebook size K.

    Returns
    -------
    perplexity : () float32 in [1, K].
    used : () int64 in [1, K].
    """
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes).float()
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return torch.exp(entropy), (counts > 0).sum()


class VectorQuantizer(nn.Module):
    """Codebook of ``num_codes`` vectors of ``dim`` channels.

    Parameters
    ----------
    num_codes : codebook size K.
    dim : code vector length C (the encoder's latent channels).
    beta : commitment loss weight (0.25 in VQ-VAE and VQGAN).
    usage_decay : EMA decay of the per-code usage buffer.
    """

    def __init__(self, num_codes: int, dim: int, *, beta: float = 0.25, usage_decay: float = 0.99) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.dim = dim
        self.beta = beta
        self.usage_decay = usage_decay
        self.embedding = nn.Embedding(num_codes, dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / num_codes, 1.0 / num_codes)
        self.register_buffer("usage", torch.full((num_codes,), 1.0 / num_codes))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for every position.

        Parameters
        ----------
        z : (B, C, h, w) latent, any float dtype (distances are computed in float32).

        Returns
        -------
        (B, h, w) int64 indices.
        """
        b, c, h, w = z.shape
        flat = z.detach().float().permute(0, 2, 3, 1).reshape(-1, c)
        e = self.embedding.weight.detach().float()
        d = flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ e.t() + e.pow(2).sum(1)[None, :]
        return d.argmin(dim=1).reshape(b, h, w)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors of an index grid: (B, h, w) int64 -> (B, C, h, w) float32."""
        return self.embedding(indices).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> QuantOut:
        """Quantise ``z`` (B, C, h, w); updates the usage EMA in training mode."""
        z = z.float()
        indices = self.nearest(z)
        e = self.lookup(indices)
        loss = F.mse_loss(e, z.detach()) + self.beta * F.mse_loss(z, e.detach())
        z_q = z + (e - z).detach()
        with torch.no_grad():
            perplexity, used = code_perplexity(indices, self.num_codes)
            if self.training:
                counts = torch.bincount(indices.reshape(-1), minlength=self.num_codes).float()
                self.usage.mul_(self.usage_decay).add_(counts / counts.sum(), alpha=1.0 - self.usage_decay)
        return QuantOut(z_q=z_q, loss=loss, indices=indices, perplexity=perplexity, used=used, z=z.detach())

    @torch.no_grad()
    def restart_dead_codes(self, z: torch.Tensor, *, threshold: float, generator: torch.Generator | None = None) -> int:
        """Re-seed rarely used codes with encoder outputs; returns how many were restarted.

        Parameters
        ----------
        z : (B, C, h, w) encoder outputs of the current batch (any float dtype).
        threshold : a code is dead when ``usage < threshold / K``.
        generator : torch RNG for choosing the replacement vectors (default: global RNG).

        A restarted code's usage is reset to ``1 / K`` so it is not restarted again at once.
        """
        dead = torch.nonzero(self.usage < threshold / self.num_codes).flatten()
        if dead.numel() == 0:
            return 0
        flat = z.detach().float().permute(0, 2, 3, 1).reshape(-1, self.dim)
        pick = torch.randint(0, flat.shape[0], (dead.numel(),), generator=generator, device=flat.device)
        self.embedding.weight.data[dead] = flat[pick].to(self.embedding.weight.dtype)
        self.usage[dead] = 1.0 / self.num_codes
        return int(dead.numel())
