"""Per-frame plots: saturation/dynamic range of a session, motion of a solve (read defensively),
and the solve report with them in headless Chromium."""

from __future__ import annotations

import json
import math

import numpy as np

from id2reflectance._shared.imageio import write_exr
from id2reflectance.report.build import build_report
from id2reflectance.report.frames import motion_section, motion_series
from id2reflectance.report.headless import open_page


def test_motion_series_accepts_numbers_lists_and_objects():
    frames = [
        {"file": "a.exr", "motion": {"dx_px": 0.5, "dy_px": -1.0, "ok": True}},
        {"file": "b.exr", "motion": {"dx_px": 1.5}},
        {"file": "c.exr"},  # no motion: left out
        "garbage",
    ]
    labels, series = motion_series(frames)
    assert labels == ["a.exr", "b.exr"]
    assert series["motion.dx_px"] == [0.5, 1.5]
    assert series["motion.dy_px"][0] == -1.0 and math.isnan(series["motion.dy_px"][1])
    assert "motion.ok" not in series  # booleans are not plotted
    _, mixed = motion_series([{"motion": [1, 2]}, {"motion": 3}])
    assert sorted(mixed) == ["motion", "motion[0]", "motion[1]"] and mixed["motion"][1] == 3.0
    _, s = motion_series([{"motion": [1, 2]}])
    assert s == {"motion[0]": [1.0], "motion[1]": [2.0]}
    assert motion_series(None) == ([], {}) and motion_series({"x": 1}) == ([], {})
    assert motion_section({"cameras": {"cam0": {"stats": {}}}}) == ""
    html = motion_section({"cameras": {"cam0": {"frames": frames}}})
    assert "Per-frame motion: cam0" in html and html.count("<polyline") == 1  # dy has one finite point


def _tiny_solve(root, *, motion: bool):
    cam = root / "cam0"
    cam.mkdir(parents=True)
    rng = np.random.default_rng(0)
    n = rng.normal(size=(16, 16, 3))
    n[..., 2] = 3
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    for name, a in {
        "diffuse_albedo": rng.uniform(0.2, 0.6, (16, 16, 3)),
        "specular_albedo": rng.uniform(0.02, 0.06, (16, 16)),
        "normal_diffuse": n,
        "normal_specular": n,
        "roughness": rng.uniform(0.3, 0.5, (16, 16)),
        "mask": np.ones((16, 16)),
    }.items():
        write_exr(cam / f"{name}.exr", a.astype(np.float32))
    meta = {"cameras": {"cam0": {"stats": {"roughness": {"mean": 0.4, "median": 0.4, "p5": 0.3, "p95": 0.5}}}}}
    if motion:
        meta["frames"] = [{"file": f"f{i}.exr", "motion": {"dx_px": 0.1 * i, "dy_px": -0.05 * i}} for i in range(6)]
    (root / "solve.json").write_text(json.dumps(meta))
    return root


def test_solve_report_plots_motion_and_loads_in_chromium(tmp_path):
    with_motion = build_report(_tiny_solve(tmp_path / "a", motion=True), tmp_path / "a.html")
    text = with_motion.read_text()
    assert "Per-frame motion: all cameras" in text and "motion.dx_px" in text
    page = open_page(with_motion)
    assert page.console == [] and page.attrs.get("data-broken") == "0"
    assert int(page.attrs["data-images"]) == 6
    solve_b = _tiny_solve(tmp_path / "b", motion=False)
    write_exr(solve_b / "cam0" / "confidence.exr", np.full((16, 16), 0.7, np.float32))
    plain = build_report(solve_b, tmp_path / "b.html").read_text()
    assert "Per-frame motion" not in plain and "<h2>Solve</h2>" in plain and "cam0: confidence" in plain
