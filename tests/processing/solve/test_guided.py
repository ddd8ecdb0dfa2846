"""The guided filter: numpy and compiled versions, edge preservation, linearity."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.processing.solve import guided
from id2reflectance.processing.solve.config import numba_available


def _step_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Guide and input with a vertical edge at x = 32 (a silhouette), plus noise."""
    rng = np.random.default_rng(seed)
    clean = np.zeros((64, 64), np.float32)
    clean[:, 32:] = 0.5
    guide = clean + 0.002 * rng.standard_normal(clean.shape).astype(np.float32)
    noisy = clean + 0.02 * rng.standard_normal(clean.shape).astype(np.float32)
    return guide, noisy, clean


def test_guided_filter_reduces_noise_without_bleeding_across_the_edge() -> None:
    guide, noisy, clean = _step_scene()
    out = guided.guided_filter(guide, noisy, radius=2, eps=1e-4)
    assert out.shape == noisy.shape and out.dtype == np.float32
    flat = (slice(4, -4), np.r_[4:28, 36:60])
    assert np.std((out - clean)[flat]) < 0.5 * np.std((noisy - clean)[flat])
    # the columns beside the edge keep their side's level (a box blur would give 0.25)
    assert abs(float(np.median(out[:, 31]))) < 0.03
    assert abs(float(np.median(out[:, 32])) - 0.5) < 0.03


