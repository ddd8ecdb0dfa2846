"""Reference (numpy) solve of one band of rows: array operations over the band's pixels.

:func:`solve_band` is the reference implementation of the per-pixel solve described in
:mod:`~id2reflectance.processing.solve.solver`; the fused kernel
(:mod:`~id2reflectance.processing.solve.kernel`) repeats its arithmetic operation by
operation. The moments are computed planar (channel-first) so each operation runs on
contiguous planes, and written into the (H, W, 3) maps through transposed views;
temporaries are float32 arrays of the band's size.
"""

from __future__ import annotations

import numpy as np

from id2reflectance.capture.camera import Camera, undistort_pixels
from id2reflectance.capture.frames import CameraFrames
from id2reflectance.processing.solve.camera_maps import CameraMaps, PixelCounts
from id2reflectance.processing.solve.config import DIFFUSE_CHANNELS, SolverConfig
from id2reflectance.processing.solve.roughness_table import InverseTable
from id2reflectance.processing.solve.separation import LUMINANCE_709, LobeMoments, lobe_moments


def view_directions(camera: Camera, rows: slice) -> np.ndarray:
    """Unit vectors from the surface towards the camera for a band of rows.

    Parameters
    ----------
    camera : the calibrated camera (lens distortion removed).
    rows : band of image rows; N = rows * width pixels, row-major.

    Returns
    -------
    (3, N) float32, world axes (minus the undistorted pixel ray directions).
    """
    r0, r1, _ = rows.indices(camera.height)
    w = camera.width
    f32 = np.float32
    xn, yn = normalized_coordinates(camera, rows)
    R = np.asarray(camera.R, np.float64)
    out = np.empty((3, r1 - r0, w), f32)
    for a in range(3):  # d = R^T (xn, yn, 1); v = -d / |d|
        np.multiply(xn, f32(-R[0, a]), out=out[a])
        out[a] += yn * f32(-R[1, a])
        out[a] -= f32(R[2, a])
    out = out.reshape(3, -1)
    norm = _norm2(out)
    np.sqrt(norm, out=norm)
    np.divide(f32(1.0), norm, out=norm)
    out *= norm
    return out


def normalized_coordinates(camera: Camera, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """Undistorted normalised image coordinates ``(x, y)`` of a band of rows.

    Returns
    -------
    xn, yn : float32, broadcastable to (rows, W): ``(1, W)`` and ``(rows, 1)`` for a lens
        without distortion or skew, ``(rows, W)`` otherwise (skew: ``xn`` only).
    """
    r0, r1, _ = rows.indices(camera.height)
    w = camera.width
    f32 = np.float32
    if np.any(np.asarray(camera.dist) != 0):
        jj, ii = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(r0, r1, dtype=np.float64))
        xn, yn = undistort_pixels(np.stack([jj.ravel(), ii.ravel()], axis=1), camera.K, camera.dist)
        xn = xn.reshape(r1 - r0, w).astype(f32)
        yn = yn.reshape(r1 - r0, w).astype(f32)
    else:
        K = camera.K
        yn = ((np.arange(r0, r1, dtype=np.float64) - K[1, 2]) / K[1, 1])[:, None]
        xn = (np.arange(w, dtype=np.float64) - K[0, 2])[None, :] / K[0, 0]
        if K[0, 1] != 0:
            xn = xn - (K[0, 1] / K[0, 0]) * yn
        xn, yn = xn.astype(f32), yn.astype(f32)
    return xn, yn


def _norm2(vec: np.ndarray) -> np.ndarray:
    """Squared length over axis 0 of ``vec`` (3, ...) -> (...) float32."""
    out = np.multiply(vec[0], vec[0])
    tmp = np.multiply(vec[1], vec[1])
    out += tmp
    np.multiply(vec[2], vec[2], out=tmp)
    out += tmp
    return out


def _inverse_length(norm2: np.ndarray) -> np.ndarray:
    """``1 / sqrt(norm2)`` in place; zero lengths give a large finite value, never inf."""
    np.maximum(norm2, np.float32(1e-30), out=norm2)
    np.sqrt(norm2, out=norm2)
    return np.divide(np.float32(1.0), norm2, out=norm2)


