"""The denoiser's strength: radii from the noise, the diffuse normal's channel weights."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.processing.solve.denoise_strength import (
    MIN_DIFFUSE_RAD,
    MIN_SPECULAR_RAD,
    TARGET_DIFFUSE_RAD,
    TARGET_SPECULAR_RAD,
    channel_weights,
    diffuse_radius,
    lobe_radius,
    no_inverse_ratio,
    specular_radius,
)
from id2reflectance.processing.solve.noise import FrameNoise


def test_channel_weights_follow_the_signal_to_noise() -> None:
    model = FrameNoise(5e-5, 0.002)
    w, nts = channel_weights(np.array([0.12, 0.043, 0.012]), model)  # dark skin: red carries the signal
    assert w.sum() == pytest.approx(2.0) and w[0] > w[1] > w[2] > 0
    # the weighted direction is much less noisy than green plus blue
    gb = np.sqrt(2.0 * (model.sigma(0.043) ** 2 + model.sigma(0.012) ** 2)) / (2.0 / 3.0 * (0.043 + 0.012))
    assert nts < 0.5 * gb
    w_light, nts_light = channel_weights(np.array([0.26, 0.16, 0.077]), model)
    assert nts_light < nts and w_light[2] / w_light[0] > w[2] / w[0]
    assert channel_weights(np.zeros(3), model)[1] == float("inf")  # nothing lit: no estimate


def test_radii_follow_the_noise() -> None:
    # a clean capture is not filtered; then the smallest window side that brings the noise to the target
    assert diffuse_radius(0.0, TARGET_DIFFUSE_RAD) == 0
    assert diffuse_radius(0.99 * MIN_DIFFUSE_RAD, TARGET_DIFFUSE_RAD) == 0
    assert diffuse_radius(MIN_DIFFUSE_RAD, TARGET_DIFFUSE_RAD) == 1
    assert diffuse_radius(2.9 * TARGET_DIFFUSE_RAD, TARGET_DIFFUSE_RAD) == 1  # 3 x 3 suffices
    assert diffuse_radius(3.1 * TARGET_DIFFUSE_RAD, TARGET_DIFFUSE_RAD) == 2
    assert diffuse_radius(100.0 * TARGET_DIFFUSE_RAD, TARGET_DIFFUSE_RAD) == 8  # at most 8
    assert lobe_radius(0.0, 0.1) == 0 and lobe_radius(0.14, 0.1) == 0 and lobe_radius(0.15, 0.1) == 1
    assert lobe_radius(0.35, 0.1) == 2


def test_a_lobe_is_filtered_once_its_noise_exceeds_the_filters_bias() -> None:
    # the diffuse lobe from 0.12 deg of noise per pixel (0.5 before: a dark-skinned 128 px head
    # at 0.48 deg went unfiltered, diffuse normal 1.11 deg against 0.28 filtered)
    assert np.degrees(MIN_DIFFUSE_RAD) == pytest.approx(0.12)
    assert diffuse_radius(np.radians(0.11), TARGET_DIFFUSE_RAD) == 0
    assert diffuse_radius(np.radians(0.48), TARGET_DIFFUSE_RAD) == 1
    # the specular lobe from 2 deg (before: from sqrt(2) x 4 = 5.66 deg; the same head's 5.1 deg went
    # unfiltered, specular normal 1.90 deg and roughness 0.047 against 0.98 and 0.026 at radius 1)
    assert specular_radius(0.0) == 0 and specular_radius(0.99 * MIN_SPECULAR_RAD) == 0
    assert specular_radius(MIN_SPECULAR_RAD) == 1 and specular_radius(np.radians(5.1)) == 1
    for nts in np.radians([6.0, 12.5, 30.0, 100.0]):  # beyond radius 1 the window rule as before
        assert specular_radius(nts) == lobe_radius(nts, TARGET_SPECULAR_RAD) >= 1


def test_no_inverse_ratio_is_the_first_moments_variance_ratio() -> None:
    # limits: read noise alone 5 / 2, shot noise alone 3 / 1; nothing: 1
    assert no_inverse_ratio(FrameNoise(0.0, 0.002), 0.2) == pytest.approx(2.5)
    assert no_inverse_ratio(FrameNoise(5e-5, 0.0), 0.2) == pytest.approx(3.0)
    assert no_inverse_ratio(FrameNoise(0.0, 0.0), 0.2) == 1.0
    # against sampled frames of a Lambertian lobe: gradient = full (1 + n) / 2, inverse = full (1 - n) / 2
    rng = np.random.default_rng(3)
    model, full = FrameNoise(5e-5, 0.002), 0.1
    n = rng.uniform(-1.0, 1.0, 400_000)  # the normal's component along the axis, uniform over the sphere
    grad, inv = full * (1 + n) / 2, full * (1 - n) / 2

    def noisy(x: np.ndarray | float) -> np.ndarray:
        return x + rng.normal(size=n.size) * model.sigma(x)

    without = np.var(2.0 * noisy(grad) - noisy(full) - (2.0 * grad - full))
    with_inv = np.var(noisy(grad) - noisy(inv) - (grad - inv))
    assert without / with_inv == pytest.approx(no_inverse_ratio(model, full), rel=0.02)


def test_without_inverses_the_diffuse_lobe_is_filtered_from_its_own_threshold() -> None:
    """Without inverse patterns single frames' noise estimates read texture as 0.12-0.15 deg on
    noise-free heads and radius 1 pays from about 0.2 deg: between the two thresholds a session
    without inverses is left unfiltered, one with them is filtered."""
    from id2reflectance.processing.solve.denoise_strength import MIN_DIFFUSE_RAD, MIN_DIFFUSE_RAD_NO_INVERSES

    assert MIN_DIFFUSE_RAD < np.radians(0.15) < MIN_DIFFUSE_RAD_NO_INVERSES
    target = np.radians(1.05)
    assert diffuse_radius(np.radians(0.15), target) == 1
    assert diffuse_radius(np.radians(0.15), target, minimum=MIN_DIFFUSE_RAD_NO_INVERSES) == 0
    assert diffuse_radius(np.radians(0.25), target, minimum=MIN_DIFFUSE_RAD_NO_INVERSES) == 1
