"""Writing a monocular prediction: asset folder, aligned view maps and ``prediction.json``.

:func:`write_prediction` turns one
:class:`~id2reflectance.inference.predictor.FacePrediction` into ``OUT/<name>/`` (layout in
its docstring), atomically; :func:`prediction_name` is the folder name a photo gets by
default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_folder, atomic_write_json, sha256_file
from id2reflectance._shared.imageio import write_png
from id2reflectance.errors import ConfigError
from id2reflectance.inference.predictor import FacePrediction, Inferencer
from id2reflectance.processing.asset import AssetMaps, write_asset

log = logging.getLogger(__name__)

PREDICTION_FORMAT = "id2r-prediction"
PREDICTION_VERSION = 1


def prediction_name(pred: FacePrediction) -> str:
    """Folder name of a prediction: the photo's file stem (``face<k>`` appended for k > 0),
    reduced to ``[A-Za-z0-9_-]`` (the asset format's subject-id alphabet), 1-64 characters."""
    stem = Path(pred.source).stem if pred.source else "face"
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "face"
    if pred.face_index > 0:
        name = f"{name[:56]}_face{pred.face_index}"
    return name[:64]


def _photo_sha256(pred: FacePrediction) -> str:
    p = Path(pred.source) if pred.source else None
    if p is not None and p.is_file():
        return sha256_file(p)
    return hashlib.sha256(np.ascontiguousarray(pred.aligned).tobytes()).hexdigest()


def _json_float(x: float | None, digits: int = 6) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def write_prediction(
    pred: FacePrediction, out_dir: str | Path, *, mesh_from: Inferencer, name: str | None = None
) -> Path:
    """Write one prediction as ``OUT/<name>/``, atomically (nothing partial on error).

    Layout::

        OUT/<name>/asset/                 asset folder (shared/asset-format.md): the template
                                          subject's mesh, the UV maps, frame "template",
                                          source.kind "photo"
        OUT/<name>/views/<view>/rgb.png   8-bit sRGB, the swapped face
        OUT/<name>/views/<view>/{diffuse_albedo,specular_albedo,roughness,normal}.png
                                          16-bit, encoded as the dataset's views
                                          (docs/dataset-format.md)
        OUT/<name>/views/<view>/mask.png  8-bit, 255 on the face
        OUT/<name>/aligned.png            8-bit sRGB, the aligned input face
        OUT/<name>/prediction.json        what was predicted from what (written last)

    Parameters
    ----------
    pred : the prediction.
    out_dir : OUT.
    mesh_from : the Inferencer that made ``pred`` (template subject's mesh, checkpoint,
        dataset).
    name : folder name (default :func:`prediction_name`); also the asset's subject id.

    Returns
    -------
    The ``OUT/<name>`` folder.
    """
    name = name or prediction_name(pred)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"prediction name must be 1-64 characters of [A-Za-z0-9_-], got {name!r}")
    inf = mesh_from
    mesh = inf.template_mesh(pred.template_id)
    photo_sha, ckpt_sha = _photo_sha256(pred), inf.checkpoint_sha256
    coverage_seen = round(float((pred.uv["coverage"] > 0).mean()), 5)
    doc = _prediction_doc(pred, inf, coverage_seen=coverage_seen, photo_sha256=photo_sha, checkpoint_sha256=ckpt_sha)
    out = Path(out_dir) / name
    with atomic_folder(out) as tmp:
        write_asset(
            tmp / "asset",
            mesh=mesh,
            maps=_asset_maps(pred.uv),
            subject_id=name,
            attributes=_asset_attributes(pred),
            # the template whose topology and UVs the mesh has: the dataset's (the model's, checked at load)
            template_name=inf.bank.template.name,
            template_sha256=inf.bank.template.sha256,
            frame="template",
            source=_asset_source(pred, inf, photo_sha256=photo_sha, checkpoint_sha256=ckpt_sha),
            stats={"coverage_seen": coverage_seen, "template_id": pred.template_id},
        )
        for view, maps in pred.views.items():
            _write_view(tmp / "views" / view, maps)
        write_png(tmp / "aligned.png", pred.aligned.astype(np.float32) / 255.0)
        atomic_write_json(tmp / "prediction.json", doc)
    log.info("wrote prediction %s (template subject %s)", out, pred.template_id)
    return out


def _asset_maps(uv: dict[str, np.ndarray]) -> AssetMaps:
    """The predicted UV maps (:attr:`FacePrediction.uv`, (S, S, C) float32) as asset maps:
    single-channel maps as (S, S)."""
    return AssetMaps(
        diffuse_albedo=uv["diffuse_albedo"],
        specular_albedo=uv["specular_albedo"][..., 0],
        roughness=uv["roughness"][..., 0],
        normal_object=uv["normal_object"],
        coverage=uv["coverage"][..., 0],
        normal_tangent=uv["normal_tangent"],
    )


