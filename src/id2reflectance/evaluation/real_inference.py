"""Monocular inference on real photos (London set): per-photo outcomes and their summary.

For every photo (:func:`infer_real_photo`): whether an asset came out (prediction and
:func:`~id2reflectance.inference.output.write_prediction` without error), the warnings,
the chosen template subject, the skin tones (photo ITA, eye-white ITA, the ITA retrieval
used), the predicted albedo's ITA (front view, skin of the view mask eroded,
:func:`~id2reflectance.evaluation.inputs.skin_mask`, per-pixel mean as FAIR), and the
identity kept: the Euclidean distance between the photo's identity embedding and the
embedding of the predicted front maps rendered under uniform white light
(:func:`~id2reflectance.evaluation.inputs.shade_full_on`, the dataset's exposure), with the
template subject's eyes off the skin where the dataset's views have eyes (the predicted front
view is in the template subject's geometry;
:func:`~id2reflectance.evaluation.inputs.subject_eye_layer`).

:func:`summarise_real` pairs the photos: a person's neutral and smiling assets (same person)
against each person's neutral asset and the next person's (different people), by
|ITA difference| of the predicted albedo and the PSNR of their UV diffuse albedo (texels
both cover); groups the predicted ITA by self-reported ethnicity; and relates the predicted
ITA to the photo's (Pearson r and least-squares slope).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from id2reflectance.capture.face_photos import is_held_out
from id2reflectance.dataset.torch_dataset import read_manifest
from id2reflectance.errors import ConfigError, Id2rError
from id2reflectance.evaluation.fairness import region_ita
from id2reflectance.evaluation.inputs import shade_full_on, skin_mask, subject_eye_layer
from id2reflectance.evaluation.london import GROUP_ORDER
from id2reflectance.face.identity import embed_aligned


@dataclass
class RealPhotoResult:
    """One photo's outcome (see the module); ``error`` is "" when an asset came out."""

    person: str
    expression: str
    ethnicity: str
    asset: bool
    error: str = ""
    warnings: tuple[str, ...] = ()
    template_id: str = ""
    photo_ita_deg: float | None = None
    eye_white_ita_deg: float | None = None
    ita_deg: float | None = None
    albedo_ita_deg: float | None = None
    identity_distance: float | None = None
    uv_albedo: np.ndarray | None = field(default=None, repr=False)  # (S, S, 3) float32 linear
    uv_coverage: np.ndarray | None = field(default=None, repr=False)  # (S, S) bool


def infer_real_photo(
    inferencer: Any, photo: np.ndarray, *, person: str, expression: str, ethnicity: str, write: bool = True
) -> RealPhotoResult:
    """Run ``inferencer`` (:class:`~id2reflectance.inference.predictor.Inferencer`) on one
    photo (H, W, 3) uint8 sRGB, write its asset to a temporary folder (removed after;
    unless ``write`` is False), and measure it. A failure is recorded in ``error``, not raised.

    Raises
    ------
    ConfigError
        ``person`` lends its photo to simulated subjects (an even id,
        :mod:`~id2reflectance.capture.face_photos`): the training data may hold its face.
    """
    if not is_held_out(person):
        raise ConfigError(
            f"person {person} lends its photo to simulated subjects (even ids, capture/face_photos.py): "
            "evaluate on held-out people only (evaluation.london.held_out_people)"
        )
    from id2reflectance.inference.output import write_prediction

    out = RealPhotoResult(person, expression, ethnicity, asset=False)
    tmp = Path(tempfile.mkdtemp(prefix="real_photo_"))
    try:
        pred = inferencer.predict_image(photo, source=f"{expression}/{person}.jpg")[0]
        if write:
            write_prediction(pred, tmp, mesh_from=inferencer, name="asset")
    except Id2rError as err:
        out.error = str(err)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.asset = True
    out.warnings = pred.warnings
    out.template_id = pred.template_id
    out.photo_ita_deg = pred.photo_ita_deg
    out.eye_white_ita_deg = pred.eye_white_ita_deg
    out.ita_deg = pred.ita_deg
    front = pred.views["front"]
    mask = np.asarray(front["mask"], bool)
    skin = skin_mask(mask, None)
    if skin.any():
        out.albedo_ita_deg = region_ita(front["diffuse_albedo"], skin)
    doc = read_manifest(inferencer.bank.root)
    stops = doc.get("rgb_exposure_stops")
    eyes = subject_eye_layer(inferencer.bank.root, doc, pred.template_id, mask.shape[0])
    render = shade_full_on(front["diffuse_albedo"], front["specular_albedo"], mask, exposure_stops=stops, eyes=eyes)
    try:
        emb, _ = embed_aligned(inferencer.encoder, render)
        out.identity_distance = float(np.linalg.norm(emb - pred.identity))
    except Id2rError:
        out.identity_distance = None
    out.uv_albedo = pred.uv["diffuse_albedo"]
    out.uv_coverage = pred.uv["coverage"][..., 0] > 0
    return out


