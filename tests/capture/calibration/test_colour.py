"""Colour calibration: reference values, the fit, and the simulated ColorChecker."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance._shared.imageio import write_exr
from id2reflectance.capture.calibration.colour import (
    WHITE_PATCH,
    ColourCalibrationConfig,
    calibrate_colour,
    delta_e_2000,
    fit_colour_matrix,
    orient_patches,
    rec709_to_lab,
    reference_rec709,
)
from id2reflectance.capture.simulator.calibration_captures import SimCalibrationConfig, sim_rig
from id2reflectance.capture.simulator.chart import SIM_COLOR_MATRIX, render_chart_image
from id2reflectance.errors import InputFileError, ShapeError

# X-Rite's published CIELAB (D50) of the neutral row, ColorChecker Classic after November
# 2014 (white, neutral 8, 6.5, 5, 3.5, black).
XRITE_NEUTRAL_LAB = [
    [95.19, -1.03, 2.93],
    [81.29, -0.57, 0.44],
    [66.89, -0.75, -0.06],
    [50.76, -0.13, 0.14],
    [35.63, -0.46, -0.48],
    [20.64, 0.07, -0.46],
]


def test_reference_values_reproduce_xrite_lightness() -> None:
    ref = reference_rec709()
    assert ref.shape == (24, 3)
    lab = rec709_to_lab(ref)
    # Lightness is untouched by the D50 -> D65 (Bradford) adaptation, a*b* move a little.
    np.testing.assert_allclose(lab[18:, 0], np.array(XRITE_NEUTRAL_LAB)[:, 0], atol=0.05)
    np.testing.assert_allclose(lab[18:, 1:], np.array(XRITE_NEUTRAL_LAB)[:, 1:], atol=0.3)
    assert ref[17, 0] < 0  # cyan lies outside Rec.709


def test_lab_and_ciede2000_reference_values() -> None:
    np.testing.assert_allclose(rec709_to_lab(np.array([[1.0, 1.0, 1.0]])), [[100.0, 0.0, 0.0]], atol=1e-6)
    # L* of 18 % grey: 116 * 0.18^(1/3) - 16
    np.testing.assert_allclose(rec709_to_lab(np.full((1, 3), 0.18))[0, 0], 116 * 0.18 ** (1 / 3) - 16, atol=1e-6)
    # Two greys of L* 50 and 51: CIEDE2000 = 1 / S_L, S_L = 1 + 0.015 * 0.25 / sqrt(20.25)
    y = lambda L: ((L + 16) / 116) ** 3  # noqa: E731
    de = delta_e_2000(np.full((1, 3), y(50.0)), np.full((1, 3), y(51.0)))
    np.testing.assert_allclose(de, [1.0 / (1 + 0.015 * 0.25 / np.sqrt(20.25))], rtol=1e-6)


def test_fit_recovers_a_known_matrix_and_honours_the_white_constraint() -> None:
    ref = reference_rec709()
    cam = ref @ np.linalg.inv(SIM_COLOR_MATRIX).T
    np.testing.assert_allclose(fit_colour_matrix(cam, ref), SIM_COLOR_MATRIX, atol=1e-10)
    noisy = cam + np.random.default_rng(0).normal(0, 0.01, cam.shape)
    M = fit_colour_matrix(noisy, ref, exact=(noisy[WHITE_PATCH], ref[WHITE_PATCH]))
    np.testing.assert_allclose(M @ noisy[WHITE_PATCH], ref[WHITE_PATCH], atol=1e-12)
    M_free = fit_colour_matrix(noisy, ref)
    assert np.abs(M_free @ noisy[WHITE_PATCH] - ref[WHITE_PATCH]).max() > 1e-4  # the constraint did something
    with pytest.raises(ShapeError):
        fit_colour_matrix(cam[:, :2], ref[:, :2])


def test_orient_patches_turns_a_reversed_reading_around() -> None:
    ref = reference_rec709()
    cam = ref @ np.linalg.inv(SIM_COLOR_MATRIX).T + np.random.default_rng(1).normal(0, 0.002, (24, 3))
    np.testing.assert_array_equal(orient_patches(cam[::-1], ref), cam)
    np.testing.assert_array_equal(orient_patches(cam, ref), cam)


@pytest.fixture(scope="module")
def chart_files(tmp_path_factory):
    """The simulated chart (cross-polarised, white level 0.5), a dark frame, and the chart upside down."""
    root = tmp_path_factory.mktemp("chart")
    cam = sim_rig(SimCalibrationConfig(width=800, height=600))["left"]
    img = render_chart_image(cam, reference_rec709(), SIM_COLOR_MATRIX, white_level=0.5, rng=np.random.default_rng(2))
    dark = np.full_like(img, 0.01)  # uniform, so it also fits the chart turned upside down
    write_exr(root / "chart.exr", img + dark)
    write_exr(root / "dark.exr", dark)
    write_exr(root / "upside_down.exr", (img + dark)[::-1, ::-1])
    return root


def test_simulated_chart_meets_the_figure(chart_files) -> None:
    # two shots, one upside down: each image's orientation is resolved on its own
    res = calibrate_colour(
        [chart_files / "chart.exr", chart_files / "upside_down.exr"],
        camera="left",
        dark=chart_files / "dark.exr",
        config=ColourCalibrationConfig(white_level=0.5),
    )
    assert res.delta_e.shape == (24,)
    assert res.delta_e.mean() < 1.0, res.delta_e
    assert res.delta_e.max() < 2.0
    rel = np.linalg.norm(res.color_matrix - SIM_COLOR_MATRIX) / np.linalg.norm(SIM_COLOR_MATRIX)
    assert rel < 0.01
    np.testing.assert_allclose(res.readings[0].patches, res.readings[1].patches, rtol=0.02, atol=1e-3)
    js = res.to_json()
    assert js["color_matrix"] == res.color_matrix.tolist() and len(js["images"]) == 2
    assert set(js["delta_e_2000"]) == {"mean", "max", "per_patch"} and len(js["delta_e_2000"]["per_patch"]) == 24


def test_dark_frame_of_another_size_is_refused(chart_files, tmp_path) -> None:
    write_exr(tmp_path / "dark.exr", np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputFileError, match="chart.exr.*dark frame"):
        calibrate_colour([chart_files / "chart.exr"], camera="left", dark=tmp_path / "dark.exr")
