"""Where the denoising stage's time goes: seconds per step on one synthetic camera.

The steps of ``noise_figures._stage_seconds`` (noise estimation, ambient check + denoise,
robust mask, confidence; as the solver runs them, in place) on the synthetic camera of
``bench_solver.py --noise`` (a simulated camera's frames upsampled, the issue's noise
added), each library step timed by wrapping the function the pipeline calls. Prints one
row per step: wall seconds, the whole stage's seconds in the same run, the share, and the CPU
seconds of every thread of the process during the step (on a shared machine the steadier figure).

    PYTHONPATH=src python benchmarks/denoise_steps.py [--size 2048] [--no-inverses] [--clean]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import noise_figures  # beside this script
from id2reflectance.processing.solve import denoise, integrable_normals, moment_filter, noise

SECONDS: dict[str, float] = defaultdict(float)
CPU: dict[str, float] = defaultdict(float)  # process_time: every thread of the process


def _timed(module: ModuleType | Any, name: str, label: str) -> None:
    """Replace ``module.name`` by a wrapper adding its wall time to ``SECONDS[label]`` and its CPU time to
    ``CPU[label]`` (when it exists: the script also profiles older checkouts, ``PYTHONPATH=<their src>``)."""
    fn: Callable[..., Any] | None = getattr(module, name, None)
    if fn is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[label] += time.perf_counter() - t
            CPU[label] += time.process_time() - c

    setattr(module, name, wrapper)


def _kernels() -> None:
    """Wrap the compiled kernels' entry points (imported lazily by the library)."""
    from id2reflectance.processing.solve import guided_kernel, moments_kernel

    try:  # checkouts before the fused integrable kernels do not have them
        from id2reflectance.processing.solve import integrable_kernel
    except ImportError:
        integrable_kernel = None
    for name in ("gradient_diffuse", "gradient_both", "surface_gradient", "half_vectors", "curl4"):
        _timed(integrable_kernel, name, "denoise: integrable, gradients and curls (compiled)")
    for name in (
        "rotate_diffuse",
        "correct_both",
        "corrected_normals",
        "rotate_moments",
        "reflect_moments",
    ):
        _timed(integrable_kernel, name, "denoise: integrable, corrected normals and moments (compiled)")
    _timed(moments_kernel, "pack_moments", "denoise: pack moment planes (+ lobe length, + pooling)")
    _timed(moments_kernel, "unpack_moments", "denoise: rebuild frames (+ lobe length rescale)")
    _timed(guided_kernel, "guided_filter_planes", "denoise: guided filters, one guide")
    _timed(guided_kernel, "guided_filter_planes2", "denoise: guided filters, two guides")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--no-inverses", action="store_true", help="8 frames instead of 14")
    parser.add_argument("--clean", action="store_true", help="no added noise")
    parser.add_argument("--repeats", type=int, default=2, help="runs (the fastest one's steps are printed)")
    args = parser.parse_args()
    _kernels()
    _timed(noise, "estimate_frame_noise", "noise: per-frame estimates")
    _timed(noise, "pattern_noise", "noise: complementary patterns")
    noise_figures.estimate_frame_noise = noise.estimate_frame_noise
    noise_figures.pattern_noise = noise.pattern_noise
    _timed(denoise, "_remove_ambient", "denoise: ambient check")
    _timed(denoise, "_sigma_map", "denoise: noise sigma maps")
    _timed(denoise, "luminance", "denoise: luminance planes")
    _timed(denoise, "guided_filter", "denoise: guide self-smoothing (and ambient filter)")
    _timed(moment_filter, "length_noise", "denoise: lobe length noise calibration")
    _timed(moment_filter, "unbiased_length2", "denoise: lobe length (numpy, before the fused kernels)")
    _timed(moment_filter, "rescale_lobe_length", "denoise: lobe length rescale (numpy, before the fused kernels)")
    _timed(moment_filter, "pool_first_moments", "denoise: pooling (before it was fused into the packing)")
    _timed(denoise, "filter_moments", "denoise: filter_moments (all, with the integrable step)")
    _timed(denoise, "make_integrable", "denoise: integrable step (all)")
    _timed(integrable_normals, "_screened_inverse", "denoise: integrable, screened solves (FFT)")
    with tempfile.TemporaryDirectory(prefix="denoise_steps_") as tmpdir:
        frames, geometry = noise_figures._synthetic_camera(
            Path(tmpdir), args.size, inverses=not args.no_inverses, noisy=not args.clean
        )
        noise_figures._stage_seconds(frames, geometry)  # compile or load the kernels
        best: tuple[dict[str, float], dict[str, float], dict[str, float]] | None = None
        for _ in range(args.repeats):
            SECONDS.clear()
            CPU.clear()
            stages = noise_figures._stage_seconds(frames, geometry)
            if best is None or stages["total"] < best[0]["total"]:
                best = (stages, dict(SECONDS), dict(CPU))
    assert best is not None
    stages, steps, cpu = best
    total = stages["total"]
    rows = [("load average (1 min)", f"{os.getloadavg()[0]:.1f}", f"{os.cpu_count()} CPUs", "-", "-")]
    for k in ("noise", "denoise", "mask", "confidence", "total"):
        rows.append((f"stage {k}", f"{stages[k]:.3f} s", f"total {total:.3f} s", f"{stages[k] / total:.3f}", "-"))
    rows.append(("stage total, CPU s (every thread)", "-", "-", "-", f"{stages.get('cpu', float('nan')):.3f} CPU s"))
    for k in sorted(steps):
        rows.append((k, f"{steps[k]:.3f} s", f"total {total:.3f} s", f"{steps[k] / total:.3f}", f"{cpu[k]:.3f} CPU s"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
