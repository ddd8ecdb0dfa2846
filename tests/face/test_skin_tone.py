"""Skin tone of photos: ITA of the skin region and its calibration onto the albedo scale."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from id2reflectance.errors import ShapeError
from id2reflectance.face.skin_tone import (
    MIN_CALIBRATION_PAIRS,
    fit_ita_calibration,
    ita_of_pixels,
    skin_exposure_warning,
)


def test_calibration_recovers_a_linear_map_and_clamps_to_the_template_range():
    gen = np.random.default_rng(3)
    photo = gen.uniform(0.0, 6.0, 40)
    albedo = -40.0 + 16.0 * photo + gen.normal(0.0, 2.0, 40)
    cal = fit_ita_calibration([*photo, None, 3.0], [*albedo, 10.0, None])  # incomplete pairs skipped
    assert cal is not None and cal.pairs == 40
    assert cal.slope == pytest.approx(16.0, rel=0.05) and cal.offset == pytest.approx(-40.0, abs=3.0)
    assert cal.correlation > 0.95 and 1.0 < cal.residual_deg < 3.0
    assert cal.albedo_ita(3.0) == pytest.approx(cal.offset + 3.0 * cal.slope)
    assert cal.albedo_ita(30.0) == cal.high == pytest.approx(albedo.max())  # a brighter photo than any template
    assert cal.albedo_ita(-30.0) == cal.low == pytest.approx(albedo.min())
    assert cal.albedo_ita(None) is None and cal.albedo_ita(float("nan")) is None


@pytest.mark.parametrize(
    ("photo", "albedo"),
    [
        ([1.0, 2.0], [10.0, 20.0]),  # too few pairs
        ([2.0, 2.0, 2.0, 2.0], [0.0, 10.0, 20.0, 30.0]),  # no spread in the photos
        ([1.0, 2.0, 3.0, 4.0], [30.0, 20.0, 10.0, 0.0]),  # tones disagree (r = -1)
        ([1.0, 2.0, 3.0, 4.0], [0.0, 30.0, -30.0, 5.0]),  # no relation (|r| < 0.5)
    ],
)
def test_no_calibration_when_photos_do_not_predict_albedo(photo, albedo):
    assert MIN_CALIBRATION_PAIRS == 3
    assert fit_ita_calibration(photo, albedo) is None


def test_calibration_length_mismatch_is_an_error():
    with pytest.raises(ShapeError, match="3 photo values but 2 albedo"):
        fit_ita_calibration([1.0, 2.0, 3.0], [1.0, 2.0])


def test_photo_ita_depends_on_exposure():
    """Why a calibration is needed: the same skin photographed darker measures a lower ITA."""
    skin = np.array([0.55, 0.38, 0.28])  # linear albedo-like colour
    mask = np.ones((8, 8), bool)

    def photo(gain: float) -> np.ndarray:
        lin = np.clip(skin * gain, 0, 1)
        srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
        return np.broadcast_to(np.round(srgb * 255).astype(np.uint8), (8, 8, 3)).copy()

    bright, dark = ita_of_pixels(photo(1.0), mask), ita_of_pixels(photo(0.35), mask)
    assert bright is not None and dark is not None
    assert bright - dark > 20.0


def test_skin_exposure_warning():
    skin = np.full((10, 10, 3), (200, 150, 120), np.uint8)
    mask = np.ones((10, 10), bool)
    assert skin_exposure_warning(skin, mask) is None
    over = skin.copy()
    over[:3] = (255, 240, 230)  # 30 % clipped (red at 255)
    assert skin_exposure_warning(over, mask) == (
        "30 % of the face's skin is clipped (over-exposed): its skin tone is unreliable"
    )
    assert skin_exposure_warning(over, mask & (np.arange(10)[:, None] >= 2)) is None  # 1 row of 8: 12 %
    under = skin.copy()
    under[:4] = (12, 8, 6)  # relative luminance about 0.003
    assert skin_exposure_warning(under, mask) == (
        "40 % of the face's skin is nearly black (under-exposed): its skin tone is unreliable"
    )
    assert ita_of_pixels(under, mask) == pytest.approx(ita_of_pixels(skin, mask))  # the dark pixels are dropped
    assert skin_exposure_warning(skin, np.zeros((10, 10), bool)) is None


def test_skin_tone_and_evaluation_do_not_import_colour_science():
    """ITA comes from one numpy definition (_shared/cielab.py): colour-science (which loads
    OpenImageIO, whose bindings print leak noise at exit beside torch) stays out of inference."""
    code = (
        "import sys, numpy as np;"
        "import id2reflectance.inference.predictor, id2reflectance.evaluation.swapper;"
        "from id2reflectance.face.skin_tone import ita_of_pixels;"
        "v = ita_of_pixels(np.full((8, 8, 3), (200, 150, 120), np.uint8), np.ones((8, 8), bool));"
        "print(round(float(v), 1), [m for m in ('colour', 'OpenImageIO') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    value, leaked = out.stdout.strip().split(" ", 1)
    assert leaked == "[]" and 0.0 < float(value) < 90.0
