"""The guided filter: edge-aware smoothing of many planes guided by one image.

For a guide ``I`` and an input ``p``, the output in every window of radius ``r`` is the
least-squares linear function ``a * I + b`` of the guide (``eps`` penalises ``a``), the
coefficients averaged over the windows covering each pixel. Where the guide is flat
(variance below ``eps``) the output is a local mean of ``p``; where the guide has an edge
(a silhouette, an albedo boundary) the output follows the guide's edge instead of
averaging across it. For a fixed guide the filter is linear in ``p``: filtering frames
and then separating diffuse from specular equals separating and then filtering.

The coefficients are computed on a grid subsampled by ``subsample`` (the "fast guided
filter"): the box means are smooth at radius ``r``, so a grid step up to about ``r / 2``
loses nothing visible and saves that factor squared in the costly part. With
``subsample=1`` and numba installed the compiled
:func:`~id2reflectance.processing.solve.guided_kernel.guided_filter_planes` runs instead
(box windows shrunk at the image border rather than reflected).
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance.processing.solve.camera_maps import mapped_empty
from id2reflectance.processing.solve.config import numba_available

__all__ = ["box_mean", "guided_filter", "guided_filter2"]


def box_mean(img: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1) x (2r+1) window of each pixel (reflected borders), float32, same shape."""
    k = 2 * radius + 1
    return cv2.boxFilter(img, cv2.CV_32F, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def _resize(img: np.ndarray, shape: tuple[int, int], interp: int) -> np.ndarray:
    """cv2.resize of an (h, w) or (h, w, C) float32 array to ``shape`` (any channel count)."""
    h, w = shape
    if img.ndim == 2 or img.shape[2] <= 4:
        out = cv2.resize(img, (w, h), interpolation=interp)
        return out if img.ndim == 2 or out.ndim == 3 else out[..., None]
    return np.concatenate([_resize(img[..., c : c + 4], shape, interp) for c in range(0, img.shape[2], 4)], axis=2)


def _same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the float32 arrays ``a`` and ``b`` (H, W) are views of the same pixels (same memory,
    shape and strides)."""
    return (
        a.dtype == b.dtype == np.float32
        and a.shape == b.shape
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def guided_filter(
    guide: np.ndarray, src: np.ndarray, *, radius: int, eps: float, subsample: int = 1, out: np.ndarray | None = None
) -> np.ndarray:
    """Guided filter of ``src`` (every channel) by the single-channel ``guide``.

    Parameters
    ----------
    guide : (H, W) float32, e.g. the luminance of the full-on cross-polarised frame
        (linear relative radiance).
    src : (H, W) or (H, W, C) float32, any linear quantity (frames, specular planes).
    radius : window radius, pixels (>= 1).
    eps : regularisation in guide units squared (about the guide's noise variance: edges
        with a larger local variance are kept).
    subsample : grid step of the coefficients (1: exact guided filter).
    out : where to write the result (same shape as ``src``, float32); may be ``src``
        itself (each plane is read whole before it is written). None: a new array.

    Returns
    -------
    Same shape as ``src``, float32 (``out`` when given).
    """
    same = _same_pixels(guide, src)  # a self-guided smoothing: the kernel sums the guide once
    guide = np.ascontiguousarray(guide, np.float32)
    compiled = subsample <= 1 and radius >= 1 and numba_available()
    src = np.asarray(src, np.float32) if compiled else np.ascontiguousarray(src, np.float32)  # the kernel takes strides
    planar = src.ndim == 2
    p = src[..., None] if planar else src
    h, w = guide.shape
    s = max(1, int(subsample))
    if compiled:
        from id2reflectance.processing.solve import guided_kernel  # imports numba: only when used

        dst = mapped_empty(p.shape, np.float32) if out is None else (out[..., None] if planar else out)
        guided_kernel.guided_filter_planes(guide, p, int(radius), float(eps), dst, self_guided=same)
        return dst[..., 0] if planar else dst
    if s > 1:
        small = ((h + s - 1) // s, (w + s - 1) // s)
        g = cv2.resize(guide, small[::-1], interpolation=cv2.INTER_AREA)
        ps = _resize(p, small, cv2.INTER_AREA)
        r = max(1, radius // s)
    else:
        g, ps, r = guide, p, radius
    mean_i = box_mean(g, r)
    var_i = box_mean(g * g, r) - mean_i * mean_i
    mean_p = box_mean(ps, r).reshape(ps.shape)
    cov = box_mean(ps * g[..., None], r).reshape(ps.shape) - mean_i[..., None] * mean_p
    a = cov / (np.maximum(var_i, 0.0) + np.float32(eps))[..., None]
    b = mean_p - a * mean_i[..., None]
    mean_a = box_mean(a, r).reshape(a.shape)
    mean_b = box_mean(b, r).reshape(b.shape)
    if s > 1:
        mean_a = _resize(mean_a, (h, w), cv2.INTER_LINEAR)
        mean_b = _resize(mean_b, (h, w), cv2.INTER_LINEAR)
    res = mean_a * guide[..., None]
    res += mean_b
    res = res[..., 0] if planar else res
    if out is None:
        return res
    np.copyto(out, res)
    return out


def guided_filter2(
    guide1: np.ndarray,
    guide2: np.ndarray,
    src: np.ndarray,
    *,
    radius: int,
    eps1: float,
    eps2: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Guided filter with two guides: in every window ``src ~ a1 * guide1 + a2 * guide2 + b``.

    Keeps the edges of either guide (e.g. an albedo edge of the full-on image and the
    normal detail of a first moment). ``eps1``, ``eps2`` penalise ``a1``, ``a2`` (each
    guide's units squared).

    Parameters
    ----------
    guide1, guide2 : (H, W) float32. src : (H, W, C) float32. radius : >= 1 pixels.
    out : (H, W, C) float32 destination, may be ``src`` itself; None: a new array.

    Returns
    -------
    (H, W, C) float32 (``out`` when given).
    """
    g1 = np.ascontiguousarray(guide1, np.float32)
    g2 = np.ascontiguousarray(guide2, np.float32)
    h, w = g1.shape
    if numba_available():
        from id2reflectance.processing.solve import guided_kernel  # imports numba: only when used

        dst = mapped_empty(src.shape, np.float32) if out is None else out
        guided_kernel.guided_filter_planes2(
            g1, g2, np.asarray(src, np.float32), int(radius), float(eps1), float(eps2), dst
        )
        return dst
    p = np.ascontiguousarray(src, np.float32)
    out = np.empty(p.shape, np.float32) if out is None else out
    m1, m2 = box_mean(g1, radius), box_mean(g2, radius)
    v11 = box_mean(g1 * g1, radius) - m1 * m1 + np.float32(eps1)
    v22 = box_mean(g2 * g2, radius) - m2 * m2 + np.float32(eps2)
    v12 = box_mean(g1 * g2, radius) - m1 * m2
    det = np.maximum(v11 * v22 - v12 * v12, np.float32(1e-30))
    for c in range(p.shape[2]):
        q = np.ascontiguousarray(p[..., c])
        mp = box_mean(q, radius)
        c1 = box_mean(g1 * q, radius) - m1 * mp
        c2 = box_mean(g2 * q, radius) - m2 * mp
        a1 = (v22 * c1 - v12 * c2) / det
        a2 = (v11 * c2 - v12 * c1) / det
        b = mp - a1 * m1 - a2 * m2
        out[..., c] = box_mean(a1, radius) * g1 + box_mean(a2, radius) * g2 + box_mean(b, radius)
    return out
