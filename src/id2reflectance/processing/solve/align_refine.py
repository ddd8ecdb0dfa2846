"""Lighting-matched templates for aligning light-stage frames, and the refinement using them.

A frame matched against the uniformly lit reference (``full``, ``cross``) on high-passed
log luminance keeps a small bias: skin relief lit from one side shades like a shifted
copy of itself. Templates lit exactly like the frame remove it:

* ``gradient_a + inverse_a = full`` (same polarisation), so ``full - inverse_a`` (both
  aligned with the current estimates) is lit exactly like ``gradient_a``, and
  ``full - gradient_a`` like ``inverse_a`` (sessions with the inverse patterns);
* a parallel-polarised frame is its cross-polarised twin plus white specular, so their
  red-minus-green is identical (:func:`~id2reflectance.processing.solve.align_features.opponent_features`).

:func:`refine_motions` refits every frame from its first estimate against these templates;
:func:`matched_template` also gives the template the residual flow is measured against.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np

from id2reflectance.processing.solve.align_chroma import CHROMA_MIN_NCC, CHROMA_WEIGHT, fit_joint
from id2reflectance.processing.solve.align_features import (
    MATCHED_MISMATCH,
    ReferencePyramid,
    band_pass,
    explained_fraction,
    feature_ncc,
    fit_similarity,
    log_features,
    luminance,
    opponent,
    pyramid,
    reference_pyramid,
    still_mismatch,
)
from id2reflectance.processing.solve.align_work import downsample
from id2reflectance.processing.solve.separation import AXES

MIN_EXPLAINED = 0.12  # a motion that removes less of the features' mismatch with its template is not motion

Key = tuple[str, str]
REFERENCE: Key = ("full", "cross")
COMPLEMENT = {
    **{f"gradient_{a}": f"inverse_{a}" for a in AXES},
    **{f"inverse_{a}": f"gradient_{a}" for a in AXES},
}


def warp_to_reference(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``img`` resampled at ``M x`` for every reference pixel ``x`` (bilinear, edges replicated);
    ``img`` itself (not a copy) when ``M`` is no motion."""
    if np.array_equal(M, np.eye(3)):
        return img
    h, w = img.shape[:2]
    return cv2.warpAffine(
        img, M[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


@dataclass
class FeatureCache:
    """Every frame's features, computed once per camera (single-channel float32 images at the
    alignment's working resolution).

    lum : luminance of the reference and of the cross-polarised gradient (and inverse) frames
        (the complementary templates and, without inverses, the ratio templates are built from it).
    log : band-passed log luminance per frame, as a pyramid of ``levels`` (finest first).
    opp : band-passed ``R - G`` per frame that has a polarisation twin, two levels.
    ambient : room light as a fraction of the full-on frame (the complementary templates add it).
    pairs : per cross-polarised gradient or inverse frame, its last complementary template
        (:func:`pair_template`): the complement's motion it was made with, the template's
        features and the frame's share of the full-on light (reused while that motion moves no
        pixel by more than :data:`REUSE_PX`).
    coarse : per frame that :func:`ratio_template` uses, its luminance's pyramid down to :data:`RATIO_LEVEL`.
    chroma : without inverse patterns, the reference's and each cross-polarised gradient frame's
        band-passed log chromaticity, two levels
        (:func:`~id2reflectance.processing.solve.align_chroma.chroma_features`); empty: not used.

    Memory: about ``2.5 * frames`` single-channel images of the working size.
    """

    eps: float
    inverses: bool
    lum: dict[Key, np.ndarray] = field(default_factory=dict)
    log: dict[Key, list[np.ndarray]] = field(default_factory=dict)
    opp: dict[Key, list[np.ndarray]] = field(default_factory=dict)
    ambient: float = 0.0
    pairs: dict[Key, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    coarse: dict[Key, list[np.ndarray]] = field(default_factory=dict)
    chroma: dict[Key, list[np.ndarray]] = field(default_factory=dict)
    twins: dict[Key, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """Per parallel-polarised frame, its cross twin's ``R - G`` warped by the twin's motion
    (:func:`matched_template`) and that motion: reused while the twin's motion is the same."""
    full_on: tuple[float, np.ndarray, np.ndarray] | None = None
    """:func:`_full_on`'s ambient ratio and planes."""
    refs: dict[Key, tuple] = field(default_factory=dict)
    """Per frame, the last :func:`template_reference`: its template, its level-0 sample points and
    their prepared pyramid (reused while the template is the same array at the same points)."""


REUSE_PX = 2e-3
"""A complementary template is rebuilt only when its complement's motion changed by more than
this (working pixels, at the image's corners): well under the fit's 1e-3 px step tolerance's effect."""


def _moved_by(A: np.ndarray, B: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance (pixels) between where two (3, 3) similarities put the image's corners."""
    h, w = shape
    corners = np.array([[0.0, 0.0, 1.0], [w - 1.0, 0.0, 1.0], [0.0, h - 1.0, 1.0], [w - 1.0, h - 1.0, 1.0]])
    return float(np.max(np.linalg.norm(corners @ (A - B)[:2].T, axis=1)))


def _full_on(cache: FeatureCache) -> tuple[np.ndarray, np.ndarray]:
    """``(1 + r) full`` and its floor ``max((1 + r) full, eps)`` ((H, W) float32), ``r`` =
    ``cache.ambient``: made once per camera (every :func:`pair_template` uses them)."""
    kept = cache.full_on
    if kept is None or kept[0] != cache.ambient:
        full = np.float32(1.0 + cache.ambient) * cache.lum[REFERENCE]
        kept = cache.full_on = (cache.ambient, full, np.maximum(full, np.float32(cache.eps)))
    return kept[1], kept[2]


def pair_template(
    key: Key, cache: FeatureCache, motions: dict[Key, np.ndarray], *, keep: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """The complementary template of a cross-polarised gradient or inverse frame ``key``, and the
    frame's share of the full-on light (both (H, W) float32, reference pixels).

    ``(1 + r) full - inverse_a`` (for ``gradient_a``; ``full - gradient_a`` for ``inverse_a``),
    the complement aligned with its current motion, ``r`` the ambient ratio: its band-passed
    log features (:func:`~id2reflectance.processing.solve.align_features.log_features`), and
    ``1 - complement / ((1 + r) full)`` (:func:`lit_points`). Kept in ``cache.pairs`` and reused
    while the complement's motion stays within :data:`REUSE_PX` of the one it was made with.
    ``keep`` False: a template that is not kept (nor is the kept one replaced), and no share (None):
    :func:`pair_still`'s template of the complement unmoved, asked once.
    """
    other = (COMPLEMENT[key[0]], "cross")
    M = motions[other]
    kept = cache.pairs.get(key)
    if kept is not None and _moved_by(kept[0], M, kept[1].shape) <= REUSE_PX:
        return kept[1], kept[2]
    full, floor = _full_on(cache)
    moved = warp_to_reference(cache.lum[other], M)
    # full + ambient - (inverse + ambient) lacks the ambient the frame has: add it back
    template = log_features(np.subtract(full, moved), eps=cache.eps, overwrite=True)
    if not keep:
        return template, None
    share = np.divide(moved, floor, out=None if moved is cache.lum[other] else moved)  # 1 - moved / floor
    np.subtract(np.float32(1.0), share, out=share)
    cache.pairs[key] = (np.array(M, np.float64), template, share)
    return template, share


RATIO_SIGMA = 6.0
"""Gaussian sigma (working pixels) of the smoothing of a gradient frame's ratio to the full-on frame
(:func:`ratio_template`): wider than the skin's texture, so that the ratio keeps the shading only."""
RATIO_LEVEL = 2
"""The ratio of :func:`ratio_template` is smoothed on the working images' pyramid level this many
halvings down (``cv2.pyrDown``; its Gaussian there :data:`RATIO_SIGMA` / 2^level) and enlarged."""


def predicted(key: Key, cache: FeatureCache) -> bool:
    """Whether frame ``key`` is matched to a template predicted from its lighting ratio
    (:func:`ratio_template`): a cross-polarised gradient frame of a session without inverse patterns."""
    return not cache.inverses and key[1] == "cross" and key != REFERENCE and key[0] in COMPLEMENT


def ratio_template(key: Key, cache: FeatureCache, motions: dict[Key, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The template of a cross-polarised frame ``key`` without a complementary frame, and its share
    of the full-on light (both (H, W) float32, reference pixels).

    The frame, aligned with its current motion, divided by the full-on frame after both are
    smoothed (Gaussian of :data:`RATIO_SIGMA` px: the skin's texture and a misalignment's edges
    cancel, the pattern's shading stays), is the frame's share of the full-on light; the full-on
    frame times it is lit like the frame at that scale: its band-passed log features
    (:func:`~id2reflectance.processing.solve.align_features.log_features`) keep the reference's
    texture at the reference's place and the shading of the frame's pattern, which the full-on
    frame alone lacks (on the silhouette and on the face's shape). Kept in ``cache.pairs`` and
    reused while the frame's motion stays within :data:`REUSE_PX` of the one it was made with.
    """
    M = motions[key]
    kept = cache.pairs.get(key)
    if kept is not None and _moved_by(kept[0], M, kept[1].shape) <= REUSE_PX:
        return kept[1], kept[2]
    full = cache.lum[REFERENCE]
    # on a coarse level of the pyramid (x_fine = 2 x_coarse per level): the ratio is smooth
    Mc = np.array(M, np.float64)
    Mc[:2, 2] /= float(1 << RATIO_LEVEL)
    for k in (REFERENCE, key):  # the luminance's pyramid, once per frame
        if k not in cache.coarse:
            cache.coarse[k] = pyramid(cache.lum[k], RATIO_LEVEL + 1)
    levels = {k: cache.coarse[k] for k in (REFERENCE, key)}
    blur = partial(
        cv2.GaussianBlur, ksize=(0, 0), sigmaX=RATIO_SIGMA / (1 << RATIO_LEVEL), borderType=cv2.BORDER_REPLICATE
    )
    moved = warp_to_reference(levels[key][-1], Mc)
    share = blur(moved) / np.maximum(blur(levels[REFERENCE][-1]), np.float32(cache.eps))
    for finer in reversed(levels[REFERENCE][:-1]):  # enlarged on the pyramid's own grid
        share = cv2.pyrUp(share, dstsize=(finer.shape[1], finer.shape[0]))
    template = log_features(full * share, eps=cache.eps)
    cache.pairs[key] = (np.array(M, np.float64), template, share)
    return template, share


def frame_planes(
    images: dict[Key, np.ndarray], f: int, *, pool: ThreadPoolExecutor
) -> tuple[dict[Key, np.ndarray], dict[Key, list[np.ndarray]]]:
    """Every frame box-averaged by ``f`` once (frames in parallel on ``pool``): its luminance
    (H/f, W/f) float32, and the two-level pyramid of its band-passed ``R - G`` when it has a
    polarisation twin."""

    def one(key: Key) -> tuple[Key, np.ndarray, list[np.ndarray] | None]:
        small = downsample(images[key], f)
        twin = (key[0], "cross" if key[1] == "parallel" else "parallel")
        opp = pyramid(band_pass(opponent(small)), 2) if twin in images else None
        return key, luminance(small), opp

    lum, opp = {}, {}
    for key, y, o in pool.map(one, list(images)):
        lum[key] = y
        if o is not None:
            opp[key] = o
    return lum, opp


def build_cache(
    lum: dict[Key, np.ndarray],
    opp: dict[Key, list[np.ndarray]],
    *,
    eps: float,
    levels: int,
    inverses: bool,
    pool: ThreadPoolExecutor,
) -> FeatureCache:
    """The features of every frame from its luminance and ``R - G`` planes (:func:`frame_planes`)."""
    cache = FeatureCache(eps=eps, inverses=inverses, opp=dict(opp))

    def one(key: Key) -> tuple[Key, list[np.ndarray]]:
        return key, pyramid(log_features(lum[key], eps=eps), max(levels, 2))  # the refinement uses two

    for key, logs in pool.map(one, list(lum)):
        cache.log[key] = logs
        if key == REFERENCE or (key[1] == "cross" and key[0] in COMPLEMENT):
            cache.lum[key] = lum[key]
    return cache


def matched_template(
    key: Key, cache: FeatureCache, motions: dict[Key, np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The features of the image lit most like frame ``key`` (reference pixels), and the frame's.

    Parameters
    ----------
    key : the frame ``(pattern, polarization)``.
    cache : the camera's features.
    motions : current (3, 3) similarity per frame (reference pixel -> frame pixel).

    Returns
    -------
    (H, W) float32 template features and the frame's feature pyramid of the same kind.
    """
    pattern, pol = key
    twin = (pattern, "cross")
    if pol == "parallel" and twin in cache.opp:
        t = cache.opp[twin][0]
        if twin == REFERENCE:
            return t, cache.opp[key]
        M = motions[twin]
        kept = cache.twins.get(key)
        if kept is None or not np.array_equal(kept[0], M):  # the same warp of the same twin: kept
            kept = cache.twins[key] = (np.array(M, np.float64), warp_to_reference(t, M))
        return kept[1], cache.opp[key]
    if cache.inverses and pol == "cross" and pattern in COMPLEMENT:
        return pair_template(key, cache, motions)[0], cache.log[key]
    if predicted(key, cache):
        return ratio_template(key, cache, motions)[0], cache.log[key]
    return cache.log[REFERENCE][0], cache.log[key]


def template_reference(
    key: Key, cache: FeatureCache, motions: dict[Key, np.ndarray], points: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[ReferencePyramid, np.ndarray, list[np.ndarray]]:
    """:func:`~id2reflectance.processing.solve.align_features.reference_pyramid` of frame ``key``'s
    :func:`matched_template` at ``points``, the template and the frame's feature pyramid.

    Kept per frame in ``cache.refs``: asked again for the same template array (:func:`pair_template`
    and :func:`matched_template` return the array they kept while the motions it was made with hold)
    at the same level-0 points (the same arrays), the kept pyramid is returned, or its finest level
    when fewer levels are asked (a level is prepared from the template and its points alone), with the
    correlations already computed on it: the same values, computed once (the explained-fraction test
    before the parallel frames and the final checks of each frame ask for the same ones).
    """
    template, frame_pyr = matched_template(key, cache, motions)
    kept = cache.refs.get(key)
    if kept is not None and kept[0] is template and points and kept[1] is points[0] and kept[2] >= len(points):
        ref = kept[3]
        if kept[2] > len(points):
            ref = ReferencePyramid(ref.levels[: len(points)], ref.nccs)
        return ref, template, frame_pyr
    ref = reference_pyramid(template, points)
    if points:
        cache.refs[key] = (template, points[0], len(points), ref)
    return ref, template, frame_pyr


PREDICTED_PASSES = 2
"""Refits of each frame against its :func:`ratio_template` (sessions without inverse patterns)."""
CONVERGED_PX = 2e-3
"""The Jacobi passes of :func:`refine_motions` stop once a pass changes no motion by more than this
(working pixels at the image's corners)."""
FROM_ZERO_PX = 1.0
"""A refit's first pass also starts from no motion (:func:`refine_motions`) only where the current
estimate moves a corner of the image by more than this (working pixels): from a start nearer than that,
Gauss-Newton on the two finest levels returns to the current estimate's optimum (the tiled 2048 px
camera's 13 such pairs of fits: the same motion within 1e-4 px, the correlations within 3e-7), so the
second fit only doubled the first pass's cost; it is there for a first estimate a pixel or more astray."""
MIN_SHARE = 0.3
"""A complementary template ``(1 + r) full - inverse_a`` is fitted only where the frame's own light
is at least this share of the full-on frame's (:func:`lit_points`)."""
MIN_KEEP = 0.5
""":func:`lit_points` keeps at least this fraction of the sample points (the frame's best lit)."""


def lit_points(
    key: Key, cache: FeatureCache, motions: dict[Key, np.ndarray], points: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The sample ``points`` (per level) where frame ``key``'s complementary template is well conditioned.

    Where a gradient frame is dark, ``full - inverse_a`` is a small difference of two bright
    images: in log features the misalignment and noise of both are amplified by
    ``full / (full - inverse_a)``, and they pull the fit toward the inverse frame's own error
    (measured: 0.09 px of the 0.10 px median error of the 256 px moving head). So the points
    where the frame's share ``1 - inverse_a / ((1 + r) full)`` (``inverse_a`` aligned with its
    current motion, ``r`` the ambient ratio) is under :data:`MIN_SHARE` are dropped, or fewer
    (the threshold lowered to the share's ``1 - MIN_KEEP`` quantile) so that at least
    :data:`MIN_KEEP` of them stay (a frame lit from behind). Frames without a complementary
    template: ``points`` unchanged.
    """
    pattern, pol = key
    if not (cache.inverses and pol == "cross" and pattern in COMPLEMENT):
        return points
    share = pair_template(key, cache, motions)[1]
    out = []
    for lv, (ys, xs) in enumerate(points):
        if lv:
            share = cv2.pyrDown(share)
        at = share[ys, xs]
        keep = at >= min(MIN_SHARE, float(np.quantile(at, 1.0 - MIN_KEEP))) if len(at) else at > 0
        out.append((ys[keep], xs[keep]))
    return out


def frame_explained(
    key: Key, cache: FeatureCache, motions: dict[Key, np.ndarray], points: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """:func:`~id2reflectance.processing.solve.align_features.explained_fraction` of frame
    ``key``'s motion against its lighting-matched template at the finest level of ``points``
    (0 when the template has no texture there; NaN when the frame matches its template without
    motion, to within :data:`~id2reflectance.processing.solve.align_features.MATCHED_MISMATCH`:
    no motion is the fit, nothing was refused)."""
    ref, _, frame_pyr = template_reference(key, cache, motions, points[:1])
    if ref.levels and still_mismatch(ref, frame_pyr) < MATCHED_MISMATCH:
        return float("nan")  # the frame matches its template without motion: nothing to explain
    return explained_fraction(ref, frame_pyr, motions[key]) if ref.levels else 0.0


def pair_still(key: Key, cache: FeatureCache, points: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether cross-polarised gradient or inverse frame ``key`` matches its complementary template
    made with its complement unmoved (:func:`pair_template`), to within
    :data:`~id2reflectance.processing.solve.align_features.MATCHED_MISMATCH` at the finest level of
    ``points``: the pair adds up to the full-on frame as captured, so neither frame moved. Each
    frame's refit against its complement's estimate keeps a bias the two estimates share (the
    pattern's shading read as opposite shifts of the two frames, about 0.1 px on noise-free
    renders of textured skin); this test does not depend on those estimates."""
    other = (COMPLEMENT[key[0]], "cross")
    # not kept: the frame's template of the current estimates (kept) is the one asked for next
    ref = reference_pyramid(pair_template(key, cache, {other: np.eye(3)}, keep=False)[0], points[:1])
    return bool(ref.levels) and still_mismatch(ref, cache.log[key]) < MATCHED_MISMATCH


def refitted(key: Key, cache: FeatureCache) -> bool:
    """Whether :func:`refine_motions` refits frame ``key`` against a lighting-matched template
    (from its first estimate and from no motion): a cross-polarised gradient or inverse frame
    with inverse patterns, a parallel-polarised frame whose cross twin is there."""
    pattern, pol = key
    if pol == "parallel":
        return (pattern, "cross") in cache.opp
    return key != REFERENCE and pattern in COMPLEMENT and (cache.inverses or predicted(key, cache))


def chroma_refit(
    key: Key,
    cache: FeatureCache,
    motions: dict[Key, np.ndarray],
    outline: list[tuple[np.ndarray, np.ndarray]],
    inner: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Frame ``key``'s motion refitted from its current one on two feature pairs at once
    (:func:`~id2reflectance.processing.solve.align_chroma.fit_joint`): its :func:`ratio_template`
    at the ``outline`` points (the face with its silhouette) and the reference's log chromaticity
    at the ``inner`` points (inside the face), the latter's weight times
    :data:`~id2reflectance.processing.solve.align_chroma.CHROMA_WEIGHT`. The current motion is
    kept when the frame has no chromaticity features or they do not match the reference's at
    the current motion (normalised cross-correlation under
    :data:`~id2reflectance.processing.solve.align_chroma.CHROMA_MIN_NCC`: grey skin or noise only).
    """
    if key not in cache.chroma or not predicted(key, cache):
        return motions[key]
    chroma_ref = reference_pyramid(cache.chroma[REFERENCE], inner)
    ref, _, frame_pyr = template_reference(key, cache, motions, outline)
    if not (ref.levels and chroma_ref.levels):
        return motions[key]
    if feature_ncc(chroma_ref, cache.chroma[key], motions[key]) < CHROMA_MIN_NCC:
        return motions[key]
    pairs = ([ref, chroma_ref], [frame_pyr[: len(ref.levels)], cache.chroma[key]])
    return fit_joint(*pairs, init=motions[key], weights=(1.0, CHROMA_WEIGHT))


def refine_motions(
    cache: FeatureCache,
    motions: dict[Key, np.ndarray],
    points: list[tuple[np.ndarray, np.ndarray]],
    *,
    pool: ThreadPoolExecutor,
    passes: int,
    outline: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[dict[Key, np.ndarray], dict[Key, np.ndarray]]:
    """Refit every frame but the reference against its lighting-matched template.

    Cross-polarised gradient and inverse frames first (with inverses: ``passes`` Jacobi
    passes, each frame refitted against templates made with the previous pass's
    estimates; without them :data:`PREDICTED_PASSES` refits of each gradient frame against
    its :func:`ratio_template`, then one :func:`chroma_refit` each when ``cache.chroma`` holds
    their chromaticity), then every parallel-polarised frame against its aligned cross twin. A
    refit starts from the current estimate (and, in the first pass, also from no motion)
    and keeps whichever result or the current estimate correlates best with the template
    (finest level). Before the parallel frames, a cross-polarised frame whose motion
    removes less than :data:`MIN_EXPLAINED` of its features' mismatch with its template
    (:func:`frame_explained`) is set to no motion: lighting or noise, not motion, was
    fitted (a smooth, textureless surface turns shading into apparent motion).

    Parameters
    ----------
    cache : the camera's features; motions : first estimates (3, 3) per frame.
    points : :func:`~id2reflectance.processing.solve.align_features.sample_points` (two
        levels) inside the face.
    outline : the same with the face's silhouette (the first fit's points), used for the frames
        matched to a :func:`ratio_template` (their interior alone is biased by the relief's
        shading); None: ``points`` for every frame.

    Returns
    -------
    The refined (3, 3) motion per frame, and the motions refused before the parallel frames
    (cross-polarised frame -> the (3, 3) motion that was fitted and replaced by no motion),
    so that the report can name them.
    """
    motions = dict(motions)

    def refit(key: Key, current: dict[Key, np.ndarray], from_zero: bool) -> tuple[Key, np.ndarray]:
        # fitted from the current estimate and from no motion; the estimate that matches the
        # lighting-matched template best is kept (the first fit's lighting bias can exceed a pixel)
        pts = outline if outline is not None and predicted(key, cache) else points
        ref, template, frame_pyr = template_reference(key, cache, current, lit_points(key, cache, current, pts))
        if not ref.levels:
            return key, current[key]
        pyr = frame_pyr[: len(ref.levels)]
        best, best_ncc = current[key], feature_ncc(ref, pyr, current[key])
        # no motion as a second start only where it lies beyond the current estimate's basin
        far = from_zero and _moved_by(current[key], np.eye(3), template.shape) > FROM_ZERO_PX
        for init in (current[key], np.eye(3)) if far else (current[key],):
            M, _ = fit_similarity(ref, pyr, init=init)
            ncc = feature_ncc(ref, pyr, M)
            if ncc > best_ncc:
                best, best_ncc = M, ncc
        return key, best

    cross = [k for k in cache.log if refitted(k, cache) and k[1] == "cross"]
    for i in range(passes if cache.inverses else PREDICTED_PASSES):
        current = dict(motions)
        motions.update(dict(pool.map(partial(refit, current=current, from_zero=i == 0), cross)))
        shape = cache.log[REFERENCE][0].shape
        if i > 0 and all(_moved_by(motions[k], current[k], shape) <= CONVERGED_PX for k in cross):
            break  # a further pass would rebuild the same templates and refit the same motions
    if cache.chroma:  # without inverses: a last fit of each gradient frame on its chromaticity too
        current = dict(motions)
        motions.update(dict(pool.map(lambda k: (k, chroma_refit(k, cache, current, outline or points, points)), cross)))
    if cache.inverses:  # a pair that adds up to the full-on frame unmoved is still, both of its frames
        for key in cross:  # with inverses: the gradient and inverse frames (refitted)
            if pair_still(key, cache, points):
                motions[key] = motions[(COMPLEMENT[key[0]], "cross")] = np.eye(3)
    # before the parallel frames are matched to their cross twins: a twin whose motion does not
    # remove enough of its mismatch with its template is still (else its twin would inherit the motion)
    others = [k for k in cache.log if k[1] == "cross" and k != REFERENCE]
    current = dict(motions)
    refused: dict[Key, np.ndarray] = {}
    for key, fraction in zip(
        others, pool.map(lambda k: frame_explained(k, cache, current, points), others), strict=True
    ):
        if np.isnan(fraction):  # matches its template still: the fitted motion is the fit's bias
            motions[key] = np.eye(3)
        elif fraction < MIN_EXPLAINED and not np.array_equal(motions[key], np.eye(3)):
            refused[key] = motions[key]
            motions[key] = np.eye(3)
    parallel = [k for k in cache.log if k[1] == "parallel" and (k[0], "cross") in cache.opp]
    motions.update(dict(pool.map(partial(refit, current=dict(motions), from_zero=True), parallel)))
    return motions, refused
