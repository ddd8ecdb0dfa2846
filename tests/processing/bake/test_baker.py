"""``bake_session`` end to end on a small simulated capture, against the simulator's truth.

The target figures: in texels seen by at least one camera, diffuse albedo PSNR
> 35 dB, median normal error < 2 degrees, median roughness error < 0.05, and the 99th
percentile of the albedo gradient on view boundaries within 1.5x the truth's there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from id2reflectance.capture.geometry.face_model import default_face_model_dir
from id2reflectance.capture.geometry.mesh import read_obj
from id2reflectance.processing.asset import read_asset
from id2reflectance.processing.bake.baker import BAKE_JSON, BakeResult, bake_session
from id2reflectance.processing.bake.metrics import BakeAccuracy, bake_accuracy, read_truth_uv
from id2reflectance.processing.tangents import tangent_to_object
from tests.processing.bake_case import SMALL_BAKE, face_model_case, simulated_case


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BakeResult]:
    session, solved = simulated_case(tmp_path_factory)
    out = tmp_path_factory.mktemp("bake_out") / "asset"
    return session, bake_session(session, solved, out, config=SMALL_BAKE)


@pytest.fixture(scope="module")
def baked_face_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BakeResult]:
    if default_face_model_dir() is None:
        pytest.skip("face model data (../shared/face-models) is absent")
    session, solved = face_model_case(tmp_path_factory)
    out = tmp_path_factory.mktemp("bake_out_fm") / "asset"
    return session, bake_session(session, solved, out, config=SMALL_BAKE)


def _accuracy(session: Path, res: BakeResult) -> BakeAccuracy:
    m = res.maps
    truth = read_truth_uv(session, 256)
    return bake_accuracy(
        {
            "diffuse_albedo": m.diffuse_albedo,
            "specular_albedo": m.specular_albedo,
            "roughness": m.roughness,
            "normal_object": m.normal_object,
        },
        truth,
        seen=m.seen,
        covered=m.covered,
        view_weights=m.view_weights,
    )


def test_figures_against_truth(baked: tuple[Path, BakeResult]) -> None:
    session, res = baked
    m = res.maps
    acc = _accuracy(session, res)
    assert acc.texels > 0.5 * m.covered.sum()
    assert acc.diffuse_psnr_db > 35.0, acc
    assert acc.normal_median_deg < 2.0, acc
    assert acc.roughness_median_abs < 0.05, acc
    assert acc.specular_median_rel < 0.1, acc
    assert acc.seam_texels > 100 and acc.seam_ratio < 1.5, acc


@pytest.mark.slow
def test_face_model_head_with_the_prior(baked_face_model: tuple[Path, BakeResult]) -> None:
    # the face model as the registration's shape prior: without it this head bakes at
    # ~30 dB, its vertices ~2.7 mm from the truth (sliding along the surface)
    session, res = baked_face_model
    assert res.registration.prior == "face_model"
    acc = _accuracy(session, res)
    # 35.6 dB: the eyelashes' sharp dark band on the lid margin (truth/uv/hair.exr) is more than
    # a 192-px solve and a 256-texel bake resolve (37.3 dB on the same head without them, with
    # point-sampled pixels). The cameras integrate over each pixel (issue 20: box * 0.25 px lens
    # blur, docs/simulator.md), so their maps are the texture's footprint means, which differ
    # from the sharp UV truth at the pixel centres by 41.0 dB here (point samples: exact): the
    # bake, scored against that sharp truth, falls from 36.2 to 35.6 dB (0.5 px blur: 34.3; the
    # bake's former bilinear lookups of the camera maps instead of bicubic: 34.6). What this test
    # guards is the registration (without the prior ~30 dB): the bake target of 35 dB
    # (test_figures_against_truth) is the floor, not the measured figure.
    assert acc.diffuse_psnr_db > 35.0, acc
    assert acc.normal_median_deg < 1.5, acc
    truth = read_obj(session / "truth" / "mesh.obj")
    err_mm = np.linalg.norm(res.registration.mesh.vertices - truth.vertices, axis=1) * 1000
    front = (truth.vertices[:, 2] > 0.02) & (truth.vertices[:, 1] > -0.12)
    assert np.median(err_mm[front]) < 0.4 and np.percentile(err_mm[front], 95) < 1.0
    assert res.registration.residual.p95 < 0.5
    report = json.loads((res.path / BAKE_JSON).read_text())
    assert report["registration"]["prior"] == "face_model"
    assert report["registration"]["prior_extras"]["prior_rms_mm"] < 0.5


def test_registration_matches_truth_mesh(baked: tuple[Path, BakeResult]) -> None:
    session, res = baked
    truth = read_obj(session / "truth" / "mesh.obj")
    fit = read_obj(res.path / "mesh.obj")
    np.testing.assert_array_equal(fit.faces, truth.faces)
    np.testing.assert_allclose(fit.uvs, truth.uvs, atol=1e-7)
    err_mm = np.linalg.norm(fit.vertices - truth.vertices, axis=1) * 1000
    front = (truth.vertices[:, 2] > 0.02) & (truth.vertices[:, 1] > -0.12)
    # the scan is decimated and carries 0.1 mm of noise, and this subject's narrow jaw and
    # small ears bias its per-axis scale by ~0.3 %: vertices land within a few tenths of a mm
    assert np.median(err_mm[front]) < 0.4 and np.percentile(err_mm[front], 95) < 0.8
    r = res.registration.residual
    assert r.mean < 0.05 and r.p95 < 0.15  # mm, both directions pooled
    assert res.registration.matched_fraction > 0.95
    assert res.registration.prior == "none"  # the face model does not fit a procedural head: no prior


def test_asset_folder_is_valid_and_consistent(baked: tuple[Path, BakeResult]) -> None:
    _, res = baked
    asset = read_asset(res.path)  # checks the format, SHA-256s, sizes, finiteness
    assert asset.size == 256 and asset.frame == "world"
    maps = asset.maps
    cov = maps.coverage
    np.testing.assert_array_equal(cov > 0, res.maps.seen)
    assert cov.min() >= 0 and cov.max() <= 1
    stats = asset.manifest["stats"]
    assert stats["coverage_seen"] == pytest.approx(res.maps.coverage_seen(), abs=1e-4)
    assert 0.6 < stats["coverage_seen"] < 1.0  # three frontal cameras: the back of the head is filled
    assert set(stats["fit_residual_mm"]) == {"mean", "p95"}
    # unit normals everywhere; tangent-space normals convert back to the object-space ones
    np.testing.assert_allclose(np.linalg.norm(maps.normal_object, axis=-1), 1.0, atol=1e-4)
    back = tangent_to_object(maps.normal_tangent, asset.mesh)
    cosang = np.sum(back * maps.normal_object, axis=-1)[res.maps.covered]
    assert np.percentile(cosang, 1) > np.cos(np.radians(0.5))
    # the filled texels (holes and gutters) are smooth: no texel differs much from its neighbours
    alb = maps.diffuse_albedo
    filled = ~res.maps.seen
    step = np.abs(np.diff(alb, axis=1)).max(axis=-1)[filled[:, 1:] & filled[:, :-1]]
    assert np.percentile(step, 99.9) < 0.05
    report = json.loads((res.path / BAKE_JSON).read_text())
    assert report["coverage"]["seen"] == pytest.approx(stats["coverage_seen"], abs=1e-4)
    assert set(report["coverage"]["per_camera"]) == {"front", "left", "right"}
    assert report["registration"]["fit_residual_mm"]["mean"] == pytest.approx(res.registration.residual.mean, abs=1e-3)
    assert not any(p.name.endswith(".tmp") for p in res.path.parent.iterdir())


@pytest.mark.slow
def test_bake_on_the_face_model_template(tmp_path_factory: pytest.TempPathFactory) -> None:
    # the shared UV space as the face model's own topology and UVs (issue 22 item 2)
    import dataclasses

    from id2reflectance.capture.geometry.face_model import load_face_model
    from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, resolve_template
    from id2reflectance.capture.simulator.truth_layout import face_model_head_of, truth_in_template

    if default_face_model_dir() is None:
        pytest.skip("face model data (../shared/face-models) is absent")
    session, solved = face_model_case(tmp_path_factory)
    out = tmp_path_factory.mktemp("bake_out_fm_template") / "asset"
    res = bake_session(session, solved, out, config=dataclasses.replace(SMALL_BAKE, template="face_model"))
    template = resolve_template("face_model")
    manifest = json.loads((out / "asset.json").read_text())
    assert manifest["template"] == {"name": FACE_TEMPLATE_NAME, "sha256": template.sha256}
    mesh = read_obj(out / "mesh.obj")
    assert np.array_equal(mesh.faces, template.mesh.faces)
    np.testing.assert_allclose(mesh.uvs, template.mesh.uvs, atol=1e-6)
    assert res.registration.prior == "face_model"
    params = json.loads((session / "truth" / "uv" / "params.json").read_text())
    truth = truth_in_template(
        template,
        load_face_model(),
        face_model_head_of(params),
        read_obj(session / "truth" / "mesh.obj"),
        read_truth_uv(session, 256),
    )
    m = res.maps
    seen = m.seen & (truth.maps["valid"] > 0.5)
    maps = {k: getattr(m, k) for k in ("diffuse_albedo", "specular_albedo", "roughness", "normal_object")}
    acc = bake_accuracy(maps, truth.maps, seen=seen, covered=m.covered, view_weights=m.view_weights)
    assert acc.texels > 0.3 * m.covered.sum()
    assert acc.diffuse_psnr_db > 31.0 and acc.normal_median_deg < 1.5, acc
    err_mm = np.linalg.norm(res.registration.mesh.vertices - truth.mesh.vertices, axis=1) * 1000
    front = (truth.mesh.vertices[:, 2] > 0.02) & (truth.mesh.vertices[:, 1] > -0.12)
    assert np.median(err_mm[front]) < 0.6


def _exact_views(cameras: int) -> tuple[object, object, list]:
    """A face-model head (subject 2, UV 256) and its exact 'solved' maps in the first
    ``cameras`` cameras of the simulator's rig (256 px): per pixel the truth maps through
    the head, the diffuse one times the blurred ambient visibility that a perfect solve
    of the full pattern returns (the simulator's own shading, noise-free). The head is bald
    and hairless (``appearance=False``): the case the bake's occlusion figures were measured
    on; painted eyebrows and beards add sharp albedo edges that a 256-texel bake blurs
    (default 35.8 dB against 34.6 dB before on the same test with them)."""
    from id2reflectance.capture.geometry.mesh import raycasting_scene
    from id2reflectance.capture.geometry.regions import face_texel_size, uv_raster
    from id2reflectance.capture.simulator.render import diffuse_textures, render_camera
    from id2reflectance.capture.simulator.sessions import (
        SimulatorConfig,
        config_subject,
        rig_cameras,
        subject_geometry,
    )
    from id2reflectance.capture.simulator.visibility import vertex_visibility
    from id2reflectance.processing.bake.views import SolvedView

    cfg = SimulatorConfig(
        image_size=256,
        uv_size=256,
        cameras=cameras,
        head_model="face_model",
        template="procedural",  # the maps below are looked up in the procedural layout (uv_raster)
        visibility_directions=256,
        appearance=False,
    )
    mesh, maps, _ = subject_geometry(config_subject(cfg, 2), cfg)
    vis = vertex_visibility(mesh, directions=cfg.visibility_directions)
    tex = diffuse_textures(
        maps, uv_raster(256), vis, patterns=("full",), sss_mm=cfg.sss_mm, texel_size=face_texel_size(mesh, 256)
    )
    scene = raycasting_scene(mesh)
    views = []
    for cam in rig_cameras(cfg).values():
        r = render_camera(cam, mesh, scene, maps, tex, vis, patterns=("full",), samples=(2, 2))
        t = r.truth
        views.append(
            SolvedView(
                cam, 2.0 * r.cross["full"], t["specular_albedo"], t["normal"], t["normal"], t["roughness"], t["mask"]
            )
        )
    return mesh, maps, views


@pytest.mark.slow
def test_exact_maps_of_a_face_model_head() -> None:
    """Issue 22: with exact per-camera maps the default bake's occlusion correction (per
    texel, creases filled below m0 0.3) recovers the albedo around the eyes, nose and
    mouth; the bake before (per-vertex m0 of 128 directions, creases below 0.6 filled)
    lost several dB there."""
    if default_face_model_dir() is None:
        pytest.skip("face model data (../shared/face-models) is absent")
    from id2reflectance.capture.geometry.regions import region_masks
    from id2reflectance.processing.bake.baker import BakeConfig, bake_maps

    mesh, maps, views = _exact_views(1)
    face = region_masks(256)["face"] > 0.5
    psnr = {}
    for name, kw in (
        ("default", {}),
        ("before", {"occlusion_normal": "vertex", "occlusion_directions": 128, "occlusion_min": 0.6}),
    ):
        b = bake_maps(mesh, views, config=BakeConfig(size=256, previews=False, **kw))
        m = face & (b.view_weights["front"] > 0)
        psnr[name] = 10 * np.log10(1.0 / np.mean((b.diffuse_albedo[m] - maps.diffuse_albedo[m]) ** 2))
    # measured: default 42.3 dB, before 38.5 dB (front camera, face region); with the bake's
    # former bilinear lookups of the camera maps 40.2 / 37.8 (the bicubic lookup of the albedo,
    # views.sharp_samples, no longer blurs these 256 px maps a second time)
    assert psnr["default"] > 41.5
    assert psnr["before"] < 39.5 and psnr["default"] - psnr["before"] > 3.0
