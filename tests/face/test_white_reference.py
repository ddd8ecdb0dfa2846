"""Skin tone referenced to the eye whites: exposure and white balance cancel, the order of skin tones stays."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance.errors import ShapeError
from id2reflectance.evaluation.photo_variants import COOL, WARM, photo_variant
from id2reflectance.face import white_reference
from id2reflectance.face.skin_tone import photo_ita_deg, skin_region
from id2reflectance.face.white_reference import (
    REFERENCE_RGB,
    WIDER_REFERENCE,
    censored_quantile,
    eye_region,
    eye_white_tone,
    eye_white_tone_aligned,
    white_balanced,
    wider_reference_factors,
)
from tests.london_photos import london_people, london_photo


def _synthetic_face(
    skin: np.ndarray, white: np.ndarray, *, gain=(1.0, 1.0, 1.0), shading: bool = False, lift: float = 0.0
) -> tuple:
    """A 128 px "aligned face": skin everywhere, each eye opening half eye white, half dark iris;
    (image (128, 128, 3) uint8, landmarks (68, 2)) with the eyes and cheeks placed. ``shading``:
    the skin and eye white lit by a ramp from 0.5 to 1.0 across the image (a spread of values, so
    that quantiles differ and over-exposure clips part of the face). ``lift``: the mouth corners'
    rise above the lips' middle over the eyes' distance (48 px; ``mouth_lift``)."""
    lm = np.zeros((68, 2))
    for k, cx in ((36, 40.0), (42, 88.0)):  # eye contours: hexagons 24 x 12 px
        ang = np.linspace(np.pi, -np.pi, 6, endpoint=False)
        lm[k : k + 6] = np.stack([cx + 12 * np.cos(ang), 50 + 6 * np.sin(ang)], axis=1)
    cheeks = {1: (20, 60), 2: (22, 80), 3: (28, 100), 48: (50, 105), 31: (55, 75)}
    cheeks.update({15: (108, 60), 14: (106, 80), 13: (100, 100), 54: (78, 105), 35: (73, 75)})
    for k, xy in cheeks.items():
        lm[k] = xy
    lm[51], lm[57] = (64, 100 + 48 * lift), (64, 110 + 48 * lift)  # the lips' middle: 105 + 48 lift
    ramp = np.linspace(0.5, 1.0, 128)[None, :, None] if shading else np.ones((1, 128, 1))
    lin = np.tile(np.asarray(skin, np.float64) * gain, (128, 128, 1)) * ramp
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
    assert base.lift == pytest.approx(0.0) and base.smile_gain == 1.0  # a neutral mouth
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


def test_a_smile_divides_out_its_shaded_eye_white():
    """A smile pushes the lower lids up and shades the sclera: on the London set's even ids the smiling
    photo's eye white is ~8 % darker. Two faces of one skin, the smiling one's eye white darkened as the
    gain says: the same tone, where the estimate before read the smiling one lighter."""
    from id2reflectance.face.white_reference import SMILE_GAIN, SMILE_GAIN_RANGE, mouth_lift, smile_gain

    skin, white = np.array([0.30, 0.20, 0.14]), np.array([0.55, 0.50, 0.48])
    neutral = _synthetic_face(skin, white)
    assert mouth_lift(neutral[1]) == pytest.approx(0.0)
    shade = np.exp(-SMILE_GAIN * 0.1)  # a broad smile: corners 0.1 eye distances above the lips' middle
    smiling = _synthetic_face(skin, white * shade, lift=0.1)
    assert mouth_lift(smiling[1]) == pytest.approx(0.1)
    a, b = eye_white_tone_aligned(*neutral), eye_white_tone_aligned(*smiling)
    assert a.smile_gain == 1.0 and b.smile_gain == pytest.approx(1 / shade) and b.lift == pytest.approx(0.1)
    assert b.ita_deg == pytest.approx(a.ita_deg, abs=0.7)
    before = eye_white_tone_aligned(*smiling, smile=False)
    assert before.ita_deg > a.ita_deg + 2 and before.smile_gain == 1.0  # the former estimate: lighter
    np.testing.assert_allclose(b.eye_white, before.eye_white * b.smile_gain)
    # bounded; and the gain still cancels a per-channel gain of the photo
    assert smile_gain(1.0) == SMILE_GAIN_RANGE[1] and smile_gain(-1.0) == SMILE_GAIN_RANGE[0]
    warm = eye_white_tone_aligned(*_synthetic_face(skin, white * shade, gain=WARM, lift=0.1))
    assert warm.ita_deg == pytest.approx(b.ita_deg, abs=1.0)
    with pytest.raises(ShapeError, match="landmarks must be"):
        mouth_lift(np.zeros((5, 2)))


def test_hair_and_beard_over_the_skin_region_are_left_out_of_the_skin_colour():
    """A dark beard over the lower third of the cheeks (hair linear RGB ~0.03, a tenth of the skin) fell
    in the skin region's 0.3 quantile: the skin read far darker than it is. Its pixels are dropped now
    (``skin_pixels_kept``): the same skin colour and tone as the clean face, whatever the exposure."""
    from id2reflectance.face.white_reference import skin_colour, skin_pixels_kept

    skin, white = np.array([0.30, 0.20, 0.14]), np.array([0.55, 0.50, 0.48])
    clean, lm = _synthetic_face(skin, white, shading=True)
    region = skin_region(lm, clean.shape[:2])
    ys, xs = np.nonzero(region)
    beard = ys >= np.percentile(ys, 65)  # the lower 35 % of the cheeks' rows
    bearded = clean.copy()
    bearded[ys[beard], xs[beard]] = np.round(linear_to_srgb(np.array([0.035, 0.025, 0.02])) * 255).astype(np.uint8)
    keep = skin_pixels_kept(bearded[region])
    assert keep[~beard].mean() > 0.99 and not keep[beard].any()  # the ramp's skin (0.58 .. 0.92) is kept
    assert skin_pixels_kept(clean[region]).mean() > 0.99  # (2 of 1646 region pixels are an eye's iris)
    np.testing.assert_allclose(skin_colour(bearded, region), skin_colour(clean, region), rtol=0.04)
    a, b = eye_white_tone_aligned(clean, lm), eye_white_tone_aligned(bearded, lm)
    assert b.ita_deg == pytest.approx(a.ita_deg, abs=1.5)
    before = eye_white_tone_aligned(bearded, lm, drop_dark=False)  # the estimate before: the beard as skin
    assert before.ita_deg < a.ita_deg - 15
    for stops, gains in ((-1.0, (1.0, 1.0, 1.0)), (0.0, WARM), (0.0, COOL)):  # the cut moves with no gain
        moved = eye_white_tone_aligned(photo_variant(bearded, stops=stops, gains=gains), lm)
        assert moved.ita_deg == pytest.approx(b.ita_deg, abs=1.0), (stops, gains)


def _records(diffs: list[float], lifts: list[float], jitter: float = 0.0) -> list[dict]:
    """Smile-fit records of people whose smiling eye white is ``exp(-d)`` of the neutral one (same skin)
    at mouth lift ``l``; each variant a per-channel gain of the photo, its lift moved by ``jitter``."""
    out = []
    for k, (d, lift) in enumerate(zip(diffs, lifts)):
        for expression, white, lm in (("neutral", 1.0, 0.0), ("smiling", np.exp(-d), lift)):
            for j, (variant, g) in enumerate((("as shot", 1.0), ("-1 stop", 0.5), ("warm", 1.1))):
                out.append(
                    {
                        "person": f"{2 * k:03d}",
                        "expression": expression,
                        "variant": variant,
                        "skin": list(np.array([0.3, 0.2, 0.14]) * g),
                        "eye_white": list(np.array([0.55, 0.5, 0.48]) * white * g),
                        "lift": lm + jitter * (j - 1),
                    }
                )
    return out


def test_choose_smile_gain_removes_the_smile_bias_within_the_spread_allowance():
    from id2reflectance.face.white_reference import choose_smile_gain, smile_gain_fit_figures

    # every smile: lift 0.1, eye white exp(-0.1): the gain that undoes it is 1.0
    records = _records([0.1] * 9, [0.1] * 9)
    zero = smile_gain_fit_figures(records, 0.0)
    assert zero["bias"] > 2 and zero["pair"] == pytest.approx(zero["bias"]) and zero["spread_p90"] < 1e-6
    assert smile_gain_fit_figures(records, 1.0)["pair"] < 0.05
    chosen, figures = choose_smile_gain(records)
    assert chosen == 1.0 and set(figures) == set(white_reference.SMILE_GAIN_GRID)
    # lifts that jitter 0.1 across a photo's variants: a gain that spreads the variants too far is refused
    noisy = _records([0.1] * 9, [0.1] * 9, jitter=0.1)
    chosen, figures = choose_smile_gain(noisy)
    allowed = figures[0.0]["spread_p90"] + white_reference.SMILE_SPREAD_ALLOWANCE
    assert figures[1.0]["spread_p90"] > allowed and chosen < 1.0
    assert figures[chosen]["spread_p90"] <= allowed


def test_smile_gain_is_the_recorded_even_id_fit():
    """SMILE_GAIN is what choose_smile_gain makes of benchmarks/eye_white_calibration.json's records,
    all even (donor) ids, both photos and the 5 variants of each with their own landmarks."""
    import json
    from pathlib import Path

    from id2reflectance.face.white_reference import SMILE_GAIN, choose_smile_gain

    record = json.loads((Path(__file__).parents[2] / "benchmarks" / "eye_white_calibration.json").read_text())
    records = record["even_id_smile_records"]
    assert len({r["person"] for r in records}) >= 50 and all(int(r["person"]) % 2 == 0 for r in records)
    assert {r["variant"] for r in records} == {"as shot", "-1 stop", "+1 stop", "warm", "cool"}
    chosen, figures = choose_smile_gain(records)
    assert record["SMILE_GAIN"] == chosen == SMILE_GAIN
    assert figures[0.0]["bias"] > 2.0 and abs(figures[chosen]["bias"]) <= 1.0  # the smile read lighter before


def test_censored_quantile_reads_a_clipped_channel_below_the_clip_level():
    rng = np.random.default_rng(0)
    shade = rng.uniform(0.3, 1.0, 2000)
    colour = np.array([0.6, 0.35, 0.25])  # linear; red clips first when brightened

    def codes(k: float) -> np.ndarray:
        return np.round(linear_to_srgb(np.clip(np.outer(shade, colour) * k, 0, 1)) * 255).astype(np.uint8)

    base = censored_quantile(codes(1.0), 0.3)
    assert base is not None
    np.testing.assert_allclose(base, np.quantile(np.outer(shade, colour), 0.3, axis=0), rtol=0.02)
    bright = codes(3.5)  # red clipped in about 3/4 of the pixels, green in a quarter, blue in none
    assert np.quantile(bright[:, 0], 0.3) >= 250 and np.quantile(bright[:, 1], 0.3) < 250
    np.testing.assert_allclose(censored_quantile(bright, 0.3), 3.5 * base, rtol=0.03)
    assert censored_quantile(bright, 0.3, extrapolate=False) is None  # the former estimate had none
    assert censored_quantile(codes(20.0), 0.3) is None  # every channel clipped


def test_an_over_exposed_face_keeps_its_estimate_where_the_former_one_had_none():
    skin, white = np.array([0.50, 0.32, 0.23]), np.array([0.25, 0.23, 0.22])
    base = eye_white_tone_aligned(*_synthetic_face(skin, white, shading=True))
    assert base.ita_deg is not None
    for gain in ((3.0, 3.0, 3.0), (3.1, 3.0, 2.8)):  # the red clipped in most of the skin (above its 0.3 quantile)
        img, lm = _synthetic_face(skin, white, gain=gain, shading=True)
        assert np.mean(img[skin_region(lm, img.shape[:2]), 0] >= 250) > 0.7
        moved = eye_white_tone_aligned(img, lm)
        assert moved.ita_deg == pytest.approx(base.ita_deg, abs=1.5), gain
        assert eye_white_tone_aligned(img, lm, extrapolate=False).ita_deg is None


def test_white_balanced_raises_partly_clipped_pixels_by_the_skin_colour():
    skin = np.array([0.6, 0.4, 0.3])
    img = np.round(linear_to_srgb(np.clip(np.tile(skin * 2.0, (4, 4, 1)), 0, 1)) * 255).astype(np.uint8)
    assert np.all(img[..., 0] == 255)  # red clipped: 1.2 of 1
    eye = np.array([0.8, 0.8, 0.8])  # eye white at this exposure: the balance halves the light
    plain = white_balanced(img, eye)
    raised = white_balanced(img, eye, skin=skin * 2.0)
    want = linear_to_srgb(np.clip(skin * 2.0 * np.asarray(REFERENCE_RGB) / eye, 0, 1)) * 255
    np.testing.assert_allclose(raised[0, 0], want, atol=1.5)  # the skin's own red, not the clip level
    assert plain[0, 0, 0] < raised[0, 0, 0] - 5
    np.testing.assert_array_equal(plain[..., 1:], raised[..., 1:])  # unclipped channels untouched


def _graded_eye_face(gain: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 128 px aligned face whose eye openings hold an eye white shaded from 1.0 down to 0.1 of its colour
    (lids, the eyeball's curvature) and no iris: (image, landmarks, the white's linear RGB) at exposure ``gain``."""
    skin, white = np.array([0.20, 0.13, 0.09]), np.array([0.40, 0.36, 0.33])
    img, lm = _synthetic_face(skin, white)
    eyes = eye_region(lm, img.shape[:2])
    lin = np.tile(skin, (128, 128, 1)) * (np.linspace(0.5, 1.0, 128)[None, :, None])
    ys, xs = np.nonzero(eyes)
    shade = np.linspace(1.0, 0.1, len(ys))[np.argsort(np.argsort(np.hypot((xs % 64) - 24, ys - 50)))]
    lin[ys, xs] = np.outer(shade, white)
    return np.round(linear_to_srgb(np.clip(lin * gain, 0, 1)) * 255).astype(np.uint8), lm, white


