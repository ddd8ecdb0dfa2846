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

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import cv2
import numpy as np

from id2reflectance.processing.solve.align_features import (
    fit_similarity,
    frame_features,
    opponent_features,
    pyramid,
    reference_pyramid,
)
from id2reflectance.processing.solve.separation import AXES

Key = tuple[str, str]
REFERENCE: Key = ("full", "cross")
COMPLEMENT = {
    **{f"gradient_{a}": f"inverse_{a}" for a in AXES},
    **{f"inverse_{a}": f"gradient_{a}" for a in AXES},
}


def warp_to_reference(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``img`` resampled at ``M x`` for every reference pixel ``x`` (bilinear, edges replicated)."""
    h, w = img.shape[:2]
    return cv2.warpAffine(
        img, M[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def matched_template(
    key: Key, images: dict[Key, np.ndarray], motions: dict[Key, np.ndarray], *, eps: float, inverses: bool
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The image lit most like frame ``key``, in reference pixels, and the features to compare.

    Parameters
    ----------
    key : the frame ``(pattern, polarization)``.
    images : the camera's frames, (H, W, 3) float32 linear Rec.709.
    motions : current (3, 3) similarity per frame (reference pixel -> frame pixel).
    eps : luminance floor of :func:`frame_features`.
    inverses : the session has every inverse pattern (complementary templates available).

    Returns
    -------
    (H, W, 3) float32 template and the feature function to apply to it and to the frame.
    """
    pattern, pol = key
    if pol == "parallel" and (pattern, "cross") in images:
        twin = (pattern, "cross")
        img = images[twin] if twin == REFERENCE else warp_to_reference(images[twin], motions[twin])
        return img, opponent_features
    features = partial(frame_features, eps=eps)
    if inverses and pattern in COMPLEMENT and pol == "cross":
        other = (COMPLEMENT[pattern], "cross")
        return images[REFERENCE] - warp_to_reference(images[other], motions[other]), features
    return images[REFERENCE], features


def refine_motions(
    images: dict[Key, np.ndarray],
    motions: dict[Key, np.ndarray],
    region: np.ndarray,
    *,
    eps: float,
    inverses: bool,
    pool: ThreadPoolExecutor,
    passes: int,
) -> dict[Key, np.ndarray]:
    """Refit every frame but the reference against its lighting-matched template.

    Cross-polarised gradient and inverse frames first (with inverses: ``passes`` Jacobi
    passes, each frame refitted from its current estimate against templates made with the
    previous pass's estimates), then every parallel-polarised frame against its aligned
    cross twin.

    Parameters
    ----------
    images : the camera's frames; motions : first estimates (3, 3) per frame.
    region : (H, W) bool reference pixels to fit at (inside the face).
    """
    motions = dict(motions)

    def refit(key: Key, current: dict[Key, np.ndarray]) -> tuple[Key, np.ndarray]:
        template, features = matched_template(key, images, current, eps=eps, inverses=inverses)
        ref = reference_pyramid(features(template), region, levels=2, max_samples=1 << 18)
        if not ref.levels:
            return key, current[key]
        M, _ = fit_similarity(ref, pyramid(features(images[key]), len(ref.levels)), init=current[key])
        return key, M

    cross = [k for k in images if k[1] == "cross" and k != REFERENCE and k[0] in COMPLEMENT]
    for _ in range(passes if inverses else 0):
        current = dict(motions)
        motions.update(dict(pool.map(partial(refit, current=current), cross)))
    parallel = [k for k in images if k[1] == "parallel" and (k[0], "cross") in images]
    motions.update(dict(pool.map(partial(refit, current=dict(motions)), parallel)))
    return motions
