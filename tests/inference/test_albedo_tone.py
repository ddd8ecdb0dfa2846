"""The predicted albedo's tone from the eye-white tone: the calibration and the re-toning gain."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.errors import ShapeError
from id2reflectance.inference.albedo_tone import (
    ALBEDO_ITA_RANGE,
    GAIN_RANGE,
    SKIN_LOG_SLOPE,
    albedo_ita_from_eye_white,
    retone_gain,
    skin_ita,
    skin_pixels,
)


def _skin_albedo(ita: float, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A disc of textured skin-coloured albedo on a black backdrop, near the given ITA."""
    rng = np.random.default_rng(seed)
    base = np.exp(np.array([-1.14, -1.86, -2.69]) + np.asarray(SKIN_LOG_SLOPE) * ita)
    yy, xx = np.mgrid[:size, :size]
    mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.4 * size) ** 2
    albedo = (
        base * np.exp(0.15 * rng.standard_normal((size, size, 1))) * (1 + 0.03 * rng.standard_normal((size, size, 3)))
    )
    return np.where(mask[..., None], np.clip(albedo, 0, 1), 0.0).astype(np.float32), mask


@pytest.mark.parametrize("start", [-40.0, 10.0, 50.0])
@pytest.mark.parametrize("target", [-45.0, -10.0, 20.0, 55.0])
def test_retone_gain_puts_the_skin_at_the_target_ita(start, target):
    albedo, mask = _skin_albedo(start)
    g = np.asarray(retone_gain(albedo, mask, target))
    assert np.all((g >= GAIN_RANGE[0] - 1e-9) & (g <= GAIN_RANGE[1] + 1e-9))
    skin = skin_pixels(mask)
    toned = np.clip(albedo * g, 0, 1)
    if np.all((g > GAIN_RANGE[0]) & (g < GAIN_RANGE[1])):
        assert skin_ita(toned, skin) == pytest.approx(target, abs=0.06)
    # the gain moves every channel the same way along the tone direction: log gains proportional to the slope
    ratio = np.log(g) / np.asarray(SKIN_LOG_SLOPE)
    assert np.ptp(ratio) < 1e-6
    assert (target - start) * ratio[0] >= 0  # lighter target, larger gain (and the reverse)


def test_retone_gain_stops_at_its_bounds_and_on_an_empty_mask():
    albedo, mask = _skin_albedo(-45.0)
    g = np.asarray(retone_gain(albedo, mask, 65.0))  # far lighter than any bounded gain reaches
    assert g.max() == pytest.approx(GAIN_RANGE[1], rel=1e-6)
    assert skin_ita(np.clip(albedo * g, 0, 1), skin_pixels(mask)) < 65.0
    assert retone_gain(albedo, np.zeros_like(mask), 20.0) == (1.0, 1.0, 1.0)
    with pytest.raises(ShapeError, match="retone_gain"):
        retone_gain(albedo[..., :2], mask, 20.0)


def test_skin_pixels_erode_the_view_mask():
    _, mask = _skin_albedo(0.0)
    skin = skin_pixels(mask)
    assert skin.sum() < mask.sum() and not (skin & ~mask).any()
    tiny = np.zeros((64, 64), bool)
    tiny[30:32, 30:32] = True
    assert np.array_equal(skin_pixels(tiny), tiny)  # erosion leaves nothing: the mask itself


def test_albedo_ita_from_eye_white_is_increasing_and_clamped():
    x = np.linspace(-80, 80, 33)
    y = np.array([albedo_ita_from_eye_white(v) for v in x])
    assert np.all(np.diff(y) >= 0) and np.diff(y).max() > 0
    assert y.min() >= ALBEDO_ITA_RANGE[0] and y.max() <= ALBEDO_ITA_RANGE[1]


def test_eye_white_to_albedo_is_the_recorded_render_fit():
    """The shipped calibration is the Theil-Sen line through benchmarks/eye_white_calibration.json's
    renders (written by benchmarks/fit_eye_white_calibration.py --record): simulated photo subjects,
    every donor an even id, no London evaluation photo; and it is far tighter than the former fit
    (median |residual| 8.7 deg over painted 256 px renders)."""
    import json
    from pathlib import Path

    from scipy.stats import theilslopes

    from id2reflectance.inference.albedo_tone import EYE_WHITE_TO_ALBEDO

    record = json.loads((Path(__file__).parents[2] / "benchmarks" / "eye_white_calibration.json").read_text())
    renders = record["renders"]
    assert len(renders) >= 36 and all(int(r["donor"]) % 2 == 0 for r in renders)
    x = np.array([r["eye_white_ita_deg"] for r in renders])
    y = np.array([r["albedo_ita_deg"] for r in renders])
    slope, offset, _, _ = theilslopes(y, x)
    assert EYE_WHITE_TO_ALBEDO[0] == pytest.approx(offset, abs=0.005)  # the constants carry 2 and 3 decimals
    assert EYE_WHITE_TO_ALBEDO[1] == pytest.approx(slope, abs=0.0005)
    assert record["EYE_WHITE_TO_ALBEDO"] == pytest.approx(list(EYE_WHITE_TO_ALBEDO), abs=1e-9)
    assert np.median(np.abs(y - (offset + slope * x))) < 6.0
    assert albedo_ita_from_eye_white(40.0) == pytest.approx(offset + slope * 40.0, abs=0.05)
