"""The alignment's working resolution, its face region, and the ambient light it corrects for.

Large frames are aligned at a reduced working resolution: every frame is box-averaged by
a power of two ``f`` (:func:`work_factor`: the face stays at least :data:`WORK_PX` pixels
across) once, and the features, fits and residual flow are computed on those images;
only the final resampling of a moved frame runs at the camera's resolution. Box
averaging by ``f`` maps working pixel ``x_w`` to camera pixel ``x = f x_w + (f - 1) / 2``
(pixel centres), so a motion fitted at working resolution becomes
``S M_w S^-1`` (:func:`to_camera`), with the fit's precision divided by ``f``.

Pixel coordinates: ``(x = column, y = row)``, ``(0, 0)`` the centre of the top-left pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance._shared.pages import contiguous_bands, rows_contiguous
from id2reflectance.processing.solve.separation import AXES

WORK_PX = 480
"""The working resolution keeps the face at least this many pixels across (640 before the align20
branch: a 1000 px synthetic face with pixel-scale texture, fitted at 500 px, was within 0.05 px
clean and 0.09 px with noise, against 0.03 and 0.22 px at full resolution, for a third of the CPU)."""
CROP_MARGIN = 0.25
"""The working frames cover the face's bounding box grown by this fraction of the face's extent (at
least :data:`MIN_CROP_MARGIN` camera pixels) on each side (:func:`face_window`)."""
MIN_CROP_MARGIN = 64
"""Least margin (camera pixels) of :func:`face_window` around the face's bounding box."""
MAX_CROP_SHARE = 0.75
""":func:`face_window` keeps the whole frame unless the window is at most this share of its area."""
AMBIENT_FACE = 0.5
"""A pixel whose light is more than this fraction ambient (the same in every pattern) is not face."""


def work_factor(extent: float) -> int:
    """Power-of-two box-averaging factor for a face ``extent`` pixels across (1: full resolution)."""
    return int(2 ** max(0, int(np.floor(np.log2(max(extent, 1.0) / WORK_PX)))))


