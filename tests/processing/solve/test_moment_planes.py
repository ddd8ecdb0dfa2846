"""Moment planes of the denoiser: numpy and compiled versions, and the round trip to frames."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.processing.solve.config import numba_available
from id2reflectance.processing.solve.moment_planes import FRAME_ORDER, frames_from_moments, moment_planes
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
    moments_kernel.pack_moments(tuple(images.get(k, placeholder) for k in FRAME_ORDER), inverses, LUMINANCE_709, *got)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    frames = {k: np.empty((h, w, 3), np.float32) for k in FRAME_ORDER if inverses or "inverse" not in k[0]}
    dummy = np.empty((1, 1, 3), np.float32)
    moments_kernel.unpack_moments(ref[0], ref[1], ref[2], inverses, tuple(frames.get(k, dummy) for k in FRAME_ORDER))
    expected = frames_from_moments(*ref[:3], inverses)
    for key, img in expected.items():
        np.testing.assert_allclose(frames[key], img, atol=1e-6)
