"""Relighting and export benchmark.

Builds a simulated subject's ground-truth asset, then measures:

- relight time of a 1024 x 1024 image under one HDR map (Mpix/s, whole image including
  ray casting; the environment's prefiltering is listed separately), next to the dense
  brute-force integration over the environment, timed on a sample of face pixels;
- accuracy of the fast path against that brute force under every real HDR map (median
  relative error of luminance on sampled face pixels; issue target < 3 %), the sampled
  specular (default) next to the split sum;
- exactness of pattern relighting against the simulator's frames (median relative error
  on face pixels the simulator does not self-shadow; issue target < 2 %);
- export time of the .glb next to reading the asset;
- the on-disk cache of prefiltered environments (``processing.relight.envcache``): loading
  one map's tables from a warm cache next to prefiltering it (cold: prefilter + write), and
  the same for all eight built-in maps (what a report with the viewer pays per process).

Usage: .venv/bin/python benchmarks/bench_relight.py [--quick] [--env-cache-only]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.frames import load_camera_frames
from id2reflectance.capture.geometry.mesh import raycasting_scene
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
from id2reflectance.processing.asset import asset_from_truth, read_asset
from id2reflectance.processing.export.gltf import export_glb
from id2reflectance.processing.relight.envcache import cached_prefilter
from id2reflectance.processing.relight.envmap import builtin_environments, load_environment
from id2reflectance.processing.relight.ibl import prefilter, reference_shade, shade_fast
from id2reflectance.processing.relight.render import RelightConfig, orbit_cameras, render_view, surface_samples
from id2reflectance.report.viewer import ViewerConfig, environment_tables

LUMA = np.array([0.2126, 0.7152, 0.0722])


def _row(rows: list[tuple[str, str, str, str]], figure: str, value: float, ref: float, fmt: str = "{:.4g}") -> None:
    ratio = value / ref if ref else float("nan")
    rows.append((figure, fmt.format(value), fmt.format(ref), f"{ratio:.3g}"))


def env_cache_rows(rows: list[tuple[str, str, str, str]], cache: Path) -> None:
    """Prefilter cold (compute + write the entry into the empty folder ``cache``) vs warm (load)."""
    cold: dict[str, float] = {}
    warm: dict[str, float] = {}
    for name in sorted(builtin_environments()):
        env = load_environment(name)
        t0 = time.perf_counter()
        cached_prefilter(env, cache_dir=cache)
        cold[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached_prefilter(env, cache_dir=cache)
        warm[name] = time.perf_counter() - t0
    if "studio" in cold:
        _row(rows, "env cache: studio 512x1024 prefilter, warm cache (s) vs cold (s)", warm["studio"], cold["studio"])
    _row(
        rows,
        f"env cache: all {len(cold)} built-in maps, warm cache (s) vs cold (s)",
        sum(warm.values()),
        sum(cold.values()),
    )
    if "studio" in cold:
        t0 = time.perf_counter()
        prefilter(load_environment("studio"))
        _row(rows, "env cache: studio cold (prefilter + write, s) vs prefilter alone (s)", cold["studio"],
             time.perf_counter() - t0)  # fmt: skip
    # the report viewer's tables (prefiltered + resampled) of every built-in map, as a new process
    os.environ["ID2R_CACHE_DIR"] = str(cache / "viewer")
    t_view = []
    for _ in range(2):  # cold, then warm
        environment_tables.cache_clear()
        t0 = time.perf_counter()
        for name in sorted(builtin_environments()):
            environment_tables(name, ViewerConfig().env_rows)
        t_view.append(time.perf_counter() - t0)
    environment_tables.cache_clear()
    _row(rows, f"env cache: viewer tables of {len(cold)} maps, warm cache (s) vs cold (s)", t_view[1], t_view[0])
    size = sum(p.stat().st_size for p in cache.glob("*.npz")) / 2**20
    exr = sum(p.stat().st_size for p in builtin_environments().values()) / 2**20
    _row(rows, f"env cache: folder size for {len(cold)} maps (MiB) vs their .exr files (MiB)", size, exr)


def _print(rows: list[tuple[str, str, str, str]]) -> None:
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}} | {'value':>10} | {'reference':>10} | ratio")
    print("-" * (w + 38))
    for fig, val, ref, ratio in rows:
        print(f"{fig:<{w}} | {val:>10} | {ref:>10} | {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller image, fewer pixels, 256-row reference")
    parser.add_argument("--env-cache-only", action="store_true", help="only the prefiltered-environment cache rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.env_cache_only:
        rows_: list[tuple[str, str, str, str]] = []
        with tempfile.TemporaryDirectory() as tmp_:
            env_cache_rows(rows_, Path(tmp_))
        _print(rows_)
        return
    size = 512 if args.quick else 1024
    n_pix = 24 if args.quick else 48
    ref_rows = 256 if args.quick else None
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        sim_cfg = SimulatorConfig(
            image_size=128 if args.quick else 256,
            uv_size=256 if args.quick else 512,
            cameras=1,
            inverses=False,
            visibility_directions=256,
        )
        session_dir = simulate_subject(tmp, subject_index=0, config=sim_cfg)
        asset = read_asset(asset_from_truth(session_dir, tmp / "asset", previews=False))
        scene = raycasting_scene(asset.mesh)
        cam = orbit_cameras(asset.mesh, 1, size=size, fov_deg=20.0)[0]

        # ---- speed: fast path vs brute force, one HDR map
        env = load_environment("studio")
        t0 = time.perf_counter()
        pre = prefilter(env)
        t_pre = time.perf_counter() - t0
        speeds = {}
        for mode in ("hybrid", "split_sum", "sampled"):
            t0 = time.perf_counter()
            r = render_view(asset, cam, env, config=RelightConfig(specular=mode), scene=scene, prefiltered=pre)
            speeds[mode] = size * size / (time.perf_counter() - t0) / 1e6
        face_frac = float(r.mask.mean())
        s, _ = surface_samples(asset, cam, scene)
        pick = np.linspace(0, len(s.idx) - 1, n_pix).astype(int)
        sub = (s.n[pick], s.v[pick], s.albedo[pick], s.k[pick], s.rough[pick])
        t0 = time.perf_counter()
        reference_shade(env, *sub, rows=ref_rows)
        t_ref_px = (time.perf_counter() - t0) / n_pix
        ref_mpix = 1.0 / (t_ref_px * max(face_frac, 1e-6)) / 1e6  # whole image, background free
        for mode in ("hybrid", "split_sum", "sampled"):
            _row(rows, f"relight {size}x{size} studio, {mode} specular (Mpix/s) vs brute force", speeds[mode], ref_mpix)
        _row(rows, "prefilter studio 512x1024 (s) vs brute force of 1 face pixel", t_pre, t_ref_px)

        # ---- accuracy under every real HDR map
        for name, _path in sorted(builtin_environments().items()):
            e = load_environment(name)
            p = prefilter(e)
            rd, rs = reference_shade(e, *sub, rows=ref_rows)
            ref = (rd + rs) @ LUMA
            errs = {}
            for mode in ("hybrid", "split_sum"):
                fd, fs = shade_fast(p, *sub, specular=mode)
                errs[mode] = float(np.median(np.abs((fd + fs) @ LUMA - ref) / ref))
            _row(
                rows,
                f"median rel. error {name}: hybrid (target < 0.03) vs split-sum",
                errs["hybrid"],
                errs["split_sum"],
            )

        # ---- exactness of pattern relighting vs the simulator's frames
        session = load_session(session_dir)
        scam = next(iter(session.cameras.values()))
        frames = load_camera_frames(session, scam.name)
        vis, _ = read_exr(session_dir / "truth" / scam.name / "visibility.exr")
        for pattern in ("full", "gradient_x", "gradient_y", "gradient_z"):
            rr = render_view(asset, scam, load_environment(f"pattern:{pattern}"), config=RelightConfig(), scene=scene)
            sel = rr.mask & (vis[..., 0] > 0.99)
            for pol in ("cross", "parallel"):
                sim = frames.images[(pattern, pol)]
                rel = np.abs(rr.image(pol) - sim).sum(-1)[sel] / np.maximum(sim.sum(-1)[sel], 1e-12)
                _row(
                    rows,
                    f"pattern {pattern} {pol}: median rel. error vs simulator (target 0.02)",
                    float(np.median(rel)),
                    0.02,
                )

        # ---- export
        t0 = time.perf_counter()
        read_asset(asset.root)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_glb(asset, tmp / "face.glb")
        t_glb = time.perf_counter() - t0
        _row(rows, f"export .glb ({asset.size}^2 textures) (s) vs read_asset (s)", t_glb, t_read)
        env_cache_rows(rows, tmp / "env_cache")
    _print(rows)


if __name__ == "__main__":
    main()