def downsample(img: np.ndarray, f: int) -> np.ndarray:
    """``img`` (H, W[, C]) float32 box-averaged by ``f`` (the last ``H mod f`` rows and
    ``W mod f`` columns dropped); ``img`` itself when ``f == 1``. A strided ``img`` (a view
    of a frame file, rows of channel planes) is averaged plane by plane where ``f > 2`` (OpenCV
    sums each channel's ``f x f`` block in the same order whatever the channel count: the same
    values, checked by the tests), else a band of ``f``-row blocks at a time
    (:func:`~id2reflectance._shared.pages.contiguous_bands`); no copy of it either way."""
    if f == 1:
        return img
    h, w = img.shape[0] // f, img.shape[1] // f
    src = img[: h * f, : w * f]
    if rows_contiguous(src):
        return cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA)
    if f > 2 and src.ndim == 3 and 1 < src.shape[2] <= 4 and src.strides[1] == src.itemsize:
        planes = [cv2.resize(src[..., c], (w, h), interpolation=cv2.INTER_AREA) for c in range(src.shape[2])]
        return cv2.merge(planes)
    out = np.empty((h, w, *img.shape[2:]), img.dtype)
    for r0, band in contiguous_bands(src, multiple=f):
        cv2.resize(band, (w, len(band) // f), dst=out[r0 // f : (r0 + len(band)) // f], interpolation=cv2.INTER_AREA)
    return out


def downsample_mask(mask: np.ndarray, f: int) -> np.ndarray:
    """(H // f, W // f) bool: the working pixels at least half of whose ``f`` x ``f`` block is in
    ``mask`` (H, W) bool; as ``downsample(mask.astype(np.float32), f) >= 0.5``, box-averaged on
    8-bit values (a quarter of the memory traffic; halves round up, as ``>= 0.5``)."""
    if f == 1:
        return mask
    return downsample(np.multiply(mask.view(np.uint8), np.uint8(255)), f) >= 128


def face_window(
    box: tuple[int, int, int, int], extent: float, shape: tuple[int, int], f: int
) -> tuple[int, int, int, int]:
    """The part of the camera's frames the alignment estimates motion on: (x0, y0, x1, y1), end exclusive.

    Parameters
    ----------
    box : the face's bounding box (x0, y0, x1, y1; camera pixels, end exclusive).
    extent : the face's extent (camera pixels).
    shape : the camera's (H, W).
    f : the working factor (:func:`work_factor`): the window's origin is a multiple of it, so that
        the window's box averages are the whole frame's.

    Returns
    -------
    ``box`` grown by :data:`CROP_MARGIN` of ``extent`` (at least :data:`MIN_CROP_MARGIN`) on each
    side, within the frame; the whole frame (0, 0, W, H) when that window would cover more than
    :data:`MAX_CROP_SHARE` of it.
    """
    h, w = shape
    m = max(float(MIN_CROP_MARGIN), CROP_MARGIN * extent)
    x0, y0 = max(int(box[0] - m) // f * f, 0), max(int(box[1] - m) // f * f, 0)
    x1, y1 = min(int(np.ceil(box[2] + m)), w), min(int(np.ceil(box[3] + m)), h)
    if (x1 - x0) * (y1 - y0) > MAX_CROP_SHARE * w * h:
        return 0, 0, w, h
    return x0, y0, x1, y1


def to_camera(M: np.ndarray, f: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(3, 3) similarity in working pixels -> the same motion in camera pixels; ``origin`` (x, y): the
    camera pixel of the working frames' window's top-left corner (:func:`face_window`)."""
    ox, oy = origin
    S = np.array([[f, 0.0, (f - 1) / 2 + ox], [0.0, f, (f - 1) / 2 + oy], [0.0, 0.0, 1.0]])
    return S @ M @ np.linalg.inv(S)


def upsample_mask(
    mask: np.ndarray, f: int, shape: tuple[int, int], window: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """(H, W) bool camera-resolution copy of a working-resolution mask (rows/columns beyond the
    working image's reach copy its last ones); ``window`` (x0, y0, x1, y1): the camera pixels the
    working frames cover (:func:`face_window`; default the whole frame), False beyond it."""
    if window is not None and window != (0, 0, shape[1], shape[0]):
        x0, y0, x1, y1 = window
        out = np.zeros(shape, bool)
        out[y0:y1, x0:x1] = upsample_mask(mask, f, (y1 - y0, x1 - x0))
        return out
    if f == 1:
        return mask
    h, w = shape
    big = np.repeat(np.repeat(mask, f, axis=0), f, axis=1)
    return np.pad(big, ((0, h - big.shape[0]), (0, w - big.shape[1])), mode="edge")


def ambient_ratio(lum: dict[tuple[str, str], np.ndarray], face: np.ndarray) -> float:
    """Ambient light as a fraction of the full-on image, from the complementary patterns.

    ``gradient_a + inverse_a - full`` is what every frame receives besides the stage's
    pattern (room light): its median over the face, relative to the full-on frame's.
    0 without the cross-polarised inverse patterns.

    Parameters
    ----------
    lum : (H, W) float32 luminance per frame key (working resolution).
    face : (H, W) bool face pixels.
    """
    keys = [(f"{p}_{a}", "cross") for a in AXES for p in ("gradient", "inverse")]
    if not face.any() or not all(k in lum for k in keys):
        return 0.0
    full = lum[("full", "cross")]
    amb = sum(lum[(f"gradient_{a}", "cross")] + lum[(f"inverse_{a}", "cross")] for a in AXES) / 3.0 - full
    return float(max(np.median(amb[face]) / max(float(np.median(full[face])), 1e-12), 0.0))


def face_region(
    lum: dict[tuple[str, str], np.ndarray], mask: np.ndarray | None, reference: tuple[str, str], *, inverses: bool
) -> np.ndarray:
    """(h, w) bool: the face in the (working-resolution) reference frame.

    Parameters
    ----------
    lum : (h, w) float32 luminance per frame key.
    mask : (h, w) bool face mask, or None.
    reference : the reference frame's key.
    inverses : the frames include the inverse patterns.

    Returns
    -------
    The mask when given; otherwise pixels brighter than 5 % of the reference's 99.5th
    percentile luminance and whose light is mostly the stage's: the light every pattern has
    (room light, e.g. on a lit backdrop), with inverse patterns ``mean_a(gradient_a +
    inverse_a) - full``, without them ``2 mean_a(gradient_a) - full`` (a face's three
    gradient frames add up to about 1.5 x its full-on frame: the estimate is off by at most
    about 0.38 x full on a Lambertian face), under :data:`AMBIENT_FACE` of the reference (5 x
    5 box-averaged, so that sensor noise does not decide), the largest connected part;
    brightness alone when that leaves under a tenth of the bright pixels (frames whose
    patterns do not complement) or the frames lack the three cross-polarised gradients.
    """
    if mask is not None and mask.any():
        return mask
    y = lum[reference]
    region = y > 0.05 * float(np.percentile(y, 99.5))
    gradients = [(f"gradient_{a}", "cross") for a in AXES]
    amb = None
    if inverses:
        amb = sum(lum[g] + lum[(f"inverse_{g[0][9:]}", "cross")] for g in gradients) / 3.0 - y
    elif all(g in lum for g in gradients):
        # the three gradients of a face add up to about 1.5 x the full-on frame (a Lambertian
        # surface: (1 + 2 n_a / 3) / 2 each), light that every pattern has to 3 x its share
        amb = 2.0 * sum(lum[g] for g in gradients) / 3.0 - y
    if amb is not None:
        staged = region & (cv2.blur(amb, (5, 5)) < AMBIENT_FACE * cv2.blur(y, (5, 5)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(staged.astype(np.uint8), connectivity=8)
        if n > 2:
            staged = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if staged.sum() >= 0.1 * region.sum():  # else the patterns do not complement: brightness alone
            region = staged
    return region
