"""Skin tone referenced to the eye whites: a photo's exposure and white balance cancel.

A photo's skin ITA (:func:`~.skin_tone.photo_ita_deg`) measures the photographed colour:
on the London photos one stop of exposure moves it by tens of degrees and a warm or cool
white balance by 10-15 (``docs/evaluation.md``). Exposure and white balance act on linear
RGB as a per-channel gain (a diagonal, von Kries model), so dividing the skin's linear RGB
by the linear RGB of a surface of fixed colour in the same photo removes both. The face
carries one: the sclera (eye white).

:func:`eye_white_tone` measures, on the FFHQ-aligned face (:func:`~.skin_tone.aligned_skin`):

- the skin colour: the per-channel :data:`SKIN_QUANTILE` quantile of the skin region's
  linear RGB (cheeks and forehead, :func:`~.skin_tone.skin_region`) over its pixels that are
  not hair, beard or deep shadow (:func:`skin_pixels_kept`: luminance at least
  :data:`SKIN_DARK_CUT` of the region's median). A fringe of hair over the forehead band or a
  beard over the cheeks held the low quantile before (London 045: a fifth of the region is
  fringe, the skin read 30 degrees darker than the photo's median ITA where the median person
  reads 9); the cheeks alone avoid the fringe but moved more between neutral and smiling
  photos, 5.5 against 4.6 degrees median, and lost the groups' order. A per-channel
  quantile scales exactly with a per-channel gain, unlike dropping clipped or dark pixels
  (what the photo ITA does, which moves with exposure); a low quantile stays unclipped
  under more over-exposure than the median (at +1 stop on the London photos the median is
  clipped in 116 of 204 photos, the 0.3 quantile in 63);
- the eye white: the pixels inside the eye openings (landmarks 36-41, 42-47, shrunk by
  :data:`EYE_SHRINK`), ranked by their brightness relative to the skin colour
  (``sum_c pixel_c / skin_c``, also unchanged by a per-channel gain), the brightest
  :data:`REFERENCE_FRACTION` (at least :data:`MIN_REFERENCE_PIXELS`) kept (iris, pupil,
  lashes and lids are darker) and their per-channel median taken;
- the tone: ``ITA(skin / eye_white * REFERENCE_RGB)``, with :data:`REFERENCE_RGB` the
  median eye-white colour of evenly lit, colour-balanced studio photos (the London set's
  even-numbered people, neutral photos as shot: the donors, never the evaluation set), so a photo exposed and balanced like those
  reads about its photo ITA and any other exposure or balance reads the same.

Over-exposure clips the red channel first (skin and eye white are both reddish): on the
London photos at +1 stop the skin's red 0.3 quantile is clipped in 63 of 204 photos and the
eye white's red median in 34 more, while green and blue stay below the clip level. Both
statistics are therefore taken with :func:`censored_quantile`: a channel whose quantile is
clipped is read at the largest lower quantile of :data:`LOWER_QUANTILES` that is not, and
scaled by the least-clipped channel's ratio between the two quantiles (the same shading
spread in every channel: a per-channel gain leaves this unchanged, the pixels above the clip
level are never used). The eye white is then ranked by its least-clipped channel (clipped
pixels tie in the sum relative to the skin), and where even that channel's median is
clipped, a wider top set of the eye openings (:data:`WIDER_REFERENCE`) is taken, times the
typical ratio between its median and the usual set's (a calibrated constant, not a
measurement of this photo). With these the estimate exists at +1 stop for 203 of 204
photos instead of 136, within 1.4 degrees of the photo as shot (p90; ``docs/evaluation.md``).

A smile shades the sclera: the cheeks push the lower lids up, lids and lashes cover more of
what stays open. On the London set's even ids (the donors) the smiling photo's eye openings are
0.347 -> 0.331 of their width high, its eye white 7.7 % darker (medians), and it read 3.3 degrees
lighter than the neutral photo (median of smiling - neutral). The eye white is therefore
multiplied by :func:`smile_gain` of the face's :func:`mouth_lift` (how far the mouth corners
rise above the lips' middle): ``exp(SMILE_GAIN * lift)`` within :data:`SMILE_GAIN_RANGE`. The
mouth, not the eye opening, measures the smile because dlib's lid landmarks move with the
photo's exposure: the eye opening's height / width moves by 0.022 (median) across the five
exposure / white-balance variants of a photo, as much as a smile changes it (0.023), while the
lift moves by 0.013 against 0.075. :data:`SMILE_GAIN` is chosen on the even ids only by
``benchmarks/fit_eye_white_calibration.py`` (:func:`choose_smile_gain`). The gain depends
on the landmarks alone, so a per-channel gain of the photo still cancels.

No estimate (None) when the skin quantile is nearly black or clipped beyond that (every
channel, or one channel down to the lowest quantile, at or above
:data:`~.skin_tone.CLIPPED_CODE`), when the eye white is clipped likewise (an over-exposed
photo: the reference is lost), or when the eye openings hold too few pixels (closed eyes),
or nothing in them is whiter than the skin (relative blue/red below
:data:`MIN_BLUE_RED_GAIN`: a render of a head without eyes), or more than
:data:`MAX_BACKGROUND` of them is black backdrop (a render of a skin-only head, whose eye
openings are holes: the face model's layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from id2reflectance._shared.cielab import ita_deg
from id2reflectance._shared.imageio import linear_to_srgb, srgb_to_linear
from id2reflectance.errors import ShapeError
from id2reflectance.face.skin_tone import CLIPPED_CODE, DARK_LUMINANCE, MIN_PIXELS, _linear, aligned_skin, skin_region

SKIN_QUANTILE = 0.3  # per-channel quantile of the skin region's code values
# skin-region pixels whose linear luminance is below SKIN_DARK_CUT x the region's SKIN_DARK_OF quantile of
# luminance are hair, beard or deep shadow, not skin, and are dropped before SKIN_QUANTILE is taken
# (skin_pixels_kept). Chosen on the London set's EVEN ids only (2026-12-07, docs/evaluation.md "Hair and
# beards in the skin sample"): over cuts 0.3 .. 0.5 of the median or of the 0.75 quantile, the one that
# brings the skin sample's ITA closest to the photo ITA's per-person offset (p90) while dropping at most
# 5 % of the region in the median photo of every group (a cut of the 0.75 quantile dropped a quarter of
# dark skin, whose sheen and shading spread its luminance wider)
SKIN_DARK_CUT = 0.4
SKIN_DARK_OF = 0.5
REFERENCE_FRACTION = 0.15  # brightest fraction of the eye openings' pixels (relative to the skin) kept
MIN_REFERENCE_PIXELS = 6  # fewer eye-opening pixels than this: no reference
MAX_CLIPPED = 0.5  # more of the kept eye-white pixels with a clipped channel than this: censored_quantile
# with the eye white's reference channel clipped too, wider top sets (fraction of the eye openings) and the
# factor from their median to the REFERENCE_FRACTION set's: median over the London set's EVEN ids' (the
# donors') neutral photos as shot, ranked by blue, median of the three channels' ratios. Printed by
# python benchmarks/fit_eye_white_calibration.py --renders DIR   (beside the renders' 1.09 and 1.39: a render's
# sclera is one flat albedo). Before 2026-12-07 from the odd ids, the evaluation set: 1.18 and 1.39
WIDER_REFERENCE = ((0.25, 1.19), (0.35, 1.40))
# lower quantiles a clipped channel is read at instead (censored_quantile), largest first
LOWER_QUANTILES = (0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05)
# the eye white must be less red than the skin: its blue/red ratio over the skin's at least this
# (1.28-2.6 on the London photos; 1.00-1.05 on renders of heads without eyes, where the
# "eye openings" are skin); a per-channel gain leaves the ratio unchanged
MIN_BLUE_RED_GAIN = 1.15
# eye-opening pixels whose every code value is at most BACKGROUND_CODE are the backdrop seen through
# the eye holes of a render of a skin-only head (the face model's layout has no eyeballs: 69-88 % of
# the eye openings of its dataset views); more than MAX_BACKGROUND of them: no eye white (0 % on the
# London photos, also at -1 stop; near-black noise such holes hold read as a lighter tone, ITA 44-76)
BACKGROUND_CODE = 2
MAX_BACKGROUND = 0.25
EYE_SHRINK = 0.85  # eye polygons shrunk about their centroid (lids and lashes at the contour)
# the eye white is read times exp(SMILE_GAIN * mouth_lift) within SMILE_GAIN_RANGE (see the module): chosen on the
# London set's EVEN ids (the donors) by smile_gain_fit_figures over SMILE_GAIN_GRID; printed and recorded by
# python benchmarks/fit_eye_white_calibration.py --renders DIR --record benchmarks/eye_white_calibration.json
SMILE_GAIN = 0.7
SMILE_GAIN_RANGE = (0.9, 1.2)  # lifts of -0.13 .. +0.23 (London: -0.1 .. +0.2)
SMILE_GAIN_GRID = tuple(round(0.1 * k, 1) for k in range(21))  # 0.0 .. 2.0
SMILE_SPREAD_ALLOWANCE = 0.5  # degrees the variant spread's p90 may grow over the gain 0's (see smile_gain_fit_figures)
SMILE_BIAS_LIMIT = 1.0  # degrees: |median smiling - neutral| a chosen gain must leave
# linear RGB of the eye white in the London set's even-numbered (donor) neutral photos, as shot
# (median of 52; benchmarks/bench_skin_tone.py prints it again as "eye-white colour, calibration
# photos"). The odd ids are the real-photo evaluation set and enter no constant (their median,
# used before the split: 0.4033, 0.3516, 0.3278)
REFERENCE_RGB = (0.4059, 0.3348, 0.3244)
_EYES = (tuple(range(36, 42)), tuple(range(42, 48)))
CLIPPED_WARNING = (
    "the eye whites are clipped in every channel (over-exposed): their colour is read from a wider, darker set "
    "of the eye openings times a typical factor, so the skin tone is several degrees less certain"
)


@dataclass(frozen=True)
class EyeWhiteTone:
    """Skin tone of a face referenced to its eye whites.

    ita_deg : ITA (degrees) of ``skin / eye_white * REFERENCE_RGB``, or None (see the module).
    skin : (3,) float64 linear RGB skin colour in the photo (None when the region is too small).
    eye_white : (3,) float64 linear RGB eye-white colour in the photo, or None: the measured
        sclera times ``smile_gain`` (what the face would show without a smile).
    reason : why there is no estimate ("" when there is one).
    lift : the face's :func:`mouth_lift`, None where not measured.
    smile_gain : the factor the measured eye white was multiplied by (:func:`smile_gain`; 1.0 with
        ``smile=False``).
    warning : :data:`CLIPPED_WARNING` where the estimate exists but every channel of the usual set of
        eye-white pixels is clipped (read from a wider set times its typical :data:`WIDER_REFERENCE`
        factor: on London 001 at +1 stop the tone then moves by 6 degrees with the landmarks found
        in the variant instead of the photo as shot), else "".
    """

    ita_deg: float | None
    skin: np.ndarray | None
    eye_white: np.ndarray | None
    reason: str = ""
    lift: float | None = None
    smile_gain: float = 1.0
    warning: str = ""


def eye_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of both eye openings (landmarks 36-41 and 42-47, shrunk by
    :data:`EYE_SHRINK`). ``landmarks``: (68, 2) float (x, y) pixels, dlib's order."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ShapeError(f"eye_region: landmarks must be (68, 2), got {lm.shape}")
    mask = np.zeros(shape, np.uint8)
    for idx in _EYES:
        pts = lm[list(idx)]
        c = pts.mean(axis=0)
        cv2.fillPoly(mask, [np.round(c + EYE_SHRINK * (pts - c)).astype(np.int32)], 1)
    return mask.astype(bool)


def mouth_lift(landmarks: np.ndarray) -> float:
    """How far the mouth corners rise above the lips' middle, over the distance between the eyes:
    ``((y51 + y57) / 2 - (y48 + y54) / 2) / |centre(36-41) - centre(42-47)|`` (dlib's 68 landmarks,
    ``landmarks`` (68, 2) float (x, y) pixels, y down; a ratio, so the same in the photo and in its
    aligned crop). London: neutral photos -0.04 .. +0.04 (10th-90th percentile), smiling 0.01 .. 0.14."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ShapeError(f"mouth_lift: landmarks must be (68, 2), got {lm.shape}")
    eyes = float(np.linalg.norm(lm[36:42].mean(axis=0) - lm[42:48].mean(axis=0)))
    return float(((lm[51, 1] + lm[57, 1]) - (lm[48, 1] + lm[54, 1])) / 2.0 / max(eyes, 1e-6))


