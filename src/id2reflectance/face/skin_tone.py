"""Skin tone of a face photo as an individual typology angle (ITA, degrees).

``ITA = atan2(L* - 50, b*)`` (CIELAB, D65) of skin pixels: the photo is FFHQ-aligned at
:data:`ITA_CROP` pixels (:func:`~.detect.align_face`), the skin region is both cheeks and the
forehead, built from the 68 landmarks (:func:`skin_region`); pixels that are clipped
(any channel >= 250 of 255) or very dark (relative luminance < 0.01) are dropped (when
they are more than a quarter of the region, :func:`skin_exposure_warning` says so), the
sRGB code values are linearised (IEC 61966-2-1) and each pixel's ITA computed with
:func:`~id2reflectance._shared.cielab.ita_deg`; the estimate is their median (robust to
hair, shadows and highlights in the region). It measures the photographed colour, so the
scene's exposure, lighting and white balance shift it: :func:`fit_ita_calibration` maps
it onto the albedo scale from the template subjects, whose albedo ITA is known and whose
rendered front views are measured the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from id2reflectance._shared.cielab import ita_deg
from id2reflectance._shared.imageio import srgb_to_linear
from id2reflectance.errors import ShapeError
from id2reflectance.face.detect import align_face

ITA_CROP = 256  # pixels of the aligned crop the skin is sampled in
MIN_PIXELS = 20  # fewer skin pixels than this: no estimate
CLIPPED_CODE = 250  # a skin pixel with any channel at or above this 8-bit code is clipped
DARK_LUMINANCE = 0.01  # a skin pixel below this linear relative luminance is too dark
EXPOSURE_WARN_FRACTION = 0.25  # skin_exposure_warning: more of the skin than this dropped


def _shrink(poly: np.ndarray, factor: float) -> np.ndarray:
    c = poly.mean(axis=0)
    return c + factor * (poly - c)


def skin_region(landmarks: np.ndarray, shape: tuple[int, int], *, forehead: bool = True) -> np.ndarray:
    """(H, W) bool mask of the cheeks and (unless ``forehead`` is False) forehead of a face.

    Parameters
    ----------
    landmarks : (68, 2) float (x, y) pixels, dlib's 68-point order, of an upright face
        (an aligned crop; the forehead band is placed along the image's vertical).
    shape : (H, W) of the image.

    Cheeks: the polygons jaw points 1-3 (15-13), mouth corner 48 (54), nose wing 31 (35)
    and the lower eyelid 41 (46), shrunk by 0.75 about their centroids. Forehead: between
    the brows' outer-middle points (19, 24), from 0.12 h to 0.5 h above the brows, with h
    the eye-to-mouth distance.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ShapeError(f"skin_region: landmarks must be (68, 2), got {lm.shape}")
    mask = np.zeros(shape, np.uint8)
    cheeks = (
        lm[[1, 2, 3, 48, 31, 41]],
        lm[[15, 14, 13, 54, 35, 46]],
    )
    for poly in cheeks:
        cv2.fillPoly(mask, [np.round(_shrink(poly, 0.75)).astype(np.int32)], 1)
    if not forehead:
        return mask.astype(bool)
    eyes = 0.5 * (lm[36:42].mean(0) + lm[42:48].mean(0))
    mouth = 0.5 * (lm[48] + lm[54])
    h = float(np.hypot(*(mouth - eyes)))
    brow = float(lm[17:27, 1].min())
    x0, x1 = sorted((lm[19, 0], lm[24, 0]))
    top, bottom = brow - 0.5 * h, brow - 0.12 * h
    forehead = np.array([[x0, top], [x1, top], [x1, bottom], [x0, bottom]])
    cv2.fillPoly(mask, [np.round(forehead).astype(np.int32)], 1)
    return mask.astype(bool)


def ita_of_pixels(rgb: np.ndarray, mask: np.ndarray) -> float | None:
    """Median ITA (degrees) of the masked pixels of an sRGB image, or None if too few.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 sRGB code values.
    mask : (H, W) bool region to measure.
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ShapeError(f"ita_of_pixels: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
    lin = _usable_linear(img[np.asarray(mask, bool)])
    if len(lin) < MIN_PIXELS:
        return None
    return float(np.median(ita_deg(lin)))


def _linear(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) uint8 sRGB pixels -> (N, 3) float64 linear RGB and (N,) relative luminance."""
    lin = srgb_to_linear(np.asarray(px, np.float32).reshape(-1, 3) / 255.0).astype(np.float64)
    return lin, lin @ np.array([0.2126, 0.7152, 0.0722])


def _usable_linear(px: np.ndarray) -> np.ndarray:
    """The linear RGB of the skin pixels ITA uses: neither clipped nor too dark."""
    px = px[px.max(axis=1) < CLIPPED_CODE]
    lin, lum = _linear(px)
    return lin[lum >= DARK_LUMINANCE]


def skin_exposure_warning(rgb: np.ndarray, mask: np.ndarray) -> str | None:
    """A sentence for the user when more than :data:`EXPOSURE_WARN_FRACTION` of the masked
    skin is clipped or too dark (the pixels :func:`ita_of_pixels` drops), else None.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 sRGB code values.
    mask : (H, W) bool skin region (:func:`skin_region`).
    """
    px = np.asarray(rgb)[np.asarray(mask, bool)]
    if len(px) == 0:
        return None
    clipped = float(np.mean(px.max(axis=1) >= CLIPPED_CODE))
    _, lum = _linear(px)
    dark = float(np.mean((lum < DARK_LUMINANCE) & (px.max(axis=1) < CLIPPED_CODE)))
    if clipped > EXPOSURE_WARN_FRACTION:
        return f"{100 * clipped:.0f} % of the face's skin is clipped (over-exposed): its skin tone is unreliable"
    if dark > EXPOSURE_WARN_FRACTION:
        return f"{100 * dark:.0f} % of the face's skin is nearly black (under-exposed): its skin tone is unreliable"
    return None


def photo_ita_deg(image: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Skin tone (ITA, degrees) of the face with ``landmarks`` in ``image`` (see the module).

    Parameters
    ----------
    image : (H, W, 3) uint8 sRGB photo, RGB order.
    landmarks : (68, 2) float (x, y) pixels of that face in ``image``.

    Returns
    -------
    ITA in degrees (lighter skin is larger; about -50 .. 70), or None when fewer than
    :data:`MIN_PIXELS` usable skin pixels remain.
    """
    aligned, region = photo_skin(image, landmarks)
    return ita_of_pixels(aligned, region)


def photo_skin(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face FFHQ-aligned at :data:`ITA_CROP` px, (S, S, 3) uint8, and its skin region
    (:func:`skin_region`), (S, S) bool: what :func:`photo_ita_deg` and
    :func:`skin_exposure_warning` measure. ``landmarks``: (68, 2) (x, y) pixels in ``image``."""
    aligned, region, _ = aligned_skin(image, landmarks)
    return aligned, region


def aligned_skin(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`photo_skin` and the landmarks (68, 2) float64 (x, y) pixels in the aligned crop."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ShapeError(f"photo_ita_deg: landmarks must be (68, 2), got {lm.shape}")
    aligned, matrix = align_face(image, lm, size=ITA_CROP)
    lm_aligned = lm @ matrix[:, :2].T + matrix[:, 2]
    return aligned, skin_region(lm_aligned, aligned.shape[:2]), lm_aligned


MIN_CALIBRATION_PAIRS = 3


@dataclass(frozen=True)
class ItaCalibration:
    """Linear map from a photo's measured ITA to the ITA of its diffuse albedo (degrees).

    A photo's ITA depends on exposure and lighting as much as on the skin. In a dataset with
    fixed-exposure views (``rgb_exposure_stops``) the full-on front views measure almost the
    albedo's ITA (slope 1.04, 2.8 degrees RMS on 48 simulated subjects); in datasets built
    with the former per-image auto exposure they measured 1-6 degrees for albedo ITAs from
    -46 to +57. Fitting ``albedo = offset + slope * photo`` over the template subjects,
    whose albedo ITA is known and whose front view is measured exactly like a photo
    (:func:`ita_of_pixels` on the aligned crop), puts the photo on the albedo scale, so
    retrieval compares like with like.

    The fit only holds for photos lit and exposed like the templates' front views (the
    full-on pattern); estimates are clamped to the templates' albedo range so a photo far
    outside it (another exposure) cannot push retrieval beyond the darkest or lightest
    template.

    Attributes
    ----------
    offset, slope : the fit (degrees, dimensionless); slope > 0.
    pairs : templates used; residual_deg : RMS residual of the fit (degrees);
    correlation : Pearson r of photo and albedo ITA over the templates.
    low, high : the templates' albedo ITA range (degrees).
    """

    offset: float
    slope: float
    pairs: int
    residual_deg: float
    correlation: float
    low: float
    high: float

    def albedo_ita(self, photo_ita_deg: float | None) -> float | None:
        """Estimated albedo ITA (degrees) of a photo's measured ITA, None passed through."""
        if photo_ita_deg is None or not np.isfinite(photo_ita_deg):
            return None
        return float(np.clip(self.offset + self.slope * float(photo_ita_deg), self.low, self.high))


def fit_ita_calibration(
    photo_ita: Sequence[float | None], albedo_ita: Sequence[float | None], *, min_correlation: float = 0.5
) -> ItaCalibration | None:
    """Least-squares :class:`ItaCalibration` over the pairs where both values are known.

    Returns None (no usable skin-tone term) with fewer than :data:`MIN_CALIBRATION_PAIRS`
    pairs, no spread in the photo values, or a correlation below ``min_correlation``
    (photo and albedo tones do not agree well enough to map one onto the other).
    """
    if len(photo_ita) != len(albedo_ita):
        raise ShapeError(f"fit_ita_calibration: {len(photo_ita)} photo values but {len(albedo_ita)} albedo values")
    pairs = [
        (float(p), float(a))
        for p, a in zip(photo_ita, albedo_ita)
        if p is not None and a is not None and np.isfinite(p) and np.isfinite(a)
    ]
    if len(pairs) < MIN_CALIBRATION_PAIRS:
        return None
    x, y = np.array(pairs).T
    var = float(np.var(x))
    if var < 1e-9:
        return None
    cov = float(np.mean((x - x.mean()) * (y - y.mean())))
    r = cov / max(float(np.sqrt(var * np.var(y))), 1e-12)
    if r < min_correlation:
        return None
    slope = cov / var
    offset = float(y.mean() - slope * x.mean())
    residual = float(np.sqrt(np.mean((y - (offset + slope * x)) ** 2)))
    return ItaCalibration(
        offset=offset,
        slope=slope,
        pairs=len(pairs),
        residual_deg=residual,
        correlation=float(r),
        low=float(y.min()),
        high=float(y.max()),
    )
