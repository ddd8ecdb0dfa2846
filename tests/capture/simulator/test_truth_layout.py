"""The simulator's subjects rendered, and their truth, in the face-model template's topology and UV layout."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.geometry.face_model import load_face_model
from id2reflectance.capture.geometry.mesh import read_mesh
from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, resolve_template, template_regions
from id2reflectance.capture.simulator.sessions import (
    SimulatorConfig,
    config_subject,
    layout_template,
    simulate_subject,
    subject_geometry,
)
from id2reflectance.capture.simulator.truth_layout import face_model_head_of, layout_geometry, truth_in_template
from id2reflectance.errors import ConfigError
from tests.face_model_data import FOLDER, needs_model

SMALL = SimulatorConfig(image_size=96, uv_size=128, cameras=1, inverses=False, visibility_directions=64, seed=5)


def test_template_option_is_checked():
    with pytest.raises(ConfigError, match="template"):
        SimulatorConfig(template="cylinder")
    assert SimulatorConfig().template == "auto"  # the face model's layout where the face model is found


@needs_model
def test_the_default_renders_face_model_heads_in_their_own_layout():
    cfg = SimulatorConfig(image_size=32, uv_size=32, cameras=1, inverses=False)
    subject = config_subject(cfg, 0)
    assert layout_template(subject, cfg).name == FACE_TEMPLATE_NAME
    assert layout_template(subject, replace(cfg, template="procedural")) is None
    assert layout_template(subject, replace(cfg, hair_volume=True)) is None  # the volume is rendered only there
    procedural = config_subject(replace(cfg, head_model="procedural"), 0)
    assert layout_template(procedural, replace(cfg, head_model="procedural")) is None  # auto: its own layout


@needs_model
@pytest.mark.slow
def test_truth_maps_move_into_the_face_model_layout():
    config = SimulatorConfig(**{**SMALL.__dict__, "uv_size": 256, "head_model": "face_model"})
    subject = config_subject(config, 1)
    mesh, maps, _ = subject_geometry(subject, config)
    template = resolve_template("face_model", FOLDER)
    truth = truth_in_template(template, load_face_model(FOLDER), subject.face_head, mesh, maps)
    assert len(truth.mesh.vertices) == len(template.mesh.vertices)
    valid = truth.maps["valid"] > 0.5
    regions = template_regions(template, 256)
    face = (regions["face"] > 0.9) & (regions["lips"] < 0.1)
    # the face has a truth nearly everywhere; the neck below the jaw (the simulator's heads
    # continue as the procedural neck there) has none
    assert valid[face].mean() > 0.9, valid[face].mean()
    assert valid[regions["neck"] > 0.9].mean() < 0.5
    # the albedo is the same skin in both layouts: the face's mean colour agrees
    from id2reflectance.capture.geometry.regions import region_masks

    old_face = (region_masks(256)["face"] > 0.9) & (region_masks(256)["lips"] < 0.1) & (maps.eye == 0)
    a = truth.maps["diffuse_albedo"][face & valid].mean(axis=0)
    b = maps.diffuse_albedo[old_face].mean(axis=0)
    np.testing.assert_allclose(a, b, rtol=0.05)
    n = truth.maps["normal_object"][valid]
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-4)
    with pytest.raises(ConfigError, match="face-model heads"):
        truth_in_template(template, None, None, mesh, maps)


@needs_model
def test_layout_geometry_is_the_template_plus_eyes_and_mouth():
    from id2reflectance.capture.geometry.mesh import rasterize_uv

    model = load_face_model(FOLDER)
    subject = config_subject(SimulatorConfig(head_model="face_model", seed=5), 0)
    geo = layout_geometry(model, subject.face_head, size=128)
    template = resolve_template("face_model", FOLDER)
    n, t = len(template.mesh.vertices), len(template.mesh.faces)
    # the rendered head starts with the skin in the template's topology and UVs (truth/mesh.obj)
    assert np.array_equal(geo.mesh.faces[:t], template.mesh.faces)
    np.testing.assert_allclose(geo.mesh.uvs[:n], template.mesh.uvs, atol=1e-6)
    np.testing.assert_allclose(geo.mesh.vertices[:n], geo.skin.vertices)
    assert len(geo.mesh.faces) > t + 1000  # eyeballs, mouth socket, teeth
    # the extra parts sit in the strip the template leaves empty, on the eyeballs' vertices only
    assert geo.mesh.uvs[n:, 1].max() < 0.25 and geo.mesh.uvs[:n, 1].min() >= 0.25 - 1e-9
    assert geo.eyes.weight[:n].max() == 0 and 500 < geo.eyes.weight.sum() < len(geo.mesh.vertices) - n
    # no two UV triangles overlap (the eyeballs' inner layer, which shares their UVs, is left out)
    uv, f = geo.mesh.uvs, geo.mesh.faces
    e1, e2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()
    covered = (rasterize_uv(geo.mesh, 512)[0] >= 0).mean()
    assert covered == pytest.approx(area, rel=0.01)
    skin_area = 0.5 * np.abs(e1[:t, 0] * e2[:t, 1] - e1[:t, 1] * e2[:t, 0]).sum()
    assert 0.5 < skin_area < 0.6 and geo.valid.mean() == pytest.approx(skin_area, abs=0.01)  # the template's chart
    # the regions and the painted patterns are placed at the neutral's warped points
    assert geo.points.shape == (128, 128, 3) and geo.regions["face"][~geo.valid].max() == 0


@needs_model
@pytest.mark.slow
def test_session_rendered_in_the_face_model_template(tmp_path):
    # one point sample per pixel: a pixel's truth is then exactly the UV truth at its UV (with the
    # default footprint it is the footprint's mean of it: tests/capture/simulator/test_render.py)
    config = SimulatorConfig(
        **{
            **SMALL.__dict__,
            "head_model": "face_model",
            "template": "face_model",
            "pixel_samples": 1,
            "lens_blur_px": 0.0,
        }
    )
    out = simulate_subject(tmp_path, subject_index=0, config=config)
    params = json.loads((out / "truth" / "uv" / "params.json").read_text())
    assert params["template"] == FACE_TEMPLATE_NAME
    head, drawn = face_model_head_of(params), config_subject(config, 0).face_head
    np.testing.assert_allclose(head.identity, drawn.identity, atol=1e-6)  # params.json rounds to 6 digits
    assert head.expression == drawn.expression
    template = resolve_template("face_model", FOLDER)
    mesh = read_mesh(out / "truth" / "mesh.obj")
    assert len(mesh.vertices) == len(template.mesh.vertices)
    uv = {k: read_exr(out / "truth" / "uv" / f"{k}.exr")[0] for k in ("valid", "eye", "hair", "diffuse_albedo")}
    valid = uv["valid"][..., 0] > 0.5
    assert valid.shape == (128, 128) and 0.5 < valid.mean() < 0.65
    eye = uv["eye"][..., 0]
    assert eye[valid].max() == 0 and (eye > 0.5).mean() > 0.02  # the eyeballs' texels, outside the chart
    assert (uv["hair"][..., 0][valid] > 0.5).mean() > 0.01  # the appearance's hair, painted in the layout
    # the truth is what the camera saw: a pixel's albedo is the UV truth at the pixel's UV
    cam = {k: read_exr(out / "truth" / "front" / f"{k}.exr")[0] for k in ("diffuse_albedo", "uv", "skin")}
    hit = (cam["uv"][..., 2] > 0.5) & (cam["skin"][..., 0] > 0.5)
    from id2reflectance.capture.geometry.mesh import sample_bilinear

    looked_up = sample_bilinear(uv["diffuse_albedo"], cam["uv"][hit][:, :2].astype(np.float64))
    np.testing.assert_allclose(looked_up, cam["diffuse_albedo"][hit], atol=1e-5)
    assert hit.sum() > 500
    on_skin = np.round(cam["uv"][hit][:, 1] * 128 - 0.5) >= 128 * 0.25  # rows of the template's chart
    assert on_skin.mean() > 0.95  # the cameras see skin, and a little eye and mouth in the strip

    # the truth as an asset in that layout: its regions are found (report), it exports to glTF with
    # the template's mesh and UVs, and it relights
    from id2reflectance.capture.geometry.templates import layout_regions
    from id2reflectance.processing.asset import asset_from_truth, read_asset
    from id2reflectance.processing.export.gltf import export_glb, read_glb
    from id2reflectance.processing.relight.envmap import load_environment
    from id2reflectance.processing.relight.render import RelightConfig, orbit_cameras, render_view

    asset = read_asset(
        asset_from_truth(out, tmp_path / "asset", template_name=template.name, template_sha256=template.sha256)
    )
    regions = layout_regions(asset.mesh, asset.size)
    assert regions is not None and regions["nose"].max() > 0.9
    glb = read_glb(export_glb(asset, tmp_path / "head.glb"))
    prim = glb.gltf["meshes"][0]["primitives"][0]
    assert glb.accessor(prim["attributes"]["POSITION"]).shape == template.mesh.vertices.shape
    np.testing.assert_allclose(glb.accessor(prim["attributes"]["TEXCOORD_0"])[:, 0], template.mesh.uvs[:, 0], atol=1e-6)
    cam = orbit_cameras(asset.mesh, 1, size=64)[0]
    image = render_view(asset, cam, load_environment("pattern:full"), config=RelightConfig(background="black"))
    image = image.image("none")
    assert image.shape == (64, 64, 3) and image.max() > 0.05


@needs_model
@pytest.mark.slow
def test_painting_follows_points_not_layout():
    # the same subject drawn in both layouts: the same skin (face colour within 2 %)
    config = SimulatorConfig(**{**SMALL.__dict__, "uv_size": 256, "head_model": "face_model"})
    subject = config_subject(config, 1)
    _, old, ita_old = subject_geometry(subject, config)
    _, new, ita_new = subject_geometry(subject, SimulatorConfig(**{**config.__dict__, "template": "face_model"}))
    assert new.size == 256 and new.hair is not None and new.eye is not None
    assert ita_new == pytest.approx(ita_old, abs=1.5)
    np.testing.assert_allclose(np.linalg.norm(new.normal_object, axis=-1), 1.0, atol=1e-4)
