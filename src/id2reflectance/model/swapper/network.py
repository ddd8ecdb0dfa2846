"""ID2Reflectance identity swapper: identity-conditioned AdaIN inside a frozen stage-2 decoder.

Design (exactly what is computed)
---------------------------------
The stage-2 :class:`~.fusion.MultiDomainVQGAN` stays frozen (``requires_grad`` False,
eval mode). A template RGB face ``x`` (B, 3, R, R) in [-1, 1] is encoded and quantised
with the RGB codebook, ``q = Q_rgb(E(x))`` (B, C, h, w); the fusion module turns ``q``
into one fused latent per reflectance domain (:meth:`MultiDomainVQGAN.fuse`). Every latent
(``q`` for the RGB face, the fused ones for diffuse, specular, roughness, normal) goes
through the *same* decoder (one call per domain), in which identity modulation is injected after every residual
block of ``decoder.body.up`` whose output resolution (pixels) is in
:attr:`SwapperConfig.levels`.

Identity modulation (adaptive instance normalisation relative to the feature's own
statistics). For a feature map ``h`` (B, c, H, W) with per-sample, per-channel mean
``mu`` and standard deviation ``sigma`` (over H, W; ``sigma = sqrt(var + 1e-5)``) and the
identity code ``e`` (B, id_dim), an MLP (``Linear(id_dim, hidden) - SiLU -
Linear(hidden, hidden) - SiLU``, shared by all injection points) followed by one linear
head per injection point gives ``gamma, beta`` (B, c) each, and

    AdaIN(h) = sigma * (1 + gamma) * (h - mu) / sigma + (mu + sigma * beta)
             = h + gamma * (h - mu) + beta * sigma,

i.e. the feature statistics are re-targeted to ``std * (1 + gamma)`` and ``mean + beta *
std``. The heads are zero-initialised, so an untrained swapper computes ``h + 0 + 0 = h``
and reproduces the base model's outputs bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from id2reflectance._shared.config import from_dict
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import config_from_dict, config_to_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.vqgan import ResBlock, Upsample

SWAPPER_KIND = "swapper"


@dataclass(frozen=True)
class SwapperConfig:
    """Where and how identity modulates the decoder."""

    levels: tuple[int, ...] = (16, 32, 64, 128)  # decoder feature resolutions (pixels) that get identity AdaIN
    id_dim: int = 128  # identity embedding size (dlib: 128; ArcFace: 512)
    hidden: int = 256  # width of the MLP mapping identity -> per-channel scale/shift

    def __post_init__(self) -> None:
        if not self.levels:
            raise ConfigError("swapper.levels must name at least one decoder resolution")
        if any(v < 1 for v in self.levels) or len(set(self.levels)) != len(self.levels):
            raise ConfigError(f"swapper.levels must be distinct positive resolutions, got {list(self.levels)}")
        if self.id_dim < 1 or self.hidden < 1:
            raise ConfigError(f"swapper.id_dim and swapper.hidden must be >= 1, got {self.id_dim}, {self.hidden}")


def decoder_block_resolutions(base: MultiDomainVQGAN) -> list[tuple[int, int, int]]:
    """``(index in decoder.body.up, output resolution in pixels, channels)`` of every ResBlock."""
    res = base.cfg.latent_resolution
    out = []
    for i, m in enumerate(base.decoder.body.up):
        if isinstance(m, Upsample):
            res *= 2
        elif isinstance(m, ResBlock):
            out.append((i, res, m.conv2.out_channels))
    return out


def available_levels(base: MultiDomainVQGAN) -> tuple[int, ...]:
    """Decoder feature resolutions (pixels) a swapper on ``base`` can modulate, ascending."""
    return tuple(sorted({r for _, r, _ in decoder_block_resolutions(base)}))


class IdentityAdaIN(nn.Module):
    """Applies ``h + gamma * (h - mu) + beta * sigma`` with ``gamma, beta`` from a head.

    Parameters
    ----------
    hidden : width of the shared identity features.
    channels : c, channels of the modulated feature map.
    """

    def __init__(self, hidden: int, channels: int) -> None:
        super().__init__()
        self.head = nn.Linear(hidden, 2 * channels)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, h: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """h (B, c, H, W) any float dtype; style (B, hidden) -> (B, c, H, W) of h's dtype."""
        gamma, beta = self.head(style).to(h.dtype)[:, :, None, None].chunk(2, dim=1)
        mu = h.mean(dim=(2, 3), keepdim=True)
        sigma = (h.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
        return h + gamma * (h - mu) + beta * sigma


class IdentitySwapper(nn.Module):
    """Frozen stage-2 model + identity modulation of its decoder.

    Parameters
    ----------
    base : the trained :class:`MultiDomainVQGAN` (frozen here: ``requires_grad`` False, eval mode).
    cfg : levels, identity size, MLP width.

    Attributes
    ----------
    resolution : R, image side in pixels.
    domains : ``("rgb", *base.domains)``, the keys of :meth:`predict`.
    id_dim : size of the identity embedding.

    Raises
    ------
    ConfigError
        A level the decoder does not have (the available resolutions are named).
    """

    def __init__(self, base: MultiDomainVQGAN, cfg: SwapperConfig) -> None:
        super().__init__()
        if not isinstance(base, MultiDomainVQGAN):
            raise ConfigError(f"the swapper needs a stage-2 MultiDomainVQGAN base, got {type(base).__name__}")
        avail = available_levels(base)
        bad = [v for v in cfg.levels if v not in avail]
        if bad:
            raise ConfigError(
                f"swapper.levels {list(bad)} not in the decoder of this {base.cfg.resolution}px model; "
                f"available resolutions: {list(avail)}"
            )
        self.cfg = cfg
        self.base = base
        base.requires_grad_(False)
        base.eval()
        self.resolution = int(base.cfg.resolution)
        self.domains: tuple[str, ...] = ("rgb", *base.domains)
        self.id_dim = int(cfg.id_dim)
        self.mapping = nn.Sequential(
            nn.Linear(cfg.id_dim, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.SiLU()
        )
        self.points = [(i, c) for i, r, c in decoder_block_resolutions(base) if r in cfg.levels]
        self.adain = nn.ModuleDict({str(i): IdentityAdaIN(cfg.hidden, c) for i, c in self.points})

    def train(self, mode: bool = True) -> IdentitySwapper:
        """Switch the modulation layers' mode; the base always stays in eval mode."""
        super().train(mode)
        self.base.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The swapper's own parameters (mapping MLP and AdaIN heads), never the base's."""
        return [*self.mapping.parameters(), *self.adain.parameters()]

    def _check(self, x: torch.Tensor, identity: torch.Tensor) -> None:
        r = self.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, r, r):
            raise ConfigError(f"template_rgb must be (B, 3, {r}, {r}), got {tuple(x.shape)}")
        if identity.ndim != 2 or identity.shape != (x.shape[0], self.id_dim):
            raise ConfigError(f"identity must be ({x.shape[0]}, {self.id_dim}), got {tuple(identity.shape)}")

    def decode(self, z: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """Modulated decoder: z (N, C, h, w), style (N, hidden) -> (N, 3, R, R); with
        ``style`` None the base decoder alone (no identity modulation)."""
        body = self.base.decoder.body
        h = body.mid(body.conv_in(body.post_quant_conv(z)))
        for i, m in enumerate(body.up):
            h = m(h)
            key = str(i)
            if style is not None and key in self.adain:
                h = self.adain[key](h, style)
        return self.base.decoder.conv_out(F.silu(body.norm_out(h)))

    def template_latent(self, template_rgb: torch.Tensor) -> torch.Tensor:
        """Quantised RGB latent (B, C, h, w) of the template (no gradient: the base is frozen)."""
        with torch.no_grad():
            return self.base.codebook("rgb")(self.base.encode(template_rgb)).z_q

    def swap_rgb(self, template_rgb: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """Swapped RGB face.

        Parameters
        ----------
        template_rgb : (B, 3, R, R) float32 in [-1, 1], sRGB code values of an aligned face.
        identity : (B, id_dim) float32, unit-length identity embedding.

        Returns
        -------
        (B, 3, R, R) float32, nominally in [-1, 1] (unclamped decoder output).
        """
        self._check(template_rgb, identity)
        style = self.mapping(identity.float())
        return self.decode(self.template_latent(template_rgb), style)

    def predict(
        self, template_rgb: torch.Tensor, identity: torch.Tensor, *, modulate: bool = True
    ) -> dict[str, torch.Tensor]:
        """Swapped face and every reflectance domain through the same modulated decoder
        (``modulate`` False: the base model's outputs for the template, identity unused).

        Returns
        -------
        ``{"rgb", "diffuse", "specular", "roughness", "normal"}`` (the base's domains), each
        (B, 3, R, R) float32 in the dataset's [-1, 1] model encoding.
        """
        self._check(template_rgb, identity)
        q = self.template_latent(template_rgb)
        with torch.no_grad():
            _, fused = self.base.fuse(q)
        style = self.mapping(identity.float()) if modulate else None
        latents = {"rgb": q, **fused}
        return {n: self.decode(latents[n], style) for n in self.domains}


def swapper_arch(codebook_config: dict[str, Any], cfg: SwapperConfig) -> dict[str, Any]:
    """The checkpoint ``arch`` record of a swapper (codebook RunConfig dict + SwapperConfig)."""
    return {"kind": SWAPPER_KIND, "config": codebook_config, "swapper": config_to_dict(cfg)}


def build_swapper(arch: dict[str, Any], *, where: str = "arch") -> IdentitySwapper:
    """A freshly initialised swapper (base included) from a checkpoint ``arch`` record
    (:func:`swapper_arch`; loading a checkpoint: :func:`id2reflectance.model.loading.load_swapper`)."""
    try:
        run_cfg = config_from_dict(arch["config"], where=f"{where}.config")
        scfg = from_dict(SwapperConfig, arch["swapper"], where=f"{where}.swapper")
    except (KeyError, TypeError, ConfigError) as err:
        raise InputFileError(where, "arch", f"cannot rebuild the swapper: {err}") from err
    base = MultiDomainVQGAN(run_cfg.model, run_cfg.fusion, run_cfg.data.domains)
    try:
        return IdentitySwapper(base, scfg)
    except ConfigError as err:
        raise InputFileError(where, "arch.swapper", str(err)) from err
