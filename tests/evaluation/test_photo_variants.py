"""Photos re-exposed and white-balanced in linear light."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance._shared.imageio import srgb_to_linear
from id2reflectance.errors import ShapeError
from id2reflectance.evaluation.photo_variants import VARIANTS, WARM, photo_variant


def _lin(img: np.ndarray) -> np.ndarray:
    return srgb_to_linear(img.astype(np.float32) / 255.0)


def test_stops_and_gains_act_on_linear_light_and_clip():
    img = np.array([[[40, 90, 128], [200, 200, 200], [255, 10, 0]]], np.uint8)
    same = photo_variant(img)
    np.testing.assert_array_equal(same, img)
    up = photo_variant(img, stops=1.0)
    np.testing.assert_allclose(_lin(up)[0, 0], 2 * _lin(img)[0, 0], rtol=0.02)  # one stop doubles the light
    assert up[0, 1].tolist() == [255, 255, 255]  # clipped
    down = photo_variant(img, stops=-1.0)
    np.testing.assert_allclose(_lin(down)[0, 0], 0.5 * _lin(img)[0, 0], rtol=0.03)
    warm = photo_variant(img, gains=WARM)
    np.testing.assert_allclose(_lin(warm)[0, 0], _lin(img)[0, 0] * WARM, rtol=0.03)
    assert set(VARIANTS) == {"-1 stop", "as shot", "+1 stop", "warm", "cool"}


def test_bad_input_is_an_error():
    with pytest.raises(ShapeError, match="uint8"):
        photo_variant(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ShapeError, match="positive"):
        photo_variant(np.zeros((2, 2, 3), np.uint8), gains=(1.0, 0.0, 1.0))
