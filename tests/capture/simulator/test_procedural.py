import numpy as np
import pytest

from id2reflectance.capture.simulator.procedural import band_fade, band_limited, fbm, value_noise


def _points(n=20000, seed=0):
    return np.random.default_rng(seed).uniform(-0.1, 0.1, (n, 3))


def test_value_noise_deterministic_bounded_and_seeded():
    p = _points()
    a = value_noise(p, frequency=300.0, seed=1)
    np.testing.assert_array_equal(a, value_noise(p, frequency=300.0, seed=1))
    assert a.min() >= -1.0 and a.max() <= 1.0 and abs(a.mean()) < 0.03 and a.std() > 0.2
    b = value_noise(p, frequency=300.0, seed=2)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.05


def test_value_noise_is_smooth_and_scale_free():
    p = _points(2000)
    a = value_noise(p, frequency=200.0, seed=3)
    step = value_noise(p + 1e-6, frequency=200.0, seed=3)
    assert np.abs(a - step).max() < 0.01  # continuous: 1 um moves a 5 mm noise very little
    np.testing.assert_allclose(value_noise(2 * p, frequency=100.0, seed=3), a, atol=1e-9)


def test_fbm_fades_octaves_above_the_limit():
    p = _points(5000)
    full = fbm(p, frequency=100.0, octaves=3, seed=4)
    assert np.abs(full).max() <= 1.0
    none = fbm(p, frequency=100.0, octaves=3, seed=4, max_frequency=40.0)
    np.testing.assert_array_equal(none, 0.0)
    coarse = fbm(p, frequency=100.0, octaves=3, seed=4, max_frequency=100.0)
    # only the first octave (weight 1 of 1.75) survives
    np.testing.assert_allclose(coarse, value_noise(p, frequency=100.0, seed=4 * 131) / 1.75, atol=1e-12)
    assert np.std(coarse) < np.std(full)
    with pytest.raises(TypeError):
        value_noise(p, 100.0, 1)  # options are keyword-only


def test_band_limited_fades_a_shaped_pattern_to_its_mean():
    p = _points(5000)
    dots = np.clip((value_noise(p, frequency=1400.0, seed=5) + 0.2) / 0.6, 0.0, 1.0)  # clipped: mean not 1/3
    where = (p[:, 0] > 0).astype(float)
    mean = dots[p[:, 0] > 0].mean()
    # a texture that holds the pattern keeps it; one that holds half its frequency or less, its mean only
    np.testing.assert_array_equal(band_limited(dots, where, frequency=1400.0, max_frequency=1400.0), dots)
    np.testing.assert_array_equal(band_limited(dots, where, frequency=1400.0, max_frequency=None), dots)
    flat = band_limited(dots, where, frequency=1400.0, max_frequency=700.0)
    np.testing.assert_allclose(flat, mean, atol=1e-12)
    assert abs(mean - 1 / 3) > 0.02  # fading the noise before clipping would have shifted the mean
    half = band_limited(dots, where, frequency=1400.0, max_frequency=1400.0 / 1.5)
    np.testing.assert_allclose(half, mean + 0.5 * (dots - mean), atol=1e-12)
    assert [band_fade(f, 100.0) for f in (50.0, 100.0, 150.0, 200.0, 400.0)] == [1.0, 1.0, 0.5, 0.0, 0.0]
