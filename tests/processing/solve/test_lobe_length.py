"""The specular first moment's length: unbiased under noise, rescaled without turning."""

from __future__ import annotations

import numpy as np

from id2reflectance.processing.solve.lobe_length import LENGTH_POWER, rescale_lobe_length, unbiased_length2
from id2reflectance.processing.solve.moment_planes import moment_planes
from id2reflectance.processing.solve.noise import FrameNoise
from id2reflectance.processing.solve.separation import AXES


def _frames(model: FrameNoise, rng: np.random.Generator, n: int = 256) -> dict[tuple[str, str], np.ndarray]:
    """Flat frames of a lobe with m1 = (0.03, -0.02, 0.01) (specular, luminance), per-channel noise of ``model``."""
    diffuse = np.float32(0.15)
    spec_m0, spec_m1 = 0.06, {"x": 0.03, "y": -0.02, "z": 0.01}
    clean = {("full", "cross"): diffuse, ("full", "parallel"): diffuse + spec_m0}
    for a in AXES:
        for kind, sign in (("gradient", 1.0), ("inverse", -1.0)):
            clean[(f"{kind}_{a}", "cross")] = diffuse / 2
            clean[(f"{kind}_{a}", "parallel")] = diffuse / 2 + (spec_m0 + sign * spec_m1[a]) / 2
    out = {}
    for key, value in clean.items():
        img = np.full((n, n, 3), value, np.float32)
        out[key] = (img + model.sigma(img) * rng.standard_normal(img.shape)).astype(np.float32)
    return out


def test_unbiased_length2_removes_the_noise_bias() -> None:
    model = FrameNoise(gain=7e-5, read=0.003)
    frames = _frames(model, np.random.default_rng(0))
    spec = moment_planes(frames, True)[1]
    true2 = 0.03**2 + 0.02**2 + 0.01**2
    raw2 = float(np.mean(np.sum(spec[..., 1:4] ** 2, axis=2)))
    est2 = float(np.mean(unbiased_length2(frames, spec, model)))
    assert raw2 > 1.05 * true2  # the noise lengthens m1: |m1|^2 about 7 % too long here
    assert abs(est2 / true2 - 1.0) < 0.015, (est2, true2)


def test_unbiased_length2_is_exact_without_noise() -> None:
    frames = _frames(FrameNoise(0.0, 0.0), np.random.default_rng(1), n=32)
    spec = moment_planes(frames, True)[1]
    np.testing.assert_allclose(unbiased_length2(frames, spec, FrameNoise(0.0, 0.0)), 0.0014, rtol=1e-4)


def test_rescale_keeps_the_direction_and_moves_the_length_half_way() -> None:
    rng = np.random.default_rng(2)
    spec = rng.normal(0.0, 0.05, (16, 16, 4)).astype(np.float32)
    before = spec.copy()
    want2 = (np.sum(spec[..., 1:4] ** 2, axis=2) * 1.21).astype(np.float32)  # 10 % longer
    want2[0, 0] = -1.0  # noise above the signal: left as it is
    rescale_lobe_length(spec, want2, np.ones((16, 16), np.float32), radius=0, eps=1e-4, subsample=1)
    np.testing.assert_array_equal(spec[..., 0], before[..., 0])  # m0 untouched
    ratio = np.linalg.norm(spec[..., 1:4], axis=2) / np.linalg.norm(before[..., 1:4], axis=2)
    assert ratio[0, 0] == 1.0
    np.testing.assert_allclose(ratio.ravel()[1:], 1.21**LENGTH_POWER, rtol=1e-5)
    cos = np.sum(spec[..., 1:4] * before[..., 1:4], axis=2) / (
        np.linalg.norm(spec[..., 1:4], axis=2) * np.linalg.norm(before[..., 1:4], axis=2)
    )
    np.testing.assert_allclose(cos, 1.0, rtol=1e-6)
