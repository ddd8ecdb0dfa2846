"""Head motion between exposures (capture/simulator/motion.py)."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.geometry.template_mesh import HeadParams, head_mesh
from id2reflectance.capture.simulator.motion import (
    REFERENCE_FRAME,
    HeadMotion,
    draw_motions,
    expression_field,
    rotation_matrix,
    similarity_fit,
)
from id2reflectance.capture.simulator.sessions import SimulatorConfig
from id2reflectance.errors import ConfigError

KEYS = [(p, pol) for p in ("full", "gradient_x", "inverse_x") for pol in ("cross", "parallel")]


def test_rotation_matrix_is_a_rotation_about_its_axis() -> None:
    R = rotation_matrix(np.radians([0.0, 0.0, 90.0]))
    np.testing.assert_allclose(R @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    R = rotation_matrix([0.1, -0.2, 0.3])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R @ [0.1, -0.2, 0.3], [0.1, -0.2, 0.3], atol=1e-12)


def test_rays_to_rest_inverts_to_world() -> None:
    m = HeadMotion(np.radians([0.2, -0.1, 0.4]), np.array([1e-3, -2e-3, 5e-4]), np.array([0.0, -0.02, 0.01]))
    X = np.array([[0.01, 0.02, 0.08], [-0.03, 0.0, 0.05]])  # rest-frame points
    origin = np.array([0.0, 0.0, 1.0])
    d = m.to_world(X) - origin
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    o_rest, d_rest = m.rays_to_rest(origin, d)
    # the rest-frame rays pass through the rest-frame points
    v = X - o_rest
    np.testing.assert_allclose(np.cross(v, d_rest), 0.0, atol=1e-12)


def test_draw_motions_leaves_the_reference_and_respects_limits() -> None:
    rng = np.random.default_rng(0)
    motions = draw_motions(KEYS, rng=rng, pivot=np.zeros(3), shift_m=2e-3, roll_deg=0.4, tilt_deg=0.0, expression=True)
    ref = motions[REFERENCE_FRAME]
    assert not ref.axis_angle.any() and not ref.translation.any() and ref.expression == 0.0
    for m in motions.values():
        assert np.linalg.norm(m.translation[:2]) <= 2e-3 and m.translation[2] == 0.0
        assert abs(np.degrees(m.axis_angle[2])) <= 0.4 and not m.axis_angle[:2].any()
        assert 0.0 <= m.expression <= 1.0
    assert len({tuple(m.translation) for m in motions.values()}) == len(KEYS)  # one draw per frame
    again = draw_motions(
        KEYS, rng=np.random.default_rng(0), pivot=np.zeros(3), shift_m=2e-3, roll_deg=0.4, tilt_deg=0.0, expression=True
    )
    assert all(np.array_equal(again[k].translation, motions[k].translation) for k in KEYS)


def test_similarity_fit_recovers_an_exact_similarity() -> None:
    h, w = 60, 80
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    a, b, tx, ty = 0.002, 0.005, 1.25, -0.75  # about the centre
    x, y = xx - (w - 1) / 2, yy - (h - 1) / 2
    flow = np.stack([a * x - b * y + tx, b * x + a * y + ty, np.ones_like(x)], axis=-1)
    fit = similarity_fit(flow)
    assert fit["tx"] == pytest.approx(tx) and fit["ty"] == pytest.approx(ty)
    assert fit["rotation_deg"] == pytest.approx(np.degrees(np.arctan2(b, 1 + a)))
    assert fit["scale"] == pytest.approx(np.hypot(1 + a, b))


def test_expression_field_is_smooth_and_bounded() -> None:
    mesh = head_mesh(HeadParams())
    d = expression_field(mesh, 1.5e-3)
    assert d.shape == mesh.vertices.shape
    assert np.max(np.linalg.norm(d, axis=1)) == pytest.approx(1.5e-3)
    z = mesh.vertices[:, 2]
    back = z < 0.5 * (z.min() + z.max())  # the back half of the head does not move
    assert np.max(np.linalg.norm(d[back], axis=1)) < 1e-9


def test_config_validates_motion_options() -> None:
    assert not SimulatorConfig().moves and SimulatorConfig(motion_px=1.0).moves
    with pytest.raises(ConfigError, match="motion_deg"):
        SimulatorConfig(motion_deg=-1.0)
    with pytest.raises(ConfigError, match="expression_mm"):
        SimulatorConfig(expression_mm=50.0)
