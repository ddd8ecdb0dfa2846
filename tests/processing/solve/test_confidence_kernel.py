"""The compiled confidence against the numpy path of ``confidence_map``."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.frames import CameraFrames
from id2reflectance.processing.solve import denoise
from id2reflectance.processing.solve.config import numba_available
from id2reflectance.processing.solve.noise import FrameNoise


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
def test_compiled_confidence_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    h, w = 40, 52
    cross = (0.05 + 0.3 * rng.random((h, w, 3))).astype(np.float32)
    parallel = (cross + 0.04 * rng.standard_normal((h, w, 3))).astype(np.float32)  # some negative specular
    frames = CameraFrames("cam", {("full", "cross"): cross, ("full", "parallel"): parallel}, np.zeros((h, w), bool), {})
    model = FrameNoise(gain=5e-5, read=0.002)
    prep = denoise.Preparation(cross_noise=model, parallel_noise=model, radius_diffuse=1, radius_specular=2)
    prep.raw_cross, prep.raw_parallel = denoise.luminance(cross), denoise.luminance(parallel)
    mask = np.zeros((h, w), bool)
    mask[5:33, 7:45] = rng.random((28, 38)) > 0.2  # a box with holes: zeros inside and outside it
    fast, snr_fast = denoise.confidence_map(frames, prep, mask)
    monkeypatch.setattr(denoise, "numba_available", lambda: False)
    ref, snr_ref = denoise.confidence_map(frames, prep, mask)
    assert fast.dtype == np.float32 and fast.shape == (h, w)
    assert (ref[mask] > 0).mean() > 0.5 and (ref[mask] < 0.9).any()  # not all saturated at 1
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fast[~mask], 0.0)
    np.testing.assert_allclose(snr_fast[5:33, 7:45], snr_ref[5:33, 7:45], rtol=1e-5, atol=1e-4)


def test_noise_sigmas_follow_the_models() -> None:
    """The sigmas the mask and the confidence compute from the raw luminances: each model at its level."""
    cross_model, parallel_model = FrameNoise(gain=5e-5, read=0.002), FrameNoise(gain=8e-5, read=0.003)
    raw_c = np.array([[-0.1, 0.0, 0.2], [0.5, 0.05, 1.0]], np.float32)
    raw_p = raw_c * np.float32(1.5)
    prep = denoise.Preparation(cross_noise=cross_model, parallel_noise=parallel_model)
    prep.raw_cross, prep.raw_parallel = raw_c, raw_p
    sig_c, sig_s = denoise.noise_sigmas(prep, (slice(None), slice(1, 3)))
    want_c = cross_model.sigma(raw_c[:, 1:3])
    np.testing.assert_allclose(sig_c, want_c, rtol=1e-6)
    np.testing.assert_allclose(sig_s, np.hypot(want_c, parallel_model.sigma(raw_p[:, 1:3])), rtol=1e-6)
    assert sig_c.dtype == sig_s.dtype == np.float32 and sig_c.shape == (2, 2)
    with pytest.raises(ValueError, match="raw_cross"):
        denoise.noise_sigmas(denoise.Preparation(), (slice(None), slice(None)))
