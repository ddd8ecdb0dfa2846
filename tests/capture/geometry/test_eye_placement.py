"""The face model's eyeballs placed into a head of the face-model template (capture/geometry/eye_placement.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from id2reflectance.capture.geometry.eye_placement import (
    in_face_model_layout,
    place_eyes,
    procrustes_eyes,
    similarity,
)
from id2reflectance.capture.geometry.face_model import PART_RANGES
from id2reflectance.errors import ShapeError
from tests.face_model_data import FOLDER, needs_model


def test_similarity_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(40, 3))
    rot = Rotation.from_euler("xyz", [10, -35, 80], degrees=True).as_matrix()
    dst = 1.3 * src @ rot.T + np.array([0.2, -1.0, 3.0])
    s, r, t = similarity(src, dst)
    assert s == pytest.approx(1.3, rel=1e-12)
    np.testing.assert_allclose(r, rot, atol=1e-12)
    np.testing.assert_allclose(t, [0.2, -1.0, 3.0], atol=1e-12)
    # a mirrored copy is fitted by a rotation (det +1), never a reflection
    _, r, _ = similarity(src, src * np.array([-1.0, 1.0, 1.0]))
    assert np.linalg.det(r) == pytest.approx(1.0)
    with pytest.raises(ShapeError, match="similarity"):
        similarity(src[:2], dst[:2])


@needs_model
def test_eyes_land_on_the_face_model_s_own_for_a_known_identity() -> None:
    from id2reflectance.capture.geometry.face_model import load_face_model
    from id2reflectance.capture.geometry.face_model_heads import face_model_eyes, template_offset
    from id2reflectance.capture.geometry.templates import face_model_template_mesh

    model = load_face_model(FOLDER)
    w = np.random.default_rng(4).standard_normal(model.identity_modes)
    expr = {"mouthSmile_L": 0.7, "mouthSmile_R": 0.7}
    head = face_model_template_mesh(model, w, expr)
    # a capture's world frame: turned, moved and a little larger than the template's
    rot = Rotation.from_euler("xyz", [6, 25, -4], degrees=True).as_matrix()
    shift = np.array([0.05, 1.4, -0.2])
    mesh = head.with_vertices(1.02 * head.vertices @ rot.T + shift)
    truth_model = model.vertices(w, expr) + template_offset(model)
    truth = np.concatenate([truth_model[slice(*PART_RANGES[n])] for n in ("eyeball_a", "eyeball_b")])
    truth = 1.02 * truth @ rot.T + shift
    ref = face_model_eyes(model, w, expr)

    placed = place_eyes(mesh, model)
    assert placed is not None
    err = np.linalg.norm(placed.mesh.vertices - truth, axis=1)
    assert np.sqrt(np.mean(err**2)) < 0.5e-3, np.sqrt(np.mean(err**2))  # measured 0.04 mm
    np.testing.assert_allclose(placed.centres, 1.02 * ref.centres @ rot.T + shift, atol=0.5e-3)
    np.testing.assert_allclose(placed.axes, ref.axes @ rot.T, atol=0.02)
    assert len(placed.mesh.faces) == len(model.part_triangles(("eyeball_a", "eyeball_b")))
    # the neutral eyeballs carried by the skin around each eye alone are millimetres off (2.2 mm)
    rough = procrustes_eyes(mesh, model)
    assert np.sqrt(np.mean(np.linalg.norm(rough.mesh.vertices - truth, axis=1) ** 2)) > 1e-3


@needs_model
def test_no_eyes_outside_the_face_model_layout() -> None:
    from id2reflectance.capture.geometry.face_model import load_face_model
    from id2reflectance.capture.geometry.template_mesh import template_mesh

    model = load_face_model(FOLDER)
    procedural = template_mesh()
    assert not in_face_model_layout(procedural, model)
    assert place_eyes(procedural, model) is None and procrustes_eyes(procedural, model) is None
