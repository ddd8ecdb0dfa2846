"""The lighting-matched templates' sample points (processing/solve/align_refine.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from id2reflectance.processing.solve import align_refine
from id2reflectance.processing.solve.align_features import (
    log_features,
    pyramid,
    reference_pyramid,
    similarity_matrix,
)
from id2reflectance.processing.solve.align_refine import (
    FROM_ZERO_PX,
    MIN_KEEP,
    MIN_SHARE,
    REUSE_PX,
    FeatureCache,
    lit_points,
    matched_template,
    pair_still,
    pair_template,
    predicted,
    ratio_template,
    refine_motions,
    template_reference,
    warp_to_reference,
)


def _cache(inverse: np.ndarray) -> FeatureCache:
    full = np.ones_like(inverse)
    cache = FeatureCache(eps=0.01, inverses=True)
    cache.lum = {("full", "cross"): full, ("inverse_x", "cross"): inverse, ("gradient_x", "cross"): full - inverse}
    return cache


def _points(h: int, w: int) -> list[tuple[np.ndarray, np.ndarray]]:
    ys, xs = np.nonzero(np.ones((h, w), bool))
    return [(ys, xs), (ys[(ys < h // 2) & (xs < w // 2)], xs[(ys < h // 2) & (xs < w // 2)])]


def test_the_complementary_template_is_fitted_where_the_frame_is_lit() -> None:
    h, w = 40, 60
    share = np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32), (h, 1))  # the gradient frame's share of full
    cache = _cache(1.0 - share)
    motions = {k: np.eye(3) for k in cache.lum}
    points = _points(h, w)
    kept = lit_points(("gradient_x", "cross"), cache, motions, points)
    ys, xs = kept[0]
    assert np.all(share[ys, xs] >= MIN_SHARE - 1e-6) and len(xs) >= MIN_KEEP * len(points[0][1])
    assert np.all(share[points[0][0], points[0][1]][~np.isin(points[0][1], xs)] < MIN_SHARE)
    # the inverse frame is lit where the gradient is not: its points are the other side
    yi, xi = lit_points(("inverse_x", "cross"), cache, motions, points)[0]
    assert np.all(share[yi, xi] <= 1.0 - MIN_SHARE + 1e-6) and xi.min() == 0 and xs.max() == w - 1
    # frames without a complementary template keep every point
    assert lit_points(("full", "parallel"), cache, motions, points) is points


def test_a_frame_lit_from_behind_keeps_half_of_its_points() -> None:
    h, w = 30, 50
    share = np.tile(np.linspace(0.0, 0.2, w, dtype=np.float32), (h, 1))  # under MIN_SHARE everywhere
    cache = _cache(1.0 - share)
    kept = lit_points(("gradient_x", "cross"), cache, {k: np.eye(3) for k in cache.lum}, _points(h, w))
    n = len(kept[0][1])
    assert MIN_KEEP * h * w - h <= n <= MIN_KEEP * h * w + h  # the better-lit half
    assert kept[0][1].min() >= w // 2 - 1


def test_a_complementary_template_is_rebuilt_only_when_its_complement_moved() -> None:
    rng = np.random.default_rng(4)
    h, w = 48, 64
    cache = _cache((0.5 + 0.3 * rng.random((h, w))).astype(np.float32))
    key, other = ("gradient_x", "cross"), ("inverse_x", "cross")
    motions = {k: np.eye(3) for k in cache.lum}
    template, share = pair_template(key, cache, motions)
    np.testing.assert_allclose(share, 1.0 - cache.lum[other], atol=1e-6)  # full = 1, no motion
    # within REUSE_PX at the image's corners: the same arrays
    motions[other] = similarity_matrix(0.0, 0.0, 0.5 * REUSE_PX, 0.0, 0.0, 0.0)
    again, share2 = pair_template(key, cache, motions)
    assert again is template and share2 is share
    # a complement moved by 0.3 px: rebuilt, with the moved complement
    motions[other] = similarity_matrix(0.0, 0.0, 0.3, 0.0, 0.0, 0.0)
    moved, share3 = pair_template(key, cache, motions)
    assert moved is not template
    assert np.abs(share3 - share).max() > 0.01
    np.testing.assert_allclose(pair_template(key, cache, motions)[0], moved)


def test_the_still_pairs_test_leaves_the_kept_template_in_place() -> None:
    """``pair_still`` builds the template of the complement unmoved without replacing the kept one (the
    template of the current estimates, which the explained-fraction test and the final checks ask for next):
    the same template as ``pair_template`` of no motion makes, and the kept arrays stay."""
    rng = np.random.default_rng(5)
    h, w = 48, 64
    cache = _cache((0.5 + 0.3 * rng.random((h, w))).astype(np.float32))
    key, other = ("gradient_x", "cross"), ("inverse_x", "cross")
    motions = {k: np.eye(3) for k in cache.lum}
    motions[other] = similarity_matrix(0.0, 0.0, 0.4, -0.2, 0.0, 0.0)
    kept = pair_template(key, cache, motions)
    still, share = pair_template(key, cache, {other: np.eye(3)}, keep=False)
    assert share is None and cache.pairs[key][1] is kept[0] and cache.pairs[key][2] is kept[1]
    fresh = FeatureCache(eps=cache.eps, inverses=True, lum=dict(cache.lum))
    np.testing.assert_array_equal(still, pair_template(key, fresh, {other: np.eye(3)})[0])
    # the gradient frame is full - inverse as captured: the pair adds up unmoved, whatever the estimates
    cache.log[key] = pyramid(log_features(cache.lum[key], eps=cache.eps), 2)
    ys, xs = np.nonzero(np.pad(np.ones((h - 16, w - 16), bool), 8))
    assert pair_still(key, cache, [(ys, xs)])
    assert pair_template(key, cache, motions)[0] is kept[0]


def test_without_inverses_a_gradient_frame_is_matched_to_the_full_on_frame_times_its_lighting_ratio() -> None:
    """A cross-polarised gradient frame is the full-on frame times a smooth lighting ratio: the
    template (full-on x smoothed ratio of the frame aligned with its motion) has the frame's features,
    where the full-on frame's own differ by the ratio's shading; rebuilt only when the frame moved."""
    rng = np.random.default_rng(5)
    h, w = 96, 128
    texture = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    full = (0.4 + texture) * np.exp(-(((xx - 64) / 40) ** 2) - ((yy - 48) / 30) ** 2)  # a lit blob
    ratio = 1.0 / (1.0 + np.exp(-(xx - 64) / 6.0))  # lit from the right, falling off steeply
    key = ("gradient_x", "cross")
    cache = FeatureCache(eps=0.01, inverses=False)
    cache.lum = {("full", "cross"): full.astype(np.float32), key: (full * ratio).astype(np.float32)}
    cache.log = {k: [log_features(v, eps=0.01)] for k, v in cache.lum.items()}
    assert predicted(key, cache) and not predicted(("gradient_x", "parallel"), cache)
    motions = {k: np.eye(3) for k in cache.lum}
    template, frame = matched_template(key, cache, motions)
    inner = (slice(20, 76), slice(30, 98))
    own = frame[0][inner]
    err_template = np.sqrt(np.mean((template[inner] - own) ** 2))
    err_full = np.sqrt(np.mean((cache.log[("full", "cross")][0][inner] - own) ** 2))
    assert err_template < 0.5 * err_full, (err_template, err_full)
    # reused within REUSE_PX, rebuilt (from the moved frame) beyond it
    motions[key] = similarity_matrix(0.0, 0.0, 0.5 * REUSE_PX, 0.0, 0.0, 0.0)
    assert ratio_template(key, cache, motions)[0] is template
    motions[key] = similarity_matrix(0.0, 0.0, 0.7, 0.0, 0.0, 0.0)
    assert ratio_template(key, cache, motions)[0] is not template


def _textured_cache(seed: int) -> FeatureCache:
    """A camera with inverse patterns (x axis) and a parallel frame: luminance, log features and ``R - G``."""
    rng = np.random.default_rng(seed)
    h, w = 64, 80
    texture = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    cache = _cache((0.3 + 0.4 * texture).astype(np.float32))
    cache.lum[("full", "cross")] = (1.0 + 0.5 * texture).astype(np.float32)
    cache.log = {k: pyramid(log_features(v, eps=0.01), 2) for k, v in cache.lum.items()}
    opp = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    cache.opp = {("gradient_x", "cross"): pyramid(opp, 2), ("gradient_x", "parallel"): pyramid(opp.copy(), 2)}
    cache.log[("gradient_x", "parallel")] = cache.opp[("gradient_x", "parallel")]
    return cache


def _inner_points() -> list[tuple[np.ndarray, np.ndarray]]:
    """Sample points of :func:`_textured_cache`'s two levels (64 x 80, 32 x 40), 2 px inside their edges."""
    out = []
    for h, w in ((64, 80), (32, 40)):
        ys, xs = np.nonzero(np.ones((h - 4, w - 4), bool))
        out.append((ys + 2, xs + 2))
    return out


