"""Skin-tone accuracy and fairness of predicted albedo: ITA and the FAIR benchmark scores.

Individual Typology Angle (Chardon et al. 1991): ``ITA = atan((L* - 50) / b*)`` in degrees,
from CIELAB (D65 white, CIE 1976) of the albedo; we use ``atan2(L* - 50, b*)``, equal for
``b* > 0`` (always the case for skin) and defined everywhere. Albedo is linear Rec.709 /
sRGB primaries with white = 1.

The six skin-type groups follow the standard ITA thresholds (Del Bino & Bernerd 2013, as
used by FAIR): I very light ``ITA > 55``, II light ``(41, 55]``, III intermediate
``(28, 41]``, IV tan ``(10, 28]``, V brown ``(-30, 10]``, VI dark ``<= -30`` (degrees).

FAIR benchmark scores (Feng et al., ECCV 2022, "Towards Racially Unbiased Skin Tone
Estimation via Scene Disambiguation", TRUST): every subject is assigned to a group by the
ITA of its ground-truth albedo; the per-subject error is ``|ITA_pred - ITA_gt|``;

- ``group_errors``: mean error in each group;
- ``average`` (Avg. ITA error): the mean of the group means (each populated group counts
  once, however many subjects it holds);
- ``bias``: the standard deviation of the group means (population form, ddof = 0);
- ``score = average + bias``.

Groups without subjects are reported as empty (``None``) and left out of all three numbers;
``populated`` counts the groups used. The benchmark's own evaluation script is not public
in a form we could consult; the definitions above follow the paper's text (see
docs/evaluation.md for the caveats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from id2reflectance._shared.cielab import ita_deg, ita_from_lab, linear_rgb_to_lab
from id2reflectance.errors import ShapeError

__all__ = [
    "ITA_GROUP_BOUNDS_DEG",
    "ITA_GROUP_NAMES",
    "FairnessScores",
    "fairness_scores",
    "ita_deg",
    "ita_from_lab",
    "ita_group",
    "linear_rgb_to_lab",
    "region_ita",
]

ITA_GROUP_NAMES = ("I very light", "II light", "III intermediate", "IV tan", "V brown", "VI dark")
ITA_GROUP_BOUNDS_DEG = (55.0, 41.0, 28.0, 10.0, -30.0)  # lower bounds of groups I..V (exclusive)


def region_ita(
    albedo: np.ndarray,
    mask: np.ndarray,
    *,
    reduction: Literal["pixel_mean", "mean_colour"] = "pixel_mean",
) -> float:
    """ITA of an albedo image over a skin region.

    Parameters
    ----------
    albedo : (H, W, 3) float, linear Rec.709 diffuse albedo in [0, 1].
    mask : (H, W) bool skin region.
    reduction : ``pixel_mean``: mean of the per-pixel ITA (FAIR's per-pixel ITA averaged
        over the skin); ``mean_colour``: ITA of the mean albedo (the dataset's
        ``ita_deg`` attribute).

    Returns
    -------
    float degrees.

    Raises
    ------
    ShapeError
        Wrong shapes, non-finite values or an empty mask.
    """
    a = np.asarray(albedo, np.float64)
    m = np.asarray(mask, bool)
    if a.ndim != 3 or a.shape[2] != 3 or m.shape != a.shape[:2]:
        raise ShapeError(f"expected albedo (H, W, 3) and mask (H, W), got {a.shape} and {m.shape}")
    if not m.any():
        raise ShapeError("skin mask is empty")
    px = a[m]
    if not np.all(np.isfinite(px)):
        raise ShapeError("albedo contains NaN or infinite values inside the skin mask")
    px = np.clip(px, 0.0, 1.0)
    if reduction == "pixel_mean":
        return float(np.mean(ita_deg(px)))
    if reduction == "mean_colour":
        return float(ita_deg(px.mean(axis=0)))
    raise ShapeError(f"unknown ITA reduction {reduction!r}; use 'pixel_mean' or 'mean_colour'")


def ita_group(ita: np.ndarray | float) -> np.ndarray:
    """Skin-type group index 0..5 (I..VI) of ITA degrees, by the standard thresholds.

    Bins: > 55 -> 0 (I), (41, 55] -> 1, (28, 41] -> 2, (10, 28] -> 3, (-30, 10] -> 4,
    <= -30 -> 5 (VI). Returns int64 of the input's shape.
    """
    a = np.asarray(ita, np.float64)
    return np.sum(a[..., None] <= np.asarray(ITA_GROUP_BOUNDS_DEG), axis=-1).astype(np.int64)


@dataclass(frozen=True)
class FairnessScores:
    """FAIR-style skin-tone scores of one model over a set of subjects (degrees).

    group_errors : mean |ITA error| per group I..VI, None for an empty group.
    group_counts : subjects per group.
    average : mean of the populated groups' mean errors (Avg. ITA error).
    bias : population standard deviation of those group means.
    score : average + bias.
    populated : number of groups with subjects.
    mae : plain mean error over all subjects (not a FAIR number; for reference).
    """

    group_errors: tuple[float | None, ...]
    group_counts: tuple[int, ...]
    average: float
    bias: float
    score: float
    populated: int
    mae: float

    def to_json(self) -> dict[str, object]:
        """JSON-able dict (group errors keyed by group name)."""
        return {
            "groups": [
                {"name": n, "count": c, "ita_error": e}
                for n, c, e in zip(ITA_GROUP_NAMES, self.group_counts, self.group_errors, strict=True)
            ],
            "average_ita_error": self.average,
            "bias": self.bias,
            "score": self.score,
            "populated_groups": self.populated,
            "mae": self.mae,
        }


def fairness_scores(gt_ita: Sequence[float] | np.ndarray, pred_ita: Sequence[float] | np.ndarray) -> FairnessScores:
    """FAIR average ITA error, bias and score (see the module docstring).

    Parameters
    ----------
    gt_ita : (N,) ground-truth albedo ITA per subject, degrees (defines the groups).
    pred_ita : (N,) predicted albedo ITA per subject, degrees.

    Raises
    ------
    ShapeError
        Lengths differ, no subjects, or non-finite values.
    """
    gt = np.asarray(gt_ita, np.float64).ravel()
    pr = np.asarray(pred_ita, np.float64).ravel()
    if gt.shape != pr.shape:
        raise ShapeError(f"gt_ita and pred_ita differ in length: {gt.size} vs {pr.size}")
    if gt.size == 0:
        raise ShapeError("no subjects to score")
    if not (np.all(np.isfinite(gt)) and np.all(np.isfinite(pr))):
        raise ShapeError("ITA values must be finite")
    err = np.abs(pr - gt)
    groups = ita_group(gt)
    means: list[float | None] = []
    counts: list[int] = []
    for g in range(len(ITA_GROUP_NAMES)):
        sel = groups == g
        counts.append(int(sel.sum()))
        means.append(float(err[sel].mean()) if sel.any() else None)
    pop = np.array([m for m in means if m is not None])
    average = float(pop.mean())
    bias = float(pop.std(ddof=0))
    return FairnessScores(
        group_errors=tuple(means),
        group_counts=tuple(counts),
        average=average,
        bias=bias,
        score=average + bias,
        populated=int(pop.size),
        mae=float(err.mean()),
    )