def smile_gain(lift: float, *, per_lift: float | None = None) -> float:
    """Factor on the measured eye white of a face whose :func:`mouth_lift` is ``lift``:
    ``exp(per_lift * lift)`` (``per_lift`` None: :data:`SMILE_GAIN`) clipped to
    :data:`SMILE_GAIN_RANGE` (> 1 for a smile, whose eye whites the lids shade)."""
    k = SMILE_GAIN if per_lift is None else per_lift
    return float(np.clip(np.exp(k * float(lift)), *SMILE_GAIN_RANGE))


def smile_gain_fit_figures(records: list[dict], gain: float) -> dict[str, float]:
    """The figures :data:`SMILE_GAIN` is chosen by, for one ``gain``, over ``records``: one per photo
    variant, ``{"person", "expression", "variant", "skin", "eye_white", "lift"}`` (skin and eye white
    (3,) linear RGB as :func:`eye_white_tone` measures them with ``smile=False``, None without an
    estimate; lift :func:`mouth_lift`; the landmarks found in each variant; ``variant`` "as shot" or
    another). Returns ``pair`` (median |smiling - neutral| ITA as shot, degrees), ``bias`` (median
    smiling - neutral), ``spread_p90`` (90th percentile over the photos with an estimate in every
    variant of their max - min). The fit script takes, over :data:`SMILE_GAIN_GRID`, the gain with the
    smallest ``pair`` among those whose ``|bias|`` is at most :data:`SMILE_BIAS_LIMIT` and whose
    ``spread_p90`` is at most the gain 0's plus :data:`SMILE_SPREAD_ALLOWANCE`."""
    tones: dict[tuple[str, str], dict[str, float | None]] = {}
    for r in records:
        ita = None
        if r["skin"] is not None and r["eye_white"] is not None:
            white = np.asarray(r["eye_white"]) * smile_gain(r["lift"], per_lift=gain)
            ita = float(ita_deg(np.asarray(r["skin"]) / white * np.asarray(REFERENCE_RGB)))
        tones.setdefault((r["person"], r["expression"]), {})[r["variant"]] = ita
    diffs = []
    for (person, expression), t in tones.items():
        other = tones.get((person, "smiling"))
        if expression == "neutral" and other is not None:
            a, b = t.get("as shot"), other.get("as shot")
            if a is not None and b is not None:
                diffs.append(b - a)
    spreads = [max(v) - min(v) for t in tones.values() if None not in (v := list(t.values()))]
    return {
        "pair": float(np.median(np.abs(diffs))),
        "bias": float(np.median(diffs)),
        "spread_p90": float(np.percentile(spreads, 90)),
    }


