"""VQGAN autoencoder: convolutional ResNet encoder/decoder with self-attention at low
resolutions around a :class:`~.quantizer.VectorQuantizer` (Esser et al. 2021, "Taming
Transformers for High-Resolution Image Synthesis"; this is an independent implementation).

Shapes: images (B, 3, R, R) float32 in [-1, 1] (R = ``config.resolution``); latents
(B, latent_channels, r, r) with ``r = R / 2**(len(channel_mult) - 1)``. The decoder output
is unbounded (trained towards [-1, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from id2reflectance.model.codebook.config import VQGANConfig
from id2reflectance.model.codebook.quantizer import QuantOut, VectorQuantizer


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=min(groups, channels), num_channels=channels, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv3x3 twice, with a 1x1 projection on the skip when widths differ."""

    def __init__(self, c_in: int, c_out: int, *, groups: int) -> None:
        super().__init__()
        self.norm1 = _norm(c_in, groups)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = _norm(c_out, groups)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions of a feature map, residual."""

    def __init__(self, channels: int, *, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """Stride-2 3x3 convolution (asymmetric zero padding as in VQGAN)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour 2x upsampling followed by a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """(B, in_channels, R, R) image -> (B, latent_channels, r, r) continuous latent."""

    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        g = cfg.norm_groups
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        layers: list[nn.Module] = []
        c, res = widths[0], cfg.resolution
        for i, w in enumerate(widths):
            for _ in range(cfg.res_blocks):
                layers.append(ResBlock(c, w, groups=g))
                c = w
                if res in cfg.attn_resolutions:
                    layers.append(AttnBlock(c, groups=g))
            if i < len(widths) - 1:
                layers.append(Downsample(c))
                res //= 2
        self.down = nn.Sequential(*layers)
        self.mid = nn.Sequential(ResBlock(c, c, groups=g), AttnBlock(c, groups=g), ResBlock(c, c, groups=g))
        self.norm_out = _norm(c, g)
        self.conv_out = nn.Conv2d(c, cfg.latent_channels, 3, padding=1)
        self.quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        return self.quant_conv(self.conv_out(F.silu(self.norm_out(h))))


class DecoderBody(nn.Module):
    """Everything of the decoder before its last convolution: (B, C, r, r) -> (B, c0, R, R) features."""

    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        g = cfg.norm_groups
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        c = widths[-1]
        res = cfg.latent_resolution
        self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)
        self.conv_in = nn.Conv2d(cfg.latent_channels, c, 3, padding=1)
        self.mid = nn.Sequential(ResBlock(c, c, groups=g), AttnBlock(c, groups=g), ResBlock(c, c, groups=g))
        layers: list[nn.Module] = []
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(cfg.res_blocks + 1):
                layers.append(ResBlock(c, w, groups=g))
                c = w
                if res in cfg.attn_resolutions:
                    layers.append(AttnBlock(c, groups=g))
            if i > 0:
                layers.append(Upsample(c))
                res *= 2
        self.up = nn.Sequential(*layers)
        self.norm_out = _norm(c, g)
        self.out_channels = c

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.up(self.mid(self.conv_in(self.post_quant_conv(z))))
        return F.silu(self.norm_out(h))


class Decoder(nn.Module):
    """(B, latent_channels, r, r) latent -> (B, in_channels, R, R) image.

    Split into :class:`DecoderBody` and the final 3x3 convolution so that training can
    compile the body while the last layer, whose weight gradients VQGAN's adaptive GAN
    weight takes with a retained graph, stays eager (see :mod:`.compiled`).
    """

    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        self.body = DecoderBody(cfg)
        self.conv_out = nn.Conv2d(self.body.out_channels, cfg.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.body(z))

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the final convolution (used for VQGAN's adaptive GAN weight)."""
        return self.conv_out.weight


@dataclass(frozen=True)
class VQGANOut:
    """Reconstruction ``x_rec`` (B, 3, R, R) float32 and the quantiser's :class:`QuantOut`."""

    x_rec: torch.Tensor
    quant: QuantOut


class VQGAN(nn.Module):
    """Encoder, one shared codebook, decoder (stage 1).

    Parameters
    ----------
    cfg : network shape; ``cfg.codebook_size`` codes of ``cfg.latent_channels`` channels.
    """

    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = VectorQuantizer(
            cfg.codebook_size, cfg.latent_channels, beta=cfg.beta, usage_decay=cfg.usage_decay
        )
        self.decoder = Decoder(cfg)
        self.compiled: dict[str, nn.Module] = {}  # optional torch.compile wrappers (not saved)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) -> (B, C, h, w) continuous latent (compiled encoder when set)."""
        return self.compiled.get("encoder", self.encoder)(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 3, R, R) (compiled decoder body when set; the last layer is eager)."""
        return self.decoder.conv_out(self.compiled.get("decoder.body", self.decoder.body)(z))

    def forward(self, x: torch.Tensor) -> VQGANOut:
        """Reconstruct ``x`` (B, 3, R, R) float32 in [-1, 1] through the codebook."""
        quant = self.quantizer(self.encode(x))
        return VQGANOut(x_rec=self.decode(quant.z_q), quant=quant)
