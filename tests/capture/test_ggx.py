"""Reference values: brute-force Monte Carlo integration of the same BRDF (2e6 samples)."""

import numpy as np
import pytest

from id2reflectance.capture.ggx import diffuse_moments, ggx_brdf, ggx_d, specular_moments
from id2reflectance.capture.illumination import fibonacci_sphere, pattern_radiance, responses_from_moments


def _mc(n, v, r, N=1_000_000, seed=0):
    w = fibonacci_sphere(N)
    f = ggx_brdf(n[None], v[None], w, r) * np.clip(w @ n, 0, None)
    return f.mean() * 4 * np.pi, (f[:, None] * w).mean(0) * 4 * np.pi


@pytest.mark.parametrize("theta_deg, r", [(0, 0.5), (40, 0.4), (70, 0.6), (30, 0.9)])
def test_specular_moments_match_dense_integration(theta_deg, r):
    t = np.radians(theta_deg)
    n = np.array([0, 0, 1.0])
    v = np.array([np.sin(t), 0, np.cos(t)])
    m0, m1 = specular_moments(n[None], v[None], np.array([r]), samples=(24, 24))
    b0, b1 = _mc(n, v, r)
    assert m0[0] == pytest.approx(b0, rel=0.01)
    np.testing.assert_allclose(m1[0], b1, atol=0.01 * b0)


def test_ggx_d_normalised():
    # ∫ D(h) (n.h) dh = 1 over the hemisphere
    w = fibonacci_sphere(400_000)
    up = w[w[:, 2] > 0]
    for alpha in (0.2, 0.5):
        assert (ggx_d(up[:, 2], alpha) * up[:, 2]).sum() * 4 * np.pi / len(w) == pytest.approx(1.0, rel=0.01)


def test_specular_moments_rotation_invariant():
    rng = np.random.default_rng(3)
    n = np.array([[0, 0, 1.0]])
    v = np.array([[0.5, 0.0, np.sqrt(0.75)]])
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    m0, m1 = specular_moments(n, v, np.array([0.45]))
    q0, q1 = specular_moments(n @ Q.T, v @ Q.T, np.array([0.45]))
    assert q0[0] == pytest.approx(m0[0], rel=1e-9)
    np.testing.assert_allclose(q1[0], m1[0] @ Q.T, atol=1e-9)


def test_diffuse_moments_exact_and_occluded():
    n = np.array([[0, 0, 1.0], [0.6, 0, 0.8]])
    m0, m1 = diffuse_moments(n)
    np.testing.assert_allclose(m0, 1)
    np.testing.assert_allclose(m1, 2 / 3 * n)

    def lower_x_blocked(idx, dirs):  # everything with x < 0 is occluded
        return (dirs[..., 0] >= 0).astype(float)

    m0, m1 = diffuse_moments(n[:1], samples=(32, 64), visibility=lower_x_blocked)
    # half the cosine lobe remains: m0 = 1/2; m1 = (1/pi) ∫_{x>0} cos(w) w dw = (2/(3 pi), 0, 1/3)
    assert m0[0] == pytest.approx(0.5, abs=2e-3)
    np.testing.assert_allclose(m1[0], [2 / (3 * np.pi), 0, 1 / 3], atol=3e-3)


def test_pattern_responses_from_moments():
    w = fibonacci_sphere(200_000)
    rng = np.random.default_rng(0)
    f = np.clip(w @ np.array([0.3, 0.5, 0.81]), 0, None) ** 3 * rng.uniform(0.9, 1.1, len(w))
    m0 = f.mean() * 4 * np.pi
    m1 = (f[:, None] * w).mean(0) * 4 * np.pi
    for p in ("full", "gradient_x", "gradient_y", "gradient_z", "inverse_x", "inverse_y", "inverse_z"):
        direct = (f * pattern_radiance(p, w)).mean() * 4 * np.pi
        assert responses_from_moments(np.array(m0), m1, p) == pytest.approx(direct, rel=1e-9)
