"""Lighting-invariant features and the similarity fit used to align a camera's frames.

The frames of a light-stage session are lit by different patterns, so their intensities
differ by a smooth, pattern-dependent shading factor. Its logarithm is additive and
smooth, so the high-passed log luminance ``log(Y + eps) - blur(log(Y + eps))`` keeps the
skin texture and the silhouette and drops most of the shading, whatever the pattern
(:func:`frame_features`). Frames are matched to the reference on it by an inverse
compositional Gauss-Newton fit of an image similarity (rotation, scale, translation),
coarse to fine on an image pyramid, at sample points of the reference's face region
(:func:`fit_similarity`).

Pixel coordinates: ``(x = column, y = row)``, ``(0, 0)`` the centre of the top-left pixel.
A similarity ``M`` (2 x 3 float64) maps a reference pixel to where the same surface point
is in the frame: ``x_frame = M[:, :2] @ x_ref + M[:, 2]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from id2reflectance.processing.solve.align_kernel import match_sums, steepest_descent
from id2reflectance.processing.solve.separation import LUMINANCE_709

FEATURE_SIGMA = 3.0
"""Gaussian sigma (pixels of the finest level) of the high-pass that removes shading."""
COARSE_TOL_PX = 0.02
"""A coarse pyramid level's Gauss-Newton iterations stop once an update moves the sample points by
less than this (pixels of that level): the next finer level refines it."""
MIN_COARSE_SAMPLES = 4096
"""A coarse pyramid level keeps at least this many sample points (:func:`sample_points`)."""
SMOOTH_SIGMA = 1.0
"""Gaussian sigma (pixels) of the pre-smoothing: a band-pass, so that linear interpolation
of the features is accurate (no pull toward whole-pixel shifts) and aliasing is damped."""
MATCHED_MISMATCH = 1e-4
"""A frame whose features' mismatch with its template without motion (``1 - ncc``) is under this
matches it already, to within float32 rounding and the bilinear sampling: a motion fitted to it has
nothing to explain and is not significant, whatever the noise-based precision (about 0 on a noise-free
frame, whose mismatch is about 1e-12). Measured on the tests' smooth synthetic texture (wavelengths of
20 px and more), log-luminance features: a misalignment of 0.03 px costs 1.1e-4, 0.01 px 1.2e-5, 0.1 px
1.3e-3; finer (skin) texture costs more per pixel, and the issue's sensor noise 1e-2 and more."""
PRECISION_FLOOR_PX = 0.01
"""Least standard deviation (pixels of the finest level) :func:`displacement_sigma` reports: the fit's
own resolution on noise-free features (float32 features, bilinear samples; the Gauss-Newton update's
stop at 0.001 px), where the residual-based estimate goes to 0."""


def _finite(img: np.ndarray) -> np.ndarray:
    """``img`` (a fresh float32 array, changed in place) with NaN read as 0.

    Decoded frames are finite (the loader refuses others); this only guards the features
    against a NaN that would spread through every blur.
    """
    return cv2.patchNaNs(img, 0.0)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 Rec.709 luminance of (H, W, 3) linear RGB; non-finite values read as 0."""
    y = cv2.transform(np.ascontiguousarray(rgb, np.float32), LUMINANCE_709[None, :].astype(np.float32))
    return _finite(y)


def opponent(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 ``R - G`` of (H, W, 3) linear RGB; non-finite values read as 0."""
    return _finite(np.subtract(rgb[..., 0], rgb[..., 1], dtype=np.float32))


def band_pass(img: np.ndarray, *, sigma: float = FEATURE_SIGMA, smooth: float = SMOOTH_SIGMA) -> np.ndarray:
    """``blur_smooth(img) - blur_sigma(img)`` of an (H, W) float32 image (a new array).

    The wide blur runs at half resolution (``pyrDown``, a Gaussian of the remaining width,
    ``pyrUp``: the same sigma within a few percent, a quarter of the work).
    """
    h, w = img.shape
    half = cv2.pyrDown(img)
    rest = np.sqrt(max(sigma * sigma - 2.0, 0.25)) / 2.0  # pyrDown + pyrUp blur about sqrt(2) px
    low = cv2.pyrUp(cv2.GaussianBlur(half, (0, 0), rest, borderType=cv2.BORDER_REPLICATE), dstsize=(w, h))
    out = cv2.GaussianBlur(img, (0, 0), smooth, borderType=cv2.BORDER_REPLICATE) if smooth > 0 else img.copy()
    out -= low
    return out


