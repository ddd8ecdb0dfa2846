"""Report page benchmark: size and load time of an asset page with the WebGL viewer, and the
viewer's agreement with ``id2r relight``.

Builds a simulated subject's ground-truth asset (512 texels) and the same asset resampled
to 1024 and 2048 texels, then for each:

- the asset report's size with the viewer (every installed environment, maps at 512
  texels in the page) next to the same report without it (``--no-viewer``); the budget is
  15 MB for a 1024-texel asset;
- build time (the environments' prefiltering is cached after the first build and listed
  separately) and load time in headless Chromium (software WebGL: SwiftShader on the CPU):
  the page's own time from navigation start to the first frame drawn, and the browser's
  wall time;

and, for the 1024-texel asset, the difference between a 256 px viewer screenshot and the
relight render from the same frontal camera at the same exposure under two environments
(mean |difference| / mean on the face, 8-bit sRGB), against relight's split sum (the model
the viewer implements) and its default hybrid specular.

Usage: .venv/bin/python benchmarks/bench_report.py
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
from id2reflectance.processing.asset import AssetMaps, asset_from_truth, read_asset, write_asset
from id2reflectance.processing.relight.envmap import builtin_environments
from id2reflectance.report.build import ReportConfig, build_report
from id2reflectance.report.headless import open_page
from id2reflectance.report.viewer import environment_tables
from id2reflectance.report.viewer_check import compare_with_relight

SIZES = (512, 1024, 2048)
COMPARE_ENVS = ("studio", "sunset")
BUDGET_MB_1024 = 15.0


def _resized(root: Path, out: Path, size: int) -> Path:
    a = read_asset(root)
    m = a.maps

    def rs(x: np.ndarray) -> np.ndarray:
        return cv2.resize(x, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)

    n = rs(m.normal_object)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    maps = AssetMaps(rs(m.diffuse_albedo), rs(m.specular_albedo), rs(m.roughness), n, rs(m.coverage))
    man = a.manifest
    return write_asset(
        out,
        mesh=a.mesh,
        maps=maps,
        subject_id=a.subject_id,
        template_name=man["template"]["name"],
        template_sha256=man["template"]["sha256"],
        frame=a.frame,
        source=man["source"],
        previews=False,
    )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    rows: list[tuple[str, str, str, str]] = []

    def row(figure: str, value: float, ref: float, fmt: str = "{:.3g}") -> None:
        rows.append((figure, fmt.format(value), fmt.format(ref), f"{value / ref:.3g}" if ref else "n/a"))

    envs = sorted(builtin_environments())
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        cfg = SimulatorConfig(image_size=128, uv_size=512, cameras=1, inverses=False, visibility_directions=128)
        session = simulate_subject(tmp / "sim", subject_index=1, config=cfg)
        assets = {512: asset_from_truth(session, tmp / "a512", previews=False)}
        for s in SIZES[1:]:
            assets[s] = _resized(assets[512], tmp / f"a{s}", s)
        t0 = time.perf_counter()
        for e in envs:
            environment_tables(e, 64)
        row(f"prefilter {len(envs)} environments for the page (s, once per process)", time.perf_counter() - t0, 1.0)
        for s in SIZES:
            t0 = time.perf_counter()
            page = build_report(assets[s], tmp / f"r{s}.html", config=ReportConfig(renders=False))
            build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            plain = build_report(assets[s], tmp / f"p{s}.html", config=ReportConfig(renders=False, viewer=False))
            plain_s = time.perf_counter() - t0
            mb, plain_mb = page.stat().st_size / 1e6, plain.stat().st_size / 1e6
            row(f"{s}-texel asset: page size MB (ref: without viewer)", mb, plain_mb)
            if s == 1024:
                row("1024-texel asset: page size MB (ref: budget)", mb, BUDGET_MB_1024)
            row(f"{s}-texel asset: build s (ref: without viewer)", build_s, plain_s)
            res = open_page(page)
            if res.attrs.get("data-viewer") != "ready" or res.console:
                raise RuntimeError(f"viewer failed on the {s}-texel page: {res.attrs.get('data-viewer')} {res.console}")
            ref = open_page(plain)
            row(f"{s}-texel asset: load to first frame ms (page's clock)", res.load_ms or float("nan"), 1.0, "{:.0f}")
            row(f"{s}-texel asset: browser wall s (ref: without viewer)", res.wall_s, ref.wall_s)
        diffs, _ = compare_with_relight(read_asset(assets[1024]), tmp / "r1024.html", COMPARE_ENVS, size=256)
        for d in diffs:
            row(f"viewer vs relight ({d.specular}), {d.env}: mean |diff| / mean (ref: 3 %)", d.relative, 0.03, "{:.4f}")
            row(f"viewer vs relight ({d.specular}), {d.env}: bias / mean", d.bias, 0.03, "{:+.4f}")
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}}  {'value':>10}  {'reference':>10}  {'ratio':>7}")
    for f, v, r, q in rows:
        print(f"{f:<{w}}  {v:>10}  {r:>10}  {q:>7}")


if __name__ == "__main__":
    main()
