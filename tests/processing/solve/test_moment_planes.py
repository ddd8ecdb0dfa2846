"""Moment planes of the denoiser: numpy and compiled versions, and the round trip to frames."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.processing.solve.config import numba_available
from id2reflectance.processing.solve.lobe_length import (
    LENGTH_POWER,
    length_noise,
    rescale_lobe_length,
    unbiased_length2,
)
from id2reflectance.processing.solve.moment_planes import FRAME_ORDER, frames_from_moments, moment_planes
from id2reflectance.processing.solve.moment_pool import pool_first_moments
from id2reflectance.processing.solve.noise import FrameNoise
from id2reflectance.processing.solve.separation import LUMINANCE_709


def _frames(inverses: bool, seed: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """Frames that obey the pattern model: gradient_a + inverse_a = full, parallel = cross + S."""
    rng = np.random.default_rng(seed)
    h, w = 9, 11
    out = {}
    for pol, extra in (("cross", 0.0), ("parallel", 0.05)):
        full = (0.3 + 0.2 * rng.random((h, w, 3)) + extra).astype(np.float32)
        out[("full", pol)] = full
        for a in "xyz":
            g = (full * rng.uniform(0.2, 0.8, (h, w, 1))).astype(np.float32)
            out[(f"gradient_{a}", pol)] = g
            if inverses:
                out[(f"inverse_{a}", pol)] = full - g
    return out


@pytest.mark.parametrize("inverses", [True, False])
def test_round_trip_rebuilds_the_cross_frames_and_the_specular(inverses: bool) -> None:
    images = _frames(inverses)
    full_c, spec, m1c, guides = moment_planes(images, inverses)
    assert full_c.shape == (9, 11, 3) and spec.shape == (9, 11, 4) and m1c.shape == (9, 11, 9)
    assert guides.shape == (9, 11, 3) and full_c.dtype == np.float32
    back = frames_from_moments(full_c, spec, m1c, inverses)
    assert set(back) == set(images)
    for key, img in images.items():
        if key[1] == "cross":
            np.testing.assert_allclose(back[key], img, atol=2e-6)
        else:  # the parallel frame keeps lum(parallel - cross), the only part the solver reads
            s_true = (img - images[(key[0], "cross")]) @ LUMINANCE_709
            s_back = (back[key] - back[(key[0], "cross")]) @ LUMINANCE_709
            np.testing.assert_allclose(s_back, s_true, atol=2e-6)


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize("inverses", [True, False])
def test_compiled_packing_matches_numpy(inverses: bool) -> None:
    from id2reflectance.processing.solve import moments_kernel

    images = _frames(inverses, seed=1)
    ref = moment_planes(images, inverses)
    h, w = 9, 11
    got = [np.empty((h, w, c), np.float32) for c in (3, 4, 9, 3)]
    placeholder = images[("full", "cross")]
    lcoef = np.zeros(5, np.float32)
    moments_kernel.pack_moments(
        tuple(images.get(k, placeholder) for k in FRAME_ORDER), inverses, LUMINANCE_709, *got, lcoef, np.float32(0.0)
    )
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    frames = {k: np.empty((h, w, 3), np.float32) for k in FRAME_ORDER if inverses or "inverse" not in k[0]}
    dummy = np.empty((1, 1, 3), np.float32)
    moments_kernel.unpack_moments(
        ref[0], ref[1], ref[2], inverses, tuple(frames.get(k, dummy) for k in FRAME_ORDER), LENGTH_POWER
    )
    expected = frames_from_moments(*ref[:3], inverses)
    for key, img in expected.items():
        np.testing.assert_allclose(frames[key], img, atol=1e-6)


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
def test_compiled_lobe_length_matches_numpy() -> None:
    """A fifth specular channel: packing writes ``unbiased_length2``, unpacking applies ``rescale_lobe_length``."""
    from id2reflectance.processing.solve import moments_kernel

    images = _frames(True, seed=2)
    model = FrameNoise(gain=5e-3, read=0.01)
    full_c, spec, m1c, _ = moment_planes(images, True)
    want2 = unbiased_length2(images, spec, model)
    assert (want2 > 0).any() and (want2 < 0).any()  # both branches of the rescale are exercised
    h, w = 9, 11
    got = [np.empty((h, w, c), np.float32) for c in (3, 5, 9, 3)]
    lcoef = np.array([*(LUMINANCE_709**2), *length_noise(images, model)], np.float32)
    moments_kernel.pack_moments(
        tuple(images[k] for k in FRAME_ORDER), True, LUMINANCE_709, *got, lcoef, np.float32(0.0)
    )
    np.testing.assert_allclose(got[1][..., 4], want2, atol=1e-6)
    expected_spec = spec.copy()
    rescale_lobe_length(expected_spec, want2.copy(), full_c[..., 0], radius=0, eps=1e-4, subsample=1)
    frames = {k: np.empty((h, w, 3), np.float32) for k in FRAME_ORDER}
    spec5 = np.concatenate([spec, want2[..., None]], axis=2)
    moments_kernel.unpack_moments(full_c, spec5, m1c, True, tuple(frames[k] for k in FRAME_ORDER), LENGTH_POWER)
    for key, img in frames_from_moments(full_c, expected_spec, m1c, True).items():
        np.testing.assert_allclose(frames[key], img, atol=1e-6)


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize("inverses", [True, False])
def test_compiled_packing_pools_the_parallel_first_moments(inverses: bool) -> None:
    """``pool`` > 0: the packed cross first moments are ``pool_first_moments``' (numpy) of the
    unpooled ones; the guides and the other planes are those of the unpooled packing."""
    from id2reflectance.processing.solve import moments_kernel

    images = _frames(inverses, seed=3)
    h, w = 9, 11
    placeholder = images[("full", "cross")]
    frames = tuple(images.get(k, placeholder) for k in FRAME_ORDER)
    lcoef = np.zeros(5, np.float32)
    plain = [np.empty((h, w, c), np.float32) for c in (3, 4, 9, 3)]
    pooled = [np.empty((h, w, c), np.float32) for c in (3, 4, 9, 3)]
    weight = 0.7
    moments_kernel.pack_moments(frames, inverses, LUMINANCE_709, *plain, lcoef, np.float32(0.0))
    moments_kernel.pack_moments(
        frames, inverses, LUMINANCE_709, *pooled, lcoef, np.float32(weight) / np.float32(1.0 + weight)
    )
    want = plain[2].copy()
    pool_first_moments(images, want, inverses=inverses, weight=weight)
    assert np.abs(want - plain[2]).max() > 1e-3  # the pooling moves the moments
    np.testing.assert_allclose(pooled[2], want, atol=1e-6)
    for k in (0, 1, 3):
        np.testing.assert_array_equal(pooled[k], plain[k])