def _same_pyramid(a, b) -> None:
    assert len(a.levels) == len(b.levels)
    for la, lb in zip(a.levels, b.levels, strict=True):
        for x, y in zip(la[:4], lb[:4], strict=True):
            np.testing.assert_array_equal(x, y)


def test_a_prepared_template_is_reused_only_for_the_same_template_and_points() -> None:
    cache = _textured_cache(8)
    key, other = ("gradient_x", "cross"), ("inverse_x", "cross")
    motions = {k: np.eye(3) for k in cache.lum}
    points = _inner_points()
    ref, template, _ = template_reference(key, cache, motions, points)
    _same_pyramid(ref, reference_pyramid(pair_template(key, cache, motions)[0], points))
    assert template_reference(key, cache, motions, points)[0] is ref
    # the finest level alone (the final checks' points): the kept level, its correlations shared
    fine = template_reference(key, cache, motions, points[:1])[0]
    _same_pyramid(fine, reference_pyramid(template, points[:1]))
    assert fine.nccs is ref.nccs
    # a moved complement (a new template) or other points (equal values, other arrays): prepared again
    still = dict(motions)
    motions[other] = similarity_matrix(0.0, 0.0, 0.4, 0.0, 0.0, 0.0)
    moved, moved_template, _ = template_reference(key, cache, motions, points)
    assert moved is not ref and np.abs(moved_template - template).max() > 1e-3
    _same_pyramid(moved, reference_pyramid(pair_template(key, cache, motions)[0], points))
    copied = [(ys.copy(), xs.copy()) for ys, xs in points]
    assert template_reference(key, cache, motions, copied)[0] is not moved
    _same_pyramid(template_reference(key, cache, still, points)[0], ref)


