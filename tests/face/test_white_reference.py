"""Skin tone referenced to the eye whites: exposure and white balance cancel, the order of skin tones stays."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance.errors import ShapeError
from id2reflectance.evaluation.photo_variants import COOL, WARM, photo_variant
from id2reflectance.face.skin_tone import photo_ita_deg
from id2reflectance.face.white_reference import (
    REFERENCE_RGB,
    eye_region,
    eye_white_tone,
    eye_white_tone_aligned,
)
from tests.london_photos import london_people, london_photo


def _synthetic_face(skin: np.ndarray, white: np.ndarray, *, gain=(1.0, 1.0, 1.0)) -> tuple:
    """A 128 px "aligned face": skin everywhere, each eye opening half eye white, half dark iris;
    (image (128, 128, 3) uint8, landmarks (68, 2)) with the eyes and cheeks placed."""
    lm = np.zeros((68, 2))
    for k, cx in ((36, 40.0), (42, 88.0)):  # eye contours: hexagons 24 x 12 px
        ang = np.linspace(np.pi, -np.pi, 6, endpoint=False)
        lm[k : k + 6] = np.stack([cx + 12 * np.cos(ang), 50 + 6 * np.sin(ang)], axis=1)
    cheeks = {1: (20, 60), 2: (22, 80), 3: (28, 100), 48: (50, 105), 31: (55, 75)}
    cheeks.update({15: (108, 60), 14: (106, 80), 13: (100, 100), 54: (78, 105), 35: (73, 75)})
    for k, xy in cheeks.items():
        lm[k] = xy
    lin = np.tile(np.asarray(skin, np.float64) * gain, (128, 128, 1))
    eyes = eye_region(lm, (128, 128))
    ys, xs = np.nonzero(eyes)
    left_half = (xs < 40) | ((xs >= 64) & (xs < 88))
    lin[ys[left_half], xs[left_half]] = np.asarray(white) * gain
    lin[ys[~left_half], xs[~left_half]] = np.array([0.05, 0.03, 0.02]) * gain  # iris
    return np.round(linear_to_srgb(np.clip(lin, 0, 1)) * 255).astype(np.uint8), lm


def test_a_per_channel_gain_cancels_and_the_reference_colour_is_the_scale():
    skin, white = np.array([0.30, 0.20, 0.14]), np.array([0.55, 0.50, 0.48])
    base = eye_white_tone_aligned(*_synthetic_face(skin, white))
    assert base.ita_deg is not None and base.reason == ""
    np.testing.assert_allclose(base.eye_white, white, rtol=0.03)
    np.testing.assert_allclose(base.skin, skin, rtol=0.03)
    # the estimate is the ITA of skin / white * REFERENCE_RGB
    from id2reflectance._shared.cielab import ita_deg

    assert base.ita_deg == pytest.approx(float(ita_deg(skin / white * np.asarray(REFERENCE_RGB))), abs=1.0)
    for gain in ((0.5, 0.5, 0.5), (1.6, 1.6, 1.6), WARM, COOL, (0.7, 0.9, 1.2)):
        moved = eye_white_tone_aligned(*_synthetic_face(skin, white, gain=gain))
        assert moved.ita_deg == pytest.approx(base.ita_deg, abs=1.0), gain
    darker = eye_white_tone_aligned(*_synthetic_face(skin * [0.45, 0.4, 0.38], white))
    assert darker.ita_deg < base.ita_deg - 20


def test_no_estimate_without_an_eye_white_or_with_clipped_skin():
    skin = np.array([0.30, 0.20, 0.14])
    no_eyes = eye_white_tone_aligned(*_synthetic_face(skin, skin * 1.05))  # a head without eyes
    assert no_eyes.ita_deg is None and "nothing whiter than the skin" in no_eyes.reason
    clipped = eye_white_tone_aligned(*_synthetic_face(skin * 4.0, np.array([0.55, 0.5, 0.48])))
    assert clipped.ita_deg is None and "clipped" in clipped.reason
    dark = eye_white_tone_aligned(*_synthetic_face(skin * 0.02, np.array([0.55, 0.5, 0.48]) * 0.02))
    assert dark.ita_deg is None and "nearly black" in dark.reason  # 8-bit codes too coarse for a ratio
    with pytest.raises(ShapeError, match="landmarks must be"):
        eye_region(np.zeros((5, 2)), (10, 10))


@pytest.mark.slow
def test_london_photo_stable_under_exposure_and_white_balance():
    photo, lm = london_photo("001")
    base = eye_white_tone(photo, lm).ita_deg
    assert base is not None
    photo_itas = [photo_ita_deg(photo, lm)]
    for stops, gains in ((-1.0, (1.0, 1.0, 1.0)), (0.0, WARM), (0.0, COOL), (0.5, (1.0, 1.0, 1.0))):
        variant = photo_variant(photo, stops=stops, gains=gains)
        assert eye_white_tone(variant, lm).ita_deg == pytest.approx(base, abs=3.0), (stops, gains)
        photo_itas.append(photo_ita_deg(variant, lm))
    assert max(photo_itas) - min(photo_itas) > 10.0  # the photo ITA itself follows them


@pytest.mark.slow
def test_london_orders_lighter_and_darker_skin_like_the_photo():
    people = london_people()
    tones: dict[str, list[float]] = {"white": [], "black": []}
    for group in tones:
        for person in [p for p in people if p.ethnicity == group][:5]:
            photo, lm = london_photo(person.id)
            tone = eye_white_tone(photo, lm).ita_deg
            assert tone is not None
            tones[group].append(tone)
    # medians: one of these five white people has a fringe of dark hair over the forehead
    assert np.median(tones["black"]) < np.median(tones["white"]) - 30


@pytest.mark.slow
def test_white_balanced_undoes_exposure_and_white_balance_on_a_london_photo():
    from id2reflectance.face.detect import align_face
    from id2reflectance.face.white_reference import white_balanced

    photo, lm = london_photo("001")
    aligned, _ = align_face(photo, lm, size=128)
    ref = white_balanced(aligned, eye_white_tone(photo, lm).eye_white)
    variant = photo_variant(photo, stops=-1.0, gains=WARM)
    moved, _ = align_face(variant, lm, size=128)
    back = white_balanced(moved, eye_white_tone(variant, lm).eye_white)
    face = slice(40, 100)
    assert np.abs(moved[face, face].astype(int) - ref[face, face]).mean() > 10  # the variant differs
    assert np.abs(back[face, face].astype(int) - ref[face, face]).mean() < 3  # balanced, it does not
    with pytest.raises(ShapeError, match="uint8"):
        white_balanced(aligned.astype(np.float32), np.ones(3))
