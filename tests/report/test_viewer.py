"""The report's WebGL viewer: data encoding, the page in headless Chromium (loads without
console errors, shows the face, reacts to environment and map), and agreement with
``id2r relight`` under two environments."""

from __future__ import annotations

import base64
import json
import re
import zlib

import numpy as np
import pytest

from id2reflectance.errors import ConfigError
from id2reflectance.processing.asset import read_asset
from id2reflectance.report.build import ReportConfig, build_report
from id2reflectance.report.headless import open_page, shots_fragment
from id2reflectance.report.viewer import ViewerConfig, _blob, resample_latlong, viewer_data
from id2reflectance.report.viewer_check import compare_with_relight
from tests.processing.asset_fixtures import write_sphere_asset

ENVS = ("studio", "city")


def _decode(b: dict) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(b["data"]))
    k = b["shuffle"]
    raw = np.frombuffer(raw, np.uint8).reshape(k, -1).T.tobytes()
    return np.frombuffer(raw, {"f16": "<f2", "f32": "<f4", "u16": "<u2", "u32": "<u4"}[b["dtype"]])


@pytest.fixture(scope="module")
def sphere_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer")
    asset = write_sphere_asset(root / "SPH", size=256)
    cfg = ReportConfig(renders=False, viewer_environments=ENVS)
    return read_asset(asset), build_report(asset, root / "r.html", config=cfg)


def test_blob_round_trip_and_shuffle():
    a = np.linspace(-3, 70000, 999).astype(np.float32).reshape(333, 3)
    back = _decode(_blob(a, "f16")).reshape(333, 3)
    np.testing.assert_array_equal(back, np.clip(a, -65000, 65000).astype(np.float16))
    idx = np.arange(70000, dtype=np.uint32)
    np.testing.assert_array_equal(_decode(_blob(idx, "u32")), idx)


def test_resample_latlong_keeps_a_uniform_map_and_the_mean():
    rng = np.random.default_rng(0)
    img = rng.uniform(0.5, 1.5, (256, 512, 3)).astype(np.float32)
    out = resample_latlong(img, 64)
    assert out.shape == (64, 128, 3)
    np.testing.assert_allclose(resample_latlong(np.ones((32, 128, 3), np.float32), 64), 1.0, atol=1e-6)
    w = np.sin(np.pi * (np.arange(64) + 0.5) / 64)[:, None, None]
    w0 = np.sin(np.pi * (np.arange(256) + 0.5) / 256)[:, None, None]
    np.testing.assert_allclose(
        (out * w).sum((0, 1)) / w.sum() / 128, (img * w0).sum((0, 1)) / w0.sum() / 512, rtol=2e-3
    )


@pytest.mark.slow
def test_viewer_data_downsamples_maps_and_checks_config(sphere_page):
    asset, _ = sphere_page
    d = viewer_data(asset, config=ViewerConfig(map_size=64, environments=("studio",)))
    assert d["maps"]["size"] == 64
    b = _decode(d["maps"]["b"]).astype(np.float32).reshape(64, 64, 4)
    np.testing.assert_allclose(np.linalg.norm(b[..., :3], axis=-1), 1.0, atol=2e-3)  # unit normals
    np.testing.assert_allclose(b[..., 3].mean(), asset.maps.roughness.mean(), rtol=1e-2)
    env = d["environments"][0]
    assert env["name"] == "studio" and len(d["levels"]) == 19 and d["levels"][0] == 0.0
    assert 0 < env["sharp_levels"] < 19
    with pytest.raises(ConfigError, match="map_size"):
        ViewerConfig(map_size=300)
    with pytest.raises(ConfigError, match="built-in"):
        viewer_data(asset, config=ViewerConfig(environments=("nowhere",)))


def _face(img: np.ndarray) -> np.ndarray:
    h = img.shape[0]
    return img[int(0.3 * h) : int(0.7 * h), int(0.3 * h) : int(0.7 * h)]


