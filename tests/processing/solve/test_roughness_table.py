"""Tests of the GGX first-moment tables (forward, packaged copy, inverse)."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.ggx import specular_moments, tangent_frame
from id2reflectance.processing.solve import roughness_table as rt
from id2reflectance.processing.solve.accuracy import angle_between_deg


def _random_lobes(p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random normals, views at 0-85 deg from them, roughness in [0.05, 1]; m = M1/M0."""
    rng = np.random.default_rng(seed)
    n = rng.normal(size=(p, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    theta = np.deg2rad(rng.uniform(0.0, 85.0, p))
    az = rng.uniform(0.0, 2 * np.pi, p)
    t, b = tangent_frame(n)
    v = np.cos(theta)[:, None] * n + np.sin(theta)[:, None] * (np.cos(az)[:, None] * t + np.sin(az)[:, None] * b)
    r = rng.uniform(0.05, 1.0, p)
    m0, m1 = specular_moments(n, v, r, samples=(32, 32))
    return n, v, r, m1 / m0[:, None]


def test_packaged_table_matches_fresh_computation() -> None:
    table = rt.moment_table()
    theta, rough = rt.default_grid()
    assert table.samples == rt.TABLE_SAMPLES
    np.testing.assert_allclose(table.theta_v, theta)
    np.testing.assert_allclose(table.roughness, rough)
    ii = np.array([0, 17, 44, 70, 88, 60])
    jj = np.array([0, 97, 30, 5, 60, 45])
    fresh = rt.compute_moment_table(theta[ii], rough[jj], samples=rt.TABLE_SAMPLES)
    np.testing.assert_allclose(np.diag(fresh.phi), table.phi[ii, jj], atol=1e-9)
    np.testing.assert_allclose(np.diag(fresh.length), table.length[ii, jj], atol=1e-9)


def test_save_load_round_trip(tmp_path) -> None:
    theta = np.deg2rad([0.0, 30.0, 60.0])
    rough = np.array([0.2, 0.6])
    table = rt.compute_moment_table(theta, rough, samples=(8, 8))
    back = rt.load_moment_table(rt.save_moment_table(table, tmp_path / "t.npz"))
    assert back.samples == (8, 8)
    np.testing.assert_array_equal(back.phi, table.phi)
    np.testing.assert_array_equal(back.length, table.length)


def test_forward_table_physics() -> None:
    """Mirror limit phi = 2 theta_v, |m| -> 1; phi = 0 at normal view; |m| falls with r."""
    table = rt.moment_table()
    theta_deg = np.degrees(table.theta_v)
    low = np.degrees(table.phi[:, 0])  # r = 0.03
    np.testing.assert_allclose(low[theta_deg <= 80], 2 * theta_deg[theta_deg <= 80], atol=0.5)
    assert table.length[:, 0].min() > 0.99
    np.testing.assert_allclose(table.phi[0], 0.0, atol=1e-6)
    # |m| falls with r (up to the quadrature's ~0.003 ripple where GGX tails cross the horizon)
    assert np.all(np.diff(table.length, axis=1) < 3e-3)
    assert np.all(table.length[:, -1] < table.length[:, 0] - 0.3)
    # rough lobes lean towards the normal: phi < 2 theta_v at r = 1
    assert np.all(table.phi[10:, -1] < 0.8 * 2 * table.theta_v[10:])


def test_invert_lobe_recovers_normal_and_roughness() -> None:
    n, v, r, m = _random_lobes(600, seed=3)
    n_est, r_est = rt.invert_lobe(m, v)
    err = angle_between_deg(n_est, n, axis=1)
    assert np.median(err) < 0.1
    assert np.percentile(err, 99) < 0.6
    dr = np.abs(r_est - r)
    assert np.median(dr) < 0.006
    assert dr.max() < 0.05
    np.testing.assert_allclose(np.linalg.norm(n_est, axis=1), 1.0, atol=1e-6)


def test_a_wrong_table_fails() -> None:
    """An inverse table built with the roughness axis reversed gives large errors."""
    good = rt.moment_table()
    bad = rt.MomentTable(good.theta_v, good.roughness[::-1].copy(), good.phi, good.length, good.samples)
    n, v, r, m = _random_lobes(300, seed=4)
    _, r_bad = rt.invert_lobe(m, v, table=rt.inverse_from_table(bad, shape=(257, 129)))
    _, r_good = rt.invert_lobe(m, v, table=rt.inverse_from_table(good, shape=(257, 129)))
    assert np.median(np.abs(r_good - r)) < 0.01
    assert np.median(np.abs(r_bad - r)) > 0.15


def test_index_clamps_out_of_range_and_nan() -> None:
    table = rt.inverse_table()
    chord = np.array([-1.0, 0.0, 2.0, 5.0, np.nan, np.inf], np.float32)
    q = np.array([-0.5, 0.0, 1.0, 3.0, 0.5, -np.inf], np.float32)
    idx = table.index(chord.copy(), q.copy())
    c, nq = table.shape
    assert idx[0] == 0 and idx[1] == 0
    assert idx[2] == c * nq - 1 and idx[3] == c * nq - 1
    vals = table.records.take(idx, mode="clip").view(np.float32).reshape(-1, 4)
    assert np.all(np.isfinite(vals))


@pytest.mark.parametrize("theta_deg", [5.0, 45.0, 80.0])
def test_mirror_like_lobe_bisects(theta_deg: float) -> None:
    """For a near-mirror lobe the normal bisects v and m (reference: law of reflection)."""
    th = np.deg2rad(theta_deg)
    v = np.array([[np.sin(th), 0.0, np.cos(th)]])
    m = np.array([[-np.sin(th), 0.0, np.cos(th)]]) * 0.99999
    n, r = rt.invert_lobe(m, v)
    assert angle_between_deg(n, np.array([[0.0, 0.0, 1.0]]), axis=1)[0] < 0.3
    assert r[0] < 0.08