def log_features(y: np.ndarray, *, eps: float, overwrite: bool = False) -> np.ndarray:
    """Band-passed ``log(max(y, 0) + eps)`` of an (H, W) float32 luminance image; ``overwrite``: ``y``
    (a scratch array of the caller's) holds the log on return, no copy of it is made."""
    t = np.maximum(y, 0.0, out=y if overwrite else None)
    t += np.float32(eps)
    cv2.log(t, t)
    return band_pass(t)


def frame_features(rgb: np.ndarray, *, eps: float) -> np.ndarray:
    """High-passed log luminance of one frame.

    Parameters
    ----------
    rgb : (H, W, 3) float32 linear Rec.709 relative radiance (non-finite values are read as 0).
    eps : floor added to the luminance before the log (relative radiance, > 0): a fraction
        of the face's luminance (``align.LOG_EPS``), so that the background and deep shadow are flat.

    Returns
    -------
    (H, W) float32, ``blur_1(log(Y + eps)) - blur_3(log(Y + eps))`` (Gaussian sigmas in
    pixels, :data:`SMOOTH_SIGMA` and :data:`FEATURE_SIGMA`; a band-pass, unitless, about
    zero mean).
    """
    return log_features(luminance(rgb), eps=eps)


def opponent_features(rgb: np.ndarray) -> np.ndarray:
    """Band-passed red-minus-green of one frame: blind to white specular reflection.

    Specular reflection of a dielectric keeps the (white) light's colour, so it adds the
    same amount to R, G and B: ``R - G`` of a parallel-polarised frame equals that of the
    cross-polarised frame of the same pattern. Used to match the two.

    Parameters
    ----------
    rgb : (H, W, 3) float32 linear Rec.709 relative radiance.

    Returns
    -------
    (H, W) float32 band-passed ``R - G`` (relative radiance).
    """
    return band_pass(opponent(rgb))


def similarity_matrix(a: float, b: float, tx: float, ty: float, cx: float, cy: float) -> np.ndarray:
    """(3, 3) float64 ``x -> [[1 + a, -b], [b, 1 + a]] (x - c) + c + t`` in homogeneous form."""
    return np.array(
        [
            [1.0 + a, -b, tx + cx - (1.0 + a) * cx + b * cy],
            [b, 1.0 + a, ty + cy - b * cx - (1.0 + a) * cy],
            [0.0, 0.0, 1.0],
        ]
    )


