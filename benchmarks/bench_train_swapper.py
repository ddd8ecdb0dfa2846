"""Training throughput of the identity swapper (one optimiser step of `id2r train swapper`).

Times :class:`id2reflectance.model.swapper.step.SwapperStep`, the step the training loop
runs: swap the template faces through the frozen stage-2 model with the identity
modulation, identity loss through the frozen identity network, L1 on the same-identity
rows, the adversarial term, Adam on the modulation heads, then the discriminator's hinge
step. Random weights and random batches (no data loading, no dlib): it runs where only
torch, numpy and safetensors are installed (the GPU machine). No perceptual loss (it needs
a local weights file).

For each preset, faces per second of full steps (adversarial terms on) in float32 (the
reference) and, with ``--bf16``, under bf16 autocast; also the step without the
adversarial terms (before ``train.disc_start``) against the full one; on CUDA, peak GPU
memory. Before timing bf16, its gradients into the modulation heads are checked against
float32 ones on the same batch (cosine > 0.9, non-zero); a failing check prints
"rejected" instead of a time.

    PYTHONPATH=src python benchmarks/bench_train_swapper.py [--presets tiny,cpu_128[,paper_512]]
        [--device cpu|cuda] [--batch B] [--steps 5] [--threads N] [--bf16]

Columns: figure | value | reference measured in the same run | ratio (value / reference).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools

import torch

from bench_swap import build, print_row, start, time_call  # benchmarks/ is the script's folder
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.identity.student import IdentityStudent
from id2reflectance.model.swapper.config import PRESETS as SWAPPER_PRESETS
from id2reflectance.model.swapper.config import SwapperRunConfig
from id2reflectance.model.swapper.network import IdentitySwapper
from id2reflectance.model.swapper.step import SwapperStep


def make_step(swapper: IdentitySwapper, cfg: SwapperRunConfig, device: torch.device, *, bf16: bool) -> SwapperStep:
    """A :class:`SwapperStep` over ``swapper`` with a random identity student and discriminator."""
    torch.manual_seed(2)
    idnet = IdentityStudent(dataclasses.replace(cfg.student, dim=swapper.id_dim)).to(device)
    idnet.requires_grad_(False)
    idnet.eval()
    disc = PatchDiscriminator(cfg.disc).to(device)
    tc = dataclasses.replace(cfg.train, bf16=bf16)
    opt_g = torch.optim.Adam(swapper.trainable_parameters(), lr=tc.lr, betas=tc.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=tc.lr, betas=tc.betas)
    swapper.train()
    disc.train()
    return SwapperStep(swapper, idnet, disc, opt_g, opt_d, None, tc, device.type)


def batch(swapper: IdentitySwapper, size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Random (x, e, same): faces in [-1, 1], unit identities, half the rows same-identity."""
    g = torch.Generator().manual_seed(1)
    r = swapper.resolution
    x = torch.rand(size, 3, r, r, generator=g) * 2 - 1
    e = torch.nn.functional.normalize(torch.randn(size, swapper.id_dim, generator=g), dim=1)
    same = torch.arange(size) % 2 == 0
    return x.to(device), e.to(device), same.to(device)


def head_grads(step: SwapperStep, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Flattened gradient of the identity loss w.r.t. the modulation heads (no update)."""
    params = list(step.swapper.trainable_parameters())
    with step.autocast():
        emb = step.idnet(step.swapper.swap_rgb(x, e))
    loss = (1.0 - (emb.float() * e).sum(dim=1)).mean()
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten().float() for g, p in zip(grads, params)])


def bf16_check(swapper: IdentitySwapper, cfg: SwapperRunConfig, device: torch.device, size: int) -> float:
    """Cosine between bf16-autocast and float32 gradients of the identity loss (0 when bf16's are zero)."""
    x, e, _ = batch(swapper, size, device)
    ref = head_grads(make_step(swapper, cfg, device, bf16=False), x, e)
    low = head_grads(make_step(swapper, cfg, device, bf16=True), x, e)
    if not torch.isfinite(low).all() or low.norm() == 0:
        return 0.0
    return float(torch.nn.functional.cosine_similarity(ref, low, dim=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=None, help="default: tiny,cpu_128 (and paper_512 on CUDA)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="faces per step [the preset's train.batch_size]")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (median), after one warm-up step")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    device, presets = start(args, "random weights and batches; no perceptual loss")
    for preset in presets:
        cfg = SWAPPER_PRESETS[preset]()
        size = args.batch or cfg.train.batch_size
        swapper = build(preset, device)
        tag = f"{preset} {swapper.resolution}px batch {size}"
        x, e, same = batch(swapper, size, device)
        rates: dict[str, float] = {}
        peaks: dict[str, float] = {}
        cos = float("nan")
        for mode in ("fp32", "fp32 no GAN", *(("bf16",) if args.bf16 else ())):
            if mode == "bf16":
                cos = bf16_check(swapper, cfg, device, size)
                if not cos > 0.9:  # NaN too
                    print(f"{tag} bf16: rejected (gradient cosine to fp32 {cos:.3f})")
                    continue
            step = make_step(swapper, cfg, device, bf16=mode == "bf16")
            gan = mode != "fp32 no GAN"
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = time_call(functools.partial(step, x, e, same, gan=gan), device, args.steps)
            rates[mode] = size / seconds
            if device.type == "cuda":
                peaks[mode] = torch.cuda.max_memory_allocated(device) / 2**30
        print_row(f"{tag}: faces/s per training step, fp32", rates["fp32"], rates["fp32"])
        print_row(f"{tag}: faces/s, step without GAN terms vs with", rates["fp32 no GAN"], rates["fp32"])
        if "bf16" in rates:
            print_row(f"{tag}: faces/s, bf16 autocast vs fp32", rates["bf16"], rates["fp32"])
            print_row(f"{tag}: bf16 identity-loss gradient, cosine to fp32", cos, 1.0)
        for mode, gib in peaks.items():
            print_row(f"{tag}: peak GPU memory, {mode} (GiB)", gib, float("nan"))
        del swapper
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
