"""The diffuse first moments pooled from both polarisations (moment_pool.py)."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.processing.solve.moment_planes import moment_planes
from id2reflectance.processing.solve.moment_pool import parallel_weight, pool_first_moments
from id2reflectance.processing.solve.separation import AXES

PATTERNS = ["full"] + [f"{k}_{a}" for a in AXES for k in ("gradient", "inverse")]


def _frames(rng: np.random.Generator, shape: tuple[int, int], *, inverses: bool = True) -> dict:
    """Noise-free frames with ``parallel = cross + S`` (the same S in every channel), as the model says."""
    h, w = shape
    albedo = rng.uniform(0.1, 0.6, (h, w, 3)).astype(np.float32)
    n = rng.normal(0.0, 1.0, (h, w, 3))
    n[..., 2] = np.abs(n[..., 2]) + 1.0
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    spec = rng.uniform(0.0, 0.2, (h, w)).astype(np.float32)
    s_dir = rng.uniform(-0.5, 0.5, (h, w, 3)).astype(np.float32)
    out = {}
    for p in PATTERNS:
        if p == "full":
            wd, ws = np.ones((h, w), np.float32), np.ones((h, w), np.float32)
        else:
            sign = 1.0 if p.startswith("gradient") else -1.0
            k = AXES.index(p[-1])
            wd = (1.0 + sign * 2.0 / 3.0 * n[..., k]) / 2.0  # Lambertian: m1 = 2/3 albedo n
            ws = (1.0 + sign * s_dir[..., k]) / 2.0
        if not inverses and p.startswith("inverse"):
            continue
        cross = (albedo * wd[..., None] / 2.0).astype(np.float32)
        out[(p, "cross")] = cross
        out[(p, "parallel")] = (cross + (spec * ws)[..., None]).astype(np.float32)
    return out


@pytest.mark.parametrize("inverses", [True, False])
def test_noise_free_frames_are_unchanged(inverses: bool) -> None:
    images = _frames(np.random.default_rng(0), (12, 17), inverses=inverses)
    m1c = moment_planes(images, inverses)[2]
    pooled = m1c.copy()
    pool_first_moments(images, pooled, inverses=inverses, weight=1.0)
    assert np.abs(pooled - m1c).max() < 1e-6


def test_pooling_lowers_the_noise_of_the_green_plus_blue_moment() -> None:
    rng = np.random.default_rng(1)
    clean = _frames(rng, (64, 64))
    truth = moment_planes(clean, True)[2]
    noisy = {k: v + rng.normal(0.0, 0.01, v.shape).astype(np.float32) for k, v in clean.items()}
    m1c = moment_planes(noisy, True)[2]
    pooled = m1c.copy()
    pool_first_moments(noisy, pooled, inverses=True, weight=parallel_weight(0.01, 0.01))
    gb = [1, 2, 4, 5, 7, 8]  # green and blue of each axis

    def var_gb(m: np.ndarray) -> float:
        d = m - truth
        return float(np.var(d[..., [1, 4, 7]] + d[..., [2, 5, 8]]))

    ratio = var_gb(pooled) / var_gb(m1c)
    assert ratio == pytest.approx(5.0 / 6.0, abs=0.03)  # the least-squares figure at w = 1
    assert np.var(pooled[..., gb] - truth[..., gb]) < np.var(m1c[..., gb] - truth[..., gb])
    unchanged = m1c.copy()
    pool_first_moments(noisy, unchanged, inverses=True, weight=0.0)
    assert np.array_equal(unchanged, m1c)


def test_parallel_weight() -> None:
    assert parallel_weight(0.01, 0.02) == pytest.approx(0.25)
    assert parallel_weight(0.01, 0.0) == 0.0