def similarity_inverse(a: float, b: float, tx: float, ty: float, cx: float, cy: float) -> np.ndarray:
    """(3, 3) float64 inverse of :func:`similarity_matrix` ``(a, b, tx, ty, cx, cy)``, in closed form:
    the linear part ``[[p, -b], [b, p]]`` (``p = 1 + a``) inverts to ``[[p, b], [-b, p]] / (p^2 + b^2)``
    (the Gauss-Newton update's inverse, once per iteration: 2 us against ``np.linalg.inv``'s 10)."""
    p = 1.0 + a
    d = p * p + b * b
    ia, ib = p / d, b / d  # the inverse's linear part: [[ia, ib], [-ib, ia]]
    ux = tx + cx - p * cx + b * cy  # the update's translation column
    uy = ty + cy - b * cx - p * cy
    return np.array([[ia, ib, -(ia * ux + ib * uy)], [-ib, ia, ib * ux - ia * uy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Similarity:
    """An image similarity about the image centre, the form reported per frame.

    tx, ty : displacement of the image centre, pixels; rotation_deg : from +x toward +y
    (clockwise on screen); scale : 1 = none.
    """

    tx: float
    ty: float
    rotation_deg: float
    scale: float

    @classmethod
    def from_matrix(cls, M: np.ndarray, width: int, height: int) -> Similarity:
        cx, cy = (width - 1) / 2, (height - 1) / 2
        A = np.asarray(M, np.float64)[:2, :2]
        t = np.asarray(M, np.float64)[:2, 2] + A @ [cx, cy] - [cx, cy]
        return cls(float(t[0]), float(t[1]), float(np.degrees(np.arctan2(A[1, 0], A[0, 0]))), float(np.hypot(*A[:, 0])))

    def max_displacement(self, box: tuple[float, float, float, float], width: int, height: int) -> float:
        """Largest displacement (pixels) over the corners of ``box`` = (x0, y0, x1, y1)."""
        M = self.matrix(width, height)
        x0, y0, x1, y1 = box
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
        moved = corners @ M[:2, :2].T + M[:2, 2]
        return float(np.max(np.linalg.norm(moved - corners, axis=1)))

    def matrix(self, width: int, height: int) -> np.ndarray:
        """(3, 3) float64 homogeneous matrix of this similarity in pixel coordinates."""
        r = np.radians(self.rotation_deg)
        a, b = self.scale * np.cos(r) - 1.0, self.scale * np.sin(r)
        return similarity_matrix(a, b, self.tx, self.ty, (width - 1) / 2, (height - 1) / 2)


class _Match:
    """The sums of :func:`~id2reflectance.processing.solve.align_kernel.match_sums` of one
    level's samples under a similarity, and what the fit derives from them."""

    def __init__(self, level: tuple, img: np.ndarray, M: np.ndarray) -> None:
        pts, sd, _, tmpl, _ = level
        s = match_sums(img, pts, M, tmpl, sd)
        self.n = n = s[0]
        if n < 16:
            return
        self.vm, self.tm = s[1] / n, s[4] / n
        self.var_v = max(s[2] - n * self.vm * self.vm, 0.0)
        self.var_t = max(s[5] - n * self.tm * self.tm, 0.0)
        self.cov = s[3] - n * self.vm * self.tm
        self.sdv, self.sdt, self.sd = s[6:10], s[10:14], s[14:18]

    def ncc(self) -> float:
        """Normalised cross-correlation of the samples with the template (0 when undefined)."""
        den = np.sqrt(self.var_v * self.var_t)
        return float(self.cov / den) if den > 0 else 0.0

    def gain(self) -> float:
        """The frame-to-template contrast ``cov / var_v`` (least squares)."""
        return float(self.cov / max(self.var_v, 1e-20))

    def gradient(self) -> np.ndarray:
        """(4,) ``sd^T err`` of the gain- and offset-matched error ``g (v - mean v) - (t - mean t)``
        (without the matching when the gain is not positive: ``v - t``)."""
        g = self.gain()
        if g > 0:
            return g * (self.sdv - self.vm * self.sd) - (self.sdt - self.tm * self.sd)
        return self.sdv - self.sdt

    def residual_variance(self) -> float:
        """Variance of the gain- and offset-matched error per sample (4 parameters fitted)."""
        g = self.gain()
        g = g if g > 0 else 1.0
        return max(g * g * self.var_v - 2.0 * g * self.cov + self.var_t, 0.0) / max(self.n - 4.0, 1.0)


@dataclass(frozen=True, eq=False)
class ReferencePyramid:
    """The reference's features, prepared once per camera for :func:`fit_similarity`.

    levels : per pyramid level (finest first): sample points (N, 2) float32 (pixels of
        that level), their steepest-descent images (N, 4) float32, the inverse Hessian
        (4, 4) float64, the template values (N,) float32 and the level's centre (cx, cy).
    """

    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]]
    nccs: dict = field(default_factory=dict, repr=False)
    """:func:`feature_ncc` per (frame features, motion) already computed (the fits, the tests of a motion
    and of no motion ask for the same ones): ``(id(image), M bytes) -> (image, ncc)``."""


def pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``img`` and ``levels - 1`` successive ``cv2.pyrDown`` halvings (finest first)."""
    out = [img]
    for _ in range(levels - 1):
        out.append(cv2.pyrDown(out[-1]))
    return out


def sample_points(
    region: np.ndarray, *, levels: int, max_samples: int, coarse_region: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sample pixels per pyramid level (finest first): ``(ys, xs)`` int arrays.

    Parameters
    ----------
    region : (H, W) bool pixels used at the finest level.
    levels : pyramid levels (>= 1).
    max_samples : at most about this many points at the finest level (a regular stride); a
        quarter of that at the next level and so on, but at least :data:`MIN_COARSE_SAMPLES`
        (a coarse level only starts the next finer one: its points cost as much as the finest's).
    coarse_region : (H, W) bool pixels used at the coarser levels (default ``region``).
    """
    out = []
    reg = (region if coarse_region is None else coarse_region).astype(np.uint8)
    h, w = region.shape
    for lv in range(levels):
        if lv == 0:
            r = region.copy()
        else:
            h, w = (h + 1) // 2, (w + 1) // 2  # cv2.pyrDown sizes
            r = cv2.resize(reg, (w, h), interpolation=cv2.INTER_AREA) > 0
        r[:2], r[-2:], r[:, :2], r[:, -2:] = False, False, False, False
        ys, xs = np.nonzero(r)
        most = max(max_samples >> (2 * lv), min(max_samples, MIN_COARSE_SAMPLES))
        if len(xs) > most:
            step = int(np.ceil(np.sqrt(len(xs) / most)))
            keep = (ys % step == 0) & (xs % step == 0)
            ys, xs = ys[keep], xs[keep]
        out.append((ys, xs))
    return out


def reference_pyramid(
    features: np.ndarray | list[np.ndarray], points: list[tuple[np.ndarray, np.ndarray]]
) -> ReferencePyramid:
    """Steepest-descent images and Hessians of the reference features at the sample points.

    Parameters
    ----------
    features : (H, W) float32 reference features (:func:`frame_features`), or their pyramid.
    points : :func:`sample_points` of the same levels (fewer levels are used when the
        features' pyramid is shorter).

    Returns
    -------
    The prepared levels; a level with fewer than 16 points or a singular Hessian ends the
    pyramid there (it may be empty).
    """
    feats = features if isinstance(features, list) else pyramid(features, len(points))
    out = []
    for T, (ys, xs) in zip(feats, points, strict=False):
        h, w = T.shape
        if len(xs) < 16:
            break
        cx, cy = (w - 1) / 2, (h - 1) / 2
        pts, sd, tmpl, H = steepest_descent(T, ys, xs, cx, cy)
        if np.linalg.cond(H) > 1e12:
            break
        out.append((pts, sd, np.linalg.inv(H), tmpl, (cx, cy)))
    return ReferencePyramid(out)


def feature_ncc(ref: ReferencePyramid, frame_features_pyramid: list[np.ndarray], M: np.ndarray) -> float:
    """Normalised cross-correlation of the reference's and the frame's features at the
    finest level's sample points under ``M`` ((3, 3) reference pixel -> frame pixel); 0
    when fewer than 16 samples fall inside the frame."""
    img = frame_features_pyramid[0]
    key = (id(img), np.asarray(M, np.float64).tobytes())
    kept = ref.nccs.get(key)
    if kept is not None and kept[0] is img:
        return kept[1]
    m = _Match(ref.levels[0], img, M)
    return _kept_ncc(ref, img, M, m)


def _kept_ncc(ref: ReferencePyramid, img: np.ndarray, M: np.ndarray, m: _Match) -> float:
    """:func:`feature_ncc` from the finest level's sums ``m`` of ``img`` under ``M``, kept in ``ref.nccs``."""
    ncc = m.ncc() if m.n >= 16 else 0.0
    ref.nccs[(id(img), np.asarray(M, np.float64).tobytes())] = (img, ncc)
    return ncc


def still_mismatch(ref: ReferencePyramid, frame_features_pyramid: list[np.ndarray]) -> float:
    """``1 - ncc(I)``: the frame's mismatch with the template without motion (:func:`feature_ncc` at
    the finest level's sample points); under :data:`MATCHED_MISMATCH` the frame already matches."""
    return 1.0 - feature_ncc(ref, frame_features_pyramid, np.eye(3))


def explained_fraction(ref: ReferencePyramid, frame_features_pyramid: list[np.ndarray], M: np.ndarray) -> float:
    """The share of the frame's mismatch with the template that the motion ``M`` removes.

    ``(ncc(M) - ncc(I)) / (1 - ncc(I))`` at the finest level's sample points (``ncc`` of
    :func:`feature_ncc`, ``I`` no motion): near 1 when the features differ by the motion
    (a frame that moved), near 0 when they differ by lighting or noise that a motion
    happens to fit slightly better, negative when the motion fits worse than none (a
    smooth, textureless surface whose shading was fitted as motion on the silhouette), at
    least -1 (a ratio of two mismatches, each within a rounding of its own size, is no
    evidence beyond that); 0 when ``M`` is no motion or the features already match to within
    float32 rounding and interpolation (:func:`still_mismatch` under :data:`MATCHED_MISMATCH`:
    a noise-free frame's mismatch of ~1e-12 made a tiny fitted bias read as -1.9e8).
    """
    n0 = 1.0 - still_mismatch(ref, frame_features_pyramid)
    if 1.0 - n0 < MATCHED_MISMATCH or np.array_equal(M, np.eye(3)):
        return 0.0
    return max((feature_ncc(ref, frame_features_pyramid, M) - n0) / (1.0 - n0), -1.0)


def fit_similarity(
    ref: ReferencePyramid,
    frame_features_pyramid: list[np.ndarray],
    *,
    iterations: int = 30,
    tol_px: float = 1e-3,
    init: np.ndarray | None = None,
    finest: int = 0,
) -> tuple[np.ndarray, float]:
    """Inverse compositional Gauss-Newton fit of a similarity, coarse to fine.

    Parameters
    ----------
    ref : the reference's prepared pyramid.
    frame_features_pyramid : the frame's features, same levels (finest first).
    iterations : at most this many updates per level.
    tol_px : stop the finest level when an update moves the sample points by less than this
        (pixels); a coarser level stops at :data:`COARSE_TOL_PX` of its pixels (or ``tol_px`` if larger).
    init : (3, 3) starting similarity at the finest level (default identity).
    finest : the finest level fitted (0: all; 1: a first estimate that a later fit refines at
        level 0 and 1 anyway, for a quarter of the finest level's cost).

    Returns
    -------
    M : (3, 3) float64 similarity, reference pixel -> frame pixel (finest level).
    ncc : normalised cross-correlation of the reference and the aligned frame features,
        the largest over the pyramid's levels (1 = identical up to gain and offset): sensor
        noise lowers the finest level's correlation, a different face lowers every level's.
    """
    n = len(ref.levels)
    M = np.eye(3) if init is None else np.array(init, np.float64)
    M[:2, 2] /= 2.0 ** (n - 1)
    ncc = 0.0
    for lv in range(n - 1, min(finest, n - 1) - 1, -1):
        level = ref.levels[lv]
        pts, _, Hinv, _, (cx, cy) = level
        img = frame_features_pyramid[lv]
        extent = float(np.max(np.abs(pts - [cx, cy]))) if len(pts) else 1.0
        tol = tol_px if lv == 0 else max(tol_px, COARSE_TOL_PX)
        for _ in range(iterations):
            m = _Match(level, img, M)
            if m.n < 16:
                return M, 0.0
            a, b, tx, ty = Hinv @ m.gradient()
            M = M @ similarity_inverse(a, b, tx, ty, cx, cy)
            if abs(a) * extent + abs(b) * extent + abs(tx) + abs(ty) < tol:
                break
        m = _Match(level, img, M)
        if m.n >= 16:
            ncc = max(ncc, m.ncc())
        if lv == 0:
            _kept_ncc(ref, img, M, m)  # the fitted motion's feature_ncc, which the callers test
        if lv > 0:
            M = M.copy()
            M[:2, 2] *= 2.0  # to the next finer level: x_fine = 2 x_coarse
    return M, ncc


def displacement_sigma(
    ref: ReferencePyramid, frame_features_pyramid: list[np.ndarray], M: np.ndarray, *, inflation: float = 1.0
) -> float:
    """Standard deviation (pixels of the finest level) of a fitted similarity's displacement.

    The Gauss-Newton covariance ``s^2 H^-1`` of the similarity's parameters at the finest
    level, with ``s^2`` the variance of the gain-matched residual at the sample points,
    propagated to the displacement of the sample points' extreme corners (the largest over
    them). ``inflation`` scales the covariance for samples whose errors are correlated
    (neighbouring samples of band-passed features are not independent). At least
    :data:`PRECISION_FLOOR_PX`; ``inf`` when fewer than 16 samples fall inside the frame.
    """
    pts, _, Hinv, _, (cx, cy) = ref.levels[0]
    m = _Match(ref.levels[0], frame_features_pyramid[0], M)
    if m.n < 16:
        return float("inf")
    cov = m.residual_variance() * inflation * Hinv
    X, Y = pts[:, 0] - cx, pts[:, 1] - cy
    worst = 0.0
    for x, y in ((X.min(), Y.min()), (X.max(), Y.min()), (X.min(), Y.max()), (X.max(), Y.max())):
        J = np.array([[x, -y, 1.0, 0.0], [y, x, 0.0, 1.0]])
        worst = max(worst, float(np.trace(J @ cov @ J.T)))
    return max(float(np.sqrt(worst)), PRECISION_FLOOR_PX)


def pyramid_ncc(ref: ReferencePyramid, frame_features_pyramid: list[np.ndarray], M: np.ndarray) -> float:
    """The largest over the pyramid's levels of the normalised cross-correlation of the
    reference's and the frame's features under ``M`` ((3, 3), finest level's pixels): sensor
    noise lowers the finest level's, a different face every level's; 0 when no level has 16
    samples inside the frame."""
    best = 0.0
    for lv, level in enumerate(ref.levels):
        Ml = np.array(M, np.float64)
        Ml[:2, 2] /= 2.0**lv
        m = _Match(level, frame_features_pyramid[lv], Ml)
        if m.n >= 16:
            best = max(best, m.ncc())
    return best
