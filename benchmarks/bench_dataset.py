"""Dataset build: per-subject wall time by stage, 1 -> 2 worker scaling, loader throughput.

Usage::

    .venv/bin/python benchmarks/bench_dataset.py [--subjects 4] [--quick]

Simulates N subjects (3 cameras, 128 px frames by default; --quick: 96 px), builds the
dataset once with 1 worker and once with 2 workers (LocalCluster, same options), and
prints the per-stage times, the speed-up and the parallel efficiency
(t1 / (2 * t2), target >= 0.8 on this 2-core machine for 4+ subjects). Two figures:
"cold" times the whole command (cluster start, worker imports, first-call warm-up of
every worker, the build, cluster shutdown); "warm pool" times the same build on a cluster
whose workers already built two other subjects (the steady state of a long-lived cluster
or scheduler, where worker start-up is paid once). Then it times the
torch loader (ReflectanceDataset, all domains, 512x512, DataLoader with 2 workers) in
samples per second next to the time one training step of the model's cpu_128 config
consumes per sample (the reference: the loader must be faster).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_sessions
    from id2reflectance.dataset.build import STAGES, BuildConfig, build_dataset
    from id2reflectance.dataset.cluster import ClusterConfig

    size = 96 if args.quick else 128
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    t0 = time.perf_counter()
    sim_cfg = SimulatorConfig(image_size=size, uv_size=128)
    simulate_sessions(tmp / "sessions", subjects=args.subjects, config=sim_cfg)
    simulate_sessions(tmp / "warmup", subjects=range(1000, 1002), config=sim_cfg)
    print(f"simulated {args.subjects} subjects at {size} px in {time.perf_counter() - t0:.1f} s")
    walls = {}
    timings = {}
    for workers in (1, 2):
        cfg = BuildConfig(
            image_size=128,
            bake_size=256,
            environments=("full",),
            cluster=ClusterConfig(workers=workers, dashboard=None, memory_limit="6GiB"),
        )
        rep = build_dataset(tmp / "sessions", tmp / f"ds{workers}", config=cfg)
        if rep.failed:
            raise SystemExit(f"build failed: {rep.failed}")
        walls[workers] = rep.wall_s
        timings[workers] = rep.timings_s
    from id2reflectance.dataset.cluster import open_client

    warm = {}
    for workers in (1, 2):
        cfg = BuildConfig(
            image_size=128,
            bake_size=256,
            environments=("full",),
            cluster=ClusterConfig(workers=workers, dashboard=None, memory_limit="6GiB"),
        )
        client, cluster = open_client(cfg.cluster)
        try:
            build_dataset(tmp / "warmup", tmp / f"warm{workers}", config=cfg, client=client)
            rep = build_dataset(tmp / "sessions", tmp / f"ds_warm{workers}", config=cfg, client=client)
        finally:
            client.close()
            cluster.close()
        if rep.failed:
            raise SystemExit(f"build failed: {rep.failed}")
        warm[workers] = rep.wall_s
    print("\nper-subject wall time by stage (s), 1-worker build:")
    print(f"{'subject':8} " + " ".join(f"{s:>9}" for s in STAGES))
    for sid, t in sorted(timings[1].items()):
        print(f"{sid:8} " + " ".join(f"{t.get(s, 0.0):9.2f}" for s in STAGES))
    eff = walls[1] / (2 * walls[2])
    print("\n| figure | value | reference (same run) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| build wall, 2 workers (s) | {walls[2]:.1f} | 1 worker: {walls[1]:.1f} | speed-up {walls[1] / walls[2]:.2f} |"
    )
    print(f"| parallel efficiency t1/(2 t2), cold | {eff:.2f} | target 0.80 | {eff / 0.8:.2f} |")
    eff_w = warm[1] / (2 * warm[2])
    print(
        f"| build wall, 2 workers, warm pool (s) | {warm[2]:.1f} | 1 worker: {warm[1]:.1f} | speed-up {warm[1] / warm[2]:.2f} |"
    )
    print(f"| parallel efficiency t1/(2 t2), warm pool | {eff_w:.2f} | target 0.80 | {eff_w / 0.8:.2f} |")

    # loader throughput at 512 x 512, all domains
    import torch

    from id2reflectance.dataset.torch_dataset import ReflectanceDataset

    ds = ReflectanceDataset(
        tmp / "ds2",
        split="all",
        domains=("rgb", "diffuse", "specular", "roughness", "normal"),
        views=("front", "left", "right"),
        resolution=512,
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, shuffle=True, persistent_workers=False)
    n = 0
    t0 = time.perf_counter()
    for _ in range(3):
        for batch in loader:
            n += batch["diffuse"].shape[0]
    load_rate = n / (time.perf_counter() - t0)
    from id2reflectance.model.codebook.config import cpu_128
    from id2reflectance.model.codebook.vqgan import VQGAN

    cfg = cpu_128()
    model = VQGAN(cfg.model)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(4, 3, cfg.model.resolution, cfg.model.resolution)
    for i in range(3):
        if i == 1:
            t0 = time.perf_counter()
        out = model(x)
        loss = (out.x_rec - x).abs().mean() + out.quant.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    step_rate = 4 * 2 / (time.perf_counter() - t0)
    print(
        f"| loader samples/s (512x512, 5 domains, 2 workers) | {load_rate:.1f} | training consumes {step_rate:.1f} samples/s (cpu_128 step) | {load_rate / step_rate:.1f} |"
    )


if __name__ == "__main__":
    main()
