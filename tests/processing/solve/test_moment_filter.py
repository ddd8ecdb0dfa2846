"""The compiled denoiser (streaming guided filters, fused moment kernels) against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.frames import CameraFrames
from id2reflectance.processing.solve import guided, moment_filter
from id2reflectance.processing.solve.config import numba_available
from id2reflectance.processing.solve.denoise import prepare_frames
from id2reflectance.processing.solve.noise import FrameNoise
from id2reflectance.processing.solve.separation import AXES

NOISE = FrameNoise(gain=5e-5, read=0.002)  # issue 20's sensor noise


def _noisy_camera(n: int = 56, seed: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """A textured ellipsoid under the light stage's patterns (14 frames), the issue's noise added.

    Diffuse: albedo (RGB, textured) times ``(1 + n_a) / 2`` per gradient axis; specular (grey,
    0.08) with first moment ``0.8 * 0.08 * n_a``; black background. Linear relative radiance.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    u, v = (x - n / 2 + 0.5) / (0.4 * n), (y - n / 2 + 0.5) / (0.45 * n)
    inside = (u * u + v * v < 1.0).astype(np.float64)
    normal = {"x": u * inside, "y": -v * inside, "z": np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, 1.0))}
    texture = 0.5 + 0.1 * np.sin(x / 2.3) * np.cos(y / 3.1)
    albedo = texture[..., None] * np.array([0.9, 0.6, 0.5]) * inside[..., None]
    spec = 0.08 * inside[..., None]
    clean = {("full", "cross"): albedo, ("full", "parallel"): albedo + spec}
    for a in AXES:
        for kind, sign in (("gradient", 1.0), ("inverse", -1.0)):
            shade = (1.0 + sign * normal[a][..., None]) / 2.0
            clean[(f"{kind}_{a}", "cross")] = albedo * shade
            clean[(f"{kind}_{a}", "parallel")] = albedo * shade + spec * (1.0 + sign * 0.8 * normal[a][..., None]) / 2.0
    out = {}
    for key, img in clean.items():
        sigma = np.sqrt(NOISE.gain * img + NOISE.read**2)
        out[key] = (img + sigma * rng.standard_normal(img.shape)).astype(np.float32)
    return out


def _prepare(images: dict[tuple[str, str], np.ndarray]) -> tuple[dict[tuple[str, str], np.ndarray], object]:
    frames = CameraFrames("front", {k: v.copy() for k, v in images.items()}, np.zeros((56, 56), bool), {})
    noise = {k: NOISE for k in images}
    model = NOISE if ("inverse_x", "cross") in images else None  # as pattern_noise gives it
    prepared, prep = prepare_frames(frames, noise, camera_model=model)
    return prepared.images, prep


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize("inverses", [True, False])
def test_compiled_denoiser_matches_the_numpy_reference(monkeypatch: pytest.MonkeyPatch, inverses: bool) -> None:
    """Every rebuilt frame equal to float32 rounding away from the filtered box's border.

    The numpy path (``moment_planes``, ``unbiased_length2``, ``rescale_lobe_length``,
    ``guided_filter`` with reflected borders) is the reference; the compiled one shrinks
    the windows at the box's border instead, so pixels within two filter passes of it
    (4 r, the guides are smoothed first) differ by design.
    """
    images = {k: v for k, v in _noisy_camera().items() if inverses or not k[0].startswith("inverse")}
    fast, prep = _prepare(images)
    assert prep.radius_diffuse >= 1 and prep.radius_specular >= 1  # the noise asks for filtering
    monkeypatch.setattr(guided, "numba_available", lambda: False)
    monkeypatch.setattr(moment_filter, "numba_available", lambda: False)
    ref, prep_ref = _prepare(images)
    assert prep_ref.roi == prep.roi
    m = 4 * max(prep.radius_diffuse, prep.radius_specular) + 1
    rows, cols = prep.roi
    inner = (slice(rows.start + m, rows.stop - m), slice(cols.start + m, cols.stop - m))
    signal = float(np.percentile(images[("full", "parallel")], 99))
    for key, img in ref.items():
        diff = np.abs(fast[key][inner] - img[inner]).max() / signal
        assert diff < 1e-5, (key, diff)
        assert not np.array_equal(img[inner], images[key][inner])  # filtered, not passed through
