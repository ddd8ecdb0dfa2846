"""The filtered diffuse normals made locally integrable: the noise's curl removed.

The diffuse normals belong to a surface. Seen by a pinhole camera, a surface point is
``P = Z (x, y, 1)`` at undistorted normalised image coordinates ``(x, y)``; a normal ``n``
(camera axes) makes the log depth's gradient ``d log Z / dx = -n_x / d``, ``d log Z / dy =
-n_y / d`` with ``d = n . (x, y, 1)``. Per pixel (``u`` column, ``v`` row) that gradient is
``G = (G_u, G_v)`` through the lens's Jacobian, and a surface's ``G`` has no curl:
``dG_v/du - dG_u/dv = 0``. Noise has as much curl as divergence, so removing the curl
removes about half of the noise the denoiser leaves, and keeps every detail a surface can
have (wrinkles, pores), which a wider filter would blur.

The removal is local (screened): ``psi = (kappa^2 - Laplacian)^-1 curl(G)`` and ``G' = G -
(dpsi/dv, -dpsi/du)``, so a curl that belongs to the scene (an occluding edge, a
silhouette, hair) moves the normals only within about ``1 / kappa`` pixels, and slow
departures from the model (lens, calibration) are left alone. Derivatives are
fourth-order central differences, the screened Poisson equation is solved by FFT on the
filtered box. Only pixels on the surface take part: the lit pixels whose first moment
points at the camera by more than ``DMIN`` (grazing normals make ``G`` ill-conditioned);
the curl is taken where the whole 5 x 5 stencil is such a pixel. The undistorted
coordinates and their Jacobian come from a grid of nodes every ``GRID_STEP`` pixels
(the lens model is smooth), interpolated bilinearly. The per-pixel steps are compiled
(:mod:`~id2reflectance.processing.solve.integrable_kernel`) when numba is installed.

The normal made integrable is the channels' first moments summed with ``weights`` (the
denoiser passes signal over noise variance per channel,
:func:`~id2reflectance.processing.solve.denoise_strength.channel_weights`: on dark skin the blue
channel holds almost no signal); each channel's first moment is then rotated by the rotation
that takes the green-plus-blue direction (the diffuse normal the solver reports by default)
to the corrected one (to the weighted direction itself on lit pixels left out), so the
lengths (albedo) and the channels' differences stay. The specular lobe (when given) is
treated alike through the half vector of its mean direction and the view direction. docs/solve.md section 1c has the
figures (diffuse normal, ICT head at the issue-20 noise, 192 px, radius 2: 1.143 -> 0.997 deg).
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np
import scipy.fft

from id2reflectance._shared.pages import kept_empty
from id2reflectance.capture.camera import Camera, undistort_pixels
from id2reflectance.processing.solve.config import numba_available

__all__ = ["DMIN", "KAPPA", "make_integrable"]

KAPPA = 0.5  # screening of the curl removal, 1 / pixels
DMIN = 0.4  # cosine between the normal and the pixel ray below which a pixel is left out
PAD = 16  # pixels of zero curl around the box for the FFT solve
GRID_STEP = 8  # pixels between the nodes of the undistorted-coordinate grid (bilinear between)


def _d4(a: np.ndarray, axis: int) -> np.ndarray:
    """Fourth-order central difference of (h, w) ``a`` along ``axis``; 0 on the 2-pixel border."""
    out = np.zeros_like(a)
    if axis == 1:
        out[:, 2:-2] = (8.0 * (a[:, 3:-1] - a[:, 1:-3]) - (a[:, 4:] - a[:, :-4])) / 12.0
    else:
        out[2:-2] = (8.0 * (a[3:-1] - a[1:-3]) - (a[4:] - a[:-4])) / 12.0
    return out


def _fft_shape(h: int, w: int) -> tuple[int, int]:
    """The padded FFT box of an (h, w) box: at least ``PAD`` pixels of zeros on every side, sizes
    numpy's and scipy's pocketfft are fast at (2^a 3^b 5^c)."""
    return (
        scipy.fft.next_fast_len(h + 2 * PAD, real=True),
        scipy.fft.next_fast_len(w + 2 * PAD, real=True),
    )


def _padded(planes: int, shape: tuple[int, int], dtype: type) -> np.ndarray:
    """A kept (planes, H, W) buffer (:func:`_fft_shape`) whose ``PAD`` margins around the (h, w) box
    at ``[PAD:PAD + h, PAD:PAD + w]`` are zero (the box itself is left to the caller to fill)."""
    h, w = shape
    H, W = _fft_shape(h, w)
    buf = _kept("padded", (planes, H, W), dtype)
    buf[:, :PAD] = 0.0
    buf[:, PAD + h :] = 0.0
    buf[:, PAD : PAD + h, :PAD] = 0.0
    buf[:, PAD : PAD + h, PAD + w :] = 0.0
    return buf


def _solve_padded(buf: np.ndarray, shape: tuple[int, int], kappa: float) -> np.ndarray:
    """``(kappa^2 - Laplacian_4)^-1`` of every plane of ``buf`` (:func:`_padded`, overwritten), by FFT;
    returns the (planes, h, w) box of the solutions (a view of ``buf``), ``buf``'s dtype. All planes in
    one batched transform (both threads busy, one call).

    The transforms are pocketfft's (what ``scipy.fft.rfft2`` / ``irfft2`` call) with their outputs in
    memory kept between cameras (:func:`_pocketfft_solve`); bit for bit ``scipy.fft``'s values."""
    h, w = shape
    _, H, W = buf.shape
    if _POCKETFFT is not None and buf.dtype == np.float32:
        _pocketfft_solve(buf, kappa)
        box = buf[:, PAD : PAD + h, PAD : PAD + w]
        # irfft2's 1 / (H W), applied by pocketfft as one float32 product per value after the last pass
        np.multiply(box, np.float32(np.longdouble(1) / np.longdouble(H * W)), out=box)
        return box
    spec = scipy.fft.rfft2(buf, workers=-1, overwrite_x=True)
    # real and imaginary parts side by side times the symbol's inverse repeated alike: one contiguous
    # real product per row (a broadcast over the pairs' axis of length 2 ran numpy's inner loop per pair)
    pairs = spec.view(buf.dtype).reshape(spec.shape[0], H, 2 * spec.shape[2])
    pairs *= _inverse_symbol(H, W, kappa, buf.dtype)
    return scipy.fft.irfft2(spec, s=(H, W), workers=-1, overwrite_x=True)[:, PAD : PAD + h, PAD : PAD + w]


