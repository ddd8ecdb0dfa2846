"""The eyes' reflectance shared by the simulator and the renders of assets (capture/eye_appearance.py)."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.eye_appearance import (
    DARK_SKIN_MIN_IRIS,
    IRIS_DARK,
    IRIS_LIGHT,
    PUPIL_ALBEDO,
    SCLERA_ALBEDO,
    eye_albedo,
    iris_albedo,
    subject_iris_darkness,
)
from id2reflectance.errors import ShapeError


def _points_at(angles_deg: np.ndarray, centre: np.ndarray, radius: float = 0.012) -> np.ndarray:
    """Points on a ball about ``centre`` at these angles from its +z gaze axis."""
    a = np.radians(angles_deg)
    return centre + radius * np.stack([np.sin(a), np.zeros_like(a), np.cos(a)], axis=1)


def test_pupil_iris_and_sclera_by_the_angle_from_the_gaze() -> None:
    centres = np.array([[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]])
    axes = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p = np.concatenate([_points_at(np.array([0.0, 20.0, 60.0, 90.0]), c) for c in centres])
    out = eye_albedo(p, centres, axes, 1.0)
    assert out.shape == (8, 3) and out.dtype == np.float64
    for k in (0, 4):  # each point takes its own eyeball
        np.testing.assert_allclose(out[k], PUPIL_ALBEDO, atol=1e-12)
        np.testing.assert_allclose(out[k + 1], IRIS_DARK, atol=1e-12)
        np.testing.assert_allclose(out[k + 2], SCLERA_ALBEDO, atol=1e-12)
        np.testing.assert_allclose(out[k + 3], SCLERA_ALBEDO, atol=1e-12)
    # the iris colour: blue-grey at 0, dark brown at 1, clipped beyond, log-linear between
    np.testing.assert_allclose(iris_albedo(0.0), IRIS_LIGHT)
    np.testing.assert_allclose(iris_albedo(1.7), IRIS_DARK)
    np.testing.assert_allclose(iris_albedo(0.5), np.sqrt(np.multiply(IRIS_LIGHT, IRIS_DARK)))
    with pytest.raises(ShapeError, match="eye_albedo"):
        eye_albedo(p[:, :2], centres, axes, 0.5)


def test_the_simulator_shades_eyes_with_the_shared_reflectance() -> None:
    from id2reflectance.capture.geometry.face_model_heads import Eyes
    from id2reflectance.capture.simulator.skin import _eye_reflectance

    centres = np.array([[0.03, 0.01, 0.07], [-0.03, 0.01, 0.07]])
    axes = np.array([[0.1, 0.0, 1.0], [-0.1, 0.0, 1.0]])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    p = np.random.default_rng(0).normal(size=(50, 3)) * 0.01 + centres[0]
    eyes = Eyes(np.zeros(3), centres, axes)
    np.testing.assert_array_equal(_eye_reflectance(p, eyes, 0.3), eye_albedo(p, centres, axes, 0.3))


def test_an_asset_s_iris_is_drawn_from_its_subject_id() -> None:
    ids = [f"S{i:04d}" for i in range(400)]
    d = np.array([subject_iris_darkness(s) for s in ids])
    assert d.min() >= 0.0 and d.max() < 1.0
    assert subject_iris_darkness("S0007") == subject_iris_darkness("S0007")  # deterministic
    assert np.mean(d) == pytest.approx(2.0 / 3.0, abs=0.04)  # 1 - (1 - u)^2 of a uniform u
    assert np.mean(d < 0.3) > 0.1 and np.mean(d > 0.7) > 0.4  # blue and brown irises both occur
    dark = np.array([subject_iris_darkness(s, ita_deg=-20.0) for s in ids])
    assert dark.min() >= DARK_SKIN_MIN_IRIS and np.all(dark >= d)
    light = np.array([subject_iris_darkness(s, ita_deg=50.0) for s in ids])
    np.testing.assert_array_equal(light, d)
