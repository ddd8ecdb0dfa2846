"""Loss computation of one micro-step, per training stage.

Stage 1 (shared codebook): the training stream mixes RGB faces and reflectance maps half
and half. Global sample ``j`` (its index in the run's sample stream, see :mod:`.sampling`)
is its item's RGB image when ``j`` is even and otherwise the reflectance domain
``domains[(j // 2) % len(domains)]`` of the item, so an even batch is exactly half RGB, the
reflectance half cycles through the domains, and the choice does not depend on how the
stream is split over processes or micro-steps.
Generator loss: ``l1 * L1 + p * LPIPS + codebook_weight * VQ + [GAN]``.

Stage 2 (domain codebooks + fusion): every micro-batch autoencodes the RGB image and every
reflectance map of each item through its own codebook (one encoder and one decoder call on
the concatenation), and trains the fusion module from the RGB quantised latent. Generator
loss: reconstruction over all domains + codebook losses (mean over codebooks) +
``fusion_ce_weight * CE + fusion_latent_weight * MSE [+ fusion_image_weight * L1(decoded fused)]``
+ [GAN on all reconstructions].

[GAN] = ``disc.weight * adaptive_weight * hinge_g_loss`` once the step reaches
``disc.start_step`` (see :mod:`.discriminator`). The discriminator used inside the generator
loss is the unwrapped module with frozen parameters, so generator backward passes never
touch its gradients (and never its DDP reducer).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from id2reflectance.model.codebook.config import RunConfig
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN, fusion_losses
from id2reflectance.model.codebook.quantizer import QuantOut
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.discriminator import adaptive_weight, hinge_d_loss, hinge_g_loss
from id2reflectance.model.losses import PerceptualLoss, reconstruction_loss

Metrics = dict[str, torch.Tensor]


@dataclass(frozen=True)
class StepContext:
    """What a micro-step needs.

    Attributes
    ----------
    cfg : the run's configuration.
    model : the generator as called for training (DDP-wrapped or not).
    core : the unwrapped generator (its decoder's last layer feeds the adaptive weight).
    disc : discriminator as called for its own loss (DDP-wrapped or not), or None.
    disc_core : the unwrapped discriminator, or None.
    perceptual : LPIPS-style loss or None.
    autocast : returns the autocast context of the run (bf16 or a no-op).
    """

    cfg: RunConfig
    model: Callable
    core: VQGAN | MultiDomainVQGAN
    disc: Callable | None
    disc_core: nn.Module | None
    perceptual: PerceptualLoss | None
    autocast: Callable[[], contextlib.AbstractContextManager]


@dataclass(frozen=True)
class GenResult:
    """Generator loss (scalar), detached metrics, the images the discriminator should
    compare (``real``, ``fake``: (N, 3, R, R)), and the quantiser outputs by codebook."""

    loss: torch.Tensor
    metrics: Metrics
    real: torch.Tensor
    fake: torch.Tensor
    quant: dict[str, QuantOut]


def stage1_inputs(batch: dict[str, torch.Tensor], sample0: int, domains: tuple[str, ...]) -> torch.Tensor:
    """Half-RGB, half-reflectance micro-batch (B, 3, R, R) as described in the module docstring.

    ``sample0`` is the global stream index of the batch's first sample.
    """
    b = batch["rgb"].shape[0]
    rows = []
    for i in range(b):
        j = sample0 + i
        name = "rgb" if j % 2 == 0 else domains[(j // 2) % len(domains)]
        rows.append(batch[name][i])
    return torch.stack(rows)


def _gan_term(ctx: StepContext, rec: torch.Tensor, fake: torch.Tensor, active: bool) -> tuple[torch.Tensor, Metrics]:
    if not active or ctx.disc_core is None:
        return rec.new_zeros(()), {}
    ctx.disc_core.requires_grad_(False)
    try:
        with ctx.autocast():
            g = hinge_g_loss(ctx.disc_core(fake))
    finally:
        ctx.disc_core.requires_grad_(True)
    lam = adaptive_weight(rec, g, ctx.core.decoder.last_layer, max_weight=ctx.cfg.disc.max_adaptive_weight)
    return ctx.cfg.disc.weight * lam * g, {"g_loss": g.detach(), "adaptive_weight": lam}


def stage1_step(ctx: StepContext, batch: dict[str, torch.Tensor], *, sample0: int, gan: bool) -> GenResult:
    """Generator loss of one stage-1 micro-batch (``batch`` on the training device).

    ``sample0``: global stream index of the first sample (selects RGB vs reflectance).
    """
    cfg = ctx.cfg
    x = stage1_inputs(batch, sample0, cfg.data.domains)
    with ctx.autocast():
        out = ctx.model(x)
    x_rec = out.x_rec.float()
    rec, parts = reconstruction_loss(
        x, x_rec, l1_weight=cfg.loss.l1_weight, perceptual=ctx.perceptual, perceptual_weight=cfg.loss.perceptual_weight
    )
    g_term, g_metrics = _gan_term(ctx, rec, x_rec, gan)
    loss = rec + cfg.loss.codebook_weight * out.quant.loss + g_term
    metrics = {
        **parts,
        "vq": out.quant.loss.detach(),
        "perplexity": out.quant.perplexity,
        "codes_used": out.quant.used.float(),
        **g_metrics,
    }
    metrics["loss"] = loss.detach()
    return GenResult(loss=loss, metrics=metrics, real=x, fake=x_rec, quant={"shared": out.quant})


def stage2_step(ctx: StepContext, batch: dict[str, torch.Tensor], *, sample0: int, gan: bool) -> GenResult:
    """Generator loss of one stage-2 micro-batch (``batch`` on the training device; ``sample0`` unused,
    every item contributes all its domains)."""
    cfg = ctx.cfg
    domains = cfg.data.domains
    names = ("rgb", *domains)
    decode_fused = cfg.loss.fusion_image_weight > 0
    with ctx.autocast():
        out = ctx.model({n: batch[n] for n in names}, decode_fused=decode_fused)
    real = torch.cat([batch[n] for n in names])
    fake = torch.cat([out.x_rec[n].float() for n in names])
    rec, parts = reconstruction_loss(
        real,
        fake,
        l1_weight=cfg.loss.l1_weight,
        perceptual=ctx.perceptual,
        perceptual_weight=cfg.loss.perceptual_weight,
    )
    vq = torch.stack([out.quant[n].loss for n in names]).mean()
    ce, lat = fusion_losses(out, domains)
    loss = rec + cfg.loss.codebook_weight * vq + cfg.loss.fusion_ce_weight * ce + cfg.loss.fusion_latent_weight * lat
    metrics: Metrics = {**parts, "vq": vq.detach(), "fusion_ce": ce.detach(), "fusion_latent": lat.detach()}
    if decode_fused:
        img = torch.stack([(out.x_fused[d].float() - batch[d]).abs().mean() for d in domains]).mean()
        loss = loss + cfg.loss.fusion_image_weight * img
        metrics["fusion_l1"] = img.detach()
    g_term, g_metrics = _gan_term(ctx, rec, fake, gan)
    loss = loss + g_term
    metrics.update(g_metrics)
    for n in names:
        metrics[f"l1_{n}"] = (out.x_rec[n].detach().float() - batch[n]).abs().mean()
        metrics[f"perplexity_{n}"] = out.quant[n].perplexity
    with torch.no_grad():
        for d in domains:
            metrics[f"fusion_acc_{d}"] = (out.logits[d].argmax(1) == out.quant[d].indices).float().mean()
    metrics["loss"] = loss.detach()
    return GenResult(loss=loss, metrics=metrics, real=real, fake=fake, quant=dict(out.quant))


def disc_step(ctx: StepContext, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
    """Hinge loss of the discriminator on real images and detached reconstructions."""
    if ctx.disc is None:
        raise RuntimeError("disc_step called without a discriminator")
    n = real.shape[0]
    with ctx.autocast():
        logits = ctx.disc(torch.cat([real.detach(), fake.detach()]))  # one call: one DDP forward per backward
    lr, lf = logits[:n], logits[n:]
    d = hinge_d_loss(lr, lf)
    return d, {
        "d_loss": d.detach(),
        "logits_real": lr.detach().float().mean(),
        "logits_fake": lf.detach().float().mean(),
    }
