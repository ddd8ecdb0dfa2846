"""Evaluation of identity-swapper checkpoints on held-out subjects (``id2r eval swapper``).

Protocol (docs/evaluation.md has the full description). For every subject of the
evaluation split (the dataset's ``test`` subjects by default) and every lit photograph of
its aligned front view (``rgb_full.png`` and each ``rgb_env<k>.png``, one input each):

1. identity: the dlib embedding (128-d) of the photo at the dataset's resolution, with
   dlib's landmarks of the aligned crop
   (:func:`~id2reflectance.face.identity.embed_aligned`: the detector, else the
   shape predictor from the fixed aligned-face box), as in training;
2. prediction: :meth:`~id2reflectance.inference.predictor.Inferencer.predict_aligned`
   with that identity and ``exclude=(subject,)`` (a subject is never its own template
   subject), the template subject retrieved (``closest``) or fixed (``fixed``);
3. comparison with the subject's own ground truth, at the model's resolution:

   - every view and reflectance domain: PSNR and SSIM inside the subject's view mask
     (diffuse albedo linear [0, 1]; specular albedo [0, 1]; roughness; normal as
     ``(n + 1) / 2``);
   - UV: PSNR of the predicted UV maps against ``uv/*.exr`` weighted by the ground truth's
     coverage where the prediction covers the texel (normals: tangent-space ``(n + 1) / 2``);
   - diffuse albedo (front view): LPIPS on the sRGB-encoded albedo when local LPIPS
     weights are given (else reported as unavailable), and identity similarity: the cosine
     between the photo's embedding and the embedding of the predicted maps rendered under
     uniform white light (:func:`~id2reflectance.evaluation.inputs.shade_full_on`), with
     the ground-truth view's eyes off the skin where the dataset's views have eyes
     (:func:`~id2reflectance.evaluation.inputs.eye_layer`); the
     same rendering of the ground-truth maps gives a reference
     (``id_similarity_gt_render``); identity retrieval (:func:`identity_retrieval`): how
     often a photo's embedding is closer to its own prediction's rendering than to the
     other held-out subjects' (top-1, per lighting);
   - ITA of the predicted vs ground-truth front-view diffuse albedo over the skin region
     (:func:`~id2reflectance.evaluation.inputs.skin_mask`), then the FAIR scores
     (:mod:`~id2reflectance.evaluation.fairness`).

Rows: every checkpoint (``LABEL=PATH``) with retrieval, the first checkpoint again with
a fixed template subject (default: the first training subject) for the template ablation,
the first checkpoint again with each prediction variant of ``config.variants`` (the
:data:`VARIANTS`: ``InferConfig.output`` and ``front_view`` pairs, e.g. the front view
predicted from the photo itself, or the template subject's maps toned to the photo), and
the retrieval-only baseline ``template maps``: the ground-truth maps of the template
subject the first checkpoint retrieved for each input, scored as if predicted (what
swapping must beat). The number of training subjects of each checkpoint (scaling curve)
comes from its metadata (``train_subjects``) or else from a label ``nNN``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.dataset.torch_dataset import dataset_sha256, read_manifest
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.evaluation.fairness import fairness_scores, region_ita
from id2reflectance.evaluation.inputs import (
    SubjectTruth,
    eye_layer_at,
    has_eye_layer,
    load_subject_truth,
    resize_map,
    shade_full_on,
    skin_mask,
)
from id2reflectance.face.identity import ArcFaceEncoder, DlibIdentityEncoder, aligned_landmarks, embed_aligned
from id2reflectance.inference.predictor import InferConfig, Inferencer
from id2reflectance.inference.template_subjects import TemplateBank
from id2reflectance.model.codebook.config import REFLECTANCE_DOMAINS
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.image_metrics import lpips, psnr, ssim
from id2reflectance.model.losses import load_perceptual

log = logging.getLogger(__name__)

DOMAINS = REFLECTANCE_DOMAINS
PRED_KEYS = {"diffuse": "diffuse_albedo", "specular": "specular_albedo", "roughness": "roughness", "normal": "normal"}
UV_PRED_KEYS = {
    "diffuse": "diffuse_albedo",
    "specular": "specular_albedo",
    "roughness": "roughness",
    "normal": "normal_tangent",
}
PAPER_DIFFUSE = {"psnr": 28.47, "ssim": 0.923, "lpips": 0.1248, "id_similarity": 0.735}
PAPER_FAIR = {"average_ita_error": 14.21, "bias": 4.22, "score": 18.43}
_LABEL_N = re.compile(r"(?:^|[^a-z0-9])n(\d+)(?:$|[^0-9])", re.IGNORECASE)


# prediction variants (``InferConfig.output``, ``InferConfig.front_view``) by name
VARIANTS: dict[str, tuple[str, str]] = {
    "decode": ("decode", "template"),
    "template-residual": ("template_residual", "template"),
    "template-tone": ("template_tone", "template"),
    "photo-front": ("decode", "photo"),
}


def variant_name(output: str, front_view: str) -> str:
    """The :data:`VARIANTS` name of an (output, front_view) pair."""
    return next(k for k, v in VARIANTS.items() if v == (output, front_view))


@dataclass(frozen=True)
class CheckpointSpec:
    """A checkpoint (or run folder) to evaluate and its row label."""

    label: str
    path: Path


def parse_checkpoint_spec(text: str) -> CheckpointSpec:
    """``LABEL=PATH`` or ``PATH`` (label: the folder name)."""
    label, sep, path = text.partition("=")
    if not sep:
        label, path = Path(text).name or text, text
    if not label or not path:
        raise ConfigError(f"--checkpoint {text!r}: expected LABEL=PATH or PATH")
    return CheckpointSpec(label, Path(path))


@dataclass(frozen=True)
class SwapperEvalConfig:
    """Options of the swapper evaluation."""

    split: str = "test"  # held-out subjects
    views: tuple[str, ...] = ("front", "left", "right")  # views compared (and predicted); front required
    environments: tuple[str, ...] | None = None  # photos used as inputs; None = every one in the dataset
    fixed_template: str | None = None  # template subject of the ablation row; None = first training subject
    template_ablation: bool = True  # add the fixed-template-subject row for the first checkpoint
    template_maps: bool = True  # add the retrieval-only baseline row: the retrieved template subject's own maps
    template_split: str = "train"  # the split the template subjects come from
    ita_calibration: bool = False  # InferConfig.ita_calibration: photo ITA put on the albedo scale
    ita_weight: float = 0.01  # InferConfig.ita_weight: skin-tone term of the retrieval score (per degree)
    # InferConfig.output and .front_view of every checkpoint row
    output: Literal["decode", "template_residual", "template_tone"] = "decode"
    front_view: Literal["template", "photo"] = "template"
    variants: tuple[str, ...] = ("photo-front", "template-tone")  # VARIANTS rows of the first checkpoint
    uv: bool = True  # also compare UV maps (needs OpenEXR and the mesh stitching)
    uv_size: int = 256  # texels of the predicted UV maps (compared at the ground truth's size)
    ita_reduction: Literal["pixel_mean", "mean_colour"] = "pixel_mean"
    lpips_weights: str | None = None  # local LPIPS weights (.safetensors); None = LPIPS unavailable
    arcface: str | None = None  # local ArcFace weights for the identity-similarity metric; None = dlib
    max_subjects: int | None = None
    grid_subjects: int = 4  # subjects in the input / prediction / truth figure
    device: str = "cpu"
    cache_dir: str | None = None  # template-subject embedding cache (InferConfig.cache_dir)

    def __post_init__(self) -> None:
        if "front" not in self.views:
            raise ConfigError(f"views must include 'front' (the photo's view), got {list(self.views)}")
        if self.max_subjects is not None and self.max_subjects < 1:
            raise ConfigError(f"max_subjects must be >= 1, got {self.max_subjects}")
        if self.grid_subjects < 0:
            raise ConfigError(f"grid_subjects must be >= 0, got {self.grid_subjects}")
        if self.front_view not in ("template", "photo"):
            raise ConfigError(f"front_view must be 'template' or 'photo', got {self.front_view!r}")
        if self.front_view == "photo" and self.output != "decode":
            raise ConfigError(f"front_view 'photo' needs output 'decode', got {self.output!r}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or len(set(self.variants)) != len(self.variants):
            raise ConfigError(f"variants must be distinct names among {list(VARIANTS)}, got {list(self.variants)}")


@dataclass
class GridSample:
    """Images of one input for the report figure (all (R, R, 3) float32 display values in
    [0, 1]: albedo sRGB-encoded, specular ``min(1, 4 s)``, roughness, ``(n + 1) / 2``);
    ``template``: the id of the template subject the prediction was made from."""

    row: str
    subject: str
    environment: str
    template: str
    photo: np.ndarray
    pred: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]


@dataclass
class SwapperEvaluation:
    """``metrics``: the JSON-able result (metrics.json); ``grid``: figure images."""

    metrics: dict[str, Any]
    grid: list[GridSample] = field(default_factory=list)


def training_subjects(spec: CheckpointSpec) -> int | None:
    """Training subjects of a swapper checkpoint: its ``train_subjects`` metadata, else the
    run's ``run.json``, else a label like ``n16``; None when unknown."""
    path = _resolve_checkpoint(spec.path)
    for meta_file, key in (
        (path / ckpt.META_FILE, "meta"),
        (path / "run.json", None),
        (path.parent / "run.json", None),
    ):
        if not meta_file.is_file():
            continue
        try:
            doc = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        value = (doc.get(key) or {}).get("train_subjects") if key else doc.get("train_subjects")
        if isinstance(value, list):
            return len(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    m = _LABEL_N.search(spec.label)
    return int(m.group(1)) if m else None


def _resolve_checkpoint(path: Path) -> Path:
    if (path / ckpt.META_FILE).is_file():
        return path
    found = ckpt.list_checkpoints(path) if path.is_dir() else []
    return found[-1] if found else path


def swapper_id_dim(spec: CheckpointSpec) -> int | None:
    """The identity size a swapper checkpoint is conditioned on (``arch.swapper.id_dim``),
    or None when its metadata cannot be read (loading it will then report why)."""
    meta = _resolve_checkpoint(spec.path) / ckpt.META_FILE
    try:
        value = json.loads(meta.read_text(encoding="utf-8"))["arch"]["swapper"]["id_dim"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(value) if isinstance(value, int) else None


def _display(domain: str, a: np.ndarray) -> np.ndarray:
    if domain == "diffuse":
        return linear_to_srgb(a)
    if domain == "specular":
        return np.repeat(np.clip(4.0 * a, 0, 1), 3, axis=2).astype(np.float32)
    if domain == "roughness":
        return np.repeat(np.clip(a, 0, 1), 3, axis=2).astype(np.float32)
    return np.clip(a, 0, 1).astype(np.float32)


def _pred_view(view: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Predicted view maps in the comparison units (normals -> (n + 1) / 2), float32 (H, W, C).

    Every map is 0 outside the view's ``mask``, as in the dataset's view PNGs (the ground
    truth), so SSIM windows that straddle the silhouette see the same background for every
    row (a normal of 0 would otherwise become 0.5)."""
    out = {}
    for key in (*PRED_KEYS.values(), "mask"):
        if key not in view:
            raise InputFileError("prediction", key, "missing from the predicted view")
    m = np.asarray(view["mask"], bool)[..., None]
    for d, key in PRED_KEYS.items():
        a = np.asarray(view[key], np.float32)
        a = a[..., None] if a.ndim == 2 else a
        out[d] = np.where(m, (a + 1.0) / 2.0 if d == "normal" else a, 0.0).astype(np.float32)
    return out


def _uv_psnr(pred_uv: dict[str, np.ndarray], truth: SubjectTruth) -> dict[str, float | None]:
    size = truth.uv["coverage"].shape[0]
    cover = np.asarray(pred_uv["coverage"], np.float32)
    cover = resize_map(cover[..., 0] if cover.ndim == 3 else cover, size)
    w = truth.uv["coverage"] * (cover > 1e-3)
    out = {}
    for d, key in UV_PRED_KEYS.items():
        p = np.asarray(pred_uv[key], np.float32)
        p = resize_map(p[..., None] if p.ndim == 2 else p, size)
        p = (p + 1.0) / 2.0 if d == "normal" else p
        t = truth.uv[d]
        c = min(p.shape[2], t.shape[2])
        out[d] = psnr(p[..., :c], t[..., :c], w) if w.sum() > 0 else None
    return out


@dataclass(frozen=True)
class IdentityEmbeddings:
    """L2-normalised identity embeddings (D,) float32 of one input: its photo, the predicted
    and the ground-truth maps rendered under uniform white light."""

    subject: str
    environment: str
    photo: np.ndarray
    pred_render: np.ndarray
    gt_render: np.ndarray


def identity_retrieval(embeddings: Sequence[IdentityEmbeddings]) -> dict[str, float | int | None]:
    """Top-1 identity retrieval among the held-out subjects, per lighting, averaged.

    For each lighting with N >= 2 subjects, photo i is scored correct when the rendering of
    its own prediction has the highest cosine to its embedding among the N predictions'
    renderings (``top1``); ``top1_gt_render`` does the same with the ground-truth maps'
    renderings (what the identity network can tell apart at all) and ``chance`` is 1/N.
    Values are means over inputs; None (and ``inputs`` 0) with fewer than two subjects.
    """
    by_env: dict[str, list[IdentityEmbeddings]] = {}
    for e in embeddings:
        by_env.setdefault(e.environment, []).append(e)
    hits_pred, hits_gt, chance = [], [], []
    for group in by_env.values():
        if len(group) < 2:
            continue
        photos = np.stack([e.photo for e in group])
        for hits, key in ((hits_pred, "pred_render"), (hits_gt, "gt_render")):
            renders = np.stack([getattr(e, key) for e in group])
            hits += list(np.argmax(photos @ renders.T, axis=1) == np.arange(len(group)))
        chance += [1.0 / len(group)] * len(group)
    if not chance:
        return {"top1": None, "top1_gt_render": None, "chance": None, "inputs": 0}
    return {
        "top1": float(np.mean(hits_pred)),
        "top1_gt_render": float(np.mean(hits_gt)),
        "chance": float(np.mean(chance)),
        "inputs": len(chance),
    }


class _Evaluator:
    """Holds the identity encoders and the LPIPS network across rows."""

    def __init__(self, config: SwapperEvalConfig) -> None:
        self.config = config
        self.exposure_stops: float | None = None  # the dataset's rgb_exposure_stops (None: auto-exposed views)
        self.identity = DlibIdentityEncoder()
        self.metric_identity = ArcFaceEncoder(config.arcface, device=config.device) if config.arcface else self.identity
        self.embeddings: list[IdentityEmbeddings] = []  # of the row being evaluated
        self._landmarks: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        # metric embeddings that depend on the subject's truth alone, not on the row: its
        # ``env`` photo's, and its true maps' render at a size (every row scores the same ones)
        self._photo_embeddings: dict[tuple[str, str], np.ndarray] = {}
        self._truth_render_embeddings: dict[tuple[str, str, int, float | None], np.ndarray] = {}
        self.lpips_net = None
        if config.lpips_weights is not None:
            self.lpips_net = load_perceptual(config.lpips_weights, device=config.device)

    def embed_metric(self, image: np.ndarray) -> np.ndarray:
        return embed_aligned(self.metric_identity, image)[0]

    def landmarks(self, truth: SubjectTruth, env: str) -> tuple[np.ndarray, np.ndarray]:
        """dlib's view of the subject's ``env`` photo (enlarged crop, (68, 2) landmarks), cached."""
        key = (truth.subject_id, env)
        if key not in self._landmarks:
            big, lm, _ = aligned_landmarks(truth.views["front"].rgb[env])
            self._landmarks[key] = (big, lm)
        return self._landmarks[key]

    def evaluate_input(
        self, inferencer: Inferencer, truth: SubjectTruth, env: str
    ) -> tuple[dict[str, Any], GridSample]:
        """Predict from the subject's ``env`` photo with ``inferencer`` and score it."""
        photo = truth.views["front"].rgb[env]
        big, lm = self.landmarks(truth, env)
        identity = np.asarray(inferencer.encoder.embed(big, lm), np.float32)
        pred = inferencer.predict_aligned(
            photo, identity=identity, source=f"{truth.subject_id}/{env}", exclude=(truth.subject_id,)
        )
        for view in self.config.views:
            if view not in pred.views:
                raise InputFileError("prediction", f"views.{view}", "the inferencer did not predict this view")
        return self.score(
            truth,
            env,
            template=(pred.template_id, float(pred.template_score)),
            views={v: _pred_view(pred.views[v]) for v in self.config.views},
            front_mask=np.asarray(pred.views["front"]["mask"], bool),
            uv=pred.uv,
            e_in=identity if self.metric_identity is inferencer.encoder else None,
        )

    def evaluate_template_maps(
        self,
        template_id: str,
        views: dict[str, dict[str, np.ndarray]],
        uv: dict[str, np.ndarray],
        score: float,
        truth: SubjectTruth,
        env: str,
    ) -> dict[str, Any]:
        """Score the retrieved template subject's own ground-truth maps as the prediction for
        the subject's ``env`` photo: the retrieval-only baseline.

        ``views``: the template subject's view maps as inference reads them
        (:meth:`~id2reflectance.inference.template_subjects.TemplateBank.view_maps` at the
        model's resolution), so this row and the predictions share resampling, masks and
        background; ``uv``: the template subject's ``uv/*.exr`` in the comparison units
        (:attr:`SubjectTruth.uv`; empty: no UV score).
        """
        pred_uv = None
        if uv:
            pred_uv = {key: uv[d] for d, key in UV_PRED_KEYS.items()}
            pred_uv["normal_tangent"] = pred_uv["normal_tangent"] * 2.0 - 1.0
            pred_uv["coverage"] = uv["coverage"]
        rec, _ = self.score(
            truth,
            env,
            template=(template_id, score),
            views={v: _pred_view(views[v]) for v in self.config.views},
            front_mask=np.asarray(views["front"]["mask"], bool),
            uv=pred_uv,
        )
        return rec

    def score(
        self,
        truth: SubjectTruth,
        env: str,
        *,
        template: tuple[str, float],
        views: dict[str, dict[str, np.ndarray]],
        front_mask: np.ndarray,
        uv: dict[str, np.ndarray] | None,
        e_in: np.ndarray | None = None,
    ) -> tuple[dict[str, Any], GridSample]:
        """Metrics of one prediction against the subject's truth.

        ``template``: the template subject's id and retrieval score; ``views``: view ->
        domain -> (R, R, C) float32 in the comparison units (see the module docstring);
        ``front_mask``: (R', R') bool face mask of the prediction;
        ``uv``: predicted UV maps (the inferencer's keys, normals in [-1, 1]) or None;
        ``e_in``: the photo's metric embedding when already computed.
        """
        photo = truth.views["front"].rgb[env]
        big, lm = self.landmarks(truth, env)
        rec: dict[str, Any] = {
            "subject": truth.subject_id,
            "environment": env,
            "template": template[0],
            "template_score": template[1],
            "views": {},
        }
        masks: dict[str, np.ndarray] = {}
        for view, pm in views.items():
            size = pm["diffuse"].shape[0]
            gt = truth.views[view]
            mask = resize_map(gt.mask, size)
            masks[view] = mask
            rec["views"][view] = {
                d: {
                    "psnr": psnr(pm[d], resize_map(gt.maps[d], size), mask),
                    "ssim": ssim(pm[d], resize_map(gt.maps[d], size), mask),
                }
                for d in DOMAINS
            }
        front, mask = views["front"], masks["front"]
        size = front["diffuse"].shape[0]
        gt_front = {d: resize_map(truth.views["front"].maps[d], size) for d in DOMAINS}
        # diffuse albedo: LPIPS, identity similarity, ITA
        lp = None
        if self.lpips_net is not None:
            lp = lpips(
                _display("diffuse", front["diffuse"]), _display("diffuse", gt_front["diffuse"]), self.lpips_net, mask
            )
        if e_in is None:
            key = (truth.subject_id, env)
            if key not in self._photo_embeddings:
                self._photo_embeddings[key] = self.embed_metric(photo)
            e_in = self._photo_embeddings[key]
        stops = self.exposure_stops
        gt_view = truth.views["front"]
        eyes = None if gt_view.eyes is None else eye_layer_at(gt_view.eyes, gt_view.mask, size)
        render = shade_full_on(front["diffuse"], front["specular"], mask, exposure_stops=stops, eyes=eyes)
        e_render = self.embed_metric(render)
        key_gt = (truth.subject_id, env, size, stops)  # the true maps, their mask and eyes at this size
        if key_gt not in self._truth_render_embeddings:
            render_gt = shade_full_on(gt_front["diffuse"], gt_front["specular"], mask, exposure_stops=stops, eyes=eyes)
            self._truth_render_embeddings[key_gt] = self.embed_metric(render_gt)
        e_render_gt = self._truth_render_embeddings[key_gt]
        skin = skin_mask(mask & resize_map(front_mask, size), resize_lm(lm, big, size))
        gt_ita = region_ita(gt_front["diffuse"], skin, reduction=self.config.ita_reduction)
        pred_ita = region_ita(front["diffuse"], skin, reduction=self.config.ita_reduction)
        rec["diffuse"] = {
            "lpips": lp,
            "id_similarity": float(np.dot(e_in, e_render)),
            "id_similarity_gt_render": float(np.dot(e_in, e_render_gt)),
        }
        rec["ita"] = {"gt": gt_ita, "pred": pred_ita, "error": abs(pred_ita - gt_ita), "skin_pixels": int(skin.sum())}
        self.embeddings.append(IdentityEmbeddings(truth.subject_id, env, e_in, e_render, e_render_gt))
        if self.config.uv and truth.uv and uv is not None:
            rec["uv"] = _uv_psnr(uv, truth)
        sample = GridSample(
            row="",
            subject=truth.subject_id,
            environment=env,
            template=template[0],
            photo=resize_map(photo, size).astype(np.float32) / 255.0,
            pred={d: _display(d, front[d]) * mask[..., None] for d in DOMAINS},
            truth={d: _display(d, gt_front[d]) * mask[..., None] for d in DOMAINS},
        )
        return rec, sample


def resize_lm(lm: np.ndarray, image: np.ndarray, size: int) -> np.ndarray:
    """Scale (68, 2) landmarks of ``image`` to a square image of side ``size``."""
    return lm * (size / image.shape[0])


def _mean(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def aggregate(records: list[dict[str, Any]], views: tuple[str, ...]) -> dict[str, Any]:
    """Means over inputs: per view and domain, over views, UV, diffuse headline, FAIR."""
    out: dict[str, Any] = {"inputs": len(records)}
    per_view = {
        v: {d: {m: _mean([r["views"][v][d][m] for r in records]) for m in ("psnr", "ssim")} for d in DOMAINS}
        for v in views
    }
    out["per_view"] = per_view
    out["views_mean"] = {d: {m: _mean([per_view[v][d][m] for v in views]) for m in ("psnr", "ssim")} for d in DOMAINS}
    uv_recs = [r["uv"] for r in records if "uv" in r]
    out["uv_psnr"] = {d: _mean([u[d] for u in uv_recs]) for d in DOMAINS} if uv_recs else None
    front = per_view["front"]
    out["diffuse"] = {
        "view": "front",
        "psnr": front["diffuse"]["psnr"],
        "ssim": front["diffuse"]["ssim"],
        "lpips": _mean([r["diffuse"]["lpips"] for r in records]),
        "id_similarity": _mean([r["diffuse"]["id_similarity"] for r in records]),
        "id_similarity_gt_render": _mean([r["diffuse"]["id_similarity_gt_render"] for r in records]),
    }
    out["mean_over_domains"] = {
        "view_psnr": _mean([out["views_mean"][d]["psnr"] for d in DOMAINS]),
        "view_ssim": _mean([out["views_mean"][d]["ssim"] for d in DOMAINS]),
        "uv_psnr": _mean([out["uv_psnr"][d] for d in DOMAINS]) if out["uv_psnr"] else None,
    }
    scores = fairness_scores([r["ita"]["gt"] for r in records], [r["ita"]["pred"] for r in records])
    out["fair"] = scores.to_json()
    templates: dict[str, int] = {}
    for r in records:
        templates[r["template"]] = templates.get(r["template"], 0) + 1
    out["templates"] = dict(sorted(templates.items()))
    return out


def _scaling_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points of the data-scaling curve, sorted by training subjects.

    Retrieval rows with a known subject count. When some labels name a subject count
    (``n9``, ``n36_l16_32``: the scaling runs), only those are used, so an ablation row
    with other levels does not join the curve; at a repeated count the first checkpoint
    given wins.
    """
    cand = [r for r in rows if r["mode"] == "closest" and r["train_subjects"] is not None]
    named = [r for r in cand if re.match(r"n\d+", str(r["label"]))]
    seen: set[int] = set()
    points = []
    for r in named or cand:
        if r["train_subjects"] in seen:
            continue
        seen.add(r["train_subjects"])
        points.append(
            {
                "label": r["label"],
                "train_subjects": r["train_subjects"],
                "diffuse_psnr": r["aggregate"]["diffuse"]["psnr"],
                "mean_psnr": r["aggregate"]["mean_over_domains"]["view_psnr"],
            }
        )
    return sorted(points, key=lambda p: p["train_subjects"])


def evaluate_swapper(
    dataset: str | Path,
    checkpoints: Sequence[CheckpointSpec],
    config: SwapperEvalConfig = SwapperEvalConfig(),
    *,
    progress: ProgressFn | None = None,
) -> SwapperEvaluation:
    """Evaluate swapper checkpoints on the held-out subjects of ``dataset``.

    Parameters
    ----------
    dataset : built dataset folder (docs/dataset-format.md).
    checkpoints : one or more checkpoints; labels must be distinct.
    config : what to evaluate.
    progress : ``progress(stage, done, total)`` callback.

    Returns
    -------
    :class:`SwapperEvaluation`; ``metrics`` holds ``config``, ``dataset``, ``subjects``,
    ``rows`` (label, checkpoint, mode, template (the fixed template subject or None),
    train_subjects, ``aggregate``, ``per_input``), ``scaling`` and ``paper`` (the paper's
    numbers, different data).

    Raises
    ------
    InputFileError
        No subject in the split, a bad checkpoint, missing ground-truth files.
    ConfigError
        Duplicate labels, unknown fixed template subject or environment.
    """
    inputs = _open_inputs(Path(dataset), checkpoints, config)
    ev = _Evaluator(config)
    stops = inputs.manifest.get("rgb_exposure_stops")
    ev.exposure_stops = float(stops) if isinstance(stops, (int, float)) else None
    eyes = has_eye_layer(inputs.manifest)
    truths = [
        load_subject_truth(
            inputs.root, s, views=config.views, environments=inputs.environments, uv=config.uv, eyes=eyes
        )
        for s in inputs.subjects
    ]
    plan = _plan_rows(checkpoints, config, inputs.fixed_template)
    tick = _counter((len(plan) + int(config.template_maps)) * len(truths) * len(inputs.environments), progress)
    rows: list[dict[str, Any]] = []
    grid: list[GridSample] = []
    for planned in plan:
        row, samples = _evaluate_row(ev, planned, inputs, truths, tick)
        rows.append(row)
        grid += samples
    if config.template_maps:
        rows.append(_template_maps_row(ev, rows[0], inputs, truths, tick))
    order = {t.subject_id: k for k, t in enumerate(truths)}
    grid.sort(key=lambda g: order[g.subject])  # stable: each subject's rows in plan order
    return SwapperEvaluation(_metrics_doc(config, inputs, truths, rows, lpips_available=ev.lpips_net is not None), grid)


@dataclass(frozen=True)
class _EvalInputs:
    """What every row is evaluated on, checked against the dataset's manifest.

    ``subjects``: the manifest records of the evaluated (held-out) subjects;
    ``environments``: the photo names used as inputs (:func:`photo_names`);
    ``fixed_template``: the template subject of the template-ablation row.
    """

    root: Path
    manifest: dict[str, Any]
    subjects: list[dict[str, Any]]
    environments: tuple[str, ...]
    fixed_template: str


def _open_inputs(root: Path, checkpoints: Sequence[CheckpointSpec], config: SwapperEvalConfig) -> _EvalInputs:
    """Read the manifest and check the checkpoints, views, photos, held-out subjects and the
    fixed template subject against it (in that order)."""
    manifest = read_manifest(root)
    _check_checkpoints(checkpoints)
    unknown_views = set(config.views) - set(manifest["views"])
    if unknown_views or "front" not in manifest["views"]:
        raise ConfigError(f"views {sorted(unknown_views or {'front'})} not in the dataset's {manifest['views']}")
    envs_all = photo_names(manifest["environments"])
    envs = tuple(config.environments or envs_all)
    if set(envs) - set(envs_all):
        raise ConfigError(f"environments {sorted(set(envs) - set(envs_all))} not in the dataset's {envs_all}")
    subjects = [s for s in manifest["subjects"] if s["split"] == config.split]
    if not subjects:
        raise InputFileError(root / "dataset.json", "subjects", f"no subject in the {config.split!r} split to evaluate")
    subjects = subjects[: config.max_subjects] if config.max_subjects else subjects
    return _EvalInputs(root, manifest, subjects, envs, _fixed_template(root, manifest, config))


def _check_checkpoints(checkpoints: Sequence[CheckpointSpec]) -> None:
    """At least one checkpoint, distinct labels, every path present."""
    if not checkpoints:
        raise ConfigError("give at least one --checkpoint")
    labels = [c.label for c in checkpoints]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"checkpoint labels must be distinct, got {labels}")
    for c in checkpoints:
        if not c.path.exists():
            raise InputFileError(c.path, None, f"checkpoint {c.label!r} not found")


def _fixed_template(root: Path, manifest: dict[str, Any], config: SwapperEvalConfig) -> str:
    """The template subject of the template-ablation row: ``config.fixed_template``, else
    the first subject of ``config.template_split``."""
    templates = [s["id"] for s in manifest["subjects"] if s["split"] == config.template_split]
    if not templates:
        raise InputFileError(
            root / "dataset.json", "subjects", f"no template subject in the {config.template_split!r} split"
        )
    fixed = config.fixed_template or templates[0]
    if fixed not in templates:
        raise ConfigError(f"fixed template {fixed!r} is not a {config.template_split!r} subject; known: {templates}")
    return fixed


@dataclass(frozen=True)
class _PlannedRow:
    """One checkpoint row: the checkpoint, its template subject (None: retrieved, else
    fixed), its prediction variant (``InferConfig.output``, ``front_view``), its name and
    whether its predictions go into the report figure."""

    spec: CheckpointSpec
    template: str | None
    output: str
    front_view: str
    name: str
    in_grid: bool

    @property
    def mode(self) -> str:
        return "closest" if self.template is None else "fixed"


def _plan_rows(checkpoints: Sequence[CheckpointSpec], config: SwapperEvalConfig, fixed: str) -> list[_PlannedRow]:
    """The checkpoint rows, in order: the first checkpoint with retrieval, its fixed template
    subject ablation (``config.template_ablation``), its prediction variants (``config.variants``
    other than the main prediction), then every other checkpoint with retrieval."""
    main = (config.output, config.front_view)
    first = checkpoints[0]
    rows = [_PlannedRow(first, None, *main, name=first.label, in_grid=True)]
    if config.template_ablation:
        rows.append(_PlannedRow(first, fixed, *main, name=f"{first.label} (fixed {fixed})", in_grid=False))
    for output, front_view in (VARIANTS[v] for v in config.variants if VARIANTS[v] != main):
        name = f"{first.label} ({variant_name(output, front_view)})"
        rows.append(_PlannedRow(first, None, output, front_view, name=name, in_grid=True))
    rows += [_PlannedRow(c, None, *main, name=c.label, in_grid=False) for c in checkpoints[1:]]
    return rows


def _counter(total: int, progress: ProgressFn | None) -> Callable[[], None]:
    """A function that counts one evaluated input and reports ``progress("evaluate", done, total)``."""
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("evaluate", done, total)

    return tick


def _inferencer(ev: _Evaluator, planned: _PlannedRow, root: Path) -> Inferencer:
    """The planned row's checkpoint loaded for inference with its template subject and
    variant, conditioned on the identity network it was trained with."""
    config = ev.config
    icfg = InferConfig(
        views=config.views,
        uv_size=config.uv_size,
        template=planned.template,
        template_split=config.template_split,
        ita_calibration=config.ita_calibration,
        ita_weight=config.ita_weight,
        output=planned.output,  # type: ignore[arg-type]
        front_view=planned.front_view,  # type: ignore[arg-type]
        device=config.device,
        cache_dir=config.cache_dir,
    )
    conditioning = ev.metric_identity if swapper_id_dim(planned.spec) == ev.metric_identity.dim else ev.identity
    return Inferencer(planned.spec.path, root, icfg, identity=conditioning)


def _evaluate_row(
    ev: _Evaluator,
    planned: _PlannedRow,
    inputs: _EvalInputs,
    truths: list[SubjectTruth],
    tick: Callable[[], None],
) -> tuple[dict[str, Any], list[GridSample]]:
    """Predict from every held-out subject's every photo with the planned checkpoint and score
    each prediction; the row (see :func:`evaluate_swapper`) and its report-figure samples
    (the first ``grid_subjects`` subjects' first photo, for the figure's rows)."""
    inferencer = _inferencer(ev, planned, inputs.root)
    per_input = []
    grid = []
    ev.embeddings = []
    for k, truth in enumerate(truths):
        for env in inputs.environments:
            rec, sample = ev.evaluate_input(inferencer, truth, env)
            per_input.append(rec)
            if planned.in_grid and k < ev.config.grid_subjects and env == inputs.environments[0]:
                sample.row = planned.name
                grid.append(sample)
            tick()
    row = _row(
        label=planned.spec.label,
        name=planned.name,
        checkpoint=str(planned.spec.path),
        mode=planned.mode,
        template=planned.template,
        output=planned.output,
        front_view=planned.front_view,
        train_subjects=training_subjects(planned.spec),
        resolution=int(inferencer.resolution),
        aggregate=_row_aggregate(ev, per_input),
        per_input=per_input,
    )
    return row, grid


def _template_maps_row(
    ev: _Evaluator,
    first: dict[str, Any],
    inputs: _EvalInputs,
    truths: list[SubjectTruth],
    tick: Callable[[], None],
) -> dict[str, Any]:
    """The retrieval-only baseline row: for every input of the ``first`` row, the ground-truth
    maps of the template subject it retrieved, scored as the prediction."""
    config = ev.config
    by_id = {s["id"]: s for s in inputs.manifest["subjects"]}
    bank = TemplateBank(inputs.root, split=config.template_split, views=config.views, cache_dir=config.cache_dir)
    template_views: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    template_uv: dict[str, dict[str, np.ndarray]] = {}
    truth_of = {(t.subject_id, env): t for t in truths for env in inputs.environments}
    per_input = []
    ev.embeddings = []
    for rec in first["per_input"]:
        tid = rec["template"]
        if tid not in template_views:
            template_views[tid] = {v: bank.view_maps(tid, v, first["resolution"]) for v in config.views}
            template_uv[tid] = load_subject_truth(inputs.root, by_id[tid], views=(), environments=(), uv=config.uv).uv
        truth = truth_of[(rec["subject"], rec["environment"])]
        per_input.append(
            ev.evaluate_template_maps(
                tid, template_views[tid], template_uv[tid], rec["template_score"], truth, rec["environment"]
            )
        )
        tick()
    return _row(
        label="template maps",
        name=f"template maps (retrieved by {first['label']}, no swap)",
        checkpoint=None,
        mode="template_maps",
        template=None,
        output=None,
        front_view=None,
        train_subjects=None,
        resolution=first["resolution"],
        aggregate=_row_aggregate(ev, per_input),
        per_input=per_input,
    )


def _row_aggregate(ev: _Evaluator, per_input: list[dict[str, Any]]) -> dict[str, Any]:
    """A row's means over its inputs (:func:`aggregate`, FAIR scores included) and the
    identity retrieval among the row's identity embeddings."""
    return {**aggregate(per_input, ev.config.views), "identity_retrieval": identity_retrieval(ev.embeddings)}


def _row(
    *,
    label: str,
    name: str,
    checkpoint: str | None,
    mode: str,
    template: str | None,
    output: str | None,
    front_view: str | None,
    train_subjects: int | None,
    resolution: int,
    aggregate: dict[str, Any],
    per_input: list[dict[str, Any]],
) -> dict[str, Any]:
    """One row of ``metrics.json`` (keys in the file's order)."""
    return {
        "label": label,
        "name": name,
        "checkpoint": checkpoint,
        "mode": mode,
        "template": template,
        "output": output,
        "front_view": front_view,
        "train_subjects": train_subjects,
        "resolution": resolution,
        "aggregate": aggregate,
        "per_input": per_input,
    }


def _metrics_doc(
    config: SwapperEvalConfig,
    inputs: _EvalInputs,
    truths: list[SubjectTruth],
    rows: list[dict[str, Any]],
    *,
    lpips_available: bool,
) -> dict[str, Any]:
    """``metrics.json``: the config used, the dataset, the subjects, the rows, the
    data-scaling points (rows of the main prediction) and the paper's numbers."""
    main = (config.output, config.front_view)
    root, manifest = inputs.root, inputs.manifest
    return {
        "format": "id2r-swapper-eval",
        "version": 1,
        "config": {
            **asdict(config),
            "views": list(config.views),
            "variants": list(config.variants),
            "environments": list(inputs.environments),
            "fixed_template": inputs.fixed_template,
        },
        "dataset": {"path": str(root.resolve()), "sha256": dataset_sha256(root), "image_size": manifest["image_size"]},
        "subjects": [t.subject_id for t in truths],
        "lpips_available": lpips_available,
        "identity_metric": "arcface" if config.arcface else "dlib",
        "rows": rows,
        "scaling": _scaling_points([r for r in rows if (r["output"], r["front_view"]) in ((None, None), main)]),
        "paper": {"diffuse": PAPER_DIFFUSE, "fair": PAPER_FAIR, "note": "ID2Reflectance (CVPR 2024), different data"},
    }


def photo_names(environments: Sequence[str]) -> list[str]:
    """Photo names (``full``, ``env0``, ...; files ``rgb_<name>.png``) of a dataset's
    ``environments`` list (``full`` and environment specs, ``k`` counting the others)."""
    out, k = [], 0
    for e in environments:
        if e == "full":
            out.append("full")
        else:
            out.append(f"env{k}")
            k += 1
    return out
