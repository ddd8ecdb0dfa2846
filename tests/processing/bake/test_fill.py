"""Gutter padding and hole filling of UV maps."""

from __future__ import annotations

import numpy as np

from id2reflectance.processing.bake.fill import dilate, guided_fill, push_pull


def _ramp(size: int = 64) -> np.ndarray:
    i, j = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.stack([0.2 + 0.004 * i + 0.003 * j, 0.5 - 0.002 * j, 0.1 + 0.001 * i], axis=-1)


def test_push_pull_keeps_known_and_fills_a_linear_ramp() -> None:
    ramp = _ramp()
    known = np.ones((64, 64), bool)
    known[20:40, 10:50] = False  # a hole
    known[:, 60:] = False  # an open border region
    values = np.where(known[..., None], ramp, 7.0)  # garbage in the unknown texels
    out = push_pull(values, known, sweeps=30)
    assert out.shape == ramp.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[known], ramp[known], atol=1e-6)
    # inside a hole a harmonic fill reproduces a linear function; push-pull + relaxation
    # comes close (without relaxation the error is 0.012)
    hole = np.zeros_like(known)
    hole[20:40, 10:50] = True
    assert np.abs(out[hole] - ramp[hole]).max() < 2e-3
    # beyond the last known column the fill continues the border values (zero normal
    # derivative), so it departs from the ramp by about slope x distance
    assert np.abs(out[:, 60:] - ramp[:, 60:]).max() < 0.03
    assert np.all(np.isfinite(out))


def test_push_pull_fill_is_smooth_and_bounded() -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(0.2, 0.8, (128, 128))
    known = np.zeros((128, 128), bool)
    known[::16, ::16] = True  # sparse samples
    out = push_pull(values, known)
    assert out.min() >= 0.2 - 1e-6 and out.max() <= 0.8 + 1e-6  # no overshoot
    np.testing.assert_allclose(out[known], values[known], atol=1e-6)
    # neighbouring texels differ far less than the samples do (0.2 apart on average);
    # the relaxation halves the roughness of the bare push-pull (p99 0.045)
    assert np.percentile(np.abs(np.diff(out, axis=0)), 99) < 0.035


def test_push_pull_single_channel_and_nothing_known() -> None:
    a = np.arange(16.0).reshape(4, 4)
    known = np.zeros((4, 4), bool)
    np.testing.assert_array_equal(push_pull(a, known), np.zeros((4, 4)))
    known[1, 2] = True
    np.testing.assert_allclose(push_pull(a, known), np.full((4, 4), 6.0), atol=1e-6)


def test_dilate_copies_nearest_within_width() -> None:
    values = np.zeros((9, 9, 1))
    values[4, 4] = 5.0
    known = np.zeros((9, 9), bool)
    known[4, 4] = True
    out, grown = dilate(values, known, texels=2)
    assert grown.sum() == 13  # texels within Euclidean distance 2 of the centre
    np.testing.assert_array_equal(out[grown, 0], 5.0)
    assert out[~grown].sum() == 0.0 and values[4, 3, 0] == 0.0  # input untouched