def choose_smile_gain(records: list[dict]) -> tuple[float, dict[float, dict[str, float]]]:
    """The gain of :data:`SMILE_GAIN_GRID` :func:`smile_gain_fit_figures` chooses over ``records`` (see
    there), and every gain's figures."""
    figures = {g: smile_gain_fit_figures(records, g) for g in SMILE_GAIN_GRID}
    allowed = figures[0.0]["spread_p90"] + SMILE_SPREAD_ALLOWANCE
    ok = [g for g, f in figures.items() if abs(f["bias"]) <= SMILE_BIAS_LIMIT and f["spread_p90"] <= allowed]
    return (min(ok, key=lambda g: figures[g]["pair"]) if ok else 0.0), figures


def censored_quantile(px: np.ndarray, q: float, *, extrapolate: bool = True) -> np.ndarray | None:
    """Per-channel ``q`` quantile of 8-bit pixels in linear RGB, reading clipped channels below the clip level.

    Parameters
    ----------
    px : (N, 3) uint8 sRGB code values, N >= 1.
    q : quantile in (0, 1).
    extrapolate : False gives the plain quantile (None when any channel is clipped), the
        estimate before 2026-12-06.

    Returns
    -------
    (3,) float64 linear RGB, or None. A channel ``c`` whose ``q`` quantile is clipped (at or
    above :data:`~.skin_tone.CLIPPED_CODE`) is estimated as ``Q_c(q') * Q_r(q) / Q_r(q')``,
    with ``q'`` the largest of :data:`LOWER_QUANTILES` below ``q`` at which ``c`` is not
    clipped and ``r`` the channel with the lowest ``q`` quantile (exact when the channels'
    distributions differ by a gain); None when ``r`` itself or ``c`` at every ``q'`` is clipped.
    """
    p = np.asarray(px)
    base = np.quantile(p, q, axis=0, method="lower")
    lin = _linear(base[None])[0][0]
    if base.max() < CLIPPED_CODE:
        return lin
    ref = int(np.argmin(base))
    if not extrapolate or base[ref] >= CLIPPED_CODE:
        return None
    for c in np.flatnonzero(base >= CLIPPED_CODE):
        for lower in (x for x in LOWER_QUANTILES if x < q):
            low = np.quantile(p, lower, axis=0, method="lower")
            if low[c] < CLIPPED_CODE:
                low_lin = _linear(low[None])[0][0]
                lin[c] = low_lin[c] * lin[ref] / max(low_lin[ref], 1e-6)
                break
        else:
            return None
    return lin


