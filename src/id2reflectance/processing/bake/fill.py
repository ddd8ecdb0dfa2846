"""Fill UV texels that no camera saw: gutter padding and smooth hole filling.

* :func:`dilate` copies the nearest known texel into unknown texels within a few texels
  (padding into the gutters between UV islands, so bilinear and mip-mapped lookups at
  island borders read valid values);
* :func:`push_pull` fills every remaining unknown texel from a weighted image pyramid
  (push: 2x2 weighted means down to 1 x 1; pull: bilinear up-sampling blended into the
  unknown texels level by level), then relaxes the filled texels toward a membrane
  (harmonic) interpolant with a few Jacobi sweeps per pyramid level, so holes are smooth
  and continuous with their borders.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt


def dilate(values: np.ndarray, known: np.ndarray, *, texels: int) -> tuple[np.ndarray, np.ndarray]:
    """Copy the nearest known texel into unknown texels closer than ``texels``.

    Parameters
    ----------
    values : (S, S, C) or (S, S) float map.
    known : (S, S) bool.
    texels : padding width in texels (Euclidean).

    Returns
    -------
    (filled values (same shape and dtype), new known mask (S, S) bool).
    """
    if texels <= 0 or known.all() or not known.any():
        return values.copy(), known.copy()
    dist, (ii, jj) = distance_transform_edt(~known, return_indices=True)
    near = (~known) & (dist <= texels)
    out = values.copy()
    out[near] = values[ii[near], jj[near]]
    return out, known | near


def _down(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 weighted mean (odd sizes padded by edge replication)."""
    h, wd = w.shape
    if h % 2 or wd % 2:
        v = np.pad(v, ((0, h % 2), (0, wd % 2), (0, 0)), mode="edge")
        w = np.pad(w, ((0, h % 2), (0, wd % 2)), mode="constant")
    ws = w[0::2, 0::2] + w[1::2, 0::2] + w[0::2, 1::2] + w[1::2, 1::2]
    wv = v * w[..., None]
    vs = wv[0::2, 0::2] + wv[1::2, 0::2] + wv[0::2, 1::2] + wv[1::2, 1::2]
    return vs / np.maximum(ws, 1e-12)[..., None], np.minimum(ws, 1.0)