def _edge_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skin (0.55, 0.35, 0.17) left of column 32, hair (0.18, 0.15, 0.13) right of it; a
    band of unknown texels (rows 20-43, columns 24-39) across the edge."""
    skin, hair = np.array([0.55, 0.35, 0.17]), np.array([0.18, 0.15, 0.13])
    truth = np.where((np.arange(64) < 32)[None, :, None], skin, hair) * np.ones((64, 64, 1))
    known = np.ones((64, 64), bool)
    known[20:44, 24:40] = False
    return truth, known, ~known


def test_guided_fill_keeps_each_side_of_an_albedo_edge() -> None:
    """Guided by a rough sample (here 20 % off), each unknown texel takes the known values
    of its own side of the edge; push-pull mixes the two sides near the edge."""
    truth, known, hole = _edge_case()
    guide = truth * 1.2
    weight = known.astype(np.float64)
    out, done = guided_fill(truth, weight, hole, np.where(known[..., None], truth, guide), radius=10, sigma_log=0.1)
    assert out.dtype == np.float32 and out.shape == truth.shape
    # every hole texel has a known texel within 10 texels on its own side (columns 14-23 / 40-49)
    assert np.array_equal(done, hole)
    np.testing.assert_allclose(out[done], truth[done], atol=1e-6)  # the known values, exactly
    np.testing.assert_array_equal(out[known], truth[known].astype(np.float32))
    pp = push_pull(np.where(known[..., None], truth, 0.0), known)
    assert np.abs(pp[hole] - truth[hole]).max() > 0.1  # isotropic fill crosses the edge


def test_guided_fill_weights_and_reach() -> None:
    """A doubtful candidate (weight < 1) counts less than a trusted one that resembles the
    target as much; the target's own value never enters; targets with no candidate within
    the radius are left as they were; zero weight everywhere fills nothing."""
    values = np.zeros((32, 32, 1))
    values[10, 10] = 1.0  # trusted, value 1, 2 texels from the target
    values[10, 14] = 3.0  # doubtful, value 3, 2 texels from the target on the other side
    values[10, 12] = 100.0  # the target's own value (its grazing sample): never used
    weight = np.zeros((32, 32))
    weight[10, 10] = 1.0
    weight[10, 14] = 0.25
    weight[10, 12] = 0.25
    targets = np.zeros((32, 32), bool)
    targets[10, 12] = targets[30, 30] = True
    ref = np.full((32, 32, 3), 0.5)  # everything alike: only distance and weight count
    out, done = guided_fill(values, weight, targets, ref, radius=4, sigma_log=0.1)
    assert done[10, 12] and not done[30, 30]
    # equal distances: the weights alone set the mean (spatial factors cancel)
    assert abs(out[10, 12, 0] - (1.0 * 1.0 + 0.25 * 3.0) / 1.25) < 1e-5
    assert out[30, 30, 0] == 0.0  # nothing within 4 texels: unchanged
    # a candidate unlike the target's reference gives way to one like it
    ref2 = ref.copy()
    ref2[10, 10] = 0.25  # the trusted candidate is half as bright as the target: exp(-3 ln2^2 / 0.02) ~ 0
    out2, _ = guided_fill(values, weight, targets, ref2, radius=4, sigma_log=0.1)
    assert abs(out2[10, 12, 0] - 3.0) < 1e-5
    out0, done0 = guided_fill(values, np.zeros((32, 32)), targets, ref, radius=4, sigma_log=0.1)
    assert not done0.any() and np.array_equal(out0, values.astype(np.float32))


def test_guided_fill_leaves_a_target_nothing_resembles() -> None:
    """With ``max_log_distance``, a target whose reference lies further than that (natural
    log, Euclidean over the channels) from every candidate's is left unfilled (without it,
    the most similar candidate gives it its value); a target with a close enough candidate
    is filled exactly as before."""
    values = np.zeros((32, 32, 1))
    values[10, 10], values[10, 14] = 1.0, 3.0
    weight = np.zeros((32, 32))
    weight[10, 10] = weight[10, 14] = 1.0
    targets = np.zeros((32, 32), bool)
    targets[10, 12] = targets[12, 12] = True
    ref = np.full((32, 32, 3), 0.5)
    ref[10, 10] = 0.25  # candidate 1: ln 2 = 0.69 per channel below the targets' 0.5
    ref[10, 14] = 0.8  # candidate 3: ln 1.6 = 0.47 per channel above
    ref[12, 12] = 0.75  # the second target: ln 1.07 = 0.06 from candidate 3
    far = ref.copy()
    far[10, 12] = 2.0  # the first target's reference: 0.92 per channel (1.6 Euclidean) from candidate 3
    base, done_b = guided_fill(values, weight, targets, far, radius=4, sigma_log=0.1)
    cut, done_c = guided_fill(values, weight, targets, far, radius=4, sigma_log=0.1, max_log_distance=0.3)
    assert done_b[10, 12] and abs(base[10, 12, 0] - 3.0) < 1e-5  # the extreme of its surroundings
    assert not done_c[10, 12] and cut[10, 12, 0] == 0.0  # unfilled: left as it was
    assert done_c[12, 12] and cut[12, 12, 0] == base[12, 12, 0]  # 0.10 Euclidean: filled as before
    # the threshold is the closest candidate's distance: 0.47 * sqrt(3) = 0.81 passes 0.9, not 0.8
    near = ref.copy()
    assert guided_fill(values, weight, targets, near, radius=4, sigma_log=0.1, max_log_distance=0.9)[1][10, 12]
    assert not guided_fill(values, weight, targets, near, radius=4, sigma_log=0.1, max_log_distance=0.8)[1][10, 12]
