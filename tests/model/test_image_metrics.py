"""PSNR / SSIM / LPIPS hook (id2reflectance.model.image_metrics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage.metrics import structural_similarity

from id2reflectance.errors import ShapeError
from id2reflectance.model.image_metrics import PSNR_MAX_DB, gaussian_window, lpips, mse, psnr, ssim, ssim_map
from id2reflectance.model.losses import PerceptualLoss, load_perceptual


def _img(seed: int, shape: tuple[int, ...] = (40, 48, 3)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape)


def test_psnr_identical_is_capped() -> None:
    a = _img(0)
    assert psnr(a, a) == PSNR_MAX_DB
    assert psnr(a, a, max_db=60.0) == 60.0


def test_psnr_known_error_matches_formula() -> None:
    a = np.full((16, 16, 3), 0.5)
    b = a + 0.1  # MSE = 0.01 -> 20 dB
    assert psnr(b, a) == pytest.approx(20.0, abs=1e-9)
    assert psnr(b * 2, a * 2, data_range=2.0) == pytest.approx(20.0, abs=1e-9)
    noise = np.random.default_rng(1).normal(0.0, 0.05, a.shape)
    expected = 10 * np.log10(1.0 / np.mean(noise**2))
    assert psnr(a + noise, a) == pytest.approx(expected, rel=1e-12)


def test_psnr_mask_ignores_outside() -> None:
    a = np.zeros((8, 8, 3))
    b = a.copy()
    b[:, 4:] = 1.0  # wrong only on the right half
    m = np.zeros((8, 8), bool)
    m[:, :4] = True
    assert psnr(b, a, m) == PSNR_MAX_DB
    assert psnr(b, a) == pytest.approx(10 * np.log10(2.0))
    # float weights: half weight on the wrong half -> MSE = 0.5 / 1.5
    w = np.where(m, 1.0, 0.5)
    assert mse(b, a, w) == pytest.approx(0.5 * 32 / (32 + 16))


def test_psnr_bad_input() -> None:
    a = _img(0)
    with pytest.raises(ShapeError, match="differ in shape"):
        psnr(a, a[:, :-1])
    with pytest.raises(ShapeError, match="empty"):
        psnr(a, a, np.zeros(a.shape[:2], bool))
    bad = a.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ShapeError, match="NaN"):
        psnr(bad, a)
    with pytest.raises(ShapeError, match="mask shape"):
        psnr(a, a, np.ones((3, 3), bool))


def test_gaussian_window() -> None:
    g = gaussian_window()
    assert g.shape == (11,)
    assert g.sum() == pytest.approx(1.0)
    assert g[5] == g.max()
    assert g[0] == pytest.approx(g[10])


def test_ssim_identical_is_one_and_decreases_with_noise() -> None:
    a = _img(2)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(3)
    values = [ssim(np.clip(a + rng.normal(0, s, a.shape), 0, 1), a) for s in (0.02, 0.1, 0.3)]
    assert values[0] > values[1] > values[2]
    assert values[0] < 1.0


@pytest.mark.parametrize("seed", [4, 5])
def test_ssim_matches_skimage(seed: int) -> None:
    a = _img(seed, (37, 45, 3))
    b = np.clip(a + np.random.default_rng(seed + 10).normal(0.0, 0.15, a.shape), 0, 1)
    ref, full = structural_similarity(
        b,
        a,
        data_range=1.0,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    assert ssim(b, a, crop_border=True) == pytest.approx(ref, abs=1e-3)
    assert ssim(b, a) == pytest.approx(full.mean(), abs=1e-3)
    np.testing.assert_allclose(ssim_map(b, a), full, atol=1e-3)
    # single channel, (H, W) input
    ref1 = structural_similarity(
        b[..., 0], a[..., 0], data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(b[..., 0], a[..., 0], crop_border=True) == pytest.approx(ref1, abs=1e-3)


def test_ssim_mask() -> None:
    a = _img(6)
    b = a.copy()
    b[:, 24:] = np.random.default_rng(7).uniform(0, 1, b[:, 24:].shape)
    m = np.zeros(a.shape[:2], bool)
    m[:, :12] = True  # far from the changed half (window radius 5)
    assert ssim(b, a, m) == pytest.approx(1.0, abs=1e-12)
    assert ssim(b, a) < 0.8
    smap = ssim_map(b, a)
    expected = smap[:, 30:].mean()
    m2 = np.zeros(a.shape[:2], bool)
    m2[:, 30:] = True
    assert ssim(b, a, m2) == pytest.approx(expected)
    with pytest.raises(ShapeError, match="at least 11"):
        ssim(a[:8, :8], a[:8, :8])


def test_lpips_hook_with_local_weights(tmp_path) -> None:
    torch.manual_seed(0)
    net = PerceptualLoss()
    for p in net.parameters():
        p.data = p.data.abs() * 0.05 if p.ndim == 4 and p.shape[-1] == 1 else p.data
    path = tmp_path / "lpips.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    loaded = load_perceptual(path)
    assert loaded is not None
    a = _img(8, (32, 32, 3))
    b = np.clip(a + np.random.default_rng(9).normal(0, 0.2, a.shape), 0, 1)
    assert lpips(a, a, loaded) == pytest.approx(0.0, abs=1e-7)
    d = lpips(b, a, loaded)
    assert d > 0
    # outside the mask both images are blacked out: an empty difference there
    m = np.zeros((32, 32), bool)
    c = a.copy()
    c[:, 16:] = b[:, 16:]
    m[:, :8] = True
    assert lpips(c, a, loaded, m) == pytest.approx(0.0, abs=1e-7)
    assert lpips(c, a, loaded) > 0