@pytest.mark.parametrize("gain", [3.2, 3.3])  # the 25 % set's blue median clipped at 3.3, not at 3.2
def test_wider_reference_factors_carry_a_clipped_eye_white_back_to_the_usual_set(monkeypatch, gain):
    img, lm, _ = _graded_eye_face(1.0)
    usual = eye_white_tone_aligned(img, lm).eye_white
    factors = wider_reference_factors(img, lm)
    assert factors is not None and len(factors) == len(WIDER_REFERENCE)
    assert 1.0 < factors[0] < factors[1]  # wider sets reach darker pixels: larger factors
    bright = _graded_eye_face(gain)[0]  # over-exposed: the usual set's blue median clipped
    top = np.sort(bright[eye_region(lm, bright.shape[:2]), 2])[::-1]
    assert np.median(top[: int(0.15 * len(top))]) >= 250 and np.median(top[: int(0.35 * len(top))]) < 250
    fitted = tuple((f, v) for (f, _), v in zip(WIDER_REFERENCE, factors))
    monkeypatch.setattr(white_reference, "WIDER_REFERENCE", fitted)
    np.testing.assert_allclose(eye_white_tone_aligned(bright, lm).eye_white, gain * usual, rtol=0.03)
    # read from a wider set times a typical factor: said, not silent
    assert eye_white_tone_aligned(bright, lm).warning == white_reference.CLIPPED_WARNING
    assert eye_white_tone_aligned(img, lm).warning == ""
    # without the factors (all 1) the estimate reads the wider set's darker median
    monkeypatch.setattr(white_reference, "WIDER_REFERENCE", tuple((f, 1.0) for f, _ in fitted))
    assert eye_white_tone_aligned(bright, lm).eye_white[2] < 0.97 * gain * usual[2]
    assert wider_reference_factors(img, np.zeros((68, 2))) is None  # no eye opening


