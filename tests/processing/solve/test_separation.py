"""Tests of diffuse/specular separation and the lobe moments of the gradient patterns."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.illumination import LIT_PATTERNS, responses_from_moments
from id2reflectance.errors import CaptureError, ShapeError
from id2reflectance.processing.solve.separation import LUMINANCE_709, has_inverses, lobe_moments, separate

H, W = 5, 7
N = H * W


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _frames(
    d_m0: np.ndarray,
    d_m1: np.ndarray,
    s_m0: np.ndarray,
    s_m1: np.ndarray,
    *,
    inverses: bool,
    lights_to_world: np.ndarray | None = None,
) -> dict[tuple[str, str], np.ndarray]:
    """Frames from world-axis moments: d_m0 (N, 3), d_m1 (N, 3 axes, 3 ch), s_m0 (N,), s_m1 (N, 3)."""
    L = np.eye(3) if lights_to_world is None else lights_to_world
    d_l = np.einsum("ba,nbc->nac", L, d_m1)  # world -> light-stage axes: L^T m
    s_l = s_m1 @ L
    out = {}
    for pat in LIT_PATTERNS if inverses else LIT_PATTERNS[:4]:
        d = np.stack([responses_from_moments(d_m0[:, c], d_l[:, :, c], pat) for c in range(3)], axis=1)
        s = responses_from_moments(s_m0, s_l, pat)
        out[(pat, "cross")] = (d / 2).reshape(H, W, 3).astype(np.float32)
        out[(pat, "parallel")] = (d / 2 + s[:, None]).reshape(H, W, 3).astype(np.float32)
    return out


def _random_moments(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d_m0 = rng.uniform(0.2, 0.8, (N, 3))
    d_m1 = rng.uniform(-0.3, 0.3, (N, 3, 3)) * d_m0[:, None, :]
    s_m0 = rng.uniform(0.02, 0.1, N)
    s_m1 = rng.uniform(-0.5, 0.5, (N, 3)) * s_m0[:, None]
    return d_m0, d_m1, s_m0, s_m1


def test_separate_reference_values() -> None:
    cross = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]], np.float32)
    parallel = cross + np.array([[0.05, 0.05, 0.05], [0.0, 0.1, 0.0]], np.float32)
    d, s = separate(cross, parallel)
    np.testing.assert_allclose(d, 2 * cross)
    # white specular keeps its value (weights sum to 1); green only -> 0.7152 * 0.1
    np.testing.assert_allclose(s, [0.05, 0.07152], rtol=1e-5)
    assert d.dtype == np.float32 and s.dtype == np.float32
    assert abs(float(LUMINANCE_709.sum()) - 1.0) < 1e-6


def test_separate_rejects_mismatched_shapes() -> None:
    with pytest.raises(ShapeError):
        separate(np.zeros((4, 3)), np.zeros((5, 3)))
    with pytest.raises(ShapeError):
        separate(np.zeros((4, 2)), np.zeros((4, 2)))


@pytest.mark.parametrize("inverses", [True, False])
@pytest.mark.parametrize("rotated", [False, True])
def test_lobe_moments_recover_the_moments(inverses: bool, rotated: bool) -> None:
    d_m0, d_m1, s_m0, s_m1 = _random_moments(seed=1)
    L = _rotation(7) if rotated else None
    images = _frames(d_m0, d_m1, s_m0, s_m1, inverses=inverses, lights_to_world=L)
    assert has_inverses(images) is inverses
    mom = lobe_moments(images, slice(0, H), lights_to_world=L)
    np.testing.assert_allclose(mom.diffuse_m0, d_m0.T, atol=1e-6)
    np.testing.assert_allclose(mom.diffuse_m1, d_m1.transpose(1, 2, 0), atol=2e-6)
    np.testing.assert_allclose(mom.specular_m0, s_m0, atol=1e-6)
    np.testing.assert_allclose(mom.specular_m0_mean, s_m0, atol=1e-6)
    np.testing.assert_allclose(mom.specular_m1, s_m1.T, atol=2e-6)


def test_lobe_moments_band_matches_whole_image() -> None:
    images = _frames(*_random_moments(seed=2), inverses=True)
    whole = lobe_moments(images, slice(0, H))
    band = lobe_moments(images, slice(1, 3))
    # equal to float32 rounding: numpy's luminance matmul (x @ weights) may take another SIMD
    # path for another array length (seen on AVX-512 machines: a few elements differ by 4 ulp)
    np.testing.assert_allclose(band.specular_m1, whole.specular_m1[:, W : 3 * W], rtol=2e-6, atol=1e-8)
    np.testing.assert_allclose(band.diffuse_m1, whole.diffuse_m1[:, :, W : 3 * W], rtol=2e-6, atol=1e-8)


def test_use_inverses_false_ignores_them() -> None:
    moments = _random_moments(seed=3)
    images = _frames(*moments, inverses=True)
    for a in "xyz":  # corrupt the inverses: only the no-inverse path stays exact
        images[(f"inverse_{a}", "cross")] = images[(f"inverse_{a}", "cross")] * 1.5
    good = lobe_moments(images, slice(0, H), use_inverses=False)
    bad = lobe_moments(images, slice(0, H), use_inverses=True)
    np.testing.assert_allclose(good.specular_m1, moments[3].T, atol=2e-6)
    assert np.abs(bad.specular_m1 - moments[3].T).max() > 1e-2


def test_averaged_m0_has_less_noise() -> None:
    """With inverses, (S_full + sum_a (S_ga + S_ia) / 2) / 2.5 has 0.4 times the variance of S_full."""
    d_m0, d_m1, s_m0, s_m1 = _random_moments(seed=4)
    images = _frames(d_m0, d_m1, s_m0, s_m1, inverses=True)
    rng = np.random.default_rng(5)
    err_full, err_mean = [], []
    for _ in range(40):
        noisy = {k: v + rng.normal(0, 0.01, v.shape).astype(np.float32) for k, v in images.items()}
        mom = lobe_moments(noisy, slice(0, H))
        err_full.append(mom.specular_m0 - s_m0)
        err_mean.append(mom.specular_m0_mean - s_m0)
    ratio = np.var(err_mean) / np.var(err_full)
    assert abs(ratio - 0.4) < 0.08


def test_missing_frames_raise() -> None:
    images = _frames(*_random_moments(seed=6), inverses=False)
    del images[("gradient_y", "parallel")]
    with pytest.raises(CaptureError, match="gradient_y"):
        lobe_moments(images, slice(0, H))
