"""Stage 2: per-domain codebooks around the shared encoder/decoder, and learnt fusion.

Design (exactly what is computed)
---------------------------------
Codebooks. ``mode="multi"``: one :class:`~.quantizer.VectorQuantizer` per domain
``rgb, diffuse, specular, roughness, normal`` (the configured reflectance domains), each a
copy of the stage-1 codebook, fine-tuned by reconstructing its own domain through the
shared encoder E and decoder G: ``x_d -> E -> Q_d -> G -> x_hat_d``. ``mode="joint"`` (the
ablation): a single codebook, also copied from stage 1, used for every domain.

Fusion. From an RGB image's quantised latent ``q_rgb = Q_rgb(E(x_rgb))`` (B, C, h, w),
optionally detached from the encoder, a trunk (3x3 conv to ``fusion.channels``,
``fusion.blocks`` residual blocks, optionally one self-attention block over the h*w
positions) feeds one 1x1-conv head per reflectance domain d that outputs logits
``l_d`` (B, K_d, h, w) over the K_d entries of domain d's codebook ``E_d`` (K_d, C). The
per-position weights are ``w_d = softmax(l_d / temperature)`` over the K_d codes and the
fused latent is their convex combination of code vectors,
``z_d[b, :, i, j] = sum_k w_d[b, k, i, j] * E_d[k, :]`` (B, C, h, w), which the shared decoder
turns into domain d's map. Training targets are the domain's own code indices
``argmin_k ||E(x_d) - E_d[k]||`` (cross-entropy on ``l_d``), its quantised latent (MSE on
``z_d``, gradient into the fusion network only, the codebook is detached there) and
optionally the decoded map (L1). At inference the same soft combination is used (no
argmax), so the decoder always receives a point in the convex hull of domain d's codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from id2reflectance.model.codebook.config import FusionConfig, VQGANConfig
from id2reflectance.model.codebook.quantizer import QuantOut, VectorQuantizer
from id2reflectance.model.codebook.vqgan import VQGAN, AttnBlock, Decoder, Encoder, ResBlock


class FusionNet(nn.Module):
    """Per-position code weights over each domain codebook from RGB quantised features.

    Parameters
    ----------
    latent_channels : C, channels of the quantised latent.
    domains : reflectance domains, one head each.
    num_codes : K, entries per domain codebook.
    cfg : trunk width, depth, attention and softmax temperature.
    groups : GroupNorm groups of the trunk.
    """

    def __init__(
        self, latent_channels: int, domains: tuple[str, ...], num_codes: int, cfg: FusionConfig, *, groups: int
    ) -> None:
        super().__init__()
        self.temperature = cfg.temperature
        c = cfg.channels
        trunk: list[nn.Module] = [nn.Conv2d(latent_channels, c, 3, padding=1)]
        trunk += [ResBlock(c, c, groups=groups) for _ in range(cfg.blocks)]
        if cfg.attention:
            trunk.append(AttnBlock(c, groups=groups))
        trunk += [nn.GroupNorm(min(groups, c), c, eps=1e-6), nn.SiLU()]
        self.trunk = nn.Sequential(*trunk)
        self.heads = nn.ModuleDict({d: nn.Conv2d(c, num_codes, 1) for d in domains})

    def forward(self, q_rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits (B, K, h, w) float32 per domain from ``q_rgb`` (B, C, h, w)."""
        h = self.trunk(q_rgb)
        return {d: head(h).float() for d, head in self.heads.items()}

    def combine(self, logits: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        """Soft code combination: logits (B, K, h, w), codebook (K, C) -> (B, C, h, w) float32."""
        w = torch.softmax(logits.float() / self.temperature, dim=1)
        return torch.einsum("bkhw,kc->bchw", w, codebook.float())


@dataclass(frozen=True)
class MultiDomainOut:
    """Outputs of :meth:`MultiDomainVQGAN.forward`.

    Attributes
    ----------
    x_rec : (B, 3, R, R) per domain (``rgb`` and each reflectance domain): autoencoded maps.
    quant : per domain, the :class:`QuantOut` of its codebook.
    logits : per reflectance domain, fusion logits (B, K, h, w).
    z_fused : per reflectance domain, the fused latent (B, C, h, w).
    x_fused : per reflectance domain, the decoded fused latent (B, 3, R, R); empty unless requested.
    """

    x_rec: dict[str, torch.Tensor]
    quant: dict[str, QuantOut]
    logits: dict[str, torch.Tensor]
    z_fused: dict[str, torch.Tensor]
    x_fused: dict[str, torch.Tensor]


class MultiDomainVQGAN(nn.Module):
    """Shared encoder/decoder, per-domain (or one joint) codebook, fusion network.

    Parameters
    ----------
    cfg : network shape (as stage 1).
    fusion : codebook mode and fusion network shape.
    domains : reflectance domains, e.g. ``("diffuse", "specular", "roughness", "normal")``.
    """

    def __init__(self, cfg: VQGANConfig, fusion: FusionConfig, domains: tuple[str, ...]) -> None:
        super().__init__()
        self.cfg = cfg
        self.mode = fusion.mode
        self.domains = tuple(domains)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        books = ("joint",) if fusion.mode == "joint" else ("rgb", *self.domains)
        self.codebooks = nn.ModuleDict(
            {
                b: VectorQuantizer(cfg.codebook_size, cfg.latent_channels, beta=cfg.beta, usage_decay=cfg.usage_decay)
                for b in books
            }
        )
        self.fusion = FusionNet(cfg.latent_channels, self.domains, cfg.codebook_size, fusion, groups=cfg.norm_groups)
        self.detach_input = fusion.detach_input
        self.compiled: dict[str, nn.Module] = {}

    def codebook(self, domain: str) -> VectorQuantizer:
        """The quantiser used for ``domain`` (``rgb`` or a reflectance domain)."""
        return self.codebooks["joint" if self.mode == "joint" else domain]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) -> (B, C, h, w) continuous latent (compiled encoder when set)."""
        return self.compiled.get("encoder", self.encoder)(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 3, R, R) (compiled decoder body when set; the last layer is eager)."""
        return self.decoder.conv_out(self.compiled.get("decoder.body", self.decoder.body)(z))

    @classmethod
    def from_stage1(cls, stage1: VQGAN, fusion: FusionConfig, domains: tuple[str, ...]) -> MultiDomainVQGAN:
        """Copy encoder, decoder and the shared codebook (into every domain codebook) from stage 1.

        The fusion network keeps its fresh initialisation (torch's global RNG).
        """
        model = cls(stage1.cfg, fusion, domains)
        model.encoder.load_state_dict(stage1.encoder.state_dict())
        model.decoder.load_state_dict(stage1.decoder.state_dict())
        for book in model.codebooks.values():
            book.load_state_dict(stage1.quantizer.state_dict())
        return model

    def fuse(self, q_rgb: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Fusion logits and fused latents per reflectance domain from ``q_rgb`` (B, C, h, w).

        The codebooks enter the combination detached (fusion losses train the fusion net only).
        """
        logits = self.fusion(q_rgb.detach() if self.detach_input else q_rgb)
        fused = {d: self.fusion.combine(logits[d], self.codebook(d).embedding.weight.detach()) for d in self.domains}
        return logits, fused

    def forward(self, images: dict[str, torch.Tensor], *, decode_fused: bool = False) -> MultiDomainOut:
        """Autoencode every domain through its codebook and fuse from RGB.

        Parameters
        ----------
        images : ``rgb`` and every reflectance domain, each (B, 3, R, R) float32 in [-1, 1].
        decode_fused : also decode the fused latents (needed for an image-space fusion loss).
        """
        names = ("rgb", *self.domains)
        b = images["rgb"].shape[0]
        z = self.encode(torch.cat([images[n] for n in names], dim=0))
        quant = {n: self.codebook(n)(z[i * b : (i + 1) * b]) for i, n in enumerate(names)}
        x = self.decode(torch.cat([quant[n].z_q for n in names], dim=0))
        x_rec = {n: x[i * b : (i + 1) * b] for i, n in enumerate(names)}
        logits, fused = self.fuse(quant["rgb"].z_q)
        x_fused: dict[str, torch.Tensor] = {}
        if decode_fused:
            y = self.decode(torch.cat([fused[d] for d in self.domains], dim=0))
            x_fused = {d: y[i * b : (i + 1) * b] for i, d in enumerate(self.domains)}
        return MultiDomainOut(x_rec=x_rec, quant=quant, logits=logits, z_fused=fused, x_fused=x_fused)

    @torch.no_grad()
    def predict(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reflectance maps from RGB images through fusion: (B, 3, R, R) -> per domain (B, 3, R, R)."""
        q = self.codebook("rgb")(self.encode(rgb)).z_q
        _, fused = self.fuse(q)
        return {d: self.decode(fused[d]) for d in self.domains}


def fusion_losses(out: MultiDomainOut, domains: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of fusion logits vs each domain's own code indices, and latent MSE.

    Returns
    -------
    ce : () float32, mean over domains and positions.
    latent : () float32, mean squared error of fused latents vs the (detached) quantised latents.
    """
    ce = torch.stack([F.cross_entropy(out.logits[d], out.quant[d].indices) for d in domains]).mean()
    lat = torch.stack([F.mse_loss(out.z_fused[d], out.quant[d].z_q.detach()) for d in domains]).mean()
    return ce, lat