def skin_colour(
    rgb: np.ndarray, mask: np.ndarray, *, extrapolate: bool = True, drop_dark: bool = True
) -> np.ndarray | None:
    """(3,) float64 linear RGB: the per-channel :data:`SKIN_QUANTILE` quantile of the
    masked pixels (:func:`censored_quantile`) that are not hair, beard or deep shadow
    (:func:`skin_pixels_kept`); None when fewer than :data:`~.skin_tone.MIN_PIXELS`, clipped
    beyond what :func:`censored_quantile` reads, or darker than
    :data:`~.skin_tone.DARK_LUMINANCE` (8-bit codes too coarse for a ratio).

    Parameters
    ----------
    rgb : (H, W, 3) uint8 sRGB code values; mask : (H, W) bool.
    extrapolate : as :func:`censored_quantile`.
    drop_dark : False keeps every masked pixel (the estimate before 2026-12-07, whose 0.3
        quantile fell in the hair where a fringe covers the forehead band).
    """
    px = np.asarray(rgb)[np.asarray(mask, bool)]
    if drop_dark and len(px):
        px = px[skin_pixels_kept(px)]
    if len(px) < MIN_PIXELS:
        return None
    lin = censored_quantile(px, SKIN_QUANTILE, extrapolate=extrapolate)
    if lin is None:
        return None
    lum = float(lin @ np.array([0.2126, 0.7152, 0.0722]))
    return None if lum < DARK_LUMINANCE else lin


