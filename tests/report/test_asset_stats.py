"""Asset statistics of the report: map summaries, histograms, regions, producer stats, truth."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from id2reflectance.errors import InputFileError
from id2reflectance.report.asset_stats import (
    map_section,
    region_section,
    residual_section,
    truth_section,
    uses_template_layout,
)
from tests.processing.asset_fixtures import uv_sphere
from tests.report.template_assets import template_asset


def _table_rows(html: str) -> dict[str, list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    out = {}
    for r in rows:
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)
        out[cells[0]] = cells[1:]
    return out


def test_region_figures_follow_the_maps():
    asset = template_asset(128)
    assert uses_template_layout(asset.mesh) and not uses_template_layout(uv_sphere())
    html = region_section(asset)
    rows = _table_rows(html)
    assert {"forehead", "cheeks", "nose", "lips", "chin"} <= set(rows)
    head = rows["region"]
    spec, rough, red = head.index("specular"), head.index("roughness"), head.index("albedo R")
    assert float(rows["nose"][spec]) > float(rows["cheeks"][spec]) + 0.02  # the nose is shinier
    assert float(rows["forehead"][rough]) < float(rows["chin"][rough]) - 0.1
    assert float(rows["lips"][red]) > float(rows["forehead"][red]) + 0.1
    assert html.count("<svg") == 4


def test_map_section_has_summaries_and_histograms():
    asset = template_asset(128)
    html = map_section(asset)
    rows = _table_rows(html)
    assert abs(float(rows["roughness"][1]) - 0.45) < 0.01  # median
    assert abs(float(rows["diffuse albedo G"][0]) - 0.5) < 1e-3
    assert html.count("<svg") == 4 and "coverage over the UV chart" in html


def test_residuals_and_truth(tmp_path):
    from id2reflectance._shared.imageio import write_exr

    html = residual_section({"stats": {"coverage_seen": 0.9, "fit_residual_mm": {"mean": 0.4, "p95": 1.1}}})
    rows = _table_rows(html)
    assert rows["fit_residual_mm.p95"] == ["1.1"] and rows["coverage_seen"] == ["0.9"]
    assert residual_section({}) == ""
    asset = template_asset(128)
    m = asset.maps
    truth = tmp_path / "S" / "truth" / "uv"
    truth.mkdir(parents=True)
    write_exr(truth / "diffuse_albedo.exr", m.diffuse_albedo * 1.1)  # 10 % off everywhere
    write_exr(truth / "specular_albedo.exr", m.specular_albedo)
    write_exr(truth / "roughness.exr", m.roughness + 0.05)
    write_exr(truth / "normal_object.exr", m.normal_object)
    rows = _table_rows(truth_section(asset, tmp_path / "S"))
    head = rows["region"]
    for region in ("all seen", "forehead", "lips"):
        vals = dict(zip(head, map(float, rows[region]), strict=True))
        np.testing.assert_allclose(vals["diffuse albedo rel %"], 100 * 0.1 / 1.1, rtol=1e-3)
        np.testing.assert_allclose(vals["roughness abs"], 0.05, atol=1e-4)
        assert vals["specular albedo abs"] < 1e-6 and vals["normal deg"] < 0.05
    assert truth_section(asset, None) == "" and truth_section(asset, tmp_path / "nothing") == ""
    # a truth in another UV layout than the asset's: one error naming asset.json's template
    asset.manifest["template"] = {"name": "id2r-procedural-head-v1", "sha256": "ab" * 32}
    (truth / "params.json").write_text(json.dumps({"template": "id2r-procedural-head-v1"}))
    assert "all seen" in truth_section(asset, tmp_path / "S")
    (truth / "params.json").write_text(json.dumps({"template": "id2r-ict-face-skin-v1"}))
    with pytest.raises(InputFileError, match=r"asset.json: template: the asset is in the UV layout"):
        truth_section(asset, tmp_path / "S")
