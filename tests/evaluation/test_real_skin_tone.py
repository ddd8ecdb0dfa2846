"""Skin-tone estimators on real photos and their summary figures."""

from __future__ import annotations

import pytest

from id2reflectance.evaluation.london import GROUP_ORDER
from id2reflectance.evaluation.photo_variants import VARIANTS
from id2reflectance.evaluation.real_skin_tone import ESTIMATORS, PhotoTones, measure_tones, summarise_tones
from id2reflectance.face.detect import find_faces
from tests.london_photos import london_people, london_photo


def _photo(person: str, expression: str, group: str, base: float, spread: float, missing: str = "") -> PhotoTones:
    tones = {v: {"x": base + (spread if v == "warm" else 0.0)} for v in VARIANTS}
    if missing:
        tones[missing]["x"] = None
    return PhotoTones(person, expression, group, tones)  # type: ignore[arg-type]


def test_summary_spreads_pairs_and_group_order():
    photos = [
        _photo("1", "neutral", "white", 50.0, 2.0),
        _photo("1", "smiling", "white", 54.0, 4.0),
        _photo("2", "neutral", "east_asian", 40.0, 0.0),
        _photo("2", "smiling", "east_asian", 41.0, 0.0, missing="+1 stop"),
        _photo("3", "neutral", "west_asian", 30.0, 6.0),
        _photo("4", "neutral", "black", -20.0, 8.0),
    ]
    s = summarise_tones(photos, "x")
    assert s.complete == 5 and s.missing == 1 and s.missing_by_variant["+1 stop"] == 1
    assert s.spread_median == pytest.approx(4.0)
    assert s.pairs == 2 and s.pair_median == pytest.approx(2.5)  # |50 - 54| and |40 - 41|
    assert s.group_median == {"white": 52.0, "east_asian": 40.5, "west_asian": 30.0, "black": -20.0}
    # per variant: |estimate - as shot| (the missing +1 stop of one photo left out)
    assert s.shift_median["warm"] == pytest.approx(3.0) and s.shift_p90["warm"] == pytest.approx(7.0)  # 0 0 2 4 6 8
    assert s.shift_median["+1 stop"] == 0.0 and s.shift_median["as shot"] == 0.0
    assert s.ordered
    swapped = [*photos[:-1], _photo("4", "neutral", "black", 45.0, 0.0)]
    assert not summarise_tones(swapped, "x").ordered
    assert not summarise_tones(photos[:2], "x").ordered  # groups missing: no order to speak of
    assert GROUP_ORDER[0] == "white" and GROUP_ORDER[-1] == "black"


@pytest.mark.slow
def test_measure_tones_on_one_london_person():
    person = london_people()[0]
    photos = measure_tones([person], lambda img: find_faces(img)[0].landmarks, lambda p, e: london_photo(p.id, e)[0])
    assert [(p.person, p.expression) for p in photos] == [(person.id, "neutral"), (person.id, "smiling")]
    for p in photos:
        assert set(p.tones) == set(VARIANTS) and set(p.tones["as shot"]) == set(ESTIMATORS)
        assert all(v is not None for v in p.tones["as shot"].values())
    s = summarise_tones(photos, "eye_white")
    assert s.pairs == 1 and s.pair_median is not None and s.pair_median < 10.0