def skin_pixels_kept(px: np.ndarray) -> np.ndarray:
    """(N,) bool: which of the skin region's pixels ``px`` (N, 3) uint8 sRGB, N >= 1, are skin: those
    whose linear luminance is at least :data:`SKIN_DARK_CUT` times the region's :data:`SKIN_DARK_OF`
    quantile of luminance. Hair over the forehead band, a beard or stubble over the cheeks and the
    deep shadow at the cheeks' outer edge are far darker than the lit skin around them, and the
    region's low quantile that :func:`skin_colour` takes otherwise falls in them (London 045: a fifth
    of the region is fringe; its skin read 30 degrees darker than its photo ITA, the median person's
    9). A ratio of two luminances of one photo: an exposure leaves it unchanged, a white
    balance nearly (skin and hair differ in hue); clipped pixels read low, so the cut drops fewer; at
    most half the region goes (the cut is below its median).
    London even ids' neutral photos, median share dropped: 1.6 % (white), 2-4 % (east / west asian, black)."""
    lum = _linear(np.asarray(px))[1]
    return lum >= SKIN_DARK_CUT * float(np.quantile(lum, SKIN_DARK_OF))


def eye_white(rgb: np.ndarray, mask: np.ndarray, skin: np.ndarray, *, extrapolate: bool = True) -> np.ndarray | None:
    """(3,) float64 linear RGB of the eye whites among the masked pixels (see the module), or None.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 sRGB code values; mask : (H, W) bool eye openings (:func:`eye_region`).
    skin : (3,) linear RGB skin colour (:func:`skin_colour`) the brightness is relative to.
    extrapolate : False: no estimate when more than half of the kept pixels have a clipped
        channel (the estimate before 2026-12-06); True: clipped channels read by
        :func:`censored_quantile` at the median.
    """
    return _read_eye_white(rgb, mask, skin, extrapolate=extrapolate)[0]


