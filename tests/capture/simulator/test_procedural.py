import numpy as np
import pytest

from id2reflectance.capture.simulator.procedural import fbm, value_noise


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
