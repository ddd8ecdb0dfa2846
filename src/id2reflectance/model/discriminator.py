"""PatchGAN discriminator, hinge losses and VQGAN's adaptive GAN weight.

The discriminator (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks") maps (B, 3, R, R) images in [-1, 1] to a grid of real/fake logits,
one per overlapping patch. GroupNorm replaces BatchNorm so that the result does not depend
on the batch split across micro-steps or processes.

Hinge losses: ``L_D = (mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))) / 2`` and
``L_G = -mean(D(x_hat))``. Adaptive weight (Esser et al. 2021, eq. 7):
``lambda = ||grad_L L_rec|| / (||grad_L L_G|| + 1e-4)`` with ``L`` the decoder's last layer,
clamped to [0, max] and detached; the GAN term enters the generator loss as
``disc.weight * lambda * L_G`` once the optimiser step reaches ``disc.start_step``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from id2reflectance.errors import ConfigError


@dataclass(frozen=True)
class DiscConfig:
    """PatchGAN discriminator with hinge loss and VQGAN's adaptive weight."""

    enabled: bool = True
    base_channels: int = 64
    layers: int = 3  # strided 4x4 conv layers after the first
    start_step: int = 30000  # optimiser step from which the GAN terms are switched on
    weight: float = 0.8  # multiplies the adaptive weight
    max_adaptive_weight: float = 1e4

    def __post_init__(self) -> None:
        if self.layers < 1 or self.base_channels < 1:
            raise ConfigError("disc.layers and disc.base_channels must be >= 1")
        if self.start_step < 0:
            raise ConfigError(f"disc.start_step must be >= 0, got {self.start_step}")


class PatchDiscriminator(nn.Module):
    """Strided 4x4 convolutions with LeakyReLU(0.2); output (B, 1, h, w) logits.

    Parameters
    ----------
    cfg : ``base_channels`` width of the first layer, doubled per layer up to 8x;
        ``layers`` strided layers after the first.
    in_channels : image channels.
    """

    def __init__(self, cfg: DiscConfig, *, in_channels: int = 3) -> None:
        super().__init__()
        c = cfg.base_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for i in range(1, cfg.layers + 1):
            c_prev, c = c, cfg.base_channels * min(2**i, 8)
            stride = 2 if i < cfg.layers else 1
            layers += [
                nn.Conv2d(c_prev, c, 4, stride=stride, padding=1, bias=False),
                nn.GroupNorm(min(32, c), c),
                nn.LeakyReLU(0.2),
            ]
        layers.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits of images ``x`` (B, C, R, R) float32 in [-1, 1]."""
        return self.net(x)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss (scalar float32)."""
    return 0.5 * (F.relu(1.0 - logits_real.float()).mean() + F.relu(1.0 + logits_fake.float()).mean())


def hinge_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss ``-mean(D(x_hat))`` (scalar float32)."""
    return -logits_fake.float().mean()


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, *, max_weight: float = 1e4
) -> torch.Tensor:
    """VQGAN's balance between reconstruction and GAN gradients at ``last_layer``.

    Parameters
    ----------
    rec_loss, g_loss : () scalars that both depend on ``last_layer`` (graphs are retained).
    last_layer : the decoder's final weight tensor.
    max_weight : upper clamp.

    Returns
    -------
    () float32, detached, in [0, max_weight].
    """
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    w = g_rec.float().norm() / (g_gan.float().norm() + 1e-4)
    return w.clamp(0.0, max_weight).detach()
