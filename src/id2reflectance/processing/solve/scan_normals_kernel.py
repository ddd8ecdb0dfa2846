"""Compiled passes of :mod:`~id2reflectance.processing.solve.scan_normals` (numba).

The fusion's numpy version works on (h, w, 3) fields: every product with a per-pixel weight
broadcasts a (h, w, 1) array over an inner axis of length 3 (numpy's slowest loop, about ten
times the cost per value of a plain product on this machine), and each step makes a box-sized
temporary (on this virtual machine every fresh page costs a fault). Here:

* :func:`upsample_scan` interpolates the scan's ray-cast fields (normal, cosine to the view, hit)
  bilinearly from the ray grid to every pixel and normalises the normal, in one pass (was
  ``cv2.remap`` of a five-channel image, its coordinate grids and three more passes);
* :func:`masked_planes` writes the region's weight and the three weighted fields as ten
  contiguous (h, w) float32 planes, which ``cv2.GaussianBlur`` then low-passes plane by plane;
* :func:`fuse_rows` evaluates, per pixel, the gate and the fused normal from the low-passed
  planes (nothing else is stored: the low-passes, the high band and the gate's cosines are
  per-pixel values).

The arithmetic is float32 in the numpy version's order (no fast-math contraction), so the two
agree to float32 rounding. Rows run in parallel threads; compiled on first use and cached on
disk beside this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from id2reflectance.processing.solve.threads import start_threads

start_threads()  # numba's workers started before any kernel runs: idle ones sleep (threads.py)

_JIT = {"error_model": "numpy", "cache": True}

PLANES = 10
"""The planes of :func:`masked_planes`: the weight, then diffuse, specular and scan (x, y, z) times it."""


@njit(parallel=True, **_JIT)
def upsample_scan(fields: np.ndarray, step: int, normals: np.ndarray, hit: np.ndarray, cos_view: np.ndarray) -> None:
    """The scan's fields at every pixel of a window from its rays every ``step`` pixels.

    Parameters
    ----------
    fields : (R, C, 5) float32, per ray (row-major, the first ray at the window's corner): the unit
        normal (3), the absolute cosine to the view, 1 where the ray hit (0 where not).
    step : rays every ``step`` pixels, rows and columns; the grid reaches at or past the window.
    normals : (h, w, 3) float32 output: the bilinear interpolation of the normals, normalised
        (lengths under 1e-12 left as they are).
    hit : (h, w) bool output: the interpolated hit above 0.999 (every ray with a weight hit).
    cos_view : (h, w) float32 output: the interpolated cosine.
    """
    h, w = hit.shape
    rmax, cmax = fields.shape[0] - 1, fields.shape[1] - 1
    f32 = np.float32
    one, tiny, thresh = f32(1.0), f32(1e-12), f32(0.999)
    inv = one / f32(step)
    for i in prange(h):
        y = f32(i) * inv
        i0 = i // step
        fy = y - f32(i0)
        i1 = min(i0 + 1, rmax)
        for j in range(w):
            j0 = j // step
            fx = f32(j) * inv - f32(j0)
            j1 = min(j0 + 1, cmax)
            w00 = (one - fy) * (one - fx)
            w01 = (one - fy) * fx
            w10 = fy * (one - fx)
            w11 = fy * fx
            v0 = fields[i0, j0, 0] * w00 + fields[i0, j1, 0] * w01 + fields[i1, j0, 0] * w10 + fields[i1, j1, 0] * w11
            v1 = fields[i0, j0, 1] * w00 + fields[i0, j1, 1] * w01 + fields[i1, j0, 1] * w10 + fields[i1, j1, 1] * w11
            v2 = fields[i0, j0, 2] * w00 + fields[i0, j1, 2] * w01 + fields[i1, j0, 2] * w10 + fields[i1, j1, 2] * w11
            v3 = fields[i0, j0, 3] * w00 + fields[i0, j1, 3] * w01 + fields[i1, j0, 3] * w10 + fields[i1, j1, 3] * w11
            v4 = fields[i0, j0, 4] * w00 + fields[i0, j1, 4] * w01 + fields[i1, j0, 4] * w10 + fields[i1, j1, 4] * w11
            n = np.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
            n = n if n > tiny else tiny
            normals[i, j, 0] = v0 / n
            normals[i, j, 1] = v1 / n
            normals[i, j, 2] = v2 / n
            cos_view[i, j] = v3
            hit[i, j] = v4 > thresh


@njit(parallel=True, **_JIT)
def masked_planes(
    diffuse: np.ndarray, specular: np.ndarray, scan: np.ndarray, region: np.ndarray, planes: np.ndarray
) -> None:
    """The region's weight and the three fields times it, as planes.

    Parameters
    ----------
    diffuse, specular, scan : (h, w, 3) float32 unit normals (any strides).
    region : (h, w) bool, the pixels whose fields enter the low-passes.
    planes : (10, h, w) float32 output: the weight (1 or 0), then diffuse, specular and scan x, y, z
        (0 outside the region).
    """
    h, w = region.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for i in prange(h):
        for j in range(w):
            if region[i, j]:
                planes[0, i, j] = one
                for c in range(3):
                    planes[1 + c, i, j] = diffuse[i, j, c]
                    planes[4 + c, i, j] = specular[i, j, c]
                    planes[7 + c, i, j] = scan[i, j, c]
            else:
                for k in range(10):
                    planes[k, i, j] = zero


def half_shape(h: int, w: int, offset: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of :func:`decimate2`'s grid of an (h, w) window at ``offset`` (its origin's
    row and column parity in the image)."""
    return (h + offset[0] + 1) // 2, (w + offset[1] + 1) // 2


@njit(parallel=True, **_JIT)
def decimate2(planes: np.ndarray, oy: int, ox: int, out: np.ndarray) -> None:
    """Means of the image's 2 x 2 pixel blocks (pixels past the window count as 0, as the Gaussians' border).

    Parameters
    ----------
    planes : (P, h, w) float32, a window of the image.
    oy, ox : the window origin's row and column parity in the image (0 or 1): the blocks start at the
        image's even rows and columns, whatever the window (the result does not depend on where it is cut).
    out : (P, *:func:`half_shape`) float32 output; block ``(I, J)`` is centred on window pixel
        ``(2 I - oy + 0.5, 2 J - ox + 0.5)``.
    """
    n, h, w = planes.shape
    quarter, zero = np.float32(0.25), np.float32(0.0)
    for I in prange(out.shape[1]):  # noqa: E741
        for J in range(out.shape[2]):
            for k in range(n):
                acc = zero
                for i in range(2 * I - oy, 2 * I - oy + 2):
                    if 0 <= i < h:
                        for j in range(2 * J - ox, 2 * J - ox + 2):
                            if 0 <= j < w:
                                acc += planes[k, i, j]
                out[k, I, J] = acc * quarter


@njit(inline="always", **_JIT)
def _half_weights(i, n, off, factor):  # noqa: ANN001, ANN202
    """(lower node, upper node, upper weight) of window pixel ``i`` on the gate's grid of ``n`` nodes:
    ``factor`` 1 the pixel itself, 2 :func:`decimate2`'s blocks (window offset ``off``; clamped)."""
    zero = np.float32(0.0)
    if factor == 1:
        return np.int64(i), np.int64(i), zero
    y = (np.float32(i + off) - np.float32(0.5)) * np.float32(0.5)
    if y <= zero:
        return np.int64(0), np.int64(0), zero
    i0 = np.int64(y)
    if i0 >= n - 1:
        return np.int64(n - 1), np.int64(n - 1), zero
    return i0, i0 + 1, y - np.float32(i0)


@njit(inline="always", **_JIT)
def _at(grid, k, a0, a1, fa, b0, b1, fb):  # noqa: ANN001, ANN202
    """Bilinear value of plane ``k`` of ``grid`` between rows a0, a1 (weight fa of a1) and columns b0, b1."""
    one = np.float32(1.0)
    top = grid[k, a0, b0] * (one - fb) + grid[k, a0, b1] * fb
    bottom = grid[k, a1, b0] * (one - fb) + grid[k, a1, b1] * fb
    return top * (one - fa) + bottom * fa


@njit(parallel=True, **_JIT)
def gate_samples(gate: np.ndarray, grid: np.ndarray, rows: np.ndarray, cols: np.ndarray, out: np.ndarray) -> None:
    """The normalised gate low-passes of :func:`fuse_rows` at chosen pixels.

    Parameters
    ----------
    gate, grid : as :func:`fuse_rows`.
    rows, cols : (n,) int64 pixel rows and columns of the window.
    out : (n, 9) float32 output: diffuse, specular, scan (x, y, z), each plane over the weight's.
    """
    eps, one = np.float32(1e-6), np.float32(1.0)
    for m in prange(rows.shape[0]):
        a0, a1, fa = _half_weights(rows[m], gate.shape[1], grid[1], grid[0])
        b0, b1, fb = _half_weights(cols[m], gate.shape[2], grid[2], grid[0])
        wg = _at(gate, 0, a0, a1, fa, b0, b1, fb)
        inv = one / (wg if wg > eps else eps)
        for k in range(9):
            out[m, k] = _at(gate, 1 + k, a0, a1, fa, b0, b1, fb) * inv


@njit(parallel=True, **_JIT)
def fuse_rows(
    photo: np.ndarray,
    region: np.ndarray,
    low: np.ndarray,
    gate: np.ndarray,
    grid: np.ndarray,
    lobe: int,
    params: np.ndarray,
    out: np.ndarray,
    used: np.ndarray,
) -> int:
    """One lobe's fused normals, per pixel, from the low-passed planes.

    Parameters
    ----------
    photo : (h, w, 3) float32, the lobe's photometric unit normals (any strides).
    region : (h, w) bool, the pixels the fusion may use.
    low : (10, h, w) float32, :func:`masked_planes`' planes low-passed at the fusion's sigma
        (unnormalised Gaussians: each field's plane is divided by the weight's).
    gate : (10, h, w) float32, the same planes at the gate's sigma; or on the half-resolution grid
        (:func:`decimate2`, then the Gaussian), interpolated bilinearly.
    grid : (3,) int64: the gate's factor (1: full resolution, 2: half) and the window origin's row and
        column parity (:func:`decimate2`'s ``oy``, ``ox``).
    lobe : the lobe's first plane (1: diffuse, 4: specular); the scan's are 7-9.
    params : (4,) float32: the cosine of the gate (``used``), the cosine of the low band's gate
        (the scan's share), the high band's gain ``a``, the scan's weight ``k``.
    out : (h, w, 3) float32 output: ``normalize(a (p - G p) + G p + k [low gate] (G s - G p))``
        where ``used``, the photometric normal elsewhere.
    used : (h, w) bool output: region pixels whose two gate low-passes agree within the gate.

    Returns
    -------
    The number of ``used`` pixels that also pass the low band's gate (take the scan's share).
    """
    h, w = region.shape
    f32 = np.float32
    one, eps, tiny = f32(1.0), f32(1e-6), f32(1e-12)
    cos_gate, cos_low, gain, weight = params[0], params[1], params[2], params[3]
    count = 0
    for i in prange(h):
        for j in range(w):
            p0, p1, p2 = photo[i, j, 0], photo[i, j, 1], photo[i, j, 2]
            inside = False
            if region[i, j]:
                a0, a1, fa = _half_weights(i, gate.shape[1], grid[1], grid[0])
                b0, b1, fb = _half_weights(j, gate.shape[2], grid[2], grid[0])
                wg = _at(gate, 0, a0, a1, fa, b0, b1, fb)
                inv = one / (wg if wg > eps else eps)
                g0 = _at(gate, lobe, a0, a1, fa, b0, b1, fb) * inv
                g1 = _at(gate, lobe + 1, a0, a1, fa, b0, b1, fb) * inv
                g2 = _at(gate, lobe + 2, a0, a1, fa, b0, b1, fb) * inv
                s0 = _at(gate, 7, a0, a1, fa, b0, b1, fb) * inv
                s1 = _at(gate, 8, a0, a1, fa, b0, b1, fb) * inv
                s2 = _at(gate, 9, a0, a1, fa, b0, b1, fb) * inv
                cos = g0 * s0 + g1 * s1 + g2 * s2
                lengths = np.sqrt(g0 * g0 + g1 * g1 + g2 * g2) * np.sqrt(s0 * s0 + s1 * s1 + s2 * s2)
                inside = cos > cos_gate * lengths
            used[i, j] = inside
            if not inside:
                out[i, j, 0], out[i, j, 1], out[i, j, 2] = p0, p1, p2
                continue
            share = f32(0.0)
            if cos > cos_low * lengths:
                share = weight
                count += 1
            wl = low[0, i, j]
            inv = one / (wl if wl > eps else eps)
            l0, l1, l2 = low[lobe, i, j] * inv, low[lobe + 1, i, j] * inv, low[lobe + 2, i, j] * inv
            c0, c1, c2 = low[7, i, j] * inv, low[8, i, j] * inv, low[9, i, j] * inv
            f0 = (p0 - l0) * gain + l0 + (c0 - l0) * share
            f1 = (p1 - l1) * gain + l1 + (c1 - l1) * share
            f2 = (p2 - l2) * gain + l2 + (c2 - l2) * share
            n = np.sqrt(f0 * f0 + f1 * f1 + f2 * f2)
            n = n if n > tiny else tiny
            out[i, j, 0], out[i, j, 1], out[i, j, 2] = f0 / n, f1 / n, f2 / n
    return count