def test_wider_reference_is_the_recorded_even_id_fit():
    """The shipped factors are the median of benchmarks/eye_white_calibration.json's photos, all even
    (donor) ids: no evaluation photo in the constant (before 2026-12-07 it came from the odd ids)."""
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).parents[2] / "benchmarks" / "eye_white_calibration.json").read_text())
    photos = record["even_id_photos"]
    assert len(photos) >= 40 and all(int(p["person"]) % 2 == 0 for p in photos)
    median = np.median([p["factors"] for p in photos], axis=0)
    for (fraction, shipped), fitted, recorded in zip(WIDER_REFERENCE, median, record["WIDER_REFERENCE"]):
        assert recorded == [fraction, pytest.approx(shipped, abs=1e-9)]
        assert shipped == pytest.approx(fitted, abs=0.005)


def test_no_estimate_without_an_eye_white_or_with_clipped_skin():
    skin = np.array([0.30, 0.20, 0.14])
    no_eyes = eye_white_tone_aligned(*_synthetic_face(skin, skin * 1.05))  # a head without eyes
    assert no_eyes.ita_deg is None and "nothing whiter than the skin" in no_eyes.reason
    # a skin-only render (the face model's layout): the eye openings are holes onto the black backdrop, with
    # near-black noise that would read as an eye white far darker than the skin and a much lighter tone
    img, lm = _synthetic_face(skin, skin * 2.0)
    eyes = eye_region(lm, img.shape[:2])
    img[eyes] = np.random.default_rng(0).integers(0, 3, (int(eyes.sum()), 3))  # codes 0-2
    holes = eye_white_tone_aligned(img, lm)
    assert holes.ita_deg is None and "background" in holes.reason
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
    plus1 = photo_variant(photo, stops=1.0)  # the skin's and the eye whites' red clipped in most pixels
    assert eye_white_tone(plus1, lm).ita_deg == pytest.approx(base, abs=3.0)
    assert eye_white_tone(plus1, lm, extrapolate=False).ita_deg is None  # the former estimate had none