def _read_eye_white(
    rgb: np.ndarray, mask: np.ndarray, skin: np.ndarray, *, extrapolate: bool = True
) -> tuple[np.ndarray | None, bool]:
    """:func:`eye_white` and whether it came from a wider set times its :data:`WIDER_REFERENCE`
    factor (every channel of the usual set clipped: a typical ratio, not this photo's)."""
    px = np.asarray(rgb)[np.asarray(mask, bool)]
    if len(px) < MIN_REFERENCE_PIXELS:
        return None, False
    lin, _ = _linear(px)
    rel = (lin / np.maximum(np.asarray(skin, np.float64), 1e-6)).sum(axis=1)
    keep = max(MIN_REFERENCE_PIXELS, int(REFERENCE_FRACTION * len(rel)))
    top = np.argsort(rel, kind="stable")[::-1][:keep]
    wider_set = False
    if np.mean(px[top].max(axis=1) >= CLIPPED_CODE) > MAX_CLIPPED:
        if not extrapolate:
            return None, False
        # clipped pixels tie in the sum: rank by the least-clipped channel alone (a gain keeps its order)
        c = int(np.argmin(np.mean(px >= CLIPPED_CODE, axis=0)))
        order = np.argsort(lin[:, c], kind="stable")[::-1]
        white = censored_quantile(px[order[:keep]], 0.5)
        for fraction, factor in WIDER_REFERENCE:
            if white is not None:
                break
            wider = censored_quantile(px[order[: max(MIN_REFERENCE_PIXELS, int(fraction * len(rel)))]], 0.5)
            white, wider_set = (None, False) if wider is None else (wider * factor, True)
        if white is None:
            return None, False
    else:  # the median of the linear values (as before extrapolation existed)
        white = np.median(lin[top], axis=0)
    return (white, wider_set) if np.all(white > 1e-4) else (None, False)


def wider_reference_factors(aligned: np.ndarray, landmarks: np.ndarray) -> tuple[float, ...] | None:
    """One face's factors of :data:`WIDER_REFERENCE`: the eye white's median over the
    :data:`REFERENCE_FRACTION` set over its median over each wider set, as :func:`eye_white` ranks a
    clipped eye white (by blue, the least-clipped channel of an over-exposed eye white), the median of
    the three channels' ratios. ``aligned`` (S, S, 3) uint8 sRGB, ``landmarks`` (68, 2) (x, y) pixels
    in it, not over-exposed; None when the eye openings hold fewer than 3 x
    :data:`MIN_REFERENCE_PIXELS` pixels or a black set. ``benchmarks/fit_eye_white_calibration.py``
    takes the median over the London set's even ids (the donors)."""
    lin, _ = _linear(np.asarray(aligned)[eye_region(landmarks, np.asarray(aligned).shape[:2])])
    if len(lin) < 3 * MIN_REFERENCE_PIXELS:
        return None
    lin = lin[np.argsort(lin[:, 2], kind="stable")[::-1]]

    def top(fraction: float) -> np.ndarray:
        return np.median(lin[: max(MIN_REFERENCE_PIXELS, int(fraction * len(lin)))], axis=0)

    sets = [top(REFERENCE_FRACTION)] + [top(fraction) for fraction, _ in WIDER_REFERENCE]
    if not all(np.all(t > 0) for t in sets):
        return None
    return tuple(float(np.median(sets[0] / t)) for t in sets[1:])


def eye_white_tone_aligned(
    aligned: np.ndarray,
    landmarks: np.ndarray,
    *,
    extrapolate: bool = True,
    smile: bool = True,
    drop_dark: bool = True,
) -> EyeWhiteTone:
    """:func:`eye_white_tone` on an aligned face: ``aligned`` (S, S, 3) uint8 sRGB and its
    ``landmarks`` (68, 2) (x, y) pixels; ``extrapolate`` as :func:`censored_quantile`; ``smile``
    False: no :func:`smile_gain` (the estimate before 2026-12-07); ``drop_dark`` as
    :func:`skin_colour`."""
    skin = skin_colour(aligned, skin_region(landmarks, aligned.shape[:2]), extrapolate=extrapolate, drop_dark=drop_dark)
    if skin is None:
        return EyeWhiteTone(None, None, None, "the skin is clipped (over-exposed), nearly black or too small")
    eyes = eye_region(landmarks, aligned.shape[:2])
    if np.mean(np.asarray(aligned)[eyes].max(axis=1) <= BACKGROUND_CODE) > MAX_BACKGROUND:
        return EyeWhiteTone(None, skin, None, "the eye openings show the background (a render of a head without eyes)")
    white, wider_set = _read_eye_white(aligned, eyes, skin, extrapolate=extrapolate)
    if white is None:
        return EyeWhiteTone(None, skin, None, "no usable eye white (eyes closed, or clipped by over-exposure)")
    ratio = white / skin
    if ratio[2] / ratio[0] < MIN_BLUE_RED_GAIN:
        return EyeWhiteTone(None, skin, None, "the eye openings hold nothing whiter than the skin")
    lift = mouth_lift(landmarks)
    gain = smile_gain(lift) if smile else 1.0
    white = white * gain
    ita = float(ita_deg(skin / white * np.asarray(REFERENCE_RGB)))
    return EyeWhiteTone(ita, skin, white, lift=lift, smile_gain=gain, warning=CLIPPED_WARNING if wider_set else "")