def _up(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = cv2.resize(v.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return out.reshape(shape[0], shape[1], v.shape[2])


def _relax(v: np.ndarray, free: np.ndarray, sweeps: int) -> np.ndarray:
    """Jacobi sweeps of the discrete Laplace equation on the ``free`` texels (edges replicate)."""
    if sweeps <= 0 or not free.any():
        return v
    kernel = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)
    out = v.astype(np.float32).copy()
    f = free[..., None]
    for _ in range(sweeps):
        avg = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        if avg.ndim == 2:
            avg = avg[..., None]
        out = np.where(f, avg, out)
    return out


def push_pull(values: np.ndarray, known: np.ndarray, *, sweeps: int = 8) -> np.ndarray:
    """Fill the unknown texels of ``values`` smoothly from the known ones.

    Parameters
    ----------
    values : (S, S, C) or (S, S) float map; unknown texels may hold anything.
    known : (S, S) bool, or float weights in [0, 1] (1 = keep as is).
    sweeps : Jacobi relaxation sweeps per pyramid level on the filled texels.

    Returns
    -------
    Filled map, same shape, float32; known texels (weight 1) unchanged.
    """
    squeeze = values.ndim == 2
    v = np.asarray(values, np.float32)
    if squeeze:
        v = v[..., None]
    w = np.clip(np.asarray(known, np.float32), 0.0, 1.0)
    if not (w > 0).any():
        return np.zeros_like(values, dtype=np.float32)
    v = np.where(w[..., None] > 0, v, 0.0).astype(np.float32)
    levels = [(v, w)]
    while min(levels[-1][1].shape) > 1:
        levels.append(_down(*levels[-1]))
    filled = levels[-1][0]
    for lv, lw in reversed(levels[:-1]):
        up = _up(filled, lw.shape)
        filled = lv * lw[..., None] + up * (1.0 - lw[..., None])
        filled = _relax(filled, lw < 1.0, sweeps)
        # keep the partially known texels' own contribution after relaxing
        filled = np.where((lw > 0)[..., None], lv * lw[..., None] + filled * (1.0 - lw[..., None]), filled)
    out = filled.astype(np.float32)
    return out[..., 0] if squeeze else out


def guided_fill(
    values: np.ndarray,
    weight: np.ndarray,
    targets: np.ndarray,
    reference: np.ndarray,
    *,
    radius: int,
    sigma_log: float,
    max_offsets: int = 169,
    max_log_distance: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``targets`` from the texels around them (not themselves) whose reference
    resembles the target's own (a joint bilateral filter with per-texel weights).

    Per target texel t: ``sum_k c_k w_k values[k] / sum_k c_k w_k`` over the texels k != t
    within ``radius`` texels with ``c_k = weight[k] > 0``, ``w_k = exp(-d^2 / (2 (radius / 2)^2) -
    |log(r_k + e) - log(r_t + e)|^2 / (2 sigma_log^2))``, ``r`` = ``reference``, e = 1e-3.
    Near an albedo edge the texels on the target's side of it dominate; trusted texels
    (weight 1) outweigh doubtful ones where both resemble the target. A target's own value
    never enters: its reference only chooses.
    The exponent is clamped, so when nothing resembles the target the most similar texels
    still dominate. Targets with no candidate within ``radius`` keep ``values``. The
    offsets are thinned to a regular grid of at most ``max_offsets`` (stride >= 1), so the
    cost does not grow with the radius. With ``max_log_distance``, a target whose closest
    candidate's reference lies further than that from its own (Euclidean over the G
    channels of ``log(r + e)``) is left unfilled: nothing around resembles its reference,
    so it picks no side of an edge, and the most similar texels would only give it the
    extreme of its surroundings.

    Parameters
    ----------
    values : (S, S, C) float map (any channels: albedo, roughness, normal offsets...).
    weight : (S, S) float >= 0, each texel's trust as a candidate (0: not one).
    targets : (S, S) bool, texels to fill.
    reference : (S, S, G) float >= 0, the similarity's quantity (linear RGB albedo) at the
        candidates and the targets.
    radius : search radius, texels (>= 1).
    sigma_log : width of the similarity in natural-log units (0.1: about 10 %).
    max_offsets : cap on the offsets visited per target.
    max_log_distance : natural-log units, or None (every target with a candidate is filled).

    Returns
    -------
    ((S, S, C) float32 ``values`` with the filled targets replaced, (S, S) bool the targets
    filled).
    """
    out = np.asarray(values, np.float32).copy()
    done = np.zeros(targets.shape, bool)
    ti, tj = np.nonzero(targets)
    cand = np.asarray(weight, np.float64)
    if ti.size == 0 or not (cand > 0).any() or radius < 1:
        return out, done
    s0, s1 = targets.shape
    stride = max(1, int(np.ceil((2 * radius + 1) / np.sqrt(max_offsets))))
    steps = np.arange(-(radius // stride) * stride, radius + 1, stride)
    sigma_d2 = 2.0 * (radius / 2.0) ** 2
    ref = np.log(np.maximum(np.asarray(reference, np.float32), 0.0) + np.float32(1e-3))
    g = ref[ti, tj].astype(np.float64)
    vals = np.asarray(values)
    num = np.zeros((ti.size, vals.shape[-1]))
    den = np.zeros(ti.size)
    closest = np.full(ti.size, np.inf)  # the least log distance to a candidate, squared / (2 sigma^2)
    for di in steps:
        for dj in steps:
            r2 = float(di * di + dj * dj)
            if r2 > radius * radius or r2 == 0.0:
                continue
            ii, jj = ti + di, tj + dj
            ok = (ii >= 0) & (ii < s0) & (jj >= 0) & (jj < s1)
            ii, jj = np.clip(ii, 0, s0 - 1), np.clip(jj, 0, s1 - 1)
            c = cand[ii, jj] * ok
            dc = np.sum((ref[ii, jj] - g) ** 2, axis=-1) / (2.0 * sigma_log**2)
            w = c * np.exp(-r2 / sigma_d2 - np.minimum(dc, 600.0))
            closest = np.where(c > 0, np.minimum(closest, dc), closest)
            num += w[:, None] * vals[ii, jj]
            den += w
    has = den > 0
    if max_log_distance is not None:
        has &= closest <= max_log_distance**2 / (2.0 * sigma_log**2)
    out[ti[has], tj[has]] = (num[has] / den[has, None]).astype(np.float32)
    done[ti[has], tj[has]] = True
    return out, done
