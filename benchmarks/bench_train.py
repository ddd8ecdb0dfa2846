"""Training throughput of the codebook model (stage 1, generator + discriminator step).

For each config, measures images per second of full optimiser steps (forward, losses incl.
the GAN term with its adaptive weight, backward, Adam steps of generator and
discriminator) on random batches (no data loading), in float32 eager mode (the reference)
and with bf16 autocast and/or ``torch.compile`` (used only when the compiled-vs-eager
gradient check passes; otherwise the row says "rejected"). On CUDA it also reports peak GPU
memory.

    .venv/bin/python benchmarks/bench_train.py [--quick] [--configs tiny,cpu_128] [--device cpu|cuda]
        [--threads N] [--no-compile]

Columns: figure | value | reference measured in the same run | ratio (value / reference).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import time

import torch

from id2reflectance.model.codebook.config import PRESETS, RunConfig
from id2reflectance.model.codebook.steps import StepContext, disc_step, stage1_step
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.engine.compiled import compile_checked


def _measure(cfg: RunConfig, *, device: torch.device, bf16: bool, compile_: bool, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    torch._dynamo.reset()  # every variant compiles from scratch
    model = VQGAN(cfg.model).to(device)
    disc = PatchDiscriminator(cfg.disc).to(device)
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=cfg.train.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.train.lr, betas=cfg.train.betas)
    b, r = cfg.train.batch_size, cfg.model.resolution
    names = ("rgb", *cfg.data.domains)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    status = "ok"
    compile_s = 0.0
    if compile_:
        t = time.perf_counter()
        x = torch.rand(b, 3, r, r, device=device) * 2 - 1
        with torch.no_grad():
            z = model.encoder(x)
        for name, module, example in (("encoder", model.encoder, x), ("decoder.body", model.decoder.body, z)):
            fn, res = compile_checked(module, example, autocast_dtype=torch.bfloat16 if bf16 else None, name=name)
            if not res.ok:
                reason = res.reason.splitlines()[0][:110]
                status = f"rejected ({name}: {reason})"
                break
            model.compiled[name] = fn
        compile_s = time.perf_counter() - t
        if status != "ok":
            return {
                "images_per_s": float("nan"),
                "status": status,
                "compile_s": compile_s,
                "peak_mem_gib": float("nan"),
            }
    ctx = StepContext(cfg=cfg, model=model, core=model, disc=disc, disc_core=disc, perceptual=None, autocast=autocast)
    g = torch.Generator(device="cpu").manual_seed(0)
    batch = {n: (torch.rand(b, 3, r, r, generator=g) * 2 - 1).to(device) for n in names}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def one(step: int) -> None:
        res = stage1_step(ctx, batch, sample0=step * b, gan=True)
        res.loss.backward()
        d, _ = disc_step(ctx, res.real, res.fake)
        d.backward()
        opt_g.step()
        opt_g.zero_grad(set_to_none=True)
        opt_d.step()
        opt_d.zero_grad(set_to_none=True)

    for s in range(warmup):
        one(s)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    for s in range(steps):
        one(warmup + s)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {
        "images_per_s": b * steps / dt,
        "s_per_step": dt / steps,
        "status": status,
        "compile_s": compile_s,
        "peak_mem_gib": peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps; compile only for the first config")
    ap.add_argument("--configs", default=None, help="comma-separated presets [cpu: tiny,cpu_128; cuda: paper_512]")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads [torch default]")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = (args.configs or ("paper_512" if device.type == "cuda" else "tiny,cpu_128")).split(",")
    rows: list[tuple[str, str, str, str]] = []
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for i, name in enumerate(names):
        cfg = PRESETS[name]()
        small = cfg.model.resolution <= 64
        steps = (10 if args.quick else 30) if small else (3 if args.quick else 10)
        warmup = 3 if small else 2
        variants = [("fp32", False, False), ("bf16", True, False)]
        if not args.no_compile and not (args.quick and i > 0):
            variants += [("fp32+compile", False, True), ("bf16+compile", True, True)]
        ref = None
        for label, bf16, comp in variants:
            cfg_v = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, bf16=bf16, compile=comp))
            m = _measure(cfg_v, device=device, bf16=bf16, compile_=comp, steps=steps, warmup=warmup)
            if ref is None:
                ref = m["images_per_s"]
            fig = f"{name} {cfg.model.resolution}px b{cfg.train.batch_size} {label} images/s"
            if m["status"] != "ok":
                rows.append((fig, m["status"], f"{ref:.2f}", "-"))
                continue
            rows.append((fig, f"{m['images_per_s']:.2f}", f"{ref:.2f} (fp32 eager)", f"{m['images_per_s'] / ref:.2f}"))
            rows.append((f"{name} {label} s/step", f"{m['s_per_step']:.3f}", "-", "-"))
            if comp:
                rows.append((f"{name} {label} compile+check time s", f"{m['compile_s']:.1f}", "-", "-"))
            if device.type == "cuda":
                rows.append((f"{name} {label} peak GPU memory GiB", f"{m['peak_mem_gib']:.2f}", "-", "-"))
    head = ("figure", "value", "reference measured in the same run", "ratio")
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(4)]
    for r in [head, *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
