"""Fused per-pixel solve: one numba kernel computing what the numpy reference computes.

The reference is :func:`~id2reflectance.processing.solve.reference.solve_band` (with
:func:`~id2reflectance.processing.solve.separation.lobe_moments`), about 250 array passes over
each band. :func:`solve_rows` reads every input pixel once from memory and writes every
output once: each thread takes whole image rows (``prange``) and walks a row in chunks of
128 pixels through five short loops whose temporaries stay in a per-thread L1-sized scratch:

1. separation ``D = 2 cross``, ``S = parallel - cross`` (Rec.709 luminance), the lobes'
   first moments, the averaged ``m0``, rotation to world axes;
2. validity, diffuse normals (per channel and the chosen one), albedos, mask;
3. view direction, ``(chord, q)`` of ``m = m1 / m0`` and the inverse table's nearest node;
4. the table read (a gather: the only scalar loop);
5. specular normal ``a v + b m``, the ``n.v > 0`` check, fallbacks.

Short loops without branches (validity and fallbacks are selects, counts are flags summed
per chunk) are what LLVM vectorises (8 float32 lanes with AVX2). The arithmetic is float32
with the reference's operations in the reference's order; the one fast-math flag is
``contract``, which lets LLVM fuse ``a * b + c`` into one FMA instruction (rounded once
instead of twice). The backends therefore agree to about 1e-7 rather than bit for bit (as
they already did where numpy hands a sum to BLAS, the rotation to world axes), which can
move a pixel lying on the boundary between two table nodes to the neighbouring node; the
tests compare maps with that tolerance and the pixel counts exactly.

Compiled on first use, about 15 s (``cache=True`` stores the machine code in
``__pycache__`` beside this file, so later processes only load it, about 1 s);
:func:`warm_up` compiles or loads it up front. The driver that prepares a camera's arrays
for it is :mod:`~id2reflectance.processing.solve.fused`.
"""

from __future__ import annotations

import time

import numpy as np
from numba import config as numba_config
from numba import get_thread_id, njit, prange

from id2reflectance.processing.solve.separation import LUMINANCE_709
from id2reflectance.processing.solve.threads import start_threads

start_threads()  # numba's workers started before any kernel runs: idle ones sleep (threads.py)

FRAME_ORDER = tuple(
    (f"{kind}_{a}" if kind else "full", pol)
    for kind, axes in (("", ("",)), ("gradient", "xyz"), ("inverse", "xyz"))
    for a in axes
    for pol in ("cross", "parallel")
)
"""The 14 frames in the order :func:`solve_rows` takes them (full, gradients, inverses)."""


_CHUNK = 128  # pixels per phase of a row: the scratch (14 KB per thread) stays in L1
(_XR, _YR, _ZR, _XG, _YG, _ZG, _XB, _YB, _ZB, _SX, _SY, _SZ, _SM0, _M0) = range(14)  # scratch planes
(_NX, _NY, _NZ, _VX, _VY, _VZ, _INV_M0, _PRE_OK, _FALLBACK_R, _A, _B, _R) = range(14, 26)
_NBUF = 26  # scratch planes between the phases of a chunk
_FG, _SAT, _VALID, _NEG, _OK = range(5)  # flag rows
_JIT = {"fastmath": {"contract"}, "error_model": "numpy", "cache": True}  # float32; a*b+c may fuse (FMA)


@njit(inline="always", **_JIT)
def _lum(l0: np.float32, l1: np.float32, l2: np.float32, r: np.float32, g: np.float32, b: np.float32) -> np.float32:
    """Rec.709 luminance of one RGB triple, summed as ``x @ LUMINANCE_709``."""
    return l0 * r + l1 * g + l2 * b


@njit(inline="always", **_JIT)
def _max0(x: np.float32) -> np.float32:
    """``np.maximum(x, 0)``: NaN stays NaN."""
    return np.float32(0.0) if x < np.float32(0.0) else x