def _band(a: np.ndarray, r0: int, r1: int, n: int) -> np.ndarray:
    """Rows ``r0:r1`` of an output map as a view: (H, W) -> (N,), (H, W, 3) -> (3, N); ValueError
    where that needs a copy (maps mapped from their files: the numba backend's only)."""
    band = np.reshape(a[r0:r1], (n, *a.shape[2:]), copy=False)
    return band.T if band.ndim == 2 else band


def _clear_band(maps: CameraMaps, r0: int, r1: int) -> None:
    """Zero every output map at rows ``r0:r1`` (a band without foreground)."""
    for a in (
        maps.diffuse_albedo,
        maps.specular_albedo,
        maps.normal_diffuse,
        maps.normal_diffuse_r,
        maps.normal_diffuse_g,
        maps.normal_diffuse_b,
        maps.normal_specular,
        maps.roughness,
        maps.mask,
    ):
        a[r0:r1] = 0


def _chosen_diffuse_moment(d_m1: np.ndarray, channel: str) -> tuple[np.ndarray, np.ndarray]:
    """The first moment of the chosen channel(s) (3, N) float32 (a new array), and
    ``1 / |moment|`` (N,) float32 (large and finite where it is zero)."""
    chans = DIFFUSE_CHANNELS[channel]
    chosen = d_m1[:, chans[0]].copy()
    for c in chans[1:]:
        chosen += d_m1[:, c]  # first moment of the summed channels
    return chosen, _inverse_length(_norm2(chosen))


def _mask_counts(
    valid: np.ndarray, saturated: np.ndarray, foreground: np.ndarray | None
) -> tuple[np.ndarray, PixelCounts]:
    """The valid pixels (N,) bool, foreground and unsaturated among ``valid``, with the counts.

    ``saturated`` and ``foreground`` : (N,) bool of the band (``foreground`` None: every pixel).
    """
    n = valid.shape[0]
    counts = PixelCounts(pixels=n)
    sat = saturated
    if foreground is not None:
        counts.foreground = int(np.count_nonzero(foreground))
        sat = sat & foreground
        valid = valid & foreground
    else:
        counts.foreground = n
    counts.saturated = int(np.count_nonzero(sat))
    valid = valid & ~sat
    counts.valid = int(np.count_nonzero(valid))
    counts.low_signal = counts.foreground - counts.saturated - counts.valid
    return valid, counts


