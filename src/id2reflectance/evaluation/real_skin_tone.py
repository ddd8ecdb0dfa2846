"""Skin-tone estimates on real photos under re-exposure and white balance (London set).

For every photo and each variant of :data:`~.photo_variants.VARIANTS` (the photo
re-exposed by -1, 0, +1 stop and made warm and cool, in linear light), every estimator of
:data:`ESTIMATORS` measures the skin ITA (degrees) with the landmarks of the photo as shot
(the variants move no pixel, so the landmarks are the same; this isolates the tone
estimate from the detector). Estimators:

- ``photo``: today's photo ITA (:func:`~id2reflectance.face.skin_tone.photo_ita_deg`);
- ``eye_white``: the skin referenced to the eye whites
  (:func:`~id2reflectance.face.white_reference.eye_white_tone`), the chosen design, with
  channels clipped by over-exposure read below the clip level
  (:func:`~id2reflectance.face.white_reference.censored_quantile`);
- ``eye_white_former``: the same without that (no estimate once the skin's 0.3 quantile or
  most of the eye white is clipped in any channel; the estimator until 2026-12-06);
- ``eye_white_no_smile``: ``eye_white`` without the smile gain
  (:func:`~id2reflectance.face.white_reference.smile_gain`; the estimator until 2026-12-07);
- ``eye_white_keep_dark``: ``eye_white`` with hair, beard and deep shadow kept in the skin sample
  (``drop_dark=False`` of :func:`~id2reflectance.face.white_reference.skin_colour`; the estimator
  until 2026-12-07, branch tone22e);
- ``template_tone``: the albedo ITA output ``template_tone`` gives the face
  (:func:`~id2reflectance.inference.albedo_tone.albedo_ita_from_eye_white` of ``eye_white``: the
  prediction re-tones its template to this, within 0.1 degree for 98 of 100 London photos);
- ``background``: the skin's per-channel quantile (as ``eye_white``) divided by the median of the photo's
  top, left and right borders (the London set's plain grey backdrop), times a grey of
  :data:`BACKGROUND_GREY`; only meaningful on studio photos with a neutral backdrop;
- ``grey_world``: the same divided by the whole photo's mean linear RGB, times
  :data:`GREY_WORLD_GREY`.

:func:`summarise_tones` gives the figures the issue asks for: the spread of each photo's
estimates over the variants (max - min, median and 90th percentile over the photos with an
estimate in every variant, and how many lack one), the neutral-vs-smiling difference as
shot, and the median per self-reported group with whether they fall in
:data:`~.london.GROUP_ORDER`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from id2reflectance._shared.cielab import ita_deg
from id2reflectance._shared.imageio import srgb_to_linear
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.evaluation.london import EXPRESSIONS, GROUP_ORDER, Person
from id2reflectance.evaluation.photo_variants import VARIANTS, photo_variant
from id2reflectance.face.skin_tone import aligned_skin, ita_of_pixels
from id2reflectance.face.white_reference import eye_white_tone_aligned, skin_colour
from id2reflectance.inference.albedo_tone import albedo_ita_from_eye_white

ESTIMATORS = (
    "photo",
    "eye_white",
    "eye_white_former",
    "eye_white_no_smile",
    "eye_white_keep_dark",
    "template_tone",
    "background",
    "grey_world",
)
BACKGROUND_GREY = 0.5  # linear albedo assumed for the backdrop
GREY_WORLD_GREY = 0.3  # linear albedo assumed for the photo's mean
BORDER_PX = 20  # width of the borders (top, left, right) taken as the backdrop


def _border_grey(image: np.ndarray) -> np.ndarray:
    b = BORDER_PX
    px = np.concatenate([image[:b].reshape(-1, 3), image[:, :b].reshape(-1, 3), image[:, -b:].reshape(-1, 3)])
    return np.median(srgb_to_linear(px.astype(np.float32) / 255.0).astype(np.float64), axis=0)


def estimate_tones(image: np.ndarray, landmarks: np.ndarray) -> dict[str, float | None]:
    """Every estimator's skin ITA (degrees, None when it has no estimate) for one face.

    Parameters
    ----------
    image : (H, W, 3) uint8 sRGB photo; landmarks : (68, 2) (x, y) pixels of its face.
    """
    aligned, region, lm = aligned_skin(image, landmarks)
    skin = skin_colour(aligned, region)
    mean = srgb_to_linear(np.asarray(image, np.float32) / 255.0).reshape(-1, 3).mean(axis=0).astype(np.float64)

    def referenced(white: np.ndarray, grey: float) -> float | None:
        if skin is None or not np.all(white > 1e-4):
            return None
        return float(ita_deg(skin / white * grey))

    eye = eye_white_tone_aligned(aligned, lm).ita_deg
    return {
        "photo": ita_of_pixels(aligned, region),
        "eye_white": eye,
        "eye_white_former": eye_white_tone_aligned(aligned, lm, extrapolate=False, smile=False).ita_deg,
        "eye_white_no_smile": eye_white_tone_aligned(aligned, lm, smile=False).ita_deg,
        "eye_white_keep_dark": eye_white_tone_aligned(aligned, lm, drop_dark=False).ita_deg,
        "template_tone": None if eye is None else albedo_ita_from_eye_white(eye),
        "background": referenced(_border_grey(image), BACKGROUND_GREY),
        "grey_world": referenced(mean, GREY_WORLD_GREY),
    }


@dataclass(frozen=True)
class PhotoTones:
    """The estimates of one photo: person id, expression, ethnicity and
    ``tones[variant][estimator]`` (degrees or None)."""

    person: str
    expression: str
    ethnicity: str
    tones: dict[str, dict[str, float | None]]


def measure_tones(
    people: Sequence[Person],
    landmarks: Callable[[np.ndarray], np.ndarray | None],
    read: Callable[[Person, str], np.ndarray],
    *,
    progress: ProgressFn | None = None,
    detect_each_variant: bool = False,
) -> list[PhotoTones]:
    """:func:`estimate_tones` on every variant of every photo of ``people``.

    Parameters
    ----------
    landmarks : photo (H, W, 3) uint8 -> (68, 2) landmarks of its face, or None (no face:
        the photo is left out).
    read : (person, expression) -> the photo, (H, W, 3) uint8 sRGB.
    detect_each_variant : False: every variant measured with the landmarks of the photo as
        shot (the tone estimate alone); True: each variant's own landmarks (as inference finds
        them; a variant without a face gets no estimate), so landmark noise counts too.
    """
    out = []
    total = len(people) * len(EXPRESSIONS)
    for k, person in enumerate(people):
        for j, expression in enumerate(EXPRESSIONS):
            photo = read(person, expression)
            lm = landmarks(photo)
            if lm is not None:
                tones = {}
                for name, (stops, gains) in VARIANTS.items():
                    variant = photo_variant(photo, stops=stops, gains=gains)
                    own = landmarks(variant) if detect_each_variant and name != "as shot" else lm
                    tones[name] = dict.fromkeys(ESTIMATORS) if own is None else estimate_tones(variant, own)
                out.append(PhotoTones(person.id, expression, person.ethnicity, tones))
            if progress is not None:
                progress("skin tone", k * len(EXPRESSIONS) + j + 1, total)
    return out


@dataclass(frozen=True)
class ToneSummary:
    """Figures of one estimator (degrees).

    spread_median, spread_p90 : max - min of a photo's estimates over the variants;
    complete : photos with an estimate in every variant; missing : photos lacking one
    (by variant: ``missing_by_variant``); pair_median, pair_p90, pairs : |neutral - smiling|
    as shot; group_median : ethnicity -> median as shot; ordered : the groups of
    :data:`~.london.GROUP_ORDER` have decreasing medians; shift_median, shift_p90 : variant ->
    median and 90th percentile of ``|estimate - estimate as shot|`` over the photos with both.
    """

    estimator: str
    spread_median: float | None
    spread_p90: float | None
    complete: int
    missing: int
    missing_by_variant: dict[str, int]
    pair_median: float | None
    pair_p90: float | None
    pairs: int
    group_median: dict[str, float]
    ordered: bool
    shift_median: dict[str, float | None] = field(default_factory=dict)
    shift_p90: dict[str, float | None] = field(default_factory=dict)


def _stat(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise_tones(photos: Sequence[PhotoTones], estimator: str) -> ToneSummary:
    """The :class:`ToneSummary` of ``estimator`` over ``photos`` (:func:`measure_tones`)."""
    spreads, missing = [], 0
    by_variant = dict.fromkeys(VARIANTS, 0)
    for p in photos:
        values = [p.tones[v][estimator] for v in VARIANTS]
        for v, x in zip(VARIANTS, values):
            by_variant[v] += x is None
        if any(x is None for x in values):
            missing += 1
        else:
            spreads.append(max(values) - min(values))  # type: ignore[type-var, operator]
    shot = {(p.person, p.expression): p.tones["as shot"][estimator] for p in photos}
    pairs = [
        abs(a - b)
        for (person, e), a in shot.items()
        if e == "neutral" and a is not None and (b := shot.get((person, "smiling"))) is not None
    ]
    groups: dict[str, list[float]] = {}
    for p in photos:
        x = p.tones["as shot"][estimator]
        if x is not None:
            groups.setdefault(p.ethnicity, []).append(x)
    medians = {g: float(np.median(v)) for g, v in groups.items()}
    ordered_values = [medians[g] for g in GROUP_ORDER if g in medians]
    shifts: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for p in photos:
        ref = p.tones["as shot"][estimator]
        for v in VARIANTS:
            x = p.tones[v][estimator]
            if ref is not None and x is not None:
                shifts[v].append(abs(x - ref))
    return ToneSummary(
        estimator=estimator,
        spread_median=_stat(spreads, 50),
        spread_p90=_stat(spreads, 90),
        complete=len(spreads),
        missing=missing,
        missing_by_variant=by_variant,
        pair_median=_stat(pairs, 50),
        pair_p90=_stat(pairs, 90),
        pairs=len(pairs),
        group_median=medians,
        ordered=len(ordered_values) == len(GROUP_ORDER) and all(np.diff(ordered_values) < 0),
        shift_median={v: _stat(x, 50) for v, x in shifts.items()},
        shift_p90={v: _stat(x, 90) for v, x in shifts.items()},
    )


@dataclass(frozen=True)
class GroupBootstrap:
    """How firmly the self-reported groups' medians are ordered (degrees).

    interval : group -> (5th, 50th, 95th percentile) of its median over the resamples;
    p_ordered : "a > b" for each neighbouring pair of :data:`~.london.GROUP_ORDER` present ->
    the fraction of resamples in which a's median is above b's; p_all_ordered : the fraction in
    which every group is in order; resamples : their number.
    """

    interval: dict[str, tuple[float, float, float]]
    p_ordered: dict[str, float]
    p_all_ordered: float
    resamples: int


def bootstrap_group_medians(
    photos: Sequence[PhotoTones], estimator: str, *, resamples: int = 2000, seed: int = 0
) -> GroupBootstrap:
    """Resample the PEOPLE of each self-reported group with replacement (a person's photos as
    shot stay together, as in :func:`summarise_tones`'s medians) and take each group's median
    ``resamples`` times (numpy ``default_rng(seed)``): the spread of the medians and how often
    they keep :data:`~.london.GROUP_ORDER`. Groups with no estimate are left out."""
    people: dict[str, dict[str, list[float]]] = {}
    for p in photos:
        x = p.tones["as shot"][estimator]
        if x is not None:
            people.setdefault(p.ethnicity, {}).setdefault(p.person, []).append(float(x))
    groups = [g for g in GROUP_ORDER if g in people]
    rng = np.random.default_rng(seed)
    medians = {g: np.empty(resamples) for g in groups}
    for g in groups:
        values = list(people[g].values())
        for k in range(resamples):
            pick = rng.integers(0, len(values), len(values))
            medians[g][k] = np.median(np.concatenate([values[i] for i in pick]))
    pairs = {f"{a} > {b}": float(np.mean(medians[a] > medians[b])) for a, b in zip(groups, groups[1:])}
    ordered = np.ones(resamples, bool)
    for a, b in zip(groups, groups[1:]):
        ordered &= medians[a] > medians[b]
    interval = {g: tuple(float(v) for v in np.percentile(m, [5, 50, 95])) for g, m in medians.items()}
    return GroupBootstrap(interval, pairs, float(ordered.mean()) if groups else 0.0, resamples)  # type: ignore[arg-type]