try:  # scipy's pocketfft binding: the transforms with an ``out`` argument
    from scipy.fft._pocketfft import pypocketfft as _POCKETFFT
except ImportError:  # another scipy layout: the public functions (fresh outputs)
    _POCKETFFT = None


def _pocketfft_solve(buf: np.ndarray, kappa: float) -> None:
    """The screened solve of every (H, W) plane of ``buf`` (float32, C-contiguous) in place, unscaled
    (times ``H W``): ``scipy.fft.rfft2`` / ``irfft2`` split into the 1-D passes pocketfft runs, each
    into a buffer kept between cameras instead of a fresh array (at 4096^2 three fresh arrays of 136 MB
    per camera, a page fault per 4 KiB on first touch: the inverse had cost three times the forward).

    ``irfft2`` is pocketfft's c2c over the rows' axis into a temporary, then c2r over the last axis with
    the factor ``1 / (H W)``; here the c2c runs in place in the spectrum and the c2r writes into ``buf``
    unscaled (the caller applies the same float32 factor to the values it keeps)."""
    n, H, W = buf.shape
    threads = os.cpu_count() or 1  # workers=-1; every 1-D line is transformed alike on any thread
    spec = _kept("spectrum", (n, H, W // 2 + 1), np.complex64)
    _POCKETFFT.r2c(buf, (1, 2), True, 0, spec, threads)
    pairs = spec.view(np.float32).reshape(n, H, 2 * (W // 2 + 1))
    pairs *= _inverse_symbol(H, W, kappa, np.float32)
    _POCKETFFT.c2c(spec, (1,), False, 0, spec, threads)
    _POCKETFFT.c2r(spec, (2,), W, False, 0, buf, threads)


def _screened_inverse(c: np.ndarray, kappa: float) -> np.ndarray:
    """``(kappa^2 - Laplacian_4)^-1 c`` for (h, w) ``c`` (zero beyond a PAD-pixel margin), by FFT.

    Returns an (h, w) view of the padded solution, ``c``'s dtype.
    """
    buf = _padded(1, c.shape, c.dtype)
    buf[0, PAD : PAD + c.shape[0], PAD : PAD + c.shape[1]] = c
    return _solve_padded(buf, c.shape, kappa)[0]


def _kept(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, the memory of the last one this
    thread asked for under ``name`` when large enough (valid until ``name`` is asked for again; fresh
    pages cost a fault each: :func:`~id2reflectance._shared.pages.kept_empty`)."""
    return kept_empty(f"integrable_normals.{name}", int(np.prod(shape)), dtype).reshape(shape)


@functools.lru_cache(maxsize=4)
def _inverse_symbol(H: int, W: int, kappa: float, dtype: np.dtype) -> np.ndarray:
    """(H, 2 (W // 2 + 1)) inverse of the symbol of ``kappa^2 - Laplacian_4`` on the rfft2 grid, each value
    twice (for a spectrum's real and imaginary parts; kept: one per box size)."""
    wu = 2.0 * np.pi * scipy.fft.rfftfreq(W)
    wv = 2.0 * np.pi * scipy.fft.fftfreq(H)
    su = ((8.0 * np.sin(wu) - np.sin(2.0 * wu)) / 6.0) ** 2  # the symbol of _d4, squared
    sv = ((8.0 * np.sin(wv) - np.sin(2.0 * wv)) / 6.0) ** 2 + kappa * kappa
    out = np.repeat((1.0 / (sv[:, None] + su[None, :])).astype(dtype), 2, axis=1)
    out.flags.writeable = False
    return out


def coordinate_grid(camera: Camera, roi: tuple[slice, slice], shape: tuple[int, int], step: int) -> np.ndarray:
    """Undistorted normalised coordinates and their Jacobian at nodes every ``step`` pixels of the box.

    The lens is undistorted once, at the nodes and a ring of nodes around them; the Jacobian is the
    central difference between a node's neighbours (over ``2 step`` pixels: the lens model is smooth,
    e.g. ``k1 = -0.2`` at 300 px focal length and ``step`` 8 changes it by about 1e-4 relative against
    differences over one pixel, at a fifth of the undistortions).

    Returns
    -------
    (ny, nx, 6) float64: ``x, y, dx/du, dx/dv, dy/du, dy/dv`` at box pixels ``(i step, j
    step)`` (the last node at or beyond the box's last pixel; at least 2 x 2 nodes).
    """
    h, w = shape
    r0, c0 = roi[0].indices(camera.height)[0], roi[1].indices(camera.width)[0]
    ny, nx = max(2, -(-(h - 1) // step) + 1), max(2, -(-(w - 1) // step) + 1)
    vv, uu = np.meshgrid(
        r0 + step * np.arange(-1, ny + 1, dtype=np.float64),
        c0 + step * np.arange(-1, nx + 1, dtype=np.float64),
        indexing="ij",
    )
    K, dist = np.asarray(camera.K, np.float64), np.asarray(camera.dist, np.float64)
    x, y = undistort_pixels(np.stack([uu.ravel(), vv.ravel()], axis=1), K, dist)
    x, y = x.reshape(ny + 2, nx + 2), y.reshape(ny + 2, nx + 2)
    inner = (slice(1, -1), slice(1, -1))
    half = 0.5 / step

    def d_du(a: np.ndarray) -> np.ndarray:
        return (a[1:-1, 2:] - a[1:-1, :-2]) * half

    def d_dv(a: np.ndarray) -> np.ndarray:
        return (a[2:, 1:-1] - a[:-2, 1:-1]) * half

    return np.stack([x[inner], y[inner], d_du(x), d_dv(x), d_du(y), d_dv(y)], axis=2)


def _coords(grid: np.ndarray, shape: tuple[int, int], step: int) -> list[np.ndarray]:
    """The six (h, w) float64 planes of ``grid`` interpolated bilinearly at every box pixel (numpy)."""
    h, w = shape
    fi, fj = np.arange(h) / step, np.arange(w) / step
    i0 = np.minimum(fi.astype(int), grid.shape[0] - 2)
    j0 = np.minimum(fj.astype(int), grid.shape[1] - 2)
    a, b = (fi - i0)[:, None], (fj - j0)[None, :]
    out = []
    for k in range(6):
        g = grid[..., k]
        top = g[i0][:, j0] * (1 - b) + g[i0][:, j0 + 1] * b
        bottom = g[i0 + 1][:, j0] * (1 - b) + g[i0 + 1][:, j0 + 1] * b
        out.append(top * (1 - a) + bottom * a)
    return out


def make_integrable(
    m1c: np.ndarray,
    signal: np.ndarray,
    camera: Camera,
    lights_to_world: np.ndarray,
    roi: tuple[slice, slice],
    *,
    spec: np.ndarray | None = None,
    kappa: float = KAPPA,
    weights: np.ndarray | None = None,
) -> None:
    """Remove the curl of the diffuse (and specular) normal field from the moment planes in place.

    Parameters
    ----------
    m1c : (h, w, 9) float32 C-contiguous, the filtered diffuse first moments of the box
        ``roi``, axis-major in light-stage axes (x R, G, B, y R, G, B, z R, G, B); each
        channel's vector is rotated.
    signal : (h, w) bool, the box's lit pixels (the rest is left as it is).
    camera : the camera (intrinsics, lens distortion, ``R`` world -> camera).
    lights_to_world : (3, 3) rotation from light-stage to world axes.
    roi : the box's rows and columns in the camera image.
    spec : (h, w, 4) or (h, w, 5) float32 C-contiguous specular planes (zeroth moment, first moments
        x, y, z), or None. The half vector of the lobe's mean direction and the view
        direction (the specular normal of a mirror lobe) is made integrable the same way
        and the mean direction turned with it (its reflection moves by as much); lengths,
        so the roughness, stay.
    kappa : screening, 1 / pixels.
    weights : (3,) per-channel (R, G, B) weights of the diffuse normal that is made
        integrable (:func:`~id2reflectance.processing.solve.denoise_strength.channel_weights`); None:
        green plus blue, the solver's diffuse normal. Either way each channel is turned by the rotation taking the green-plus-blue
        direction to the corrected normal, so the solver's normal becomes that normal.
    """
    h, w = signal.shape
    wt = np.array((0.0, 1.0, 1.0) if weights is None else weights, np.float32)
    if h < 8 or w < 8:
        return
    grid = coordinate_grid(camera, roi, (h, w), GRID_STEP)
    to_cam = np.asarray(camera.R, np.float64) @ np.asarray(lights_to_world, np.float64)
    compiled = numba_available()
    if compiled:
        from id2reflectance.processing.solve import integrable_kernel as kern  # imports numba: only when used
    signal = np.ascontiguousarray(signal)
    if compiled:
        # the normals and half vectors are recomputed where needed, not stored: each full-size
        # array would be another pass over memory; gu, gv and ok are kept between cameras
        gu, gv = _kept("gu", (h, w), np.float32), _kept("gv", (h, w), np.float32)
        ok = _kept("ok", (h, w), np.uint8)
        # the kernels compute in float32 (half the cost of float64's square roots and divisions; about
        # 1e-5 deg from the float64 numpy path, docs/solve.md section 1c)
        grid32, cam32, dmin2 = grid.astype(np.float32), to_cam.astype(np.float32), np.float32(DMIN * DMIN)
        if spec is None:
            kern.gradient_diffuse(m1c, signal, grid32, GRID_STEP, cam32, dmin2, gu, gv, ok, wt)
            (psi,) = _psi(((gu, gv, ok),), kappa)
            kern.rotate_diffuse(m1c, psi, gu, gv, ok, grid32, GRID_STEP, cam32, wt, signal)
            return
        # both lobes: one gradient pass and one correction pass (each pixel's coordinates once)
        gus, gvs = _kept("gus", (h, w), np.float32), _kept("gvs", (h, w), np.float32)
        oks = _kept("oks", (h, w), np.uint8)
        kern.gradient_both(m1c, spec, signal, grid32, GRID_STEP, cam32, dmin2, wt, gu, gv, ok, gus, gvs, oks)
        psi, psis = _psi(((gu, gv, ok), (gus, gvs, oks)), kappa)
        kern.correct_both(m1c, spec, psi, psis, gu, gv, ok, gus, gvs, oks, grid32, GRID_STEP, cam32, wt, signal)
        return
    coords = _coords(grid, (h, w), GRID_STEP)
    v = m1c[..., 1::3] + m1c[..., 2::3]  # (h, w, 3) green + blue per axis: the solver's normal
    vw = wt[0] * m1c[..., 0::3] + wt[1] * m1c[..., 1::3] + wt[2] * m1c[..., 2::3]
    n2, ok = _curl_free(vw, signal, grid, to_cam, kappa, coords)
    rest = signal & (ok == 0)  # grazing normals: turned onto the weighted direction only
    n2[rest] = vw[rest] / np.maximum(np.linalg.norm(vw[rest], axis=1, keepdims=True), 1e-30)
    _rotate(m1c, v, n2, signal)
    if spec is None:
        return
    nh = _half_vectors(spec, coords, to_cam).astype(np.float32)
    n2, ok = _curl_free(nh, signal, grid, to_cam, kappa, coords)
    _reflect(spec, nh, n2, ok > 0, coords, to_cam)


def _psi(fields: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...], kappa: float) -> np.ndarray:
    """(n, h, w) float32 screened inverses of the curls of the n fields ``(gu, gv, ok)`` ((h, w) each), the
    curl taken where the whole 5 x 5 stencil is ``ok`` (compiled curl, written straight into the FFT's
    padded box; one batched FFT for all fields). Views of a buffer kept until the next call."""
    from id2reflectance.processing.solve import integrable_kernel as kern

    h, w = fields[0][0].shape
    buf = _padded(len(fields), (h, w), np.float32)
    inner = _kept("inner", (h, w), np.uint8)
    for k, (gu, gv, ok) in enumerate(fields):
        cv2.erode(ok, np.ones((5, 5), np.uint8), dst=inner, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        kern.curl4(gu, gv, inner, buf[k, PAD : PAD + h, PAD : PAD + w])
    return _solve_padded(buf, (h, w), kappa)


def _curl_free(
    v: np.ndarray, signal: np.ndarray, grid: np.ndarray, to_cam: np.ndarray, kappa: float, coords: list
) -> tuple[np.ndarray, np.ndarray]:
    """The normal field ``v`` (h, w, 3) float32 with the screened curl removed (numpy).

    Returns (h, w, 3) float32 unit normals (light-stage axes, valid where ``ok``) and ``ok``
    (h, w) uint8: the pixels that took part.
    """
    x, y, xu, xv, yu, yv = coords
    nc = v.astype(np.float64) @ to_cam.T
    length = np.linalg.norm(nc, axis=2)
    d = nc[..., 0] * x + nc[..., 1] * y + nc[..., 2]
    ok = signal & (length > 0) & (np.abs(d) > DMIN * length * np.sqrt(1.0 + x * x + y * y))
    safe = np.where(ok, d, 1.0)
    p, q = np.where(ok, -nc[..., 0] / safe, 0.0), np.where(ok, -nc[..., 1] / safe, 0.0)
    gu, gv = p * xu + q * yu, p * xv + q * yv
    inner = cv2.erode(ok.astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    curl = np.where(inner > 0, _d4(gv, 1) - _d4(gu, 0), 0.0)
    psi = _screened_inverse(curl, kappa)
    gu -= _d4(psi, 0)
    gv += _d4(psi, 1)
    det = xu * yv - xv * yu
    p2, q2 = (gu * yv - gv * yu) / det, (gv * xu - gu * xv) / det
    n2 = np.stack([-p2, -q2, 1.0 + p2 * x + q2 * y], axis=2) * np.sign(safe)[..., None]
    n2 /= np.maximum(np.linalg.norm(n2, axis=2, keepdims=True), 1e-30)
    return (n2 @ to_cam).astype(np.float32), ok.astype(np.uint8)


def _rotate(m1c: np.ndarray, v: np.ndarray, n2: np.ndarray, ok: np.ndarray) -> None:
    """Every channel's first moment rotated by the rotation taking ``v``'s direction to ``n2`` (numpy)."""
    n = v.astype(np.float64)
    n /= np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-30)
    axis = np.cross(n, n2.astype(np.float64))
    sin = np.linalg.norm(axis, axis=2)
    cos = np.sum(n * n2, axis=2)
    sel = ok & (sin > 0)
    k, sin, cos = (axis / np.maximum(sin, 1e-30)[..., None])[sel], sin[sel], cos[sel]
    for ch in range(3):
        vec = m1c[..., ch::3][sel].astype(np.float64)
        out = (
            vec * cos[:, None] + np.cross(k, vec) * sin[:, None] + k * (np.sum(k * vec, axis=1) * (1.0 - cos))[:, None]
        )
        plane = m1c[..., ch::3]
        plane[sel] = out.astype(np.float32)


def _view(coords: list, to_cam: np.ndarray) -> np.ndarray:
    """(h, w, 3) float64 unit vectors towards the camera, light-stage axes (numpy)."""
    x, y = coords[0], coords[1]
    e = -np.stack([x, y, np.ones_like(x)], axis=2)
    e /= np.linalg.norm(e, axis=2, keepdims=True)
    return e @ to_cam


def _half_vectors(spec: np.ndarray, coords: list, to_cam: np.ndarray) -> np.ndarray:
    """(h, w, 3) unit half vectors of the specular mean direction and the view (0 where m1 = 0; numpy)."""
    m = spec[..., 1:4].astype(np.float64)
    length = np.linalg.norm(m, axis=2, keepdims=True)
    a = m / np.maximum(length, 1e-30) + _view(coords, to_cam)
    a /= np.maximum(np.linalg.norm(a, axis=2, keepdims=True), 1e-30)
    return np.where(length > 0, a, 0.0)


def _reflect(
    spec: np.ndarray, nh: np.ndarray, n2: np.ndarray, ok: np.ndarray, coords: list, to_cam: np.ndarray
) -> None:
    """The specular mean direction moved by ``reflect(v, n2) - reflect(v, nh)``, length kept (numpy)."""
    e = _view(coords, to_cam)
    m = spec[..., 1:4].astype(np.float64)
    length = np.linalg.norm(m, axis=2, keepdims=True)
    a, b = nh.astype(np.float64), n2.astype(np.float64)
    r = m / np.maximum(length, 1e-30) + 2.0 * (
        np.sum(b * e, 2, keepdims=True) * b - np.sum(a * e, 2, keepdims=True) * a
    )
    r *= length / np.maximum(np.linalg.norm(r, axis=2, keepdims=True), 1e-30)
    planes = spec[..., 1:4]
    planes[ok] = r[ok].astype(np.float32)
