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


def test_motion_series_reads_the_alignment_block():
    alignment = {
        "mode": "auto",
        "frames": [
            {"frame": "full_cross", "tx": 0.0, "ty": 0.0, "rotation_deg": 0.0, "method": "reference"},
            {"frame": "gradient_x_cross", "tx": 0.4, "ty": -0.2, "rotation_deg": 0.1, "residual_px": 0.05},
            "garbage",
            {"frame": "gradient_y_cross", "tx": True, "ty": None},  # no numbers: NaN
        ],
    }
    labels, series = motion_series(alignment)
    assert labels == ["full_cross", "gradient_x_cross", "gradient_y_cross"]
    assert list(series) == ["tx", "ty", "rotation_deg", "residual_px"]
    assert series["tx"][:2] == [0.0, 0.4] and math.isnan(series["tx"][2])
    assert math.isnan(series["residual_px"][0]) and series["residual_px"][1] == 0.05
    assert motion_series(None) == ([], {}) and motion_series({"frames": 3}) == ([], {})
    assert motion_section({"cameras": {"cam0": {"stats": {}}}}) == ""
    html = motion_section({"cameras": {"cam0": {"alignment": alignment}, "cam1": {"alignment": None}}})
    assert (
        "Per-frame motion: cam0" in html and "cam1" not in html and html.count("<polyline") == 3
    )  # residual_px has one finite point


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
        frames = [{"frame": f"f{i}", "tx": 0.1 * i, "ty": -0.05 * i, "residual_px": 0.02} for i in range(6)]
        meta["cameras"]["cam0"]["alignment"] = {"mode": "rigid", "frames": frames}
    (root / "solve.json").write_text(json.dumps(meta))
    return root


def test_solve_report_plots_motion_and_loads_in_chromium(tmp_path):
    with_motion = build_report(_tiny_solve(tmp_path / "a", motion=True), tmp_path / "a.html")
    text = with_motion.read_text()
    assert "Per-frame motion: cam0" in text and "residual_px" in text
    page = open_page(with_motion)
    assert page.console == [] and page.attrs.get("data-broken") == "0"
    assert int(page.attrs["data-images"]) == 6
    solve_b = _tiny_solve(tmp_path / "b", motion=False)
    write_exr(solve_b / "cam0" / "confidence.exr", np.full((16, 16), 0.7, np.float32))
    plain = build_report(solve_b, tmp_path / "b.html").read_text()
    assert "Per-frame motion" not in plain and "<h2>Solve</h2>" in plain and "cam0: confidence" in plain
