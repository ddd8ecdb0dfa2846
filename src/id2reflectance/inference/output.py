"""Writing a monocular prediction: asset folder, aligned view maps and ``prediction.json``.

:func:`write_prediction` turns one :class:`~.infer.FacePrediction` into ``OUT/<name>/``
(layout in its docstring), atomically; :func:`prediction_name` is the folder name a photo
gets by default.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from id2reflectance.errors import ConfigError

if TYPE_CHECKING:
    from id2reflectance.inference.predictor import FacePrediction, Inferencer

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
    import hashlib

    from id2reflectance._shared.atomic import sha256_file

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
    mesh_from : the Inferencer that made ``pred`` (template mesh, checkpoint, dataset).
    name : folder name (default :func:`prediction_name`); also the asset's subject id.

    Returns
    -------
    The ``OUT/<name>`` folder.
    """
    from id2reflectance import __version__
    from id2reflectance._shared.atomic import atomic_folder, atomic_write_json, sha256_file
    from id2reflectance._shared.imageio import write_png
    from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME, shipped_template_path
    from id2reflectance.processing.asset import AssetMaps, write_asset

    name = name or prediction_name(pred)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"prediction name must be 1-64 characters of [A-Za-z0-9_-], got {name!r}")
    inf = mesh_from
    mesh = inf.template_mesh(pred.template_id)
    template_name, template_sha = TEMPLATE_NAME, sha256_file(shipped_template_path())
    uv = pred.uv
    maps = AssetMaps(
        diffuse_albedo=uv["diffuse_albedo"],
        specular_albedo=uv["specular_albedo"][..., 0],
        roughness=uv["roughness"][..., 0],
        normal_object=uv["normal_object"],
        coverage=uv["coverage"][..., 0],
        normal_tangent=uv["normal_tangent"],
    )
    photo_sha = _photo_sha256(pred)
    ckpt_sha = inf.checkpoint_sha256
    template = inf.bank.subject(pred.template_id)
    source: dict[str, Any] = {
        "kind": "photo",
        "photo": pred.source,
        "photo_sha256": photo_sha,
        "checkpoint": inf.checkpoint,
        "checkpoint_sha256": ckpt_sha,
        "dataset_sha256": inf.bank.sha256,
        "template_id": pred.template_id,
        "template_score": _json_float(pred.template_score),
        "face_index": pred.face_index,
        "prediction": True,
    }
    attributes: dict[str, Any] = {"predicted": True, "template_id": pred.template_id}
    if pred.ita_deg is not None:
        attributes["ita_deg"] = round(float(pred.ita_deg), 3)
    coverage_seen = float((uv["coverage"] > 0).mean())
    doc = {
        "format": PREDICTION_FORMAT,
        "version": PREDICTION_VERSION,
        "source": pred.source,
        "photo_sha256": photo_sha,
        "face_index": pred.face_index,
        "box": list(pred.box) if pred.box is not None else None,
        "landmarks": np.round(pred.landmarks, 3).tolist() if pred.landmarks is not None else None,
        "ita_deg": _json_float(pred.ita_deg, 3),
        "photo_ita_deg": _json_float(pred.photo_ita_deg, 3),
        "tone_gain": None if pred.tone_gain is None else [_json_float(g, 5) for g in pred.tone_gain],
        "warnings": list(pred.warnings),
        "identity": np.round(pred.identity.astype(np.float64), 7).tolist(),
        "template": {
            "id": pred.template_id,
            "score": _json_float(pred.template_score),
            "split": template.split,
            "ita_deg": template.ita_deg,
        },
        "scores": {k: _json_float(v) for k, v in sorted(pred.scores.items(), key=lambda kv: -kv[1])},
        "checkpoint": inf.checkpoint,
        "checkpoint_sha256": ckpt_sha,
        "dataset": str(inf.bank.root),
        "dataset_sha256": inf.bank.sha256,
        "config": {
            "views": list(inf.config.views),
            "uv_size": inf.config.uv_size,
            "template": inf.config.template,
            "template_split": inf.config.template_split,
            "ita_weight": inf.config.ita_weight,
            "output": inf.config.output,
            "front_view": inf.config.front_view,
            "ita_calibration": (
                dataclasses.asdict(inf.bank.ita_calibration)
                if inf.config.ita_calibration and inf.bank.ita_calibration is not None
                else None
            ),
        },
        "resolution": int(pred.aligned.shape[0]),
        "asset": "asset",
        "coverage_seen": round(coverage_seen, 5),
        "tool": {"name": "id2reflectance", "version": __version__},
    }
    out = Path(out_dir) / name
    with atomic_folder(out) as tmp:
        write_asset(
            tmp / "asset",
            mesh=mesh,
            maps=maps,
            subject_id=name,
            attributes=attributes,
            template_name=template_name,
            template_sha256=template_sha,
            frame="template",
            source=source,
            stats={"coverage_seen": round(coverage_seen, 5), "template_id": pred.template_id},
        )
        for view, m in pred.views.items():
            vdir = tmp / "views" / view
            write_png(vdir / "rgb.png", m["rgb"])
            write_png(vdir / "diffuse_albedo.png", m["diffuse_albedo"], bits=16)
            write_png(vdir / "specular_albedo.png", m["specular_albedo"][..., 0], bits=16)
            write_png(vdir / "roughness.png", m["roughness"][..., 0], bits=16)
            n = np.where(m["mask"][..., None], (m["normal"] + 1.0) * 0.5, 0.0)
            write_png(vdir / "normal.png", n, bits=16)
            write_png(vdir / "mask.png", m["mask"].astype(np.float32))
        write_png(tmp / "aligned.png", pred.aligned.astype(np.float32) / 255.0)
        atomic_write_json(tmp / "prediction.json", doc)
    log.info("wrote prediction %s (template %s)", out, pred.template_id)
    return out