def eye_white_tone(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    extrapolate: bool = True,
    smile: bool = True,
    drop_dark: bool = True,
) -> EyeWhiteTone:
    """Skin tone of the face with ``landmarks`` in ``image``, referenced to its eye whites.

    Parameters
    ----------
    image : (H, W, 3) uint8 sRGB photo, RGB order.
    landmarks : (68, 2) float (x, y) pixels of the face in ``image``.
    extrapolate : read channels clipped by over-exposure below the clip level
        (:func:`censored_quantile`); False: no estimate then (the former estimate).
    smile : divide out the shading of a smile's eye whites (:func:`smile_gain`); False: the
        estimate before 2026-12-07.
    drop_dark : leave hair, beard and deep shadow out of the skin sample (:func:`skin_pixels_kept`);
        False: the estimate before 2026-12-07 (branch tone22e).

    Returns
    -------
    :class:`EyeWhiteTone`; its ``ita_deg`` is on the scale of the photo ITA of an evenly
    lit, colour-balanced studio photo, whatever the photo's exposure and white balance.
    """
    aligned, _, lm = aligned_skin(image, landmarks)
    return eye_white_tone_aligned(aligned, lm, extrapolate=extrapolate, smile=smile, drop_dark=drop_dark)


def white_balanced(image: np.ndarray, eye_white: np.ndarray, *, skin: np.ndarray | None = None) -> np.ndarray:
    """``image`` re-exposed and white-balanced so that its eye whites read :data:`REFERENCE_RGB`.

    Parameters
    ----------
    image : (H, W, 3) uint8 sRGB, a photo or its aligned face.
    eye_white : (3,) linear RGB of the face's eye whites in it (:attr:`EyeWhiteTone.eye_white`).
    skin : (3,) linear RGB skin colour in it (:attr:`EyeWhiteTone.skin`), or None. Given, a
        pixel with some but not all channels clipped (at or above
        :data:`~.skin_tone.CLIPPED_CODE`) has each clipped channel raised to what the skin's
        colour predicts from its unclipped channels (the mean of ``pixel_u * skin_c / skin_u``;
        never lowered): over-exposure clips the skin's red first, and balancing the clipped
        code down would make the skin read greener and darker than it is.

    Returns
    -------
    (H, W, 3) uint8 sRGB: linear RGB times ``REFERENCE_RGB / eye_white`` per channel, clipped
    to [0, 1] and re-encoded (what an evenly lit, colour-balanced studio photo would show).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ShapeError(f"white_balanced: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
    gain = (np.asarray(REFERENCE_RGB, np.float64) / np.maximum(np.asarray(eye_white, np.float64), 1e-6)).astype(
        np.float32
    )
    lin = srgb_to_linear(img.astype(np.float32) / 255.0)
    if skin is not None:
        lin = _unclipped(lin, img >= CLIPPED_CODE, np.maximum(np.asarray(skin, np.float32), 1e-6))
    return np.round(linear_to_srgb(np.clip(lin * gain, 0.0, 1.0)) * 255.0).astype(np.uint8)


def _unclipped(lin: np.ndarray, clipped: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear RGB with the clipped channels of partly clipped pixels raised to the
    skin colour's prediction from the unclipped ones (see :func:`white_balanced`)."""
    n_ok = (~clipped).sum(axis=2, keepdims=True)
    partly = clipped & (n_ok > 0)
    if not partly.any():
        return lin
    scaled = np.where(clipped, 0.0, lin / skin).sum(axis=2, keepdims=True) / np.maximum(n_ok, 1)  # (H, W, 1)
    return np.where(partly, np.maximum(lin, scaled * skin), lin)
