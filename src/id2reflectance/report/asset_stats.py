"""Statistics of an asset for the report, as tables and SVG plots: per-map summaries and
histograms over the seen texels, per-region figures (forehead, cheeks, nose, lips, chin)
when the asset uses the template's UV layout, coverage, the producer's fit residuals, and
accuracy against the simulator's ground truth when the session is given.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance._shared.jsonfile import read_json
from id2reflectance.capture.geometry.mesh import FaceMesh, rasterize_uv
from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME, template_mesh
from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, RETIRED_TEMPLATE_NAMES, layout_regions
from id2reflectance.errors import InputFileError
from id2reflectance.processing.asset import Asset
from id2reflectance.processing.relight.envmap import LUMA
from id2reflectance.processing.solve.accuracy import angle_between_deg
from id2reflectance.report import html as H
from id2reflectance.report.plots import bar_chart_svg

REPORT_REGIONS = ("forehead", "cheeks", "nose", "lips", "chin")
HIST_BINS = 32


def uses_template_layout(mesh: FaceMesh) -> bool:
    """True when ``mesh`` has the template's vertex count and UVs (so region masks apply)."""
    tpl = template_mesh()
    return mesh.uvs is not None and mesh.uvs.shape == tpl.uvs.shape and bool(np.allclose(mesh.uvs, tpl.uvs, atol=1e-4))


def _scalar_maps(asset: Asset) -> dict[str, np.ndarray]:
    m = asset.maps
    return {
        "diffuse albedo R": m.diffuse_albedo[..., 0],
        "diffuse albedo G": m.diffuse_albedo[..., 1],
        "diffuse albedo B": m.diffuse_albedo[..., 2],
        "diffuse albedo luminance": m.diffuse_albedo @ LUMA.astype(np.float32),
        "specular albedo": m.specular_albedo,
        "roughness": m.roughness,
    }


def _summary(v: np.ndarray) -> list[float]:
    if v.size == 0:
        return [float("nan")] * 5
    return [
        float(v.mean()),
        float(np.median(v)),
        float(np.percentile(v, 5)),
        float(np.percentile(v, 95)),
        float(v.std()),
    ]


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    s = float(w.sum())
    return float((x * w).sum() / s) if s > 0 else float("nan")


def map_section(asset: Asset) -> str:
    """Per-map summary table and histograms over the seen texels (coverage > 0), and the
    coverage of the UV chart."""
    cov = asset.maps.coverage
    seen = cov > 0
    chart = rasterize_uv(asset.mesh, asset.size)[0] >= 0
    maps = _scalar_maps(asset)
    rows = [[name, *_summary(a[seen])] for name, a in maps.items()]
    out = ["<h3>Maps (seen texels)</h3>", H.table(["map", "mean", "median", "p5", "p95", "std"], rows)]
    frac_seen = float((cov[chart] > 0).mean()) if chart.any() else float("nan")
    out.append(
        H.table(
            ["UV chart texels", "seen (coverage > 0)", "mean coverage on the chart"],
            [[int(chart.sum()), f"{100 * frac_seen:.1f}%", float(cov[chart].mean()) if chart.any() else float("nan")]],
            left=0,
        )
    )
    hists = []
    for name, lo, hi in (
        ("diffuse albedo luminance", 0.0, 1.0),
        (
            "specular albedo",
            0.0,
            max(0.1, float(np.percentile(maps["specular albedo"][seen], 99.5)) if seen.any() else 0.1),
        ),
        ("roughness", 0.0, 1.0),
    ):
        vals = np.clip(maps[name][seen], lo, hi)
        hists.append(
            H.histogram_svg(vals, bins=np.linspace(lo, hi, HIST_BINS + 1), label=f"{name} (texels)", annotate=False)
        )
    hists.append(
        H.histogram_svg(
            cov[chart], bins=np.linspace(0, 1, 11), label="coverage over the UV chart (texels)", annotate=False
        )
    )
    out.append('<div class="grid">' + "".join(hists) + "</div>")
    return "".join(out)