@njit(inline="always", **_JIT)
def _inverse_length(n2: np.float32) -> np.float32:
    """``1 / sqrt(max(n2, 1e-30))`` in float32 (``reference._inverse_length``)."""
    return np.float32(1.0) / np.sqrt(n2 if n2 > np.float32(1e-30) else np.float32(1e-30))


@njit(inline="always", **_JIT)
def _count(flags: np.ndarray, tid: int, row: int, m: int) -> int:
    """Sum of ``flags[tid, row, :m]`` (uint8 0/1)."""
    total = 0
    for k in range(m):
        total += flags[tid, row, k]
    return total


@njit(parallel=True, **_JIT)
def solve_rows(
    fc: np.ndarray,
    fp: np.ndarray,
    gxc: np.ndarray,
    gxp: np.ndarray,
    gyc: np.ndarray,
    gyp: np.ndarray,
    gzc: np.ndarray,
    gzp: np.ndarray,
    ixc: np.ndarray,
    ixp: np.ndarray,
    iyc: np.ndarray,
    iyp: np.ndarray,
    izc: np.ndarray,
    izp: np.ndarray,
    pixel_step: tuple[int, ...],
    frame_row: int,
    channel_at: np.ndarray,
    inverses: bool,
    mean_m0: bool,
    l2w: np.ndarray,
    lum: np.ndarray,
    weights: np.ndarray,
    r0: int,
    r1: int,
    w: int,
    x_field: np.ndarray,
    y_rows: np.ndarray,
    y_field: np.ndarray,
    rot: np.ndarray,
    saturated: np.ndarray,
    foreground: np.ndarray,
    has_foreground: bool,
    params: np.ndarray,
    cells: np.ndarray,
    table_shape: np.ndarray,
    map_step: tuple[int, ...],
    map_row: int,
    map_at: np.ndarray,
    plane_row: int,
    out_diffuse: np.ndarray,
    out_specular: np.ndarray,
    out_normal_diffuse: np.ndarray,
    out_normal_r: np.ndarray,
    out_normal_g: np.ndarray,
    out_normal_b: np.ndarray,
    out_normal_specular: np.ndarray,
    out_roughness: np.ndarray,
    out_mask: np.ndarray,
    buf: np.ndarray,
    cell_of: np.ndarray,
    flags: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Solve image rows ``r0:r1`` in place; every output pixel of those rows is written.

    Parameters
    ----------
    fc ... izp : the 14 corrected frames in :data:`FRAME_ORDER`, each a flat float32 array
        (read only; possibly 2 bytes off a multiple of 4, which numba types as aligned and x86
        loads at full speed) holding channel ``c`` of pixel ``(i, j)`` at
        ``i * frame_row + j * len(pixel_step) + channel_at[c]``; without inverses, ``full``
        cross/parallel stand in for the inverse frames (first moment ``2 gradient - full``).
    pixel_step : a tuple whose length is the step between a row's pixels, a constant of
        the compiled code (numba compiles one version per tuple length): ``(0, 0, 0)`` for
        C-contiguous (H, W, 3) frames (``frame_row = 3 W``, ``channel_at`` 0, 1, 2 and
        taken as those constants), ``(0,)`` for rows of channel planes, e.g. views of
        uncompressed EXR files (``exr_plain.file_view``: ``frame_row`` the line's values,
        ``channel_at`` 2 W, W, 0 from the ``B`` plane; a row's values are then consecutive
        and loaded 8 at a time).
    frame_row : values between the starts of consecutive rows of a frame.
    channel_at : (3,) int64 offset of the R, G and B values of a row's first pixel.
    inverses : True: first moment ``gradient - inverse``; False: ``2 gradient - full``.
    mean_m0 : use the inverse-variance mean of the four ``m0`` estimates for ``m1 / m0``.
    l2w : (3, 3) float32 light-stage to world rotation (identity: no rotation).
    lum : (3,) float32 Rec.709 luminance weights.
    weights : (3,) float32, 1 for the channels summed into the chosen diffuse normal.
    r0, r1 : the band's image rows; w : image width W.
    x_field : ((r1 - r0) * W or W,) float32 normalised image x of the band's rows (flat).
    y_rows : (r1 - r0,) float32 and y_field : ((r1 - r0) * W or W,) float32: normalised
        image y = ``y_rows[t] + y_field[t * W + j]`` (one of the two is zero).
    rot : (3, 3) float32 rows ``-R[0]``, ``-R[1]``, ``R[2]`` of the camera rotation.
    saturated, foreground : (H * W,) uint8 views of the bool masks (``foreground``
        unused unless ``has_foreground``).
    params : (4,) float32 ``min_diffuse, min_specular, m0 floor, default_roughness``.
    cells : (C * Q * 4,) float32 inverse table (flat); table_shape : (2,) int64 ``(C, Q)``.
    map_step, map_row, map_at : where the three-component maps hold their values, as
        ``pixel_step``, ``frame_row`` and ``channel_at`` for the frames: ``(0, 0, 0)``,
        ``3 W``, 0, 1, 2 for C-contiguous (H, W, 3) maps, ``(0,)`` for rows of channel
        planes (maps mapped straight from their files: ``exr_plain.mapped_lines``).
    plane_row : values between the starts of consecutive rows of ``out_specular`` and
        ``out_roughness`` (W for C-contiguous (H, W) maps).
    out_* : the ``CameraMaps`` arrays as flat arrays, written at rows ``r0:r1``
        (``out_mask`` a C-contiguous uint8 view). Flat arrays keep the address arithmetic
        to one index per value. A C-contiguous three-component map may be a gradient or
        inverse frame's own memory: a pixel's outputs are written only after all its frame
        values were read (phase 1 reads every frame of the chunk; only the ``full`` frames
        are read again), and a pixel's map values occupy exactly that pixel's frame values.
    buf, cell_of, flags : per-thread scratch (:func:`scratch_buffers`), first axis
        at least ``numba.get_num_threads()``.

    Returns
    -------
    ``(foreground, saturated, valid, specular_ok, negative_specular)`` pixel counts.
    """
    f32 = np.float32
    zero = f32(0.0)
    one = f32(1.0)
    two = f32(2.0)
    half = f32(0.5)
    inv25 = f32(1.0 / 2.5)
    big = f32(1e12)
    magic = f32(8388608.0)  # 2^23: (x + 2^23) - 2^23 rounds half to even, as np.rint, for 0 <= x < 2^23
    grad = one if inverses else two
    l0, l1, l2 = lum[0], lum[1], lum[2]
    w0, w1, w2 = weights[0], weights[1], weights[2]
    a00, a01, a02 = l2w[0, 0], l2w[0, 1], l2w[0, 2]
    a10, a11, a12 = l2w[1, 0], l2w[1, 1], l2w[1, 2]
    a20, a21, a22 = l2w[2, 0], l2w[2, 1], l2w[2, 2]
    p00, p01, p02 = rot[0, 0], rot[0, 1], rot[0, 2]
    p10, p11, p12 = rot[1, 0], rot[1, 1], rot[1, 2]
    p20, p21, p22 = rot[2, 0], rot[2, 1], rot[2, 2]
    min_diffuse, min_specular, m0_floor, default_roughness = params[0], params[1], params[2], params[3]
    n_q = table_shape[1]
    scale_c = f32((table_shape[0] - 1) / 2.0)
    scale_q = f32(n_q - 1)
    max_c = f32(table_shape[0] - 1)
    max_q = f32(n_q - 1)
    f_nq = f32(n_q)
    last = np.int32(cells.shape[0] // 4 - 1)
    every_pixel = np.uint8(0 if has_foreground else 1)
    x_step = w if x_field.shape[0] > w else 0  # flat (rows * W) or one row (W)
    y_step = w if y_field.shape[0] > w else 0
    ps = len(pixel_step)  # a compile-time constant
    at_r = np.uint64(0) if ps == 3 else np.uint64(channel_at[0])
    at_g = np.uint64(1) if ps == 3 else np.uint64(channel_at[1])
    at_b = np.uint64(2) if ps == 3 else np.uint64(channel_at[2])
    f_row = np.uint64(3 * w) if ps == 3 else np.uint64(frame_row)
    ms = len(map_step)  # a compile-time constant
    to_x = np.uint64(0) if ms == 3 else np.uint64(map_at[0])
    to_y = np.uint64(1) if ms == 3 else np.uint64(map_at[1])
    to_z = np.uint64(2) if ms == 3 else np.uint64(map_at[2])
    m_row = np.uint64(3 * w) if ms == 3 else np.uint64(map_row)
    p_row = np.uint64(w) if ms == 3 else np.uint64(plane_row)
    n_fg = 0
    n_sat = 0
    n_valid = 0
    n_ok = 0
    n_neg = 0
    for t in prange(r1 - r0):
        i = r0 + t
        xt = t * x_step
        yt = t * y_step
        y_row = y_rows[t]
        tid = get_thread_id()  # this thread's scratch
        f_start = np.uint64(i) * f_row
        m_start = np.uint64(i) * m_row
        p_start = np.uint64(i) * p_row
        for j0 in range(0, w, _CHUNK):
            m = min(_CHUNK, w - j0)
            # ---- phase 1: separation and moments (separation.lobe_moments), rotated to world axes
            for jj in range(m):
                c = np.uint64(jj)
                fq = f_start + np.uint64(ps) * np.uint64(j0 + jj)
                k0 = fq + at_r
                k1 = fq + at_g
                k2 = fq + at_b
                cr, cg, cb = fc[k0], fc[k1], fc[k2]
                s_m0 = _lum(l0, l1, l2, fp[k0] - cr, fp[k1] - cg, fp[k2] - cb)
                # per axis: cross first moment t = grad * gradient - (inverse or full), D = 2 t
                tr = gxc[k0] * grad - ixc[k0]
                tg = gxc[k1] * grad - ixc[k1]
                tb = gxc[k2] * grad - ixc[k2]
                ur = gxp[k0] * grad - ixp[k0]
                ug = gxp[k1] * grad - ixp[k1]
                ub = gxp[k2] * grad - ixp[k2]
                sx = _lum(l0, l1, l2, ur, ug, ub) - _lum(l0, l1, l2, tr, tg, tb)
                qx = _lum(
                    l0,
                    l1,
                    l2,
                    gxp[k0] + ixp[k0] - gxc[k0] - ixc[k0],
                    gxp[k1] + ixp[k1] - gxc[k1] - ixc[k1],
                    gxp[k2] + ixp[k2] - gxc[k2] - ixc[k2],
                )
                xr, xg, xb = tr * two, tg * two, tb * two
                tr = gyc[k0] * grad - iyc[k0]
                tg = gyc[k1] * grad - iyc[k1]
                tb = gyc[k2] * grad - iyc[k2]
                ur = gyp[k0] * grad - iyp[k0]
                ug = gyp[k1] * grad - iyp[k1]
                ub = gyp[k2] * grad - iyp[k2]
                sy = _lum(l0, l1, l2, ur, ug, ub) - _lum(l0, l1, l2, tr, tg, tb)
                qy = _lum(
                    l0,
                    l1,
                    l2,
                    gyp[k0] + iyp[k0] - gyc[k0] - iyc[k0],
                    gyp[k1] + iyp[k1] - gyc[k1] - iyc[k1],
                    gyp[k2] + iyp[k2] - gyc[k2] - iyc[k2],
                )
                yr, yg, yb = tr * two, tg * two, tb * two
                tr = gzc[k0] * grad - izc[k0]
                tg = gzc[k1] * grad - izc[k1]
                tb = gzc[k2] * grad - izc[k2]
                ur = gzp[k0] * grad - izp[k0]
                ug = gzp[k1] * grad - izp[k1]
                ub = gzp[k2] * grad - izp[k2]
                sz = _lum(l0, l1, l2, ur, ug, ub) - _lum(l0, l1, l2, tr, tg, tb)
                qz = _lum(
                    l0,
                    l1,
                    l2,
                    gzp[k0] + izp[k0] - gzc[k0] - izc[k0],
                    gzp[k1] + izp[k1] - gzc[k1] - izc[k1],
                    gzp[k2] + izp[k2] - gzc[k2] - izc[k2],
                )
                zr, zg, zb = tr * two, tg * two, tb * two
                # averaged m0: (S_full + sum_a (S_ga + S_ia) / 2) / 2.5
                s_sum = s_m0 + qx * half
                s_sum = s_sum + qy * half
                s_sum = s_sum + qz * half
                buf[tid, _M0, c] = s_sum * inv25 if mean_m0 else s_m0
                buf[tid, _SM0, c] = s_m0
                # rotation to world axes (identity when the rig is not rotated)
                buf[tid, _XR, c] = a00 * xr + a01 * yr + a02 * zr
                buf[tid, _YR, c] = a10 * xr + a11 * yr + a12 * zr
                buf[tid, _ZR, c] = a20 * xr + a21 * yr + a22 * zr
                buf[tid, _XG, c] = a00 * xg + a01 * yg + a02 * zg
                buf[tid, _YG, c] = a10 * xg + a11 * yg + a12 * zg
                buf[tid, _ZG, c] = a20 * xg + a21 * yg + a22 * zg
                buf[tid, _XB, c] = a00 * xb + a01 * yb + a02 * zb
                buf[tid, _YB, c] = a10 * xb + a11 * yb + a12 * zb
                buf[tid, _ZB, c] = a20 * xb + a21 * yb + a22 * zb
                buf[tid, _SX, c] = a00 * sx + a01 * sy + a02 * sz
                buf[tid, _SY, c] = a10 * sx + a11 * sy + a12 * sz
                buf[tid, _SZ, c] = a20 * sx + a21 * sy + a22 * sz
            # ---- phase 2: validity, diffuse normals and albedos
            for jj in range(m):
                c = np.uint64(jj)
                p = np.uint64(i * w + j0 + jj)
                fq = f_start + np.uint64(ps) * np.uint64(j0 + jj)
                dr, dg, db = fc[fq + at_r] * two, fc[fq + at_g] * two, fc[fq + at_b] * two
                o = m_start + np.uint64(ms) * np.uint64(j0 + jj)
                k0 = o + to_x
                k1 = o + to_y
                k2 = o + to_z
                o1 = p_start + np.uint64(j0 + jj)
                xr, yr, zr = buf[tid, _XR, c], buf[tid, _YR, c], buf[tid, _ZR, c]
                xg, yg, zg = buf[tid, _XG, c], buf[tid, _YG, c], buf[tid, _ZG, c]
                xb, yb, zb = buf[tid, _XB, c], buf[tid, _YB, c], buf[tid, _ZB, c]
                s_m0 = buf[tid, _SM0, c]
                nx = w0 * xr + w1 * xg + w2 * xb
                ny = w0 * yr + w1 * yg + w2 * yb
                nz = w0 * zr + w1 * zg + w2 * zb
                inv_n = _inverse_length(nx * nx + ny * ny + nz * nz)
                fg = (foreground[p] | every_pixel) != np.uint8(0)
                unsat = saturated[p] == np.uint8(0)
                sat = fg & (not unsat)
                valid = (_lum(l0, l1, l2, dr, dg, db) > min_diffuse) & (inv_n < big) & fg & unsat
                flags[tid, _FG, c] = np.uint8(fg)
                flags[tid, _SAT, c] = np.uint8(sat)
                flags[tid, _VALID, c] = np.uint8(valid)
                flags[tid, _NEG, c] = np.uint8(valid & (s_m0 < zero))
                out_mask[p] = np.uint8(valid)
                inv_n = inv_n if valid else zero
                nx, ny, nz = nx * inv_n, ny * inv_n, nz * inv_n
                buf[tid, _NX, c] = nx
                buf[tid, _NY, c] = ny
                buf[tid, _NZ, c] = nz
                out_normal_diffuse[k0] = nx
                out_normal_diffuse[k1] = ny
                out_normal_diffuse[k2] = nz
                inv_c = _inverse_length(xr * xr + yr * yr + zr * zr)
                inv_c = inv_c if valid else zero
                out_normal_r[k0] = xr * inv_c
                out_normal_r[k1] = yr * inv_c
                out_normal_r[k2] = zr * inv_c
                inv_c = _inverse_length(xg * xg + yg * yg + zg * zg)
                inv_c = inv_c if valid else zero
                out_normal_g[k0] = xg * inv_c
                out_normal_g[k1] = yg * inv_c
                out_normal_g[k2] = zg * inv_c
                inv_c = _inverse_length(xb * xb + yb * yb + zb * zb)
                inv_c = inv_c if valid else zero
                out_normal_b[k0] = xb * inv_c
                out_normal_b[k1] = yb * inv_c
                out_normal_b[k2] = zb * inv_c
                keep = one if valid else zero  # inlined calls stay outside conditionals (vectorisable)
                out_diffuse[k0] = _max0(dr) * keep
                out_diffuse[k1] = _max0(dg) * keep
                out_diffuse[k2] = _max0(db) * keep
                out_specular[o1] = _max0(s_m0) * keep
                m0 = buf[tid, _M0, c]
                buf[tid, _PRE_OK, c] = one if valid & (s_m0 > min_specular) & (m0 > min_specular) else zero
                buf[tid, _FALLBACK_R, c] = default_roughness if valid else zero
            # ---- phase 3: view direction (reference.view_directions), m = m1 / m0 as (chord, q)
            # and the nearest node of the inverse table
            for jj in range(m):
                c = np.uint64(jj)
                u = x_field[np.uint64(xt + j0 + jj)]
                v = y_row + y_field[np.uint64(yt + j0 + jj)]
                vx = u * p00 + v * p10 - p20
                vy = u * p01 + v * p11 - p21
                vz = u * p02 + v * p12 - p22
                inv_v = one / np.sqrt(vx * vx + vy * vy + vz * vz)
                vx, vy, vz = vx * inv_v, vy * inv_v, vz * inv_v
                buf[tid, _VX, c] = vx
                buf[tid, _VY, c] = vy
                buf[tid, _VZ, c] = vz
                sx, sy, sz, m0 = buf[tid, _SX, c], buf[tid, _SY, c], buf[tid, _SZ, c], buf[tid, _M0, c]
                inv_len = _inverse_length(sx * sx + sy * sy + sz * sz)
                chord = (sx * vx + sy * vy + sz * vz) * inv_len
                chord = np.sqrt(_max0(chord * f32(-2.0) + two))
                inv_m0 = one / (m0 if m0 > m0_floor else m0_floor)
                buf[tid, _INV_M0, c] = inv_m0
                q = np.sqrt(np.sqrt(_max0(one - inv_m0 / inv_len)))
                ci = min(max(chord * scale_c, zero), max_c) + magic - magic
                qi = min(max(q * scale_q, zero), max_q) + magic - magic
                fi = ci * f_nq + qi
                node = np.int32(0) if fi != fi else min(max(np.int32(fi), np.int32(0)), last)
                cell_of[tid, c] = node  # int32: 8 lanes per vector
            # ---- phase 4 (scalar): read the table's nodes
            for jj in range(m):
                c = np.uint64(jj)
                k = np.uint64(4) * np.uint64(cell_of[tid, c])
                buf[tid, _A, c] = cells[k]
                buf[tid, _B, c] = cells[k + np.uint64(1)]
                buf[tid, _R, c] = cells[k + np.uint64(2)]
            # ---- phase 5: specular normal n = a v + b m, checks and fallbacks
            for jj in range(m):
                c = np.uint64(jj)
                sx, sy, sz = buf[tid, _SX, c], buf[tid, _SY, c], buf[tid, _SZ, c]
                vx, vy, vz = buf[tid, _VX, c], buf[tid, _VY, c], buf[tid, _VZ, c]
                b_m = buf[tid, _B, c] * buf[tid, _INV_M0, c]
                a_v = buf[tid, _A, c]
                mx = sx * b_m + vx * a_v
                my = sy * b_m + vy * a_v
                mz = sz * b_m + vz * a_v
                inv_s = _inverse_length(mx * mx + my * my + mz * mz)
                mx, my, mz = mx * inv_s, my * inv_s, mz * inv_s
                ok = (buf[tid, _PRE_OK, c] > zero) & ((mx * vx + my * vy + mz * vz) > zero)
                flags[tid, _OK, c] = np.uint8(ok)
                o = m_start + np.uint64(ms) * np.uint64(j0 + jj)
                out_normal_specular[o + to_x] = mx if ok else buf[tid, _NX, c]
                out_normal_specular[o + to_y] = my if ok else buf[tid, _NY, c]
                out_normal_specular[o + to_z] = mz if ok else buf[tid, _NZ, c]
                out_roughness[p_start + np.uint64(j0 + jj)] = buf[tid, _R, c] if ok else buf[tid, _FALLBACK_R, c]
            n_fg += _count(flags, tid, _FG, m)
            n_sat += _count(flags, tid, _SAT, m)
            n_valid += _count(flags, tid, _VALID, m)
            n_neg += _count(flags, tid, _NEG, m)
            n_ok += _count(flags, tid, _OK, m)
    return n_fg, n_sat, n_valid, n_ok, n_neg


def warm_up(*, planar_maps: bool = False) -> float:
    """Compile :func:`solve_rows` (or load it from the cache) on a 2 x 2 image, for the two
    layouts a solve takes: C-contiguous frames and maps (TIFF, RAW, compressed EXR frames:
    the maps in the frames' memory), and frames in rows of planes (views of uncompressed EXR
    files) with maps in rows of planes (``planar_maps``: mapped files) or C-contiguous;
    returns seconds."""
    t = time.perf_counter()
    f32 = np.float32
    img = np.zeros(12, f32)
    img.flags.writeable = False
    planes = np.zeros(16, f32)
    planes.flags.writeable = False
    mask = np.zeros(4, np.uint8)
    contiguous = ((0, 0, 0), 6, np.arange(3), 2)
    rows_of_planes = ((0,), 8, np.array([4, 2, 0]), 4)
    variants = (
        (img, ((0, 0, 0), 6, np.arange(3)), contiguous),
        (planes, ((0,), 8, np.array([4, 2, 0])), rows_of_planes if planar_maps else contiguous),
    )
    for frame, layout, maps in variants:
        solve_rows(
            *(frame for _ in FRAME_ORDER),
            *layout,
            True,
            True,
            np.eye(3, dtype=f32),
            LUMINANCE_709,
            np.array([0, 1, 1], f32),
            0,
            2,
            2,
            np.zeros(2, f32),
            np.zeros(2, f32),
            np.zeros(2, f32),
            np.eye(3, dtype=f32),
            mask,
            mask,
            False,
            np.array([1e-3, 1e-4, 1e-4, 0.4], f32),
            np.zeros(16, f32),
            np.array([2, 2], np.int64),
            *maps,
            np.empty(16, f32),
            np.empty(8, f32),
            np.empty(16, f32),
            np.empty(16, f32),
            np.empty(16, f32),
            np.empty(16, f32),
            np.empty(16, f32),
            np.empty(8, f32),
            np.empty(4, np.uint8),
            *scratch_buffers(int(numba_config.NUMBA_NUM_THREADS)),
        )
    return time.perf_counter() - t


def scratch_buffers(threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-thread scratch of :func:`solve_rows`: values, table nodes and flags of one chunk."""
    return (
        np.empty((threads, _NBUF, _CHUNK), np.float32),
        np.empty((threads, _CHUNK), np.int32),
        np.empty((threads, 5, _CHUNK), np.uint8),
    )
