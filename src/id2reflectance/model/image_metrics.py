"""Full-reference image metrics on numpy images: PSNR and SSIM with masks, LPIPS hook.

Images are (H, W, C) floating arrays (any C >= 1; (H, W) is taken as one channel) in the
units of the quantity compared, with a known ``data_range`` (1.0 for maps in [0, 1]).
Masks are (H, W) bool or float weights in [0, 1]; a metric is averaged over the weighted
pixels only.

- PSNR: ``10 log10(data_range^2 / MSE)`` with ``MSE`` the (weighted) mean over pixels and
  channels. Identical images (MSE = 0) give ``max_db`` (100 dB by default) instead of
  infinity, so aggregated numbers stay finite; MSE is floored at
  ``data_range^2 * 10^(-max_db / 10)`` (:func:`psnr_from_mse`, which also takes torch
  tensors of MSEs).
- SSIM: Wang et al. 2004, per channel with an 11 x 11 Gaussian window (sigma 1.5,
  normalised), ``K1 = 0.01``, ``K2 = 0.03``, population (co)variances, borders extended by
  symmetric reflection (``dcba|abcd``). The per-pixel SSIM map is averaged over the mask and
  then over channels. Without a mask and with ``crop_border=True`` the mean is over the
  interior (5 px from the edge), which is what ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` reports.
- LPIPS: only through a perceptual network loaded from local weights
  (:func:`id2reflectance.model.losses.load_perceptual`); without weights the caller reports
  LPIPS as unavailable (``None``), never a substitute number.

Only numpy (and torch for LPIPS) are needed.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

from id2reflectance.errors import ShapeError
from id2reflectance.model.losses import PerceptualLoss

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
PSNR_MAX_DB = 100.0


def _as_hwc(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ShapeError(f"{name}: expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ShapeError(f"{name}: contains NaN or infinite values")
    return a


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = _as_hwc(pred, "pred"), _as_hwc(target, "target")
    if p.shape != t.shape:
        raise ShapeError(f"pred and target differ in shape: {p.shape} vs {t.shape}")
    return p, t


def _weights(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) float64 weights in [0, 1] (ones when ``mask`` is None)."""
    if mask is None:
        return np.ones(shape[:2], np.float64)
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.shape != shape[:2]:
        raise ShapeError(f"mask shape {m.shape} does not match the image's {shape[:2]}")
    w = m.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise ShapeError("mask contains NaN or infinite values")
    return np.clip(w, 0.0, 1.0)


def mse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Weighted mean squared error over pixels and channels.

    Raises
    ------
    ShapeError
        Shapes differ, non-finite values, or an empty mask (no weight).
    """
    p, t = _pair(pred, target)
    w = _weights(mask, p.shape)
    total = float(w.sum())
    if total <= 0:
        raise ShapeError("mask is empty: no pixels to compare")
    err = np.square(p - t).mean(axis=2)
    return float((err * w).sum() / total)


def psnr(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    data_range: float = 1.0,
    max_db: float = PSNR_MAX_DB,
) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)``.

    Parameters
    ----------
    pred, target : (H, W[, C]) float, same shape, in units where the signal spans
        ``data_range`` (e.g. albedo in [0, 1] -> 1.0).
    mask : (H, W) bool or weights in [0, 1]; None = every pixel.
    data_range : peak-to-peak range of the signal.
    max_db : value returned for identical images (MSE floored accordingly).

    Returns
    -------
    float dB, at most ``max_db``.
    """
    if data_range <= 0:
        raise ShapeError(f"data_range must be > 0, got {data_range}")
    return psnr_from_mse(mse(pred, target, mask), data_range=data_range, max_db=max_db)


@overload
def psnr_from_mse(err: float, *, data_range: float = 1.0, max_db: float = PSNR_MAX_DB) -> float: ...


@overload
def psnr_from_mse(err: torch.Tensor, *, data_range: float = 1.0, max_db: float = PSNR_MAX_DB) -> torch.Tensor: ...