def test_guided_filter_is_linear_in_its_input() -> None:
    guide, a, _ = _step_scene(1)
    _, b, _ = _step_scene(2)
    fa = guided.guided_filter(guide, a, radius=1, eps=1e-4)
    fb = guided.guided_filter(guide, b, radius=1, eps=1e-4)
    fab = guided.guided_filter(guide, np.stack([a, 2 * a - b], axis=2), radius=1, eps=1e-4)
    np.testing.assert_allclose(fab[..., 0], fa, atol=5e-5)
    np.testing.assert_allclose(fab[..., 1], 2 * fa - fb, atol=5e-5)


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
def test_compiled_and_numpy_agree_away_from_the_border(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    guide = rng.random((40, 50)).astype(np.float32)
    src = rng.random((40, 50, 5)).astype(np.float32)
    fast = guided.guided_filter(guide, src, radius=2, eps=0.01)
    monkeypatch.setattr(guided, "numba_available", lambda: False)
    ref = guided.guided_filter(guide, src, radius=2, eps=0.01)
    np.testing.assert_allclose(fast[5:-5, 5:-5], ref[5:-5, 5:-5], atol=2e-5)


def test_two_guides_keep_the_edges_of_either(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edge only in guide 2 (normal detail) survives; the numpy and compiled versions agree."""
    rng = np.random.default_rng(5)
    g1 = np.full((48, 48), 0.5, np.float32)  # flat full-on image
    g2 = np.zeros((48, 48), np.float32)
    g2[:, 24:] = 0.4  # the first moment's edge
    clean = g2.copy()
    noisy = (clean + 0.02 * rng.standard_normal(clean.shape)).astype(np.float32)[..., None]
    out = guided.guided_filter2(g1, g2, noisy, radius=2, eps1=1e-4, eps2=1e-4)[..., 0]
    assert abs(float(np.median(out[:, 23]))) < 0.03 and abs(float(np.median(out[:, 24])) - 0.4) < 0.03
    flat = (slice(4, -4), np.r_[4:20, 28:44])
    assert np.std((out - clean)[flat]) < 0.5 * np.std((noisy[..., 0] - clean)[flat])
    if numba_available():
        src = rng.random((48, 48, 3)).astype(np.float32)
        g1r = rng.random((48, 48)).astype(np.float32)
        fast = guided.guided_filter2(g1r, g2, src, radius=1, eps1=0.01, eps2=0.02)
        monkeypatch.setattr(guided, "numba_available", lambda: False)
        ref = guided.guided_filter2(g1r, g2, src, radius=1, eps1=0.01, eps2=0.02)
        np.testing.assert_allclose(fast[3:-3, 3:-3], ref[3:-3, 3:-3], atol=2e-5)


def _clipped_box(x: np.ndarray, r: int) -> np.ndarray:
    """float64 mean over the (2r+1)^2 window clipped to the image (the compiled kernels' border)."""
    out = x.astype(np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        c = np.concatenate([np.zeros_like(np.take(out, [0], axis)), np.cumsum(out, axis=axis)], axis)
        idx = np.arange(n)
        hi, lo = np.minimum(idx + r, n - 1) + 1, np.maximum(idx - r, 0)
        shape = [-1 if a == axis else 1 for a in range(out.ndim)]
        out = (np.take(c, hi, axis) - np.take(c, lo, axis)) / (hi - lo).reshape(shape)
    return out


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize(("h", "w"), [(1, 1), (5, 7), (17, 3), (70, 33)])
@pytest.mark.parametrize("r", [1, 2, 8])
def test_compiled_filter_matches_float64_with_clipped_windows(h: int, w: int, r: int) -> None:
    """The streaming kernel (bands of rows, rings, halos) against a float64 reference, written in place."""
    rng = np.random.default_rng(h * 100 + r)
    g = rng.random((h, w)).astype(np.float32)
    p = rng.random((h, w, 2)).astype(np.float32)
    eps = 0.01
    got = guided.guided_filter(g, p.copy(), radius=r, eps=eps)
    inplace = p.copy()
    guided.guided_filter(g, inplace, radius=r, eps=eps, out=inplace)
    mi = _clipped_box(g, r)
    var = np.maximum(_clipped_box(g.astype(np.float64) ** 2, r) - mi * mi, 0.0) + eps
    for c in range(2):
        mp = _clipped_box(p[..., c], r)
        a = (_clipped_box(g * p[..., c].astype(np.float64), r) - mi * mp) / var
        ref = _clipped_box(a, r) * g + _clipped_box(mp - a * mi, r)
        np.testing.assert_allclose(got[..., c], ref, atol=2e-6)
    np.testing.assert_array_equal(inplace, got)


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize("r", [1, 2])
def test_self_guided_smoothing_equals_the_general_filter_bit_for_bit(r: int) -> None:
    """A guide filtered by itself (the same pixels: the kernel sums them once) gives exactly what the
    general path gives for a copy of it; also written over the guide (a view of a larger image)."""
    rng = np.random.default_rng(11)
    image = rng.random((90, 70)).astype(np.float32)
    view = image[5:85, 3:67]  # strided: the guide is copied, the input read through the view
    general = guided.guided_filter(view, view.copy(), radius=r, eps=0.01)
    same = guided.guided_filter(view, view, radius=r, eps=0.01)
    np.testing.assert_array_equal(same, general)
    guided.guided_filter(view, view, radius=r, eps=0.01, out=view)
    np.testing.assert_array_equal(view, general)
    assert guided._same_pixels(image[5:85, 3:67], view) and not guided._same_pixels(view, view.copy())


@pytest.mark.parametrize("r", [1, 2, 4])  # 4: subsampled, the numpy path
def test_the_full_on_guide_smoothed_in_its_kept_plane_equals_a_fresh_one(r: int) -> None:
    """``prepare_frames`` smooths the full-on guide in a plane kept between cameras
    (``denoise._guide_plane``, in place): bit for bit the smoothing of the box's strided view into a
    fresh array, camera after camera of other sizes (the plane reused, nothing carried over)."""
    from id2reflectance.processing.solve.denoise import _guide_plane
    from id2reflectance.processing.solve.moment_filter import filter_step

    rng = np.random.default_rng(r)
    for shape, box in (((90, 120), (slice(5, 80), slice(7, 111))), ((60, 70), (slice(0, 60), slice(3, 50)))):
        lum = (0.3 + 0.05 * rng.standard_normal(shape)).astype(np.float32)
        lum[:, : shape[1] // 2] *= 0.2  # an edge
        view = lum[box]
        want = guided.guided_filter(view, view, radius=r, eps=1e-3, subsample=filter_step(r))
        plane = _guide_plane(view)
        assert plane.flags.c_contiguous and np.array_equal(plane, view)
        guided.guided_filter(plane, plane, radius=r, eps=1e-3, subsample=filter_step(r), out=plane)
        assert np.array_equal(plane, want)
        assert not np.array_equal(plane, view)  # smoothed
