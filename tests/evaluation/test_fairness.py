"""ITA and FAIR skin-tone fairness scores (id2reflectance.evaluation.fairness)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance.capture.simulator.skin import ita_deg as skin_ita
from id2reflectance.errors import ShapeError
from id2reflectance.evaluation.fairness import (
    ITA_GROUP_NAMES,
    fairness_scores,
    ita_deg,
    ita_from_lab,
    ita_group,
    linear_rgb_to_lab,
    region_ita,
)


def test_lab_of_white_and_reference_colours() -> None:
    np.testing.assert_allclose(linear_rgb_to_lab(np.ones(3)), [100.0, 0.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(linear_rgb_to_lab(np.zeros(3)), [0.0, 0.0, 0.0], atol=1e-9)
    # 18% grey: L* = 116 * 0.18^(1/3) - 16 = 49.50
    np.testing.assert_allclose(linear_rgb_to_lab(np.full(3, 0.18)), [49.496, 0.0, 0.0], atol=1e-2)
    # against scikit-image (sRGB-encoded input, D65)
    rng = np.random.default_rng(0)
    lin = rng.uniform(0.01, 1.0, (50, 3))
    ref = rgb2lab(linear_to_srgb(lin).astype(np.float64)[None])[0]
    np.testing.assert_allclose(linear_rgb_to_lab(lin), ref, atol=0.05)


def test_ita_of_known_lab() -> None:
    # L* = 50 + b* -> 45 deg; L* = 50 -> 0 deg; L* = 50 - b* -> -45 deg
    lab = np.array([[70.0, 10.0, 20.0], [50.0, 5.0, 15.0], [35.0, 8.0, 15.0], [80.0, 0.0, 30.0 / np.sqrt(3)]])
    np.testing.assert_allclose(ita_from_lab(lab), [45.0, 0.0, -45.0, 60.0], atol=1e-9)
    # consistent with the simulator's definition
    rng = np.random.default_rng(1)  # skin-like colours: red > green > blue
    rgb = rng.uniform(0.05, 0.8, (20, 1)) * np.array([1.0, 0.7, 0.5]) * rng.uniform(0.9, 1.1, (20, 3))
    np.testing.assert_allclose(ita_deg(rgb), skin_ita(rgb), atol=0.05)


def test_group_assignment_at_thresholds() -> None:
    itas = np.array([90, 55.01, 55.0, 41.01, 41.0, 28.01, 28.0, 10.01, 10.0, -29.99, -30.0, -90])
    np.testing.assert_array_equal(ita_group(itas), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    assert ita_group(60.0).shape == ()
    assert len(ITA_GROUP_NAMES) == 6


def test_region_ita() -> None:
    alb = np.zeros((4, 4, 3))
    alb[:2] = [0.5, 0.35, 0.25]
    alb[2:] = [0.2, 0.1, 0.05]
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    assert region_ita(alb, mask) == pytest.approx(float(ita_deg(np.array([0.5, 0.35, 0.25]))))
    full = np.ones((4, 4), bool)
    per_pixel = 0.5 * (ita_deg(np.array([0.5, 0.35, 0.25])) + ita_deg(np.array([0.2, 0.1, 0.05])))
    assert region_ita(alb, full) == pytest.approx(float(per_pixel))
    assert region_ita(alb, full, reduction="mean_colour") == pytest.approx(float(ita_deg(alb.reshape(-1, 3).mean(0))))
    with pytest.raises(ShapeError, match="empty"):
        region_ita(alb, np.zeros((4, 4), bool))
    with pytest.raises(ShapeError):
        region_ita(alb[..., :2], full)


def test_scores_hand_computed() -> None:
    # group I: errors 2, 4 (mean 3); group III: error 6; group VI: errors 1, 2, 3 (mean 2)
    gt = [60.0, 70.0, 30.0, -40.0, -50.0, -60.0]
    pred = [62.0, 66.0, 36.0, -41.0, -48.0, -63.0]
    s = fairness_scores(gt, pred)
    assert s.group_counts == (2, 0, 1, 0, 0, 3)
    assert s.group_errors[0] == pytest.approx(3.0)
    assert s.group_errors[1] is None and s.group_errors[3] is None and s.group_errors[4] is None
    assert s.group_errors[2] == pytest.approx(6.0)
    assert s.group_errors[5] == pytest.approx(2.0)
    assert s.populated == 3
    assert s.average == pytest.approx(11.0 / 3.0)
    expected_bias = np.sqrt(((3 - 11 / 3) ** 2 + (6 - 11 / 3) ** 2 + (2 - 11 / 3) ** 2) / 3)
    assert s.bias == pytest.approx(expected_bias)
    assert s.score == pytest.approx(11.0 / 3.0 + expected_bias)
    assert s.mae == pytest.approx(18.0 / 6.0)
    doc = s.to_json()
    assert doc["populated_groups"] == 3
    assert doc["groups"][1]["ita_error"] is None and doc["groups"][1]["count"] == 0


def test_scores_single_group_has_zero_bias() -> None:
    s = fairness_scores([30.0, 35.0], [33.0, 30.0])
    assert s.populated == 1
    assert s.average == pytest.approx(4.0)
    assert s.bias == 0.0
    assert s.score == pytest.approx(4.0)


def test_scores_bad_input() -> None:
    with pytest.raises(ShapeError, match="length"):
        fairness_scores([1.0, 2.0], [1.0])
    with pytest.raises(ShapeError, match="no subjects"):
        fairness_scores([], [])
    with pytest.raises(ShapeError, match="finite"):
        fairness_scores([1.0], [np.nan])
