"""Real-photo inference figures: pairs, groups and the relation to the photo's tone."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.evaluation.real_inference import RealPhotoResult, albedo_psnr, summarise_real


def _result(person: str, expression: str, group: str, ita: float, photo: float, level: float) -> RealPhotoResult:
    uv = np.full((4, 4, 3), level, np.float32)
    cov = np.ones((4, 4), bool)
    return RealPhotoResult(
        person,
        expression,
        group,
        asset=True,
        template_id=f"T{person}",
        photo_ita_deg=photo,
        albedo_ita_deg=ita,
        identity_distance=0.5,
        uv_albedo=uv,
        uv_coverage=cov,
    )


def test_albedo_psnr_over_the_texels_both_cover():
    a = _result("1", "neutral", "white", 50, 50, 0.5)
    b = _result("1", "smiling", "white", 50, 50, 0.6)
    assert albedo_psnr(a, b) == pytest.approx(20.0, abs=1e-3)  # mse 0.01
    b.uv_coverage = np.zeros((4, 4), bool)
    assert albedo_psnr(a, b) is None


def test_summary_same_vs_different_people_and_groups():
    results = [
        _result("1", "neutral", "white", 50, 55, 0.50),
        _result("1", "smiling", "white", 51, 54, 0.51),
        _result("2", "neutral", "east_asian", 40, 35, 0.40),
        _result("2", "smiling", "east_asian", 42, 36, 0.41),
        _result("3", "neutral", "west_asian", 30, 25, 0.30),
        _result("4", "neutral", "black", -10, -20, 0.10),
        RealPhotoResult("4", "smiling", "black", asset=False, error="no face found"),
    ]
    s = summarise_real(results)
    assert s["photos"] == 7 and s["assets"] == 6 and s["templates"] == 4
    assert s["same"]["pairs"] == 2 and s["same"]["ita_diff"] == pytest.approx(1.5)
    assert s["other"]["pairs"] == 4  # 1-2, 2-3, 3-4, 4-1 (neutral photos)
    assert s["other"]["ita_diff"] > s["same"]["ita_diff"] and s["other"]["psnr"] < s["same"]["psnr"]
    assert s["ordered"] and s["group_ita"]["black"] == -10
    assert s["photo_r"] > 0.95 and 0.5 < s["photo_slope"] < 1.5


def test_people_whose_photo_made_subjects_are_not_evaluated():
    from id2reflectance.errors import ConfigError
    from id2reflectance.evaluation.real_inference import infer_real_photo

    photo = np.zeros((8, 8, 3), np.uint8)
    for donor in ("002", "104", "010"):  # even ids lend their photo to simulated subjects
        with pytest.raises(ConfigError, match=f"person {donor} lends its photo"):
            infer_real_photo(object(), photo, person=donor, expression="neutral", ethnicity="white")