def psnr_from_mse(
    err: float | torch.Tensor, *, data_range: float = 1.0, max_db: float = PSNR_MAX_DB
) -> float | torch.Tensor:
    """PSNR in dB of a mean squared error: ``10 log10(data_range^2 / MSE)``, the one formula
    behind :func:`psnr` (numpy images) and the per-image PSNR of batched torch images
    (:func:`id2reflectance.evaluation.codebook.psnr`).

    Parameters
    ----------
    err : MSE in squared units of the signal: a float, or a torch tensor of MSEs (any
        shape, e.g. (B,) per image; computed per element on its device, dtype kept).
    data_range : peak-to-peak range of the signal.
    max_db : the cap: MSE is floored at ``data_range^2 * 10^(-max_db / 10)``.

    Returns
    -------
    float dB (for a float ``err``) or a tensor of dB like ``err``; at most ``max_db``.
    """
    if data_range <= 0:
        raise ShapeError(f"data_range must be > 0, got {data_range}")
    floor = data_range**2 * 10.0 ** (-max_db / 10.0)
    if isinstance(err, float | int):
        return float(10.0 * np.log10(data_range**2 / max(err, floor)))
    return 10.0 * (data_range**2 / err.clamp_min(floor)).log10()


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """(size,) float64 normalised 1-D Gaussian taps centred on the middle tap."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    return g / g.sum()


def _filter(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable filtering of (H, W, C) with symmetric-reflected borders (same size)."""
    r = len(taps) // 2
    pad = np.pad(x, ((r, r), (r, r), (0, 0)), mode="symmetric")
    h, w = x.shape[:2]
    rows = sum(taps[k] * pad[k : k + h] for k in range(len(taps)))
    return sum(taps[k] * rows[:, k : k + w] for k in range(len(taps)))


def ssim_map(pred: np.ndarray, target: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    """Per-pixel, per-channel SSIM.

    Parameters
    ----------
    pred, target : (H, W[, C]) float, same shape; H and W at least 11.
    data_range : peak-to-peak range of the signal.

    Returns
    -------
    (H, W, C) float64 SSIM values in [-1, 1] (1 where the images agree).
    """
    p, t = _pair(pred, target)
    if min(p.shape[:2]) < SSIM_WINDOW:
        raise ShapeError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {p.shape[:2]}")
    if data_range <= 0:
        raise ShapeError(f"data_range must be > 0, got {data_range}")
    g = gaussian_window()
    mu_p, mu_t = _filter(p, g), _filter(t, g)
    var_p = _filter(p * p, g) - mu_p**2
    var_t = _filter(t * t, g) - mu_t**2
    cov = _filter(p * t, g) - mu_p * mu_t
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    num = (2 * mu_p * mu_t + c1) * (2 * cov + c2)
    den = (mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2)
    return num / den


def ssim(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    data_range: float = 1.0,
    crop_border: bool = False,
) -> float:
    """Mean SSIM (Gaussian 11 x 11, sigma 1.5) over the mask, averaged over channels.

    Parameters
    ----------
    pred, target : (H, W[, C]) float, same shape, H, W >= 11.
    mask : (H, W) bool or weights in [0, 1]; None = every pixel.
    data_range : peak-to-peak range of the signal.
    crop_border : also drop the 5-pixel border (where the window leaves the image), as
        scikit-image's mean does.

    Returns
    -------
    float in [-1, 1]; 1.0 for identical images.
    """
    s = ssim_map(pred, target, data_range=data_range)
    w = _weights(mask, s.shape)
    if crop_border:
        r = SSIM_WINDOW // 2
        edge = np.zeros_like(w)
        edge[r:-r, r:-r] = 1.0
        w = w * edge
    total = float(w.sum())
    if total <= 0:
        raise ShapeError("mask is empty: no pixels to compare")
    per_channel = (s * w[..., None]).sum(axis=(0, 1)) / total
    return float(per_channel.mean())


def lpips(
    pred: np.ndarray,
    target: np.ndarray,
    net: PerceptualLoss,
    mask: np.ndarray | None = None,
) -> float:
    """LPIPS distance of two RGB images with a loaded perceptual network.

    Parameters
    ----------
    pred, target : (H, W, 3) float in [0, 1] (display-encoded, e.g. sRGB albedo).
    net : from :func:`id2reflectance.model.losses.load_perceptual` (local weights).
    mask : (H, W) weights; outside it both images are set to 0 (black) first, so only the
        masked region and its outline contribute.

    Returns
    -------
    float >= 0 (0 for identical images).
    """
    p, t = _pair(pred, target)
    if p.shape[2] != 3:
        raise ShapeError(f"LPIPS needs (H, W, 3) RGB images, got {p.shape}")
    w = _weights(mask, p.shape)[..., None]
    dev = next(net.parameters()).device

    def tensor(x: np.ndarray) -> torch.Tensor:
        x = np.clip(x, 0.0, 1.0) * w
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float().to(dev) * 2 - 1

    with torch.no_grad():
        return float(net(tensor(p), tensor(t))[0])
