"""Swap-and-decode latency and throughput of the identity swapper (the GPU part of inference).

Photo-to-asset inference (``benchmarks/bench_infer.py``) runs face detection, alignment,
identity, skin tone, stitching and writing on the CPU; only the swapper's forward pass
(encode the template's views, fuse, decode RGB and the four reflectance domains through the
identity-modulated decoder) moves to a GPU. This benchmark times that pass alone, so it
runs where only torch, numpy and safetensors are installed (the GPU machine): a face is
its three template views, at the preset's resolution, with random weights (timing does not
depend on them).

For each preset: latency of one face (3 views in one batch) and faces per second at
``--batch`` faces per call, with the identity modulation (the swapper) against the same
batch through the unmodulated decoder (``predict(..., modulate=False)``, the stage-2
model's own outputs, measured in the same run: the reference); on CUDA, peak GPU memory.
``--bf16`` adds rows with bfloat16 autocast.

    python benchmarks/bench_swap.py [--presets tiny,cpu_128[,paper_512]] [--device cpu|cuda]
        [--batch 8] [--repeat 5] [--threads N] [--bf16]

Columns: figure | value | reference measured in the same run | ratio (value / reference).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from id2reflectance.model.codebook.config import PRESETS as CODEBOOK_PRESETS
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.swapper.config import PRESETS as SWAPPER_PRESETS
from id2reflectance.model.swapper.network import IdentitySwapper

VIEWS_PER_FACE = 3


def build(preset: str, device: torch.device) -> IdentitySwapper:
    """A randomly initialised swapper of ``preset`` (codebook and swapper presets of one name)."""
    torch.manual_seed(0)
    run = CODEBOOK_PRESETS[preset]()
    base = MultiDomainVQGAN(run.model, run.fusion, run.data.domains)
    swapper = IdentitySwapper(base, SWAPPER_PRESETS[preset]().swapper)
    for m in swapper.adain.values():  # non-zero heads: the modulation really runs
        torch.nn.init.normal_(m.head.weight, std=0.01)
    return swapper.to(device).eval()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device: torch.device, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs after one warm-up run."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(swapper: IdentitySwapper, *, faces: int, device: torch.device, repeat: int, bf16: bool) -> dict[str, float]:
    """Seconds per call of ``faces`` faces (x 3 views), swapped and unmodulated."""
    r = swapper.resolution
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(faces * VIEWS_PER_FACE, 3, r, r, generator=g) * 2 - 1).to(device)
    e = torch.nn.functional.normalize(torch.randn(faces * VIEWS_PER_FACE, swapper.id_dim, generator=g), dim=1)
    e = e.to(device)

    def ctx() -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def run(modulate: bool) -> None:
        with torch.no_grad(), ctx():
            swapper.predict(x, e, modulate=modulate)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    swap = time_call(lambda: run(True), device, repeat)
    plain = time_call(lambda: run(False), device, repeat)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"swap_s": swap, "plain_s": plain, "peak_gib": peak}


def start(args: argparse.Namespace, note: str) -> tuple[torch.device, list[str]]:
    """Apply ``--threads``, print the device line (with ``note``) and the table header;
    return the device and the presets to run (``--presets``, else tiny and cpu_128, and
    paper_512 on CUDA)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    presets = args.presets or ("tiny,cpu_128,paper_512" if device.type == "cuda" else "tiny,cpu_128")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; {note}")
    print(f"{'figure':66} | {'value':>12} | {'reference':>12} | {'ratio':>6}")
    return device, [p.strip() for p in presets.split(",") if p.strip()]


def print_row(fig: str, value: float, ref: float) -> None:
    """One table row: figure | value | reference | value / reference (nan without a reference)."""
    ratio = value / ref if ref == ref and ref > 0 else float("nan")
    print(f"{fig:66} | {value:12.3f} | {ref:12.3f} | {ratio:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=None, help="default: tiny,cpu_128 (and paper_512 on CUDA)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    device, presets = start(args, f"a face = {VIEWS_PER_FACE} views; random weights")
    for preset in presets:
        swapper = build(preset, device)
        for bf16 in (False, True) if args.bf16 else (False,):
            tag = f"{preset} {swapper.resolution}px {'bf16' if bf16 else 'fp32'}"
            one = measure(swapper, faces=1, device=device, repeat=args.repeat, bf16=bf16)
            many = measure(swapper, faces=args.batch, device=device, repeat=args.repeat, bf16=bf16)
            rows = [
                (f"{tag}: one face, swap + decode (ms) vs unmodulated", one["swap_s"] * 1e3, one["plain_s"] * 1e3),
                (
                    f"{tag}: faces/s at batch {args.batch} vs unmodulated",
                    args.batch / many["swap_s"],
                    args.batch / many["plain_s"],
                ),
                (
                    f"{tag}: faces/s at batch {args.batch} vs batch 1",
                    args.batch / many["swap_s"],
                    1.0 / one["swap_s"],
                ),
            ]
            if device.type == "cuda":
                rows.append((f"{tag}: peak GPU memory at batch {args.batch} (GiB)", many["peak_gib"], float("nan")))
            for fig, v, ref in rows:
                print_row(fig, v, ref)
        del swapper
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