@pytest.mark.slow
def test_page_loads_and_the_canvas_shows_the_face(sphere_page):
    _, html = sphere_page
    text = html.read_text()
    assert "<script src" not in text and "http" not in text.replace("http://www.w3.org", "")
    assert html.stat().st_size < 15e6  # the stated page budget
    shots = [
        {"env": "studio", "view": "lit"},
        {"env": "city", "view": "lit"},
        {"env": "studio", "view": "normals"},
        {"env": "studio", "view": "roughness"},
        {"env": "studio", "view": "lit", "rot": 90},
        {"env": "studio", "view": "lit", "exposure": 3},
    ]
    page = open_page(html, fragment=shots_fragment(shots, size=128))
    assert page.console == [], page.console
    assert page.attrs.get("data-viewer") == "ready" and len(page.shots) == len(shots)
    studio, city, normals, rough, rotated, bright = (_face(s) for s in page.shots)
    assert studio.std() > 0.01 and 0.1 < studio.mean() < 0.9  # a shaded face, not blank
    for other, least in ((city, 0.02), (normals, 0.1), (rough, 0.05), (rotated, 0.005), (bright, 0.1)):
        assert np.abs(other - studio).mean() > least
    assert bright.mean() > studio.mean()
    # roughness view: the sphere's roughness 0.3-0.5 shown as grey
    assert 0.25 < rough.mean() < 0.55 and np.abs(rough[..., 0] - rough[..., 2]).max() < 0.02
    bad = open_page(html, fragment="shots=env:mars&size=32")  # errors reach the console and <body>
    assert bad.attrs.get("data-viewer") == "error: unknown environment mars" and any("mars" in c for c in bad.console)
    # interactive mode (no fragment) also reaches "ready" without errors
    plain = open_page(html)
    assert plain.console == [] and plain.attrs.get("data-viewer") == "ready"


@pytest.mark.slow
def test_controls_drive_the_view(sphere_page):
    _, html = sphere_page
    page = open_page(html, fragment="uitest=1")
    assert page.console == [] and page.attrs.get("data-viewer") == "ready" and len(page.shots) == 9
    st = [json.loads(page.attrs[f"data-state-{i}"]) for i in range(9)]
    assert st[0]["env"] == "studio" and st[1]["env"] == "city" and st[1]["exposure"] != st[0]["exposure"]
    assert st[2]["view"] == "normals" and st[3]["view"] == "unlit" and st[4]["view"] == "lit"
    assert st[4]["rot"] == 90 and abs(st[5]["exposure"] - st[4]["exposure"] - 2) <= 0.05  # slider step 0.1
    assert st[6]["az"] == -20 and st[6]["el"] == -4  # drag right / up orbits
    assert st[7]["zoom"] < 1 and (st[8]["az"], st[8]["el"], st[8]["zoom"]) == (0, 0, 1)
    faces = [_face(s) for s in page.shots]
    for i in range(1, 9):  # every control changes the picture
        assert np.abs(faces[i] - faces[i - 1]).mean() > 0.003, i


@pytest.mark.slow
def test_viewer_matches_relight_under_two_environments(sphere_page):
    asset, html = sphere_page
    diffs, _ = compare_with_relight(asset, html, ENVS, size=128)
    got = {(d.env, d.specular): d.relative for d in diffs}
    for env in ENVS:  # the page in the same specular mode as relight: default hybrid, and split sum
        assert got[env, "hybrid"] < 0.01 and got[env, "split_sum"] < 0.01, got


@pytest.mark.slow
def test_viewer_section_embeds_json_and_confidence_view(sphere_page, tmp_path):
    from id2reflectance._shared.imageio import write_exr
    from id2reflectance.report.viewer import viewer_section

    asset, html = sphere_page
    data = json.loads(re.search(r'id="id2r-viewer-data">(.*?)</script>', html.read_text(), re.S).group(1))
    assert [e["name"] for e in data["environments"]] == list(ENVS)
    assert 'value="confidence"' not in html.read_text()
    conf = np.full((256, 256), 0.5, np.float32)
    write_exr(tmp_path / "c.exr", conf)
    section = viewer_section(asset, config=ViewerConfig(environments=("studio",)), confidence=conf)
    assert 'value="confidence"' in section and '"has_confidence":true' in section
