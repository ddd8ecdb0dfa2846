"""Simulator: time per session and the physics of its frames against its own truth.

Usage::

    .venv/bin/python benchmarks/bench_simulator.py [--quick]

For each image size (256 and 512 px, UV maps of the same size, 3 cameras, default
settings otherwise; ``--quick``: 256 only) one subject is simulated and timed. The
reference for the time is the GGX quadrature alone (``specular_moments`` with the
default 16x16 samples) on as many points as the session has head pixels, measured in the
same run: the ratio says how much the rest of the simulator (visibility, diffuse, I/O)
adds to the unavoidable per-pixel integration. The physics rows compare the decoded
frames with the ground truth written beside them; their reference is the detail-normal
tilt of the UV normal map (what the subsurface blur can lose).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from id2reflectance.capture.frames import load_camera_frames
from id2reflectance.capture.geometry.regions import uv_raster
from id2reflectance.capture.geometry.template_mesh import head_mesh
from id2reflectance.capture.ggx import specular_moments
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.sessions import SimulatorConfig, load_truth, make_subject, simulate_subject


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))


def _quadrature_seconds(points: int) -> float:
    rng = np.random.default_rng(0)
    n = rng.normal(size=(points, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    v = n + 0.6 * rng.normal(size=(points, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    t = time.perf_counter()
    specular_moments(n, v, rng.uniform(0.3, 0.6, points), chunk=1024)
    return time.perf_counter() - t  # single-threaded numpy: wall ~ CPU


def _physics(session: Path) -> dict[str, float]:
    s = load_session(session)
    alb, spec, err = [], [], {c: [] for c in "RGB"}
    for cam in s.cameras:
        f = load_camera_frames(s, cam).images
        t = load_truth(session, cam)
        sel = (t["mask"] > 0.5) & (t["visibility"] > 0.99)
        d = 2 * f[("full", "cross")]
        alb.append((np.abs(d[sel] - t["diffuse_albedo"][sel]) / t["diffuse_albedo"][sel]).ravel())
        sp = (f[("full", "parallel")] - f[("full", "cross")]).mean(-1)
        ok = sel & (t["specular_albedo"] > 0)
        spec.append(np.abs(sp[ok] - t["specular_albedo"][ok]) / t["specular_albedo"][ok])
        for c, name in enumerate("RGB"):
            g = np.stack([2 * f[(f"gradient_{a}", "cross")][..., c] - f[("full", "cross")][..., c] for a in "xyz"], -1)
            err[name].append(_angle(g[sel], t["normal"][sel]))
    out = {
        "albedo": float(np.median(np.concatenate(alb))),
        "albedo_p95": float(np.percentile(np.concatenate(alb), 95)),
        "specular": float(np.median(np.concatenate(spec))),
    }
    out.update({f"normal_{k}": float(np.median(np.concatenate(v))) for k, v in err.items()})
    return out


def _detail_tilt(config: SimulatorConfig, session: Path) -> float:
    from id2reflectance._shared.imageio import read_exr

    mesh = head_mesh(make_subject(config.seed, 0).head)
    r = uv_raster(config.uv_size)
    base = r.interpolate(mesh.vertex_normals(), mesh.faces)
    n, _ = read_exr(session / "truth" / "uv" / "normal_object.exr")
    face = (r.position[..., 2] > 0.05) & r.covered
    return float(np.median(_angle(base, n)[face]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 px only")
    args = ap.parse_args()
    sizes = (256,) if args.quick else (256, 512)
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            cfg = SimulatorConfig(image_size=size, uv_size=size)
            t0, c0 = time.perf_counter(), time.process_time()
            session = simulate_subject(Path(tmp) / str(size), subject_index=0, config=cfg)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            pixels = sum(int((load_truth(session, c)["mask"] > 0.5).sum()) for c in load_session(session).cameras)
            quad = _quadrature_seconds(pixels)
            ref = f"{quad:.1f} (GGX quadrature, {pixels} px)"
            rows.append((f"session {size} px, 3 cameras, wall s", f"{wall:.1f}", ref, f"{wall / quad:.2f}"))
            rows.append((f"session {size} px, 3 cameras, CPU s", f"{cpu:.1f}", ref, f"{cpu / quad:.2f}"))
            phys = _physics(session)
            tilt = _detail_tilt(cfg, session)
            ref = f"{tilt:.2f} (detail tilt, deg)"
            for c in "BGR":
                rows.append(
                    (
                        f"  {size} px diffuse normal error {c}, median deg",
                        f"{phys['normal_' + c]:.3f}",
                        ref,
                        f"{phys['normal_' + c] / tilt:.3f}",
                    )
                )
            rows.append((f"  {size} px |2 cross - albedo| / albedo, median", f"{phys['albedo']:.2e}", "-", "-"))
            rows.append((f"  {size} px |2 cross - albedo| / albedo, p95", f"{phys['albedo_p95']:.2e}", "-", "-"))
            rows.append((f"  {size} px |par - cross - spec| / spec, median", f"{phys['specular']:.2e}", "-", "-"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    widths = [max(len(r[i]) for r in rows + [("figure", "value", "reference", "ratio")]) for i in range(4)]
    line = " | ".join(h.ljust(w) for h, w in zip(("figure", "value", "reference", "ratio"), widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
    print(f"(unshadowed pixels: visibility > 0.99; 1-min load average during the run: {load:.1f})")


if __name__ == "__main__":
    main()