def _specular_lobe(
    mom: LobeMoments, v: np.ndarray, valid: np.ndarray, config: SolverConfig, table: InverseTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Specular normal and roughness from ``m = m1 / m0`` through the inverse GGX table.

    Parameters
    ----------
    mom : the band's lobe moments; ``mom.specular_m1`` is overwritten (it holds the normal).
    v : (3, N) float32 unit view directions.   valid : (N,) bool valid pixels.

    Returns
    -------
    normal : (3, N) float32 unit specular normal (meaningful where ``ok``).
    roughness : (N,) float32 GGX roughness from the table.
    ok : (N,) bool, valid pixels with enough specular signal and ``n . v > 0``.
    """
    f32 = np.float32
    m1 = mom.specular_m1
    m0 = mom.specular_m0_mean
    ok = valid & (mom.specular_m0 > f32(config.min_specular))
    ok &= m0 > f32(config.min_specular)
    inv_len = _inverse_length(_norm2(m1))  # 1 / |m1|
    chord = np.multiply(m1[0], v[0])
    tmp = np.multiply(m1[1], v[1])
    chord += tmp
    np.multiply(m1[2], v[2], out=tmp)
    chord += tmp
    chord *= inv_len  # cos(phi)
    np.multiply(chord, f32(-2.0), out=chord)
    chord += f32(2.0)
    np.maximum(chord, f32(0.0), out=chord)
    np.sqrt(chord, out=chord)  # |m/|m| - v| = 2 sin(phi/2)
    inv_m0 = np.maximum(m0, f32(max(config.min_specular, 1e-12)))  # bounded: no overflow below
    np.divide(f32(1.0), inv_m0, out=inv_m0)
    q = np.divide(inv_m0, inv_len, out=inv_len)  # |m| = |m1| / m0
    np.subtract(f32(1.0), q, out=q)
    np.maximum(q, f32(0.0), out=q)
    np.sqrt(q, out=q)
    np.sqrt(q, out=q)  # (1 - |m|)^(1/4)
    abr = table.records.take(table.index(chord, q), mode="clip").view(f32).reshape(-1, 4)
    np.multiply(abr[:, 1], inv_m0, out=inv_m0)  # b / m0
    ns = np.multiply(m1, inv_m0, out=m1)
    ns += v * abr[:, 0]
    ns *= _inverse_length(_norm2(ns))
    np.multiply(ns[0], v[0], out=tmp)
    tmp += ns[1] * v[1]
    tmp += ns[2] * v[2]
    ok &= tmp > f32(0.0)  # n.v > 0 (False for NaN)
    return ns, abr[:, 2], ok


def solve_band(
    frames: CameraFrames,
    camera: Camera,
    lights_to_world: np.ndarray,
    foreground: np.ndarray | None,
    rows: slice,
    maps: CameraMaps,
    config: SolverConfig,
    table: InverseTable,
) -> PixelCounts:
    """Solve one band of rows and write it into ``maps`` (numpy reference); returns its pixel counts.

    Parameters
    ----------
    frames : the camera's corrected frames, (H, W, 3) float32 each.
    camera : its calibration (view directions).
    lights_to_world : (3, 3) float64 rotation from light-stage to world axes.
    foreground : (H, W) bool mask or None (every pixel).
    rows : the band of image rows.
    maps : the camera's output maps ((H, W, 3) and (H, W)), written at ``rows``.
    config : solver options; table : the inverse GGX moment table.
    """
    f32 = np.float32
    r0, r1, _ = rows.indices(camera.height)
    if foreground is not None and not foreground[r0:r1].any():  # background only: nothing to solve
        _clear_band(maps, r0, r1)
        return PixelCounts(pixels=(r1 - r0) * camera.width)
    mom = lobe_moments(
        frames.images,
        rows,
        lights_to_world=lights_to_world,
        use_inverses=config.use_inverses,
        average_m0=config.average_m0,
    )
    n = mom.specular_m0.shape[0]
    # ---- validity: foreground, unsaturated, enough diffuse signal
    valid = (LUMINANCE_709 @ mom.diffuse_m0) > f32(config.min_diffuse)  # False for NaN
    chosen, inv_chosen = _chosen_diffuse_moment(mom.diffuse_m1, config.diffuse_normal_channel)
    valid &= inv_chosen < f32(1e12)
    fg = None if foreground is None else foreground[r0:r1].reshape(n)
    valid, counts = _mask_counts(valid, frames.saturated[r0:r1].reshape(n), fg)
    # ---- diffuse normals (the chosen one, then one per channel) and albedos, 0 outside the mask
    vf = valid.astype(f32)
    inv_chosen *= vf
    chosen *= inv_chosen
    _band(maps.normal_diffuse, r0, r1, n)[...] = chosen
    inv_rgb = _inverse_length(_norm2(mom.diffuse_m1))  # (channel, pixel)
    inv_rgb *= vf
    for c, per_channel in enumerate((maps.normal_diffuse_r, maps.normal_diffuse_g, maps.normal_diffuse_b)):
        np.multiply(mom.diffuse_m1[:, c], inv_rgb[c], out=_band(per_channel, r0, r1, n))
    albedo = _band(maps.diffuse_albedo, r0, r1, n)
    np.maximum(mom.diffuse_m0, f32(0.0), out=albedo)
    albedo *= vf
    spec = _band(maps.specular_albedo, r0, r1, n)
    np.maximum(mom.specular_m0, f32(0.0), out=spec)
    spec *= vf
    counts.negative_specular = int(np.count_nonzero(valid & (mom.specular_m0 < 0)))
    # ---- specular normal and roughness; the diffuse normal and default roughness where unsolved
    ns, roughness, s_ok = _specular_lobe(mom, view_directions(camera, rows), valid, config, table)
    counts.specular_fallback = counts.valid - int(np.count_nonzero(s_ok))
    not_ok = ~s_ok
    np.copyto(ns, chosen, where=not_ok)  # diffuse normal inside the mask, 0 outside
    _band(maps.normal_specular, r0, r1, n)[...] = ns
    rough = _band(maps.roughness, r0, r1, n)
    np.copyto(rough, roughness)
    np.copyto(rough, vf * f32(config.default_roughness), where=not_ok)
    _band(maps.mask, r0, r1, n)[...] = valid
    return counts
