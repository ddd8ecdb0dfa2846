"""The predicted albedo's skin tone from the photo's eye-white referenced tone (output ``template_tone``).

The eye-white referenced ITA of a photo (:func:`~id2reflectance.face.white_reference.eye_white_tone`)
stays within about a degree over -1..+1 stop and warm / cool white balance on the London photos;
the stage-2 model's reading of the photo, which ``template_tone`` used for its gain before, moved
by several degrees more and did not keep the self-reported groups in order on the model trained in
the face model's layout (``docs/evaluation.md``, "Inference on real photos"). So:

1. :func:`albedo_ita_from_eye_white`: the eye-white ITA (the scale of an evenly lit, colour-balanced
   studio photo) mapped to the albedo ITA the prediction should have, ``offset + slope * ita``
   (:data:`EYE_WHITE_TO_ALBEDO`), fitted on SIMULATED renders whose albedo is known: the front
   camera's full-on, parallel-polarised frame of 40 photo subjects (``appearance_source="photo"``:
   face shape and skin detail from the London set's even ids, the donors, with the simulator's own
   skin tone; 512 px, eyes with sclera and iris, exposed to a 95th percentile luminance of 0.6,
   8-bit sRGB; dlib landmarks), against each subject's true front-view diffuse albedo ITA over its
   skin (:func:`skin_ita` over :func:`skin_pixels` of the render's skin mask; within 1.4 degrees
   median of the template bank's view a prediction is measured on). Theil-Sen over the 40 renders:
   offset -5.78, slope 0.831 (Pearson r 0.97, median |residual| 3.9 degrees), with the eye-white
   scale :data:`~id2reflectance.face.white_reference.REFERENCE_RGB` of the London set's even ids,
   the skin sample without hair, beard and deep shadow
   (:func:`~id2reflectance.face.white_reference.skin_pixels_kept`; before it -5.51, 0.827, 4.0) and
   the smile gain (:func:`~id2reflectance.face.white_reference.smile_gain`: the face model's
   mouth reads a lift of 0.03-0.12, gain 1.02-1.08, absorbed by the offset; without the gain the
   same renders gave -7.85, 0.851, 4.1 degrees; the line before 2026-12-07, -7.02, 0.836, was
   fitted on renders of the simulator before its cameras integrated over the pixel).
   ``benchmarks/fit_eye_white_calibration.py`` redoes the fit (its inputs are recorded in
   ``benchmarks/eye_white_calibration.json``). No London photo of the evaluation set (odd ids)
   enters it. The former fit (-6.69, 0.676; 48 painted subjects at 256 px, median |residual| 8.7)
   was noisy where hair or a beard covered the skin region and where a dark face's exposure
   clipped its eye whites; its low slope was partly that noise (errors in the eye-white ITA flatten
   a fitted line).
2. :func:`retone_gain`: the per-channel gain that moves the template subject's diffuse albedo
   along the simulated skin's tone direction (:data:`SKIN_LOG_SLOPE`: per degree of ITA, the
   slope of log albedo per channel over the 48 painted face-model subjects of
   ``scripts/cpu_face_model_retrain.sh``) until its skin ITA is the target.
   The template's own detail and its deviation from the average skin colour are kept; only the
   tone moves.
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance._shared.cielab import ita_deg
from id2reflectance.errors import ShapeError

# albedo ITA = offset + slope * eye-white ITA (degrees); see the module. Printed by
# python benchmarks/fit_eye_white_calibration.py --renders DIR   (40 photo subjects, 512 px; renders cached in DIR)
EYE_WHITE_TO_ALBEDO = (-5.78, 0.831)
ALBEDO_ITA_RANGE = (-60.0, 70.0)  # targets clamped to this (the simulator's skin spans about -50 .. +62)
# d log(albedo_c) / d ITA per degree, linear R, G, B: least squares over the mean front-view skin albedo
# of the 48 simulated face-model subjects against their ITA (RMS 0.12 / 0.14 / 0.25 in log units)
SKIN_LOG_SLOPE = (0.0183, 0.0258, 0.0296)
GAIN_RANGE = (0.25, 4.0)  # per-channel gain clipped to this (as the model-read gain of template_tone)
ITA_TOLERANCE = 0.02  # degrees: retone_gain stops iterating within this of the target
MAX_ITERATIONS = 12


def albedo_ita_from_eye_white(eye_white_ita_deg: float) -> float:
    """The albedo ITA (degrees) a face with this eye-white referenced ITA (degrees) should get:
    :data:`EYE_WHITE_TO_ALBEDO`, clamped to :data:`ALBEDO_ITA_RANGE`."""
    offset, slope = EYE_WHITE_TO_ALBEDO
    return float(np.clip(offset + slope * float(eye_white_ita_deg), *ALBEDO_ITA_RANGE))


def skin_pixels(mask: np.ndarray) -> np.ndarray:
    """(S, S) bool: the view ``mask`` (S, S) bool eroded by ``max(1, S // 32)`` pixels (its border
    mixes skin with the backdrop); the whole mask when the erosion leaves nothing. The same region
    as ``evaluation.inputs.skin_mask(mask, None)``, where predictions' ITA is measured."""
    m = np.asarray(mask, bool)
    r = max(1, m.shape[0] // 32)
    eroded = cv2.erode(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    return eroded if eroded.any() else m


def skin_ita(albedo: np.ndarray, skin: np.ndarray) -> float:
    """Mean per-pixel ITA (degrees) of ``albedo`` (H, W, 3) linear Rec.709, clipped to [0, 1], over
    ``skin`` (H, W) bool (non-empty)."""
    return float(np.mean(ita_deg(np.clip(np.asarray(albedo, np.float64)[skin], 0.0, 1.0))))


def retone_gain(albedo: np.ndarray, mask: np.ndarray, target_ita_deg: float) -> tuple[float, float, float]:
    """Per-channel gain ``g = exp(SKIN_LOG_SLOPE * t)`` with ``t`` such that ``clip(albedo * g, 0, 1)``
    has skin ITA ``target_ita_deg`` (to :data:`ITA_TOLERANCE`, at most :data:`MAX_ITERATIONS` steps).

    Parameters
    ----------
    albedo : (S, S, 3) float linear Rec.709 diffuse albedo in [0, 1] (a template subject's front view).
    mask : (S, S) bool view mask; the skin is :func:`skin_pixels` of it.
    target_ita_deg : the wanted ITA (degrees), e.g. :func:`albedo_ita_from_eye_white`.

    Returns
    -------
    (3,) gain, each channel in :data:`GAIN_RANGE`; the closest ITA found where the target is not
    reached (at the gain's bounds, or where strong gains clip many pixels at 1); (1, 1, 1) for an
    empty mask.
    """
    a = np.asarray(albedo, np.float64)
    m = np.asarray(mask, bool)
    if a.ndim != 3 or a.shape[2] != 3 or m.shape != a.shape[:2]:
        raise ShapeError(f"retone_gain: expected albedo (S, S, 3) and mask (S, S), got {a.shape} and {m.shape}")
    if not m.any():
        return (1.0, 1.0, 1.0)
    px = np.clip(a[skin_pixels(m)], 0.0, 1.0)
    slope = np.asarray(SKIN_LOG_SLOPE, np.float64)
    lo, hi = np.log(GAIN_RANGE[0]) / slope, np.log(GAIN_RANGE[1]) / slope
    t_lo, t_hi = float(lo.max()), float(hi.min())  # t where every channel's gain stays in range

    def ita_at(t: float) -> float:
        return float(np.mean(ita_deg(np.clip(px * np.exp(slope * t), 0.0, 1.0))))

    t, now = 0.0, ita_at(0.0)
    best = (abs(float(target_ita_deg) - now), t)
    rate = 1.0  # degrees of ITA per unit of t: about 1 (the slope's fit), then the secant's
    for _ in range(MAX_ITERATIONS):
        err = float(target_ita_deg) - now
        if abs(err) <= ITA_TOLERANCE:
            break
        step = float(np.clip(t + err / rate, t_lo, t_hi))
        if step == t:  # at a gain bound
            break
        then, now = now, ita_at(step)
        rate = float(np.clip((now - then) / (step - t), 0.2, 5.0))
        t = step
        best = min(best, (abs(float(target_ita_deg) - now), t))
    g = np.exp(slope * best[1])  # where many pixels clip the ITA may not reach the target: the closest
    return (float(g[0]), float(g[1]), float(g[2]))