def _asset_attributes(pred: FacePrediction) -> dict[str, Any]:
    """The asset's ``attributes``: predicted, its template subject and the face's ITA (degrees)."""
    attributes: dict[str, Any] = {"predicted": True, "template_id": pred.template_id}
    if pred.ita_deg is not None:
        attributes["ita_deg"] = round(float(pred.ita_deg), 3)
    return attributes


def _asset_source(
    pred: FacePrediction, inf: Inferencer, *, photo_sha256: str, checkpoint_sha256: str
) -> dict[str, Any]:
    """The asset's ``source`` (kind ``photo``): the photo, checkpoint, dataset and template
    subject it was predicted from; ``photo_sha256`` (:func:`_photo_sha256`) and
    ``checkpoint_sha256`` (:attr:`Inferencer.checkpoint_sha256`) as hex digests."""
    return {
        "kind": "photo",
        "photo": pred.source,
        "photo_sha256": photo_sha256,
        "checkpoint": inf.checkpoint,
        "checkpoint_sha256": checkpoint_sha256,
        "dataset_sha256": inf.bank.sha256,
        "template_id": pred.template_id,
        "template_score": _json_float(pred.template_score),
        "face_index": pred.face_index,
        "prediction": True,
    }


def _prediction_doc(
    pred: FacePrediction, inf: Inferencer, *, coverage_seen: float, photo_sha256: str, checkpoint_sha256: str
) -> dict[str, Any]:
    """``prediction.json``: the face (box, landmarks, identity, skin tone, warnings), the
    template subject and every candidate's score, the checkpoint, dataset and inference
    options, the UV coverage and the tool's version."""
    template_subject = inf.bank.subject(pred.template_id)
    return {
        "format": PREDICTION_FORMAT,
        "version": PREDICTION_VERSION,
        "source": pred.source,
        "photo_sha256": photo_sha256,
        "face_index": pred.face_index,
        "box": list(pred.box) if pred.box is not None else None,
        "landmarks": np.round(pred.landmarks, 3).tolist() if pred.landmarks is not None else None,
        "ita_deg": _json_float(pred.ita_deg, 3),
        "photo_ita_deg": _json_float(pred.photo_ita_deg, 3),
        "eye_white_ita_deg": _json_float(pred.eye_white_ita_deg, 3),
        "skin_tone_source": pred.skin_tone_source,
        "tone_gain": None if pred.tone_gain is None else [_json_float(g, 5) for g in pred.tone_gain],
        "albedo_ita_target": _json_float(pred.albedo_ita_target, 3),
        "warnings": list(pred.warnings),
        "identity": np.round(pred.identity.astype(np.float64), 7).tolist(),
        "template": {
            "id": pred.template_id,
            "score": _json_float(pred.template_score),
            "split": template_subject.split,
            "ita_deg": template_subject.ita_deg,
        },
        "scores": {k: _json_float(v) for k, v in sorted(pred.scores.items(), key=lambda kv: -kv[1])},
        "checkpoint": inf.checkpoint,
        "checkpoint_sha256": checkpoint_sha256,
        "dataset": str(inf.bank.root),
        "dataset_sha256": inf.bank.sha256,
        "config": _config_doc(inf),
        "resolution": int(pred.aligned.shape[0]),
        "asset": "asset",
        "coverage_seen": coverage_seen,
        "tool": {"name": "id2reflectance", "version": __version__},
    }


def _config_doc(inf: Inferencer) -> dict[str, Any]:
    """The inference options of ``prediction.json`` (with the template subjects' ITA
    calibration when it was used)."""
    cfg, calibration = inf.config, inf.bank.ita_calibration
    return {
        "views": list(cfg.views),
        "uv_size": cfg.uv_size,
        "template": cfg.template,
        "template_split": cfg.template_split,
        "ita_weight": cfg.ita_weight,
        "output": cfg.output,
        "front_view": cfg.front_view,
        "skin_tone": cfg.skin_tone,
        "tone_from": cfg.tone_from,
        "ita_calibration": (
            dataclasses.asdict(calibration) if cfg.ita_calibration and calibration is not None else None
        ),
    }


def _write_view(folder: Path, maps: dict[str, np.ndarray]) -> None:
    """One predicted view (:attr:`FacePrediction.views`) as PNGs encoded like the dataset's
    views: ``rgb`` and ``mask`` 8-bit, the reflectance maps 16-bit, normals as
    ``(n + 1) / 2`` (0 outside the mask)."""
    write_png(folder / "rgb.png", maps["rgb"])
    write_png(folder / "diffuse_albedo.png", maps["diffuse_albedo"], bits=16)
    write_png(folder / "specular_albedo.png", maps["specular_albedo"][..., 0], bits=16)
    write_png(folder / "roughness.png", maps["roughness"][..., 0], bits=16)
    normal = np.where(maps["mask"][..., None], (maps["normal"] + 1.0) * 0.5, 0.0)
    write_png(folder / "normal.png", normal, bits=16)
    write_png(folder / "mask.png", maps["mask"].astype(np.float32))