@pytest.mark.slow
def test_london_smiling_photo_no_longer_reads_lighter_than_the_neutral_one():
    """The first 12 even ids (donors, whose photos fitted the gain): the smiling photo read lighter than the
    neutral one in most of them (median +3.0 deg; +2.5 with hair and beards left out of the skin sample);
    with the smile gain the median is near 0."""
    people = [p for p in london_people() if int(p.id) % 2 == 0][:12]
    now, before = [], []
    for person in people:
        n, s = london_photo(person.id, "neutral"), london_photo(person.id, "smiling")
        now.append(eye_white_tone(*s).ita_deg - eye_white_tone(*n).ita_deg)
        before.append(eye_white_tone(*s, smile=False).ita_deg - eye_white_tone(*n, smile=False).ita_deg)
    assert np.median(before) > 2.0
    assert abs(np.median(now)) < 1.5


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
def test_london_fringes_over_the_forehead_no_longer_read_as_dark_skin():
    """London 003 and 143 (white, full fringes over the forehead band) read eye-white ITA -75 and -82 before,
    darker than the black group's median (-53), and 045 (east asian, a fringe over a fifth of the region) 13
    against 26 by its photo ITA; the skin sample leaves the hair out now."""
    for person, floor, rise in (("003", -20.0, 50.0), ("143", 0.0, 70.0), ("045", 25.0, 15.0)):
        photo, lm = london_photo(person)
        now, before = eye_white_tone(photo, lm).ita_deg, eye_white_tone(photo, lm, drop_dark=False).ita_deg
        assert now > floor and now > before + rise, (person, now, before)


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