def region_section(asset: Asset) -> str:
    """Per-region weighted means (region masks of the template UV layout: the procedural or
    the face-model template's) as a table and bar charts."""
    masks = layout_regions(asset.mesh, asset.size)
    if masks is None:
        return "<p>Per-region figures: the asset's mesh does not use a template's UV layout.</p>"
    maps = _scalar_maps(asset)
    cov = asset.maps.coverage
    rows, lum, spec, rough, seen = [], [], [], [], []
    for r in REPORT_REGIONS:
        w = masks[r]
        vals = [_weighted_mean(maps[k], w) for k in maps]
        rows.append([r, float(w.sum()), *vals, 100 * _weighted_mean((cov > 0).astype(np.float32), w)])
        lum.append(vals[3])
        spec.append(vals[4])
        rough.append(vals[5])
        seen.append(rows[-1][-1])
    head = [
        "region",
        "weight (texels)",
        "albedo R",
        "albedo G",
        "albedo B",
        "albedo lum",
        "specular",
        "roughness",
        "seen %",
    ]
    charts = [
        bar_chart_svg(REPORT_REGIONS, {"albedo luminance": lum}, title="diffuse albedo luminance by region"),
        bar_chart_svg(REPORT_REGIONS, {"specular albedo": spec}, title="specular albedo by region"),
        bar_chart_svg(REPORT_REGIONS, {"roughness": rough}, title="roughness by region"),
        bar_chart_svg(REPORT_REGIONS, {"seen %": seen}, title="coverage: seen texels (%) by region"),
    ]
    return "<h3>Regions</h3>" + H.table(head, rows) + '<div class="grid">' + "".join(charts) + "</div>"


def residual_section(manifest: dict) -> str:
    """The producer's statistics (``asset.json`` stats: coverage, fit residuals) as a table."""
    stats = manifest.get("stats") or {}
    rows = []
    for key, val in stats.items():
        if isinstance(val, dict):
            rows += [[f"{key}.{k}", v] for k, v in val.items() if isinstance(v, int | float)]
        elif isinstance(val, int | float):
            rows.append([key, val])
    if not rows:
        return ""
    return "<h3>Producer statistics (asset.json: coverage, fit residuals)</h3>" + H.table(["statistic", "value"], rows)


def _truth_map(path: Path, size: int) -> np.ndarray:
    a, _ = read_exr(path)
    if a.shape[0] != size:
        a = cv2.resize(a, (size, size), interpolation=cv2.INTER_LINEAR).reshape(size, size, -1)
    return a[..., 0] if a.shape[2] == 1 else a


def _check_truth_layout(asset: Asset, params: Path) -> None:
    """The asset and the session's truth must be in the same UV layout (both templates known)."""
    known = (TEMPLATE_NAME, FACE_TEMPLATE_NAME, *RETIRED_TEMPLATE_NAMES)
    mine = (asset.manifest.get("template") or {}).get("name")
    theirs = read_json(params).get("template") if params.is_file() else None
    if mine in known and theirs in known and mine != theirs:
        raise InputFileError(
            asset.root / "asset.json",
            "template",
            f"the asset is in the UV layout {mine}, the session's truth ({params}) in {theirs}: "
            "bake the session with the truth's --template to compare them",
        )


def truth_section(asset: Asset, session: Path | None) -> str:
    """Accuracy of the maps against ``SESSION/truth/uv`` (the simulator's ground truth), overall
    and per region: albedo relative error, specular and roughness absolute error, normal angle."""
    if session is None or not (session / "truth" / "uv" / "diffuse_albedo.exr").is_file():
        return ""
    t = session / "truth" / "uv"
    _check_truth_layout(asset, t / "params.json")
    s = asset.size
    m = asset.maps
    err = {
        "diffuse albedo rel %": 100
        * np.abs(m.diffuse_albedo - _truth_map(t / "diffuse_albedo.exr", s)).mean(-1)
        / np.maximum(_truth_map(t / "diffuse_albedo.exr", s).mean(-1), 1e-6),
        "specular albedo abs": np.abs(m.specular_albedo - _truth_map(t / "specular_albedo.exr", s)),
        "roughness abs": np.abs(m.roughness - _truth_map(t / "roughness.exr", s)),
        "normal deg": angle_between_deg(m.normal_object, _truth_map(t / "normal_object.exr", s)),
    }
    seen = (m.coverage > 0).astype(np.float32)
    if (t / "valid.exr").is_file():  # truth in the face-model template's layout: where it is defined
        seen = seen * (_truth_map(t / "valid.exr", s) > 0.5)
    weights = {"all seen": seen}
    masks = layout_regions(asset.mesh, s)
    if masks is not None:
        weights.update({r: masks[r] * seen for r in REPORT_REGIONS})
    rows = [[name, *(_weighted_mean(e, w) for e in err.values())] for name, w in weights.items()]
    charts = [
        bar_chart_svg(list(weights), {k: [r[i + 1] for r in rows]}, title=f"error against truth: {k}")
        for i, k in enumerate(err)
    ]
    return (
        "<h3>Accuracy against the simulator's ground truth (means)</h3>"
        + H.table(["region", *err], rows)
        + '<div class="grid">'
        + "".join(charts)
        + "</div>"
    )
