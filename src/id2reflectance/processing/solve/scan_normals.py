"""The subject's scan as the low frequencies of the solved normals (after the solve, where the denoiser ran).

A session may carry the subject's scan (``session.json`` ``"mesh"``, world frame, metres, in the
reference pose: the full-on cross-polarised frame's, which the aligned frames and so the solved maps
share). Where the photometric normals are noise-limited, their low spatial frequencies are the
noisiest part they have and the scan's are not (Ma et al. 2007, Nehab et al. 2005 combine the two
the same way). Per camera:

1. the scan's smooth (vertex-interpolated, area-weighted) normals are rendered into the camera's
   pixel grid over the mask's bounding box: rays through pixel centres and the lens model
   (``Camera.pixel_rays``: distortion removed), Open3D's ``RaycastingScene``, one per pixel or, on
   large images, one every few pixels with bilinear interpolation between (``RAY_SPACING_PX``);
2. per pixel of the *region* (valid map pixels whose ray hits the scan at a normal within
   ``acos(MIN_COS_VIEW)`` of the view),
   ``n = normalize(k G * n_scan + (1 - k) G * n_photo + a (n_photo - G * n_photo))``, ``G`` a
   Gaussian of ``sigma`` pixels normalised over the region (no bleeding across the silhouette or
   where the ray misses). ``k``, the scan's weight in the low band, is the inverse-variance weight
   ``var_photo / (var_photo + var_scan)`` of the two low-passes' errors, estimated per camera by
   the three-cornered hat with the other lobe's photometric normal as the third estimate (three
   estimates with independent errors: each pair's difference variance is the sum of their two;
   medians of the squared differences, robust to the outliers of hair and dark spots).
   Where that weight is under 1/2 (the scan the less accurate estimate) it becomes
   ``k^2 / (k^2 + (1 - k)^2)``, the squared variance ratio: a realistic scan's errors are structured
   (smoothed relief, decimation), not the independent noise the hat assumes.
   ``a``, the photometric high-pass's weight, is its least-squares gain with the scan's high-pass
   and the other lobe's as the witnesses (:func:`high_pass_gain`), raised to the power ``k``: 1
   where the photometric high-pass holds no noise to shrink or where the scan is not trusted in the
   low band (its high-pass, attenuated, is then no witness). ``k = 1, a = 1`` is the plain
   substitution of the low frequencies;
3. a *gate* keeps the photometric normal where the two low-passes (at ``GATE_SIGMA_PX``, where the
   photometric noise is small) disagree by more than ``gate_deg``: hair, eyes, lashes, a scan that
   is wrong or displaced.

Before 2, the scan's misregistration to the camera (a calibration error of a real scan: 0.5 mm is
about 0.6 px at 256 px) is estimated as a sub-pixel 2D shift of its rendered normals against the
photometric normals' low band (:func:`scan_shift`, Lucas-Kanade) and the scan rendered again with
it (``ScanFusion.register``).

Where numba can be imported the per-pixel work runs in compiled passes
(:mod:`~id2reflectance.processing.solve.scan_normals_kernel`: the interpolation between the rays,
the weighted fields as planes, the fused normal per pixel, no box-sized temporaries); where the
scan was ray cast every 2 or more pixels (``RAY_SPACING_PX``: cameras from 768 px wide) the gate's
Gaussian runs on a half-resolution grid (the image's 2 x 2 blocks, the Gaussian there, bilinear
back: its sigma completed to ``GATE_SIGMA_PX``). The numpy version (``compiled=False``) is the
reference: equal where the rays are every pixel, within float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from id2reflectance.capture.camera import Camera, undistort_pixels
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, raycasting_scene
from id2reflectance.errors import ShapeError
from id2reflectance.processing.solve.config import numba_available

if TYPE_CHECKING:
    from id2reflectance.capture.session import Session
    from id2reflectance.processing.solve.camera_maps import CameraMaps

MIN_COS_VIEW = 0.2
"""Pixels whose scan normal is more grazing than this (cosine to the view ray) keep the photometric normal."""

GATE_SIGMA_PX = 3.0
"""Gaussian (pixels) of the two low-passes the gate compares."""

RAY_SPACING_PX = 512
"""The scan is ray cast every ``max(1, round(width / RAY_SPACING_PX))`` pixels (one ray per pixel up
to 767 px wide, every 4th at 2048 px), bilinearly interpolated between (its vertex-interpolated
normals are smooth between its vertices, several pixels apart at such sizes)."""

STATS_PIXELS = 65536
"""The per-camera weights are estimated on every ``s``-th row and column of the used pixels, ``s``
the largest step leaving at least this many (every pixel at 256 px: every 4th row and column there
moved seed 1's moving diffuse normal 0.933 -> 1.002 deg, the gains from 1000 pixels too noisy)."""


@dataclass(frozen=True)
class ScanFusion:
    """The fusion's settings (``SolverConfig.scan_normals*``).

    sigma_px : the Gaussian's standard deviation (pixels) splitting the low band (scan and
        photometric, weighted) from the high band (photometric).
    weight : the scan's weight ``k`` in the low band, in [0, 1]; None: estimated per camera
        (three-cornered hat, :func:`low_band_weight`).
    gain : the photometric high-pass's weight ``a``, in [0, 1]; None: estimated per camera
        (:func:`high_pass_gain`).
    gate_deg : the two low-passes' largest angle (degrees) where the scan is used.
    gate_noise : in the diffuse lobe, the scan's share of the low band only where the two
        low-passes agree within this many times the photometric low-pass's own estimated error
        (the three-cornered hat at ``GATE_SIGMA_PX``, the specular normal the witness; at most
        ``gate_deg``): where the photometric normal is already accurate at that scale, a larger
        disagreement is the scan's error (the high band's gain still applies there); None:
        ``gate_deg`` alone. The specular lobe keeps
        ``gate_deg`` (its gate so scaled, 1.8 deg on seed 1 moving, lost 0.92 -> 1.05 deg).
    register : estimate the scan's sub-pixel shift against the photometric low band per camera
        (:func:`scan_shift`) and render the scan with it before the fusion.
    """

    sigma_px: float = 1.0
    weight: float | None = None
    gain: float | None = None
    gate_deg: float = 5.0
    gate_noise: float | None = 3.0
    register: bool = True


@dataclass
class ScanRender:
    """The scan seen by one camera, inside a window of its pixel grid.

    window : (row0, row1, col0, col1), the pixels rendered (the rest of the image is not).
    normals : (h, w, 3) float32, unit world-space vertex-interpolated scan normals, facing the
        camera (meaningless where ``hit`` is False).
    hit : (h, w) bool, the pixel's ray hits the scan.
    cos_view : (h, w) float32, cosine between the scan normal and the direction to the camera.
    step : the rays' spacing (pixels) it was interpolated from; from 2 on, the fusion's compiled passes
        take the gate's Gaussian on a half-resolution grid (:func:`fuse_scan_normals`).
    """

    window: tuple[int, int, int, int]
    normals: np.ndarray
    hit: np.ndarray
    cos_view: np.ndarray
    step: int = 1


def scan_scene(scan: FaceMesh) -> tuple[object, np.ndarray]:
    """The scan's ``RaycastingScene`` and its (V, 3) float64 unit vertex normals (once per session)."""
    return raycasting_scene(scan), scan.vertex_normals()


def render_scan_normals(
    scan: FaceMesh,
    scene: object,
    vertex_normals: np.ndarray,
    camera: Camera,
    *,
    window: tuple[int, int, int, int] | None = None,
    step: int | None = None,
    compiled: bool | None = None,
    shift: tuple[float, float] = (0.0, 0.0),
) -> ScanRender:
    """Render ``scan``'s smooth normals into ``camera``'s pixel grid.

    Parameters
    ----------
    scan : the session's scan (world frame, metres).
    scene, vertex_normals : :func:`scan_scene` of ``scan``.
    camera : the camera; its distortion is removed from the rays (the maps are in its raw pixel grid).
    window : (row0, row1, col0, col1) to render; None: the whole image.
    step : one ray every ``step`` pixels (rows and columns), bilinear between (a pixel counts as
        hit only when every ray around it hits); None: ``round(width / RAY_SPACING_PX)``, at least 1.
    compiled : the interpolation between the rays by the compiled pass
        (:func:`~id2reflectance.processing.solve.scan_normals_kernel.upsample_scan`: exact bilinear
        weights) or by ``cv2.remap`` (False: its weights in 1/32 pixel steps); None: compiled when numba
        can be imported.
    shift : (dx, dy) pixels: each pixel shows the scan as the camera sees it at the pixel plus this
        (the scan's misregistration, :func:`scan_shift`).
    """
    r0, r1, c0, c1 = window if window is not None else (0, camera.height, 0, camera.width)
    step = step if step is not None else max(1, int(round(camera.width / RAY_SPACING_PX)))
    rows = np.arange(r0, r1 + step - 1, step, dtype=np.float64)
    cols = np.arange(c0, c1 + step - 1, step, dtype=np.float64)  # the last ray at or past the window
    cc, rr = np.meshgrid(cols, rows)
    origin, dirs = _pixel_rays(camera, np.stack([cc.ravel() + shift[0], rr.ravel() + shift[1]], axis=1))
    _, face, bary = cast_rays(scene, origin, dirs)
    hit = face >= 0
    n = np.zeros((len(dirs), 3), np.float64)
    n[hit] = interpolate(vertex_normals, scan.faces, face[hit], bary[hit])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    cos = -np.einsum("ij,ij->i", n, dirs)
    n[cos < 0] *= -1.0  # the side facing the camera, whatever the scan's winding
    grid = (len(rows), len(cols))
    fields = np.concatenate([n, np.abs(cos)[:, None], hit[:, None]], axis=1).astype(np.float32).reshape(*grid, 5)
    if step > 1 and (compiled if compiled is not None else numba_available()):
        from id2reflectance.processing.solve import scan_normals_kernel  # imports numba: only when used

        normals = np.empty((r1 - r0, c1 - c0, 3), np.float32)
        hit_px, cos_px = np.empty((r1 - r0, c1 - c0), bool), np.empty((r1 - r0, c1 - c0), np.float32)
        scan_normals_kernel.upsample_scan(fields, step, normals, hit_px, cos_px)
        return ScanRender(window=(r0, r1, c0, c1), normals=normals, hit=hit_px, cos_view=cos_px, step=step)
    if step > 1:
        yy, xx = np.mgrid[0 : r1 - r0, 0 : c1 - c0].astype(np.float32) / np.float32(step)
        fields = cv2.remap(fields, xx, yy, cv2.INTER_LINEAR)
    fields = fields[: r1 - r0, : c1 - c0]
    normals = fields[..., :3] / np.maximum(_norm(fields[..., :3]), np.float32(1e-12))[..., None]
    return ScanRender(
        window=(r0, r1, c0, c1),
        normals=np.ascontiguousarray(normals, np.float32),
        hit=fields[..., 4] > np.float32(0.999),
        cos_view=np.ascontiguousarray(fields[..., 3]),
        step=step,
    )


def _pixel_rays(camera: Camera, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``camera.pixel_rays(pixels)`` (equal to 1 ulp): the rotation by ``einsum``, not ``@``, whose
    OpenBLAS call on an (N, 3) x (3, 3) product costs ten times the arithmetic in CPU seconds (0.05 s
    of a 2048 px camera's fusion)."""
    xn, yn = undistort_pixels(np.asarray(pixels, np.float64), camera.K, camera.dist)
    d = np.einsum("ij,jk->ik", np.stack([xn, yn, np.ones_like(xn)], axis=1), camera.R)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return camera.center, d


def _norm(x: np.ndarray) -> np.ndarray:
    """Lengths of the vectors along the last axis (float32 in, float32 out)."""
    return np.sqrt(np.einsum("...i,...i->...", x, x))


def _blur(x: np.ndarray, sigma: float, *, out: np.ndarray | None = None) -> np.ndarray:
    k = 2 * int(np.ceil(3.0 * sigma)) + 1
    return cv2.GaussianBlur(x, (k, k), sigma, dst=out, borderType=cv2.BORDER_CONSTANT)


class _LowPass:
    """Gaussians normalised over the region's weight (no bleeding across its edge), at one sigma."""

    def __init__(self, weight: np.ndarray, sigma: float) -> None:
        self.sigma = sigma
        self.inv = 1.0 / np.maximum(_blur(weight, sigma), np.float32(1e-6))

    def __call__(self, masked: np.ndarray) -> np.ndarray:
        """The low-pass of a (h, w, 3) field from ``masked``, the field times the weight."""
        out = _blur(masked, self.sigma)
        out *= self.inv[..., None]
        return out


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum over pixels of the dot products of two (N, 3) fields (float64)."""
    return float(np.einsum("ij,ij->", a.astype(np.float64), b.astype(np.float64)))


def high_pass_gain(photo_high: np.ndarray, scan_high: np.ndarray, witness_high: np.ndarray | None = None) -> float:
    """The least-squares weight of the photometric high-pass, with the scan's as the witness.

    ``sum(h_p . h_s) / sum(h_p . h_p)``, clipped to [0, 1]: the scan's high-pass error is
    independent of the photometric noise, so the numerator estimates the photometric high-pass's
    covariance with the true one (its noise does not enter) and the ratio the gain that shrinks
    the noise left at pixel scale (1 where there is none to shrink). The numerator is that
    covariance times the scan's attenuation of the relief (decimation, smoothing); with a second
    witness ``h_o`` (the other lobe's high-pass, its noise independent of both) the attenuation
    cancels: ``sum(h_p . h_s) sum(h_p . h_o) / (sum(h_s . h_o) sum(h_p . h_p))`` (the plain ratio
    where a covariance is not positive).

    Parameters
    ----------
    photo_high, scan_high : (N, 3) float, high-passes of the photometric and scan normals at the
        same pixels (none: gain 1).
    witness_high : (N, 3) float, the other lobe's photometric high-pass there, or None.
    """
    var = _dot(photo_high, photo_high)
    if var <= 0:
        return 1.0
    ps = _dot(photo_high, scan_high)
    if witness_high is not None:
        po, so = _dot(photo_high, witness_high), _dot(scan_high, witness_high)
        if po > 0 and so > 0 and ps > 0:
            return float(np.clip(ps * po / (so * var), 0.0, 1.0))
    return float(np.clip(ps / var, 0.0, 1.0))


def low_band_weight(photo_low: np.ndarray, scan_low: np.ndarray, witness_low: np.ndarray) -> float:
    """The scan's inverse-variance weight in the low band, by the three-cornered hat.

    With three estimates of one field whose errors are independent, each pair's squared difference
    has the sum of their two error variances (``d`` below: its median over the pixels, for Gaussian
    errors the same multiple of the variance for every pair, and robust to outliers: hair, dark
    spots); so ``var_photo = (d_pc + d_pw - d_cw) / 2`` and ``var_scan = (d_pc + d_cw - d_pw) / 2``,
    and the weight ``var_photo / (var_photo + var_scan)`` (each variance clipped at 0; 1 when both
    are 0). Means of squares instead weighed the outliers: the diffuse normal with inverse patterns
    +2-4 % on two heads (docs/solve.md 1c).

    Parameters
    ----------
    photo_low, scan_low, witness_low : (N, 3) float, the low-passes of the photometric normal,
        the scan's and a third estimate (the other lobe's photometric normal) at the same pixels.
    """

    var_p, var_c = hat_variances(photo_low, scan_low, witness_low)
    return 1.0 if var_p + var_c <= 0 else var_p / (var_p + var_c)


def hat_variances(photo_low: np.ndarray, scan_low: np.ndarray, witness_low: np.ndarray) -> tuple[float, float]:
    """(photometric, scan) error variances of :func:`low_band_weight`'s three-cornered hat: medians
    of the pairs' squared differences (unit vectors: about squared radians), each clipped at 0."""

    def dist(a: np.ndarray, b: np.ndarray) -> float:
        d = a.astype(np.float64) - b
        return float(np.median(np.einsum("ij,ij->i", d, d)))

    d_pc, d_pw, d_cw = dist(photo_low, scan_low), dist(photo_low, witness_low), dist(scan_low, witness_low)
    return max(0.5 * (d_pc + d_pw - d_cw), 0.0), max(0.5 * (d_pc + d_cw - d_pw), 0.0)


def _gain_and_weight(
    settings: ScanFusion,
    high: dict[str, np.ndarray],
    low: dict[str, np.ndarray],
    gain_pixels: np.ndarray,
    weight_pixels: np.ndarray,
) -> tuple[float, float]:
    """The high band's gain ``a`` and the low band's scan weight ``k`` of one lobe from the subsample
    (``settings``' own where given): ``a`` by :func:`high_pass_gain` with the scan's and the other
    lobe's high-pass as witnesses over ``gain_pixels``, ``k`` by :func:`low_band_weight` over
    ``weight_pixels`` (1 where there are none), squared-ratio'd under 1/2, and ``a`` raised to ``k``.

    high, low : {"p": the lobe's, "c": the scan's, "o": the other lobe's} (..., 3) float32 high- and
        low-passes at the subsample's pixels; gain_pixels, weight_pixels : (...) bool of the same grid.
    """
    gain = settings.gain
    if gain is None:  # the other lobe's high-pass as a second witness
        gain = high_pass_gain(high["p"][gain_pixels], high["c"][gain_pixels], high["o"][gain_pixels])
    weight = settings.weight
    if weight is None:  # on the pixels that take it (on all of ``used``: +7 % on a decimated scan)
        lp = {k: v[weight_pixels] for k, v in low.items()}
        weight = low_band_weight(lp["p"], lp["c"], lp["o"]) if weight_pixels.any() else 1.0
        if weight < 0.5:  # the scan the less accurate estimate: its share by the squared variance ratio
            weight = weight**2 / (weight**2 + (1.0 - weight) ** 2)
    if settings.gain is None:  # the high band shrunk as far as the scan is trusted in the low band
        gain = gain ** float(weight)
    return float(gain), float(weight)


@dataclass
class FusedNormal:
    """One lobe's fused normals.

    window : (row0, row1, col0, col1) of the image that the two arrays cover (the scan's window;
        outside it the photometric normals stay).
    normals : (h, w, 3) float32, unit world-space normals: the photometric ones where not ``used``.
    used : (h, w) bool, the pixels whose normal comes from the fusion.
    weight, gain : the scan's low-band weight ``k`` and the photometric high-pass gain ``a`` applied.
    gate_deg : the gate of the scan's share in the low band (``ScanFusion.gate_noise``; ``gate_deg``).
    low_pixels : the ``used`` pixels whose low band takes the scan's share (the rest of ``used``:
        the photometric low band, the high band's gain ``a`` still applied).
    """

    window: tuple[int, int, int, int]
    normals: np.ndarray
    used: np.ndarray
    weight: float
    gain: float
    gate_deg: float = 0.0
    low_pixels: int = 0


def fuse_scan_normals(
    diffuse: np.ndarray,
    specular: np.ndarray,
    scan: ScanRender,
    valid: np.ndarray,
    settings: ScanFusion,
    *,
    lobes: tuple[bool, bool] = (True, True),
    compiled: bool | None = None,
    out: dict[str, np.ndarray] | None = None,
) -> dict[str, FusedNormal]:
    """The photometric normals' high frequencies on the scan's and their own low ones, weighted.

    Each lobe's normal is the other's witness for the low band's weight (their noise comes from
    different frames: the cross-polarised ones, and the parallel minus cross ones); pixels where
    the specular normal fell back to the diffuse one are left out of that estimate.

    Parameters
    ----------
    diffuse, specular : (H, W, 3) float32, unit world-space photometric normals (0 outside ``valid``).
    scan : the scan rendered into the same pixel grid (:func:`render_scan_normals`), a window of it.
    valid : (H, W) bool, the solved maps' mask.
    settings : sigma, weights and gate.
    lobes : (diffuse, specular): which to fuse.
    compiled : the compiled passes (:mod:`scan_normals_kernel`, equal to float32 rounding) or numpy's
        (False); None: compiled when numba can be imported.
    out : per lobe fused, a (h, w, 3) float32 array (the window's size) that receives the fused normals
        and becomes ``FusedNormal.normals``; it may be the lobe's own photometric normals' window (every
        pixel is read before it is written, and neither lobe reads the other's photometric normals once
        the first is written). None: new arrays.

    Returns
    -------
    ``{"diffuse": FusedNormal, "specular": FusedNormal}`` for the lobes fused, over the scan's window.
    """
    if diffuse.shape != (*valid.shape, 3) or specular.shape != diffuse.shape:
        raise ShapeError(f"fuse_scan_normals: diffuse {diffuse.shape}, specular {specular.shape}, mask {valid.shape}")
    r0, r1, c0, c1 = scan.window
    if scan.normals.shape != (r1 - r0, c1 - c0, 3) or r0 < 0 or c0 < 0 or r1 > valid.shape[0] or c1 > valid.shape[1]:
        raise ShapeError(f"fuse_scan_normals: scan window {scan.window} of {scan.normals.shape} in {valid.shape}")
    win = (slice(r0, r1), slice(c0, c1))
    region = valid[win] & scan.hit & (scan.cos_view > MIN_COS_VIEW)
    names = [n for n, on in zip(("diffuse", "specular"), lobes) if on]
    if compiled if compiled is not None else numba_available():
        return _fuse_compiled(diffuse[win], specular[win], scan, region, settings, names, out or {})
    w = region.astype(np.float32)
    low, gate_low = _LowPass(w, settings.sigma_px), _LowPass(w, GATE_SIGMA_PX)
    photo = {"diffuse": diffuse[win].astype(np.float32), "specular": specular[win].astype(np.float32)}
    masked = {n: v * w[..., None] for n, v in (*photo.items(), ("scan", scan.normals))}  # once for both sigmas
    lp_photo = {n: low(masked[n]) for n in photo if n in names or settings.weight is None or settings.gain is None}
    lp_scan, gate_scan = low(masked["scan"]), gate_low(masked["scan"])
    adaptive = settings.gate_noise is not None and "diffuse" in names  # the diffuse lobe's gate only
    given = out or {}
    gate_photo = {n: gate_low(masked[n]) for n in photo if n in names or adaptive}
    scan_high = scan.normals - lp_scan
    step = max(1, int(np.sqrt(np.count_nonzero(region) / STATS_PIXELS)))
    sub = (slice(None, None, step), slice(None, None, step))
    fallback = np.all(photo["diffuse"][sub] == photo["specular"][sub], axis=-1)  # specular fell back
    out = {}
    for name in names:
        other = "specular" if name == "diffuse" else "diffuse"
        p, g = photo[name], gate_photo[name]
        cos_p_scan = np.einsum("...i,...i->...", g, gate_scan)
        lengths = _norm(g) * _norm(gate_scan)
        used = region & (cos_p_scan > np.float32(np.cos(np.radians(settings.gate_deg))) * lengths)
        low_used, gate_deg = used, settings.gate_deg  # the pixels whose low band takes the scan's share
        if adaptive and name == "diffuse":
            both = region[sub] & ~fallback
            if both.any():
                var_p, _ = hat_variances(g[sub][both], gate_scan[sub][both], gate_photo[other][sub][both])
                gate_deg = min(gate_deg, settings.gate_noise * float(np.degrees(np.sqrt(var_p))))
                low_used = used & (cos_p_scan > np.float32(np.cos(np.radians(gate_deg))) * lengths)
        high = p - lp_photo[name]
        stats = used[sub]
        lp_other = lp_photo.get(other, lp_photo[name])  # absent only when both settings are given (unused)
        gain, weight = _gain_and_weight(
            settings,
            {"p": high[sub], "c": scan_high[sub], "o": (photo[other] - lp_other)[sub]},
            {"p": lp_photo[name][sub], "c": lp_scan[sub], "o": lp_other[sub]},
            stats & ~fallback,
            low_used[sub] & ~fallback,
        )
        fused = high  # lp_photo + k (lp_scan - lp_photo) where low_used + a high, in place
        fused *= np.float32(gain)
        fused += lp_photo[name]
        share = np.where(low_used, np.float32(weight), np.float32(0.0))
        fused += (lp_scan - lp_photo[name]) * share[..., None]
        fused /= np.maximum(_norm(fused), np.float32(1e-12))[..., None]
        np.copyto(fused, p, where=~used[..., None])
        if name in given:
            np.copyto(given[name], fused)
            fused = given[name]
        out[name] = FusedNormal(
            scan.window,
            fused,
            used,
            round(float(weight), 4),
            round(float(gain), 4),
            round(float(gate_deg), 3),
            int(np.count_nonzero(low_used)),
        )
    return out


def _sub_low(planes: np.ndarray, sub: tuple[slice, slice], first: int) -> np.ndarray:
    """(n, 3) float32: a field's low-pass at the subsample, ``planes`` (10, h, w) as :func:`masked_planes`'
    low-passed (divided by the weight's plane as :class:`_LowPass` divides)."""
    inv = 1.0 / np.maximum(planes[0][sub], np.float32(1e-6))
    return np.stack([planes[first + c][sub] * inv for c in range(3)], axis=-1).reshape(-1, 3)


def _fuse_compiled(
    diffuse: np.ndarray,
    specular: np.ndarray,
    scan: ScanRender,
    region: np.ndarray,
    settings: ScanFusion,
    names: list[str],
    given: dict[str, np.ndarray],
) -> dict[str, FusedNormal]:
    """:func:`fuse_scan_normals` over the scan's window by the compiled passes (same arguments, cut to the
    window; ``region`` (h, w) bool; ``given``: ``out``): the weighted fields as planes, each plane's two Gaussians, the
    weights from the subsample (numpy, as the numpy version), then one pass per lobe."""
    from id2reflectance.processing.solve import scan_normals_kernel as kernel  # imports numba: only when used

    photo = {
        "diffuse": diffuse if diffuse.dtype == np.float32 else diffuse.astype(np.float32),
        "specular": specular if specular.dtype == np.float32 else specular.astype(np.float32),
    }
    h, w = region.shape
    planes = np.empty((kernel.PLANES, h, w), np.float32)
    kernel.masked_planes(photo["diffuse"], photo["specular"], scan.normals, region, planes)
    if scan.step >= 2:  # the gate's Gaussian on the image's 2 x 2 blocks, whatever the window's origin
        grid = np.array([2, scan.window[0] % 2, scan.window[2] % 2], np.int64)
        gate = np.empty((kernel.PLANES, *kernel.half_shape(h, w, (int(grid[1]), int(grid[2])))), np.float32)
        kernel.decimate2(planes, int(grid[1]), int(grid[2]), gate)
        # the 2 x 2 means (0.25 px^2 along each axis) and the bilinear interpolation back (0.75 px^2 on
        # average) complete the gate's Gaussian
        gate_sigma = float(np.sqrt(GATE_SIGMA_PX**2 - 1.0) / 2)
    else:
        grid, gate, gate_sigma = np.array([1, 0, 0], np.int64), planes.copy(), GATE_SIGMA_PX
    for k in range(kernel.PLANES):  # in place (fresh pages cost a fault each)
        _blur(gate[k], gate_sigma, out=gate[k])
        _blur(planes[k], settings.sigma_px, out=planes[k])
    low = planes
    first = {"diffuse": 1, "specular": 4}
    step = max(1, int(np.sqrt(np.count_nonzero(region) / STATS_PIXELS)))
    sub = (slice(None, None, step), slice(None, None, step))
    in_sub = region[sub].reshape(-1)
    fallback = np.all(photo["diffuse"][sub] == photo["specular"][sub], axis=-1).reshape(-1)
    rr, cc = np.meshgrid(np.arange(0, h, step), np.arange(0, w, step), indexing="ij")
    at = np.empty((rr.size, 9), np.float32)
    kernel.gate_samples(gate, grid, rr.ravel(), cc.ravel(), at)
    gate_sub = {"diffuse": at[:, 0:3], "specular": at[:, 3:6], "scan": at[:, 6:9]}
    low_sub = {n: _sub_low(low, sub, first[n]) for n in first} | {"scan": _sub_low(low, sub, 7)}
    photo_sub = {n: v[sub].reshape(-1, 3) for n, v in photo.items()}
    scan_high = scan.normals[sub].reshape(-1, 3) - low_sub["scan"]
    adaptive = settings.gate_noise is not None and "diffuse" in names
    out = {}
    for name in names:
        other = "specular" if name == "diffuse" else "diffuse"
        g, gs = gate_sub[name], gate_sub["scan"]
        cos_p_scan = np.einsum("...i,...i->...", g, gs)
        lengths = _norm(g) * _norm(gs)
        cos_gate = np.float32(np.cos(np.radians(settings.gate_deg)))
        used = in_sub & (cos_p_scan > cos_gate * lengths)
        low_used, gate_deg, cos_low = used, settings.gate_deg, cos_gate
        if adaptive and name == "diffuse":
            both = in_sub & ~fallback
            if both.any():
                var_p, _ = hat_variances(g[both], gs[both], gate_sub[other][both])
                gate_deg = min(gate_deg, settings.gate_noise * float(np.degrees(np.sqrt(var_p))))
                cos_low = np.float32(np.cos(np.radians(gate_deg)))
                low_used = used & (cos_p_scan > cos_low * lengths)
        gain, weight = _gain_and_weight(
            settings,
            {"p": photo_sub[name] - low_sub[name], "c": scan_high, "o": photo_sub[other] - low_sub[other]},
            {"p": low_sub[name], "c": low_sub["scan"], "o": low_sub[other]},
            used & ~fallback,
            low_used & ~fallback,
        )
        params = np.array([cos_gate, cos_low, gain, weight], np.float32)
        fused, used_px = given.get(name, np.empty((h, w, 3), np.float32)), np.empty((h, w), bool)
        low_pixels = kernel.fuse_rows(photo[name], region, low, gate, grid, first[name], params, fused, used_px)
        out[name] = FusedNormal(
            scan.window,
            fused,
            used_px,
            round(float(weight), 4),
            round(float(gain), 4),
            round(float(gate_deg), 3),
            int(low_pixels),
        )
    return out


REGISTER_MAX_PX = 3.0
"""The largest shift (pixels) :func:`scan_shift` accepts; a larger estimate is not applied (0, 0)."""


def scan_shift(
    render: ScanRender, diffuse: np.ndarray, specular: np.ndarray, valid: np.ndarray, *, iterations: int = 6
) -> tuple[float, float]:
    """The scan's sub-pixel misregistration in one camera: the 2D shift ``d`` (pixels, x then y) with
    the photometric normals' low band at ``x`` matching the scan's at ``x + d``.

    Gauss-Newton on ``sum |P(x) - S(x + d)|^2`` (Lucas-Kanade with a translation): ``P`` the sum of
    both lobes' photometric normals, ``S`` the scan's normals, each low-passed at ``GATE_SIGMA_PX``
    over its own region (the photometric over the valid pixels that hit the scan, the scan over its
    hits), at the pixels whose Gaussian lies wholly inside both and whose two low-passes agree
    within ``ScanFusion.gate_deg``'s default (hair, eyes). A calibration error of the scan against
    the cameras (0.5 mm at 256 px: about 0.6 px) shows as such a shift of the scan's relief.

    Parameters
    ----------
    render : the scan rendered into the camera (:func:`render_scan_normals`), a window of its grid.
    diffuse, specular : (H, W, 3) float32, unit world-space photometric normals (0 outside ``valid``).
    valid : (H, W) bool, the solved maps' mask.

    Returns
    -------
    (dx, dy) in pixels; (0, 0) where there are too few pixels, the system is singular or the
    estimate is larger than ``REGISTER_MAX_PX``.
    """
    r0, r1, c0, c1 = render.window
    win = (slice(r0, r1), slice(c0, c1))
    seen = render.hit & (render.cos_view > MIN_COS_VIEW)
    region = valid[win] & seen
    w_p, w_s = region.astype(np.float32), seen.astype(np.float32)
    photo = (diffuse[win] + specular[win]).astype(np.float32)
    p = _LowPass(w_p, GATE_SIGMA_PX)(photo * w_p[..., None])
    p /= np.maximum(_norm(p), np.float32(1e-12))[..., None]
    scan = _LowPass(w_s, GATE_SIGMA_PX)(render.normals * w_s[..., None])
    inside = (_blur(w_p, GATE_SIGMA_PX) > np.float32(0.999)) & (_blur(w_s, GATE_SIGMA_PX) > np.float32(0.999))
    # where the scan was ray cast every 2+ pixels (cameras from 768 px) the low-passed fields are
    # iterated on every 2nd pixel (a quarter of the work; they are smooth at GATE_SIGMA_PX) and the
    # shift scaled back to the image's pixels
    f = 2 if render.step >= 2 else 1
    if f > 1:
        p, scan, inside = p[::f, ::f], scan[::f, ::f], inside[::f, ::f]
    h, w = inside.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.zeros(2)
    cos_gate = np.float32(np.cos(np.radians(ScanFusion.gate_deg)))
    for _ in range(iterations):
        moved = cv2.remap(scan, xx + np.float32(d[0]), yy + np.float32(d[1]), cv2.INTER_LINEAR)
        moved /= np.maximum(_norm(moved), np.float32(1e-12))[..., None]
        gy, gx = np.gradient(moved, axis=(0, 1))
        use = inside & (np.einsum("...i,...i->...", p, moved) > cos_gate)
        use[[0, -1], :] = False
        use[:, [0, -1]] = False
        if np.count_nonzero(use) < 100:
            return 0.0, 0.0
        jx, jy, r = gx[use].astype(np.float64), gy[use].astype(np.float64), (p - moved)[use].astype(np.float64)
        a = np.array([[np.sum(jx * jx), np.sum(jx * jy)], [np.sum(jx * jy), np.sum(jy * jy)]])
        b = np.array([np.sum(jx * r), np.sum(jy * r)])
        if np.linalg.cond(a) > 1e6:
            return 0.0, 0.0
        step = np.linalg.solve(a, b)
        d += step
        if f * np.hypot(*d) > REGISTER_MAX_PX:
            return 0.0, 0.0
        if f * np.hypot(*step) < 1e-3:
            break
    return float(f * d[0]), float(f * d[1])


def region_window(valid: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1): the bounding box of ``valid`` (H, W) bool grown by ``margin``
    pixels and clipped to the image; None when nothing is valid."""
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return None
    h, w = valid.shape
    return (
        max(0, int(rows[0]) - margin),
        min(h, int(rows[-1]) + 1 + margin),
        max(0, int(cols[0]) - margin),
        min(w, int(cols[-1]) + 1 + margin),
    )


def _crop_to_scan(render: ScanRender, valid: np.ndarray, margin: int) -> ScanRender | None:
    """``render`` cut to the box of its valid pixels that hit the scan, grown by ``margin`` (the
    Gaussians see zero weight beyond it either way: the same fusion on fewer pixels where the mask's
    box is larger than the scan's image, e.g. a mask over the whole frame); None: no such pixel."""
    r0, r1, c0, c1 = render.window
    box = region_window(render.hit & valid[r0:r1, c0:c1], margin)
    if box is None:
        return None
    a0, a1, b0, b1 = box
    if (a0, a1, b0, b1) == (0, r1 - r0, 0, c1 - c0):
        return render
    cut = (slice(a0, a1), slice(b0, b1))
    window = (r0 + a0, r0 + a1, c0 + b0, c0 + b1)
    return ScanRender(window, render.normals[cut], render.hit[cut], render.cos_view[cut], render.step)


@dataclass
class SessionScan:
    """The session's scan, loaded once for all its cameras (None: the session has none)."""

    mesh: FaceMesh | None
    scene: object = None
    vertex_normals: np.ndarray | None = None


def load_session_scan(session: Session) -> SessionScan:
    """The session's scan and its ray-casting scene (``SessionScan(None)`` without ``"mesh"``).

    Raises
    ------
    InputFileError
        The mesh file does not load or is degenerate (names ``session.json``'s ``mesh``).
    """
    if session.mesh is None:
        return SessionScan(None)
    from id2reflectance.processing.registration.register import load_scan

    mesh = load_scan(session)
    scene, vn = scan_scene(mesh)
    return SessionScan(mesh, scene, vn)


def fuse_camera_normals(
    maps: CameraMaps, camera: Camera, scan: SessionScan, lobes: tuple[bool, bool], settings: ScanFusion
) -> dict[str, Any]:
    """Replace ``maps.normal_diffuse`` / ``maps.normal_specular`` (in place) by their fusion with the scan.

    Parameters
    ----------
    maps : the camera's solved maps (world-space unit normals, its raw pixel grid).
    camera : the camera (its rays through the lens model).
    scan : :func:`load_session_scan`'s result (without a mesh nothing is done: ``{"used": False}``).
    lobes : (diffuse, specular): which normals to fuse (those whose lobe was denoised).
    settings : the fusion's sigma, weights and gate.

    Returns
    -------
    The ``solve.json`` record: ``{"used": True, "sigma_px", "gate_deg", "shift_px", "diffuse":
    {"pixels", "weight", "gain"}, "specular": {...}}`` (the scan's estimated shift ``[dx, dy]`` in
    pixels, with ``register``; pixels whose normal came from the fusion, 0 for a lobe not fused; the
    low band's scan weight and the high band's gain applied).
    """
    if scan.mesh is None or scan.vertex_normals is None or not any(lobes):
        return {"used": False}
    out: dict[str, Any] = {"used": True, "sigma_px": settings.sigma_px, "gate_deg": settings.gate_deg}
    out |= {"diffuse": {"pixels": 0}, "specular": {"pixels": 0}}
    margin = 2 * int(np.ceil(3.0 * GATE_SIGMA_PX)) + 2
    window = region_window(maps.mask, margin)
    if window is None:
        return out
    render = _crop_to_scan(
        render_scan_normals(scan.mesh, scan.scene, scan.vertex_normals, camera, window=window), maps.mask, margin
    )
    if render is None:
        return out
    if settings.register:
        shift = scan_shift(render, maps.normal_diffuse, maps.normal_specular, maps.mask)
        out["shift_px"] = [round(shift[0], 4), round(shift[1], 4)]
        if shift != (0.0, 0.0):
            render = render_scan_normals(
                scan.mesh, scan.scene, scan.vertex_normals, camera, window=render.window, shift=shift
            )
    r0, r1, c0, c1 = render.window
    win = (slice(r0, r1), slice(c0, c1))
    into = {name: getattr(maps, f"normal_{name}")[win] for name in ("diffuse", "specular")}
    fused = fuse_scan_normals(
        maps.normal_diffuse, maps.normal_specular, render, maps.mask, settings, lobes=lobes, out=into
    )  # written in place: each lobe from the solved normals (``out``)
    for name, f in fused.items():
        out[name] = {"pixels": int(f.used.sum()), "weight": f.weight, "gain": f.gain}
        out[name] |= {"gate_deg": f.gate_deg, "low_pixels": f.low_pixels}
    return out
