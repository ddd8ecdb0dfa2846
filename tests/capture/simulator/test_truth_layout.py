"""The simulator's truth in the face-model template's topology and UV layout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.geometry.face_model import load_face_model
from id2reflectance.capture.geometry.mesh import read_mesh
from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, resolve_template, template_regions
from id2reflectance.capture.simulator.sessions import (
    SimulatorConfig,
    config_subject,
    simulate_subject,
    subject_geometry,
)
from id2reflectance.capture.simulator.truth_layout import face_model_head_of, truth_in_template
from id2reflectance.errors import ConfigError
from tests.face_model_data import FOLDER, needs_model

SMALL = SimulatorConfig(image_size=96, uv_size=128, cameras=1, inverses=False, visibility_directions=64, seed=5)


def test_template_option_is_checked():
    with pytest.raises(ConfigError, match="template"):
        SimulatorConfig(template="cylinder")
    assert SimulatorConfig().template == "procedural"  # the default layout is unchanged


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
@pytest.mark.slow
def test_session_with_the_face_model_template(tmp_path):
    config = SimulatorConfig(**{**SMALL.__dict__, "head_model": "face_model", "template": "face_model"})
    out = simulate_subject(tmp_path, subject_index=0, config=config)
    params = json.loads((out / "truth" / "uv" / "params.json").read_text())
    assert params["template"] == FACE_TEMPLATE_NAME
    head, drawn = face_model_head_of(params), config_subject(config, 0).face_head
    np.testing.assert_allclose(head.identity, drawn.identity, atol=1e-6)  # params.json rounds to 6 digits
    assert head.expression == drawn.expression
    mesh = read_mesh(out / "truth" / "mesh.obj")
    assert len(mesh.vertices) == len(resolve_template("face_model", FOLDER).mesh.vertices)
    valid, _ = read_exr(out / "truth" / "uv" / "valid.exr")
    assert valid.shape[:2] == (128, 128) and 0.2 < valid.mean() < 0.6
    assert not (out / "truth" / "uv" / "eye.exr").exists()  # the eyes are not in the skin template
    hair, _ = read_exr(out / "truth" / "uv" / "hair.exr")  # the appearance's hair moves with the maps
    assert hair.shape[:2] == (128, 128) and (hair[valid[..., 0] > 0.5] > 0.5).mean() > 0.01