def test_astronaut_tone_stable_under_exposure_and_white_balance_where_the_former_estimate_was_lost():
    from skimage import data

    from id2reflectance.face.detect import find_faces

    photo = data.astronaut()
    lm = find_faces(photo)[0].landmarks
    base = eye_white_tone(photo, lm).ita_deg
    assert base is not None
    for stops, gains in ((-1.0, (1.0, 1.0, 1.0)), (0.0, WARM), (0.0, COOL), (0.75, (1.0, 1.0, 1.0))):
        variant = photo_variant(photo, stops=stops, gains=gains)
        assert eye_white_tone(variant, lm).ita_deg == pytest.approx(base, abs=3.5), (stops, gains)
    over = photo_variant(photo, stops=0.75)  # part of the skin's and eye whites' red clipped
    assert eye_white_tone(over, lm, extrapolate=False).ita_deg is None  # the former estimate: none
    assert abs(photo_ita_deg(over, lm) - base) > 30  # and its fallback, the photo ITA, reads the exposure
    # at +1 stop most of the eye white is clipped in the photo itself: further off, still far nearer than the photo ITA
    plus1 = photo_variant(photo, stops=1.0)
    assert eye_white_tone(plus1, lm).ita_deg == pytest.approx(base, abs=8.0)
    assert eye_white_tone(plus1, lm, extrapolate=False).ita_deg is None