def albedo_psnr(a: RealPhotoResult, b: RealPhotoResult) -> float | None:
    """PSNR (dB, peak 1) between two results' UV diffuse albedo over the texels both cover."""
    if a.uv_albedo is None or b.uv_albedo is None or a.uv_coverage is None or b.uv_coverage is None:
        return None
    both = a.uv_coverage & b.uv_coverage
    if not both.any():
        return None
    mse = float(np.mean((a.uv_albedo[both] - b.uv_albedo[both]) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def _median(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def summarise_real(results: Sequence[RealPhotoResult]) -> dict[str, Any]:
    """The figures of the module over ``results`` (:func:`infer_real_photo`).

    Returns a dict: ``photos``, ``assets``, ``warned`` (photos with a warning),
    ``identity_distance`` (median), ``same`` and ``other`` (``{"ita_diff", "psnr",
    "pairs"}``: medians over the pairs), ``group_ita`` (ethnicity -> median predicted ITA),
    ``ordered`` (group medians decreasing in :data:`~.london.GROUP_ORDER`), ``photo_r``
    and ``photo_slope`` (predicted vs photo ITA), ``templates`` (distinct templates used).
    """
    by = {(r.person, r.expression): r for r in results if r.asset}
    people = sorted({r.person for r in results})

    def pair_figures(pairs: list[tuple[RealPhotoResult, RealPhotoResult]]) -> dict[str, Any]:
        ita = [
            abs(a.albedo_ita_deg - b.albedo_ita_deg)
            for a, b in pairs
            if a.albedo_ita_deg is not None and b.albedo_ita_deg is not None
        ]
        return {"ita_diff": _median(ita), "psnr": _median([albedo_psnr(a, b) for a, b in pairs]), "pairs": len(pairs)}

    same = [(by[(p, "neutral")], by[(p, "smiling")]) for p in people if (p, "neutral") in by and (p, "smiling") in by]
    neutral = [p for p in people if (p, "neutral") in by]
    other = [(by[(a, "neutral")], by[(b, "neutral")]) for a, b in zip(neutral, neutral[1:] + neutral[:1]) if a != b]
    groups: dict[str, list[float]] = {}
    for r in by.values():
        if r.albedo_ita_deg is not None:
            groups.setdefault(r.ethnicity, []).append(r.albedo_ita_deg)
    group_ita = {g: float(np.median(v)) for g, v in groups.items()}
    ordered_values = [group_ita[g] for g in GROUP_ORDER if g in group_ita]
    xy = np.array(
        [
            (r.photo_ita_deg, r.albedo_ita_deg)
            for r in by.values()
            if r.photo_ita_deg is not None and r.albedo_ita_deg is not None
        ]
    )
    r_, slope = None, None
    if len(xy) >= 3 and np.std(xy[:, 0]) > 0 and np.std(xy[:, 1]) > 0:
        r_ = float(np.corrcoef(xy[:, 0], xy[:, 1])[0, 1])
        slope = float(np.polyfit(xy[:, 0], xy[:, 1], 1)[0])
    return {
        "photos": len(results),
        "assets": len(by),
        "warned": sum(bool(r.warnings) for r in results if r.asset),
        "identity_distance": _median([r.identity_distance for r in by.values()]),
        "same": pair_figures(same),
        "other": pair_figures(other),
        "group_ita": group_ita,
        "ordered": len(ordered_values) == len(GROUP_ORDER) and bool(np.all(np.diff(ordered_values) < 0)),
        "photo_r": r_,
        "photo_slope": slope,
        "templates": len({r.template_id for r in by.values()}),
    }
