"""Dataset report: split plot, subject pages with the viewer, thumbnails linking to them."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance._shared.imageio import write_exr
from id2reflectance.capture.geometry.template_mesh import load_shipped_template
from id2reflectance.errors import InputFileError
from id2reflectance.report.build import ReportConfig, build_report
from id2reflectance.report.headless import open_page
from id2reflectance.report.subjects import dataset_subject_asset
from tests.dataset.synthetic import write_synthetic_dataset
from tests.report.template_assets import template_maps


def _add_uv(subject_dir, size=64):
    maps = template_maps(size)
    for name, a in maps.as_dict().items():
        if name != "normal_tangent":
            write_exr(subject_dir / "uv" / f"{name}.exr", a)
    np.save(subject_dir / "mesh_vertices.npy", load_shipped_template().vertices.astype(np.float32))


@pytest.mark.slow
def test_dataset_report_links_thumbnails_to_subject_pages(tmp_path):
    root = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=16, views=("front",), domains=("rgb",))
    _add_uv(root / "subjects" / "S0000")
    cfg = ReportConfig(subject_pages=True, viewer_environments=("studio",))
    out = build_report(root, tmp_path / "r.html", config=cfg)
    text = out.read_text()
    assert "subjects per skin type (Fitzpatrick) and split" in text
    assert '<a href="r_subjects/S0000.html">' in text and "r_subjects/S0001.html" not in text  # only S0000 has maps
    page = open_page(out)
    assert page.console == [] and page.attrs.get("data-broken") == "0"
    sub = tmp_path / "r_subjects" / "S0000.html"
    shot = open_page(sub, fragment="shots=env:studio&size=96")
    assert shot.console == [] and shot.attrs.get("data-viewer") == "ready"
    face = shot.shots[0][30:66, 30:66]
    assert face.std() > 0.01 and face.mean() > 0.1
    assert "<h3>Regions</h3>" in sub.read_text()


def test_dataset_subject_asset_is_none_without_maps_and_rejects_a_bad_mesh(tmp_path):
    d = tmp_path / "S0"
    d.mkdir()
    assert dataset_subject_asset(d, "S0") is None
    _add_uv(d, size=32)
    asset = dataset_subject_asset(d, "S0")
    assert asset is not None and asset.maps.size == 32 and len(asset.mesh.vertices) == 27934
    np.save(d / "mesh_vertices.npy", np.zeros((5, 3), np.float32))
    with pytest.raises(InputFileError, match="mesh_vertices.npy"):
        dataset_subject_asset(d, "S0")
