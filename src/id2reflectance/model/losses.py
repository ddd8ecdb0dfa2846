"""Reconstruction losses: L1 and an optional LPIPS-style perceptual distance.

The perceptual distance follows LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness
of Deep Features as a Perceptual Metric"): VGG16 activations after relu1_2, relu2_2,
relu3_3, relu4_3 and relu5_3 of both images (inputs in [-1, 1], shifted by
(-0.030, -0.088, -0.188) and divided by (0.458, 0.448, 0.450) per channel), each normalised
to unit length over channels, squared difference weighted per channel by a non-negative
1x1 linear layer, averaged over positions and summed over the five layers.

Its weights cannot be downloaded here; they come from a LOCAL safetensors file with exactly
these keys (anything else is refused, naming the file and the first bad key):

- ``features.{i}.weight`` (C_out, C_in, 3, 3) and ``features.{i}.bias`` (C_out,) for the 13
  VGG16 convolutions at ``i`` in 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28
  (torchvision's ``vgg16().features`` indices, so its state dict keys carry over unchanged);
- ``lin.{j}.weight`` (1, C_j, 1, 1), j = 0..4, C = 64, 128, 256, 512, 512 (the LPIPS v0.1
  ``lin{j}.model.1.weight`` tensors renamed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from id2reflectance.errors import ConfigError
from id2reflectance.model.engine.checkpoint import load_tensors_strict

log = logging.getLogger(__name__)

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_TAPS = (3, 8, 15, 22, 29)  # feature indices whose ReLU outputs LPIPS compares
_TAP_CHANNELS = (64, 128, 256, 512, 512)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    c = 3
    for v in _VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=False)]
            c = int(v)
    return nn.Sequential(*layers)


class PerceptualLoss(nn.Module):
    """LPIPS-style distance with frozen weights; call :func:`load_perceptual` to build it.

    ``forward(x, y)`` takes two (B, 3, H, W) float32 images in [-1, 1] and returns (B,)
    float32 distances (0 for identical images).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg16_features()
        self.lin = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _TAP_CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features[: _TAPS[-1] + 1]):
            h = layer(h)
            if i in _TAPS:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self._taps(x), self._taps(y)
        total = x.new_zeros(x.shape[0], dtype=torch.float32)
        for lin, a, b in zip(self.lin, fx, fy, strict=True):
            a = a.float() / (a.float().norm(dim=1, keepdim=True) + 1e-10)
            b = b.float() / (b.float().norm(dim=1, keepdim=True) + 1e-10)
            total = total + lin((a - b).square().to(lin.weight.dtype)).float().mean(dim=(1, 2, 3))
        return total


def load_perceptual(path: str | Path | None, *, device: torch.device | str = "cpu") -> PerceptualLoss | None:
    """The perceptual loss from a local weights file, or None (logged) when no path is given.

    Raises
    ------
    ConfigError
        When ``path`` is given but does not exist.
    InputFileError
        When the file is unreadable or its keys/shapes do not match (first bad key named).
    """
    if path is None:
        log.warning("no perceptual weights configured (loss.perceptual_weights): training without perceptual loss")
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"loss.perceptual_weights: file {p} does not exist")
    net = PerceptualLoss()
    net.load_state_dict(load_tensors_strict(p, net.state_dict()), strict=True)
    log.info("perceptual loss weights loaded from %s", p)
    return net.to(device)


def reconstruction_loss(
    x: torch.Tensor,
    x_rec: torch.Tensor,
    *,
    l1_weight: float,
    perceptual: PerceptualLoss | None,
    perceptual_weight: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``l1_weight * mean|x - x_rec| + perceptual_weight * mean LPIPS(x, x_rec)``.

    Parameters
    ----------
    x, x_rec : (B, 3, H, W) float32 targets and reconstructions in [-1, 1].

    Returns
    -------
    loss : () float32 (differentiable w.r.t. ``x_rec``).
    parts : ``{"l1": ..., "perceptual": ...}`` detached () tensors (perceptual only when enabled).
    """
    l1 = (x.float() - x_rec.float()).abs().mean()
    loss = l1_weight * l1
    parts = {"l1": l1.detach()}
    if perceptual is not None and perceptual_weight > 0:
        p = perceptual(x.float(), x_rec.float()).mean()
        loss = loss + perceptual_weight * p
        parts["perceptual"] = p.detach()
    return loss, parts