def test_a_parallel_frames_template_is_its_twins_warped_features_kept_while_the_twin_stays() -> None:
    cache = _textured_cache(9)
    key, twin = ("gradient_x", "parallel"), ("gradient_x", "cross")
    motions = {k: np.eye(3) for k in cache.log}
    motions[twin] = similarity_matrix(0.001, -0.002, 0.3, -0.2, 40.0, 32.0)
    template, frame = matched_template(key, cache, motions)
    np.testing.assert_array_equal(template, warp_to_reference(cache.opp[twin][0], motions[twin]))
    assert frame is cache.opp[key]
    assert matched_template(key, cache, dict(motions))[0] is template
    motions[twin] = similarity_matrix(0.0, 0.0, -0.5, 0.1, 40.0, 32.0)
    again = matched_template(key, cache, motions)[0]
    assert again is not template
    np.testing.assert_array_equal(again, warp_to_reference(cache.opp[twin][0], motions[twin]))


@pytest.mark.parametrize("shift", [0.3, 2.5])
def test_a_refit_starts_from_no_motion_only_beyond_its_estimates_basin(monkeypatch, shift: float) -> None:
    cache = _textured_cache(10)
    starts: list[tuple[tuple[str, str], bool]] = []
    fit = align_refine.fit_similarity

    def recording(ref, pyr, *, init, **kw):
        starts.append(np.array_equal(init, np.eye(3)))
        return fit(ref, pyr, init=init, **kw)

    monkeypatch.setattr(align_refine, "fit_similarity", recording)
    motions = {k: np.eye(3) for k in cache.log}
    for k in (("gradient_x", "cross"), ("inverse_x", "cross")):
        motions[k] = similarity_matrix(0.0, 0.0, shift, 0.0, 0.0, 0.0)
    points = _inner_points()
    with ThreadPoolExecutor(1) as pool:
        refine_motions(cache, motions, points, pool=pool, passes=1)
    cross_first = starts[:4] if shift > FROM_ZERO_PX else starts[:2]
    # a start within FROM_ZERO_PX: one fit per frame from it; beyond: a second one from no motion
    assert cross_first == ([False, True, False, True] if shift > FROM_ZERO_PX else [False, False])
