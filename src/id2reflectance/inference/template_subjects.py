"""The template bank: the template subjects of a built dataset, for monocular inference.

A *template subject* is a dataset subject whose aligned views and registered mesh stand in
for the geometry of a photographed face: the swapper keeps the template subject's shape and
lighting and changes its identity, and the template subject's mesh (the topology and UVs
of the dataset's template, ``dataset.json``'s ``template``:
:mod:`~id2reflectance.capture.geometry.templates`, with the subject's registered vertices)
and cameras carry the predicted views into UV space. A
subject qualifies when it has, for every requested view, ``rgb_full.png`` and
``mask.png``, and ``mesh_vertices.npy`` (``docs/dataset-format.md``).

Retrieval (:meth:`TemplateBank.retrieve`): each template subject's identity embedding is
that of its front ``rgb_full.png`` view
(:func:`~id2reflectance.face.identity.embed_aligned`); the score of a template
subject is ``cos(identity, e_template) - ita_weight * |ITA_face - ITA_template|`` with the
template subject's albedo ITA (degrees) from the manifest's ``attributes.ita_deg`` and the
face's ITA: its photo's, or, when inference asks for it, that value on the albedo scale
(:attr:`TemplateBank.ita_calibration`, fitted on the template subjects' own front views).
The ITA term is dropped when either value is unknown; the highest score wins.

Embeddings and the front view's measured (photo) ITA are cached in
``CACHE/templates/<dataset sha256[:16]>-<encoder>.json`` (never inside the dataset): one
entry per subject, keyed by the SHA-256 of its front view file, so a rebuilt dataset or a
changed view is measured again.

dlib and Open3D are imported only when used (by the identity and mesh functions that need
them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.cachedir import default_cache_dir
from id2reflectance._shared.imageio import read_png_unit
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.templates import Template, template_from_record
from id2reflectance.dataset.manifest import manifest_template
from id2reflectance.dataset.torch_dataset import MANIFEST, SPLITS, dataset_sha256, read_manifest
from id2reflectance.dataset.views import aligned_cameras
from id2reflectance.errors import ConfigError, Id2rError, InputFileError
from id2reflectance.face.identity import aligned_landmarks
from id2reflectance.face.skin_tone import ItaCalibration, fit_ita_calibration, ita_of_pixels, skin_region

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: entries also hold the front view's photo ITA
_VIEW_FILES = ("rgb_full.png", "mask.png")
MESH_FILE = "mesh_vertices.npy"


def resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """Resize (H, W, C) float32 to (size, size, C): area averaging when shrinking, bilinear
    when enlarging (as the dataset loader does)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if size < img.shape[0] else cv2.INTER_LINEAR
    out = cv2.resize(img, (size, size), interpolation=interp)
    return out.reshape(size, size, img.shape[2])


@dataclass(frozen=True)
class TemplateSubject:
    """One usable template subject: id, split, manifest attributes, folder and skin tone.

    root : ``DATASET/subjects/<id>``; ita_deg : ``attributes.ita_deg`` or None;
    front_sha256 : the manifest's SHA-256 of ``views/front/rgb_full.png`` ("" if absent).
    """

    id: str
    split: str
    root: Path
    attributes: dict[str, Any] = field(default_factory=dict)
    ita_deg: float | None = None
    front_sha256: str = ""


@dataclass(frozen=True)
class Retrieval:
    """The chosen template subject and every candidate's score (higher is better).

    template_id : chosen subject; score : its score; scores : subject id -> score;
    cosine : subject id -> identity cosine (without the ITA term).
    """

    template_id: str
    score: float
    scores: dict[str, float]
    cosine: dict[str, float]


def _missing_files(root: Path, views: tuple[str, ...]) -> list[str]:
    missing = [f"views/{v}/{f}" for v in views for f in _VIEW_FILES if not (root / "views" / v / f).is_file()]
    if not (root / MESH_FILE).is_file():
        missing.append(MESH_FILE)
    return missing


class TemplateBank:
    """The template subjects of one dataset split, with cached identity embeddings.

    Parameters
    ----------
    dataset : the dataset folder (``dataset.json``).
    split : the split the template subjects come from (``train``, ``val``, ``test`` or ``all``).
    views : the views inference uses (each template subject needs all of them).
    cache_dir : embedding cache folder (None: :func:`default_cache_dir`).

    Raises
    ------
    InputFileError
        Not a dataset; a requested view the dataset does not have; no usable template subject in
        the split (the message names the dataset and what is missing).
    ConfigError
        Unknown split name.
    """

    def __init__(
        self,
        dataset: str | Path,
        *,
        split: str = "train",
        views: tuple[str, ...] = ("front", "left", "right"),
        cache_dir: str | Path | None = None,
    ) -> None:
        self.root = Path(dataset)
        self.views = tuple(views)
        self.split = split
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if split != "all" and split not in SPLITS:
            raise ConfigError(f"template split must be 'all' or one of {list(SPLITS)}, got {split!r}")
        doc = read_manifest(self.root)
        self.manifest_path = self.root / MANIFEST
        self.sha256 = dataset_sha256(self.root)
        self.layout = manifest_template(doc)  # the UV layout of its subjects, as recorded
        self._template: Template | None = None
        self.image_size = int(doc["image_size"])
        missing_views = [v for v in self.views if v not in doc["views"]]
        if missing_views or "front" not in doc["views"]:
            raise InputFileError(
                self.manifest_path,
                "views",
                f"inference needs views {sorted({*self.views, 'front'})} but the dataset has {doc['views']}",
            )
        self.subjects: dict[str, TemplateSubject] = {}
        self._meshes: dict[str, FaceMesh] = {}
        self.photo_ita: dict[str, float | None] = {}  # filled by embeddings()
        self.ita_calibration: ItaCalibration | None = None  # fitted by embeddings()
        self.unusable: dict[str, list[str]] = {}
        in_split = [s for s in doc["subjects"] if split == "all" or s["split"] == split]
        self.all_ids = [s["id"] for s in doc["subjects"]]
        for s in in_split:
            root = self.root / "subjects" / s["id"]
            missing = _missing_files(root, tuple(dict.fromkeys((*self.views, "front"))))
            if missing:
                self.unusable[s["id"]] = missing
                continue
            attrs = dict(s.get("attributes") or {})
            ita = attrs.get("ita_deg")
            self.subjects[s["id"]] = TemplateSubject(
                id=s["id"],
                split=s["split"],
                root=root,
                attributes=attrs,
                ita_deg=float(ita) if isinstance(ita, (int, float)) and np.isfinite(ita) else None,
                front_sha256=str((s.get("files") or {}).get("views/front/rgb_full.png", "")),
            )
        if not self.subjects:
            if not in_split:
                what = f"no subject in split {split!r}"
            else:
                shown = "; ".join(f"{sid} lacks {', '.join(m[:3])}" for sid, m in list(self.unusable.items())[:3])
                what = f"no usable template subject in split {split!r} ({shown})"
                if any(MESH_FILE in m for m in self.unusable.values()):
                    what += f"; {MESH_FILE} is written by `id2r dataset build` (older datasets lack it): rebuild the dataset"
            raise InputFileError(self.root, None, f"{what}; inference needs template subjects with views and a mesh")
        if self.unusable:
            log.warning("skipping %d subject(s) without views/mesh: %s", len(self.unusable), sorted(self.unusable))

    # ------------------------------------------------------------------ subjects

    def ids(self) -> list[str]:
        """Usable template subject ids, sorted."""
        return sorted(self.subjects)

    def subject(self, subject_id: str) -> TemplateSubject:
        """The template subject ``subject_id``.

        Raises
        ------
        InputFileError
            Unknown id (valid ones listed), or a subject of the dataset that is not a usable
            template subject here (other split, or files missing: named).
        """
        if subject_id in self.subjects:
            return self.subjects[subject_id]
        if subject_id in self.unusable:
            why = f"it lacks {', '.join(self.unusable[subject_id])}"
        elif subject_id in self.all_ids:
            why = f"it is not in the template split {self.split!r}"
        else:
            why = "no such subject in the dataset"
        raise InputFileError(
            self.manifest_path,
            "subjects",
            f"template subject {subject_id!r} cannot be used: {why}; valid: {self.ids()}",
        )

    def rgb(self, subject_id: str, view: str, size: int) -> np.ndarray:
        """(size, size, 3) float32 sRGB code values in [0, 1] of ``views/<view>/rgb_full.png``."""
        img = read_png_unit(self.subject(subject_id).root / "views" / view / "rgb_full.png")
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        return resize_image(img[..., :3], size)

    def mask(self, subject_id: str, view: str, size: int) -> np.ndarray:
        """(size, size) bool face mask of ``views/<view>/mask.png`` (resized, threshold 1/2)."""
        img = read_png_unit(self.subject(subject_id).root / "views" / view / "mask.png")
        return resize_image(img[..., :1], size)[..., 0] > 0.5

    def view_maps(self, subject_id: str, view: str, size: int) -> dict[str, np.ndarray]:
        """A subject's dataset view in physical units (the ground truth of a prediction).

        Inverts the dataset's encoding (``docs/dataset-format.md``) after resizing the
        PNGs to ``size`` (area averaging when shrinking, bilinear when enlarging):
        ``rgb`` (size, size, 3) sRGB in [0, 1]; ``diffuse_albedo`` (size, size, 3) linear
        in [0, 1]; ``specular_albedo`` and ``roughness`` (size, size, 1); ``normal``
        (size, size, 3) unit, camera frame with OpenGL axes; ``mask`` (size, size) bool.
        Maps are 0 outside the mask (except ``rgb``); float32.

        Raises
        ------
        InputFileError
            A missing or unreadable PNG (file named).
        """
        folder = self.subject(subject_id).root / "views" / view
        mask = self.mask(subject_id, view, size)
        m3 = mask[..., None]

        def load(name: str, channels: int) -> np.ndarray:
            img = read_png_unit(folder / name)
            if img.shape[2] < channels:
                raise InputFileError(folder / name, None, f"expected {channels} channel(s), got {img.shape[2]}")
            return np.where(m3, resize_image(img[..., :channels], size), 0.0).astype(np.float32)

        n = load("normal.png", 3) * 2.0 - 1.0
        norm = np.linalg.norm(n, axis=-1, keepdims=True)
        n = np.where(m3 & (norm > 1e-6), n / np.maximum(norm, 1e-6), 0.0)
        return {
            "rgb": self.rgb(subject_id, view, size),
            "diffuse_albedo": load("diffuse_albedo.png", 3),
            "specular_albedo": load("specular_albedo.png", 1),
            "roughness": load("roughness.png", 1),
            "normal": n.astype(np.float32),
            "mask": mask,
        }

    @property
    def template(self) -> Template:
        """The template whose topology and UVs the subjects' meshes have (the manifest's
        ``template``; the procedural template for a dataset that does not record one)."""
        if self._template is None:
            self._template = template_from_record(self.layout, self.manifest_path)
        return self._template

    def mesh(self, subject_id: str) -> FaceMesh:
        """The template subject's mesh: the dataset's template mesh's faces, UVs and
        landmarks (:attr:`template`) with the subject's registered vertices
        (``mesh_vertices.npy``, (V, 3) metres)."""
        path = self.subject(subject_id).root / MESH_FILE
        if subject_id in self._meshes:
            return self._meshes[subject_id]
        try:
            verts = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InputFileError(path, None, f"not a readable .npy array: {err}") from err
        base = self.template.mesh
        if verts.shape != base.vertices.shape:
            raise InputFileError(
                path,
                None,
                f"expected ({len(base.vertices)}, 3) vertices (the face template mesh's), got {tuple(verts.shape)}",
            )
        if not np.all(np.isfinite(verts)):
            raise InputFileError(path, None, "contains NaN or Inf")
        self._meshes[subject_id] = base.with_vertices(verts.astype(np.float64))
        return self._meshes[subject_id]

    def cameras(self, subject_id: str, size: int, views: tuple[str, ...] | None = None) -> dict[str, Camera]:
        """The cameras the template subject's aligned views were rendered with, at ``size`` pixels."""
        return aligned_cameras(self.mesh(subject_id), size=size, views=tuple(views or self.views))

    # ------------------------------------------------------------------ identity

    def _cache_path(self, encoder_key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in encoder_key)
        return self.cache_dir / "templates" / f"{self.sha256[:16]}-{safe}.json"

    def embeddings(self, encoder: Any, *, encoder_key: str | None = None) -> dict[str, np.ndarray]:
        """Identity embedding of every template subject's front view: id -> (D,) float32 unit.

        Computed on ``rgb_full.png`` at the dataset's size with the landmarks of
        :func:`~id2reflectance.face.identity.aligned_landmarks` and cached (see the module docstring).
        ``encoder_key`` names the encoder in the cache (default: its class name and
        dimension). The same pass measures each front view's ITA as a photo's would be
        (:attr:`photo_ita`) and fits :attr:`ita_calibration` from them.
        """
        key = encoder_key or f"{type(encoder).__name__}-{int(encoder.dim)}"
        path = self._cache_path(key)
        cached: dict[str, Any] = {}
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") == CACHE_VERSION and doc.get("dataset_sha256") == self.sha256:
                cached = dict(doc.get("subjects", {}))
        except (OSError, ValueError, AttributeError):
            cached = {}
        out: dict[str, np.ndarray] = {}
        changed = False
        for sid in self.ids():
            sub = self.subjects[sid]
            entry = cached.get(sid)
            if isinstance(entry, dict) and entry.get("front_sha256") == sub.front_sha256 and sub.front_sha256:
                vec = np.asarray(entry.get("embedding", []), np.float32)
                if vec.shape == (int(encoder.dim),) and np.all(np.isfinite(vec)):
                    out[sid] = vec
                    ita = entry.get("photo_ita_deg")
                    self.photo_ita[sid] = float(ita) if isinstance(ita, (int, float)) else None
                    continue
            img = np.round(self.rgb(sid, "front", self.image_size) * 255.0).astype(np.uint8)
            big, lm, method = aligned_landmarks(img)
            out[sid] = np.asarray(encoder.embed(big, lm), np.float32)
            self.photo_ita[sid] = ita_of_pixels(big, skin_region(lm, big.shape[:2]))
            cached[sid] = {
                "front_sha256": sub.front_sha256,
                "method": method,
                "embedding": out[sid].tolist(),
                "photo_ita_deg": self.photo_ita[sid],
            }
            changed = True
        ids = self.ids()
        self.ita_calibration = fit_ita_calibration(
            [self.photo_ita.get(s) for s in ids], [self.subjects[s].ita_deg for s in ids]
        )
        if changed:
            doc = {
                "version": CACHE_VERSION,
                "dataset": str(self.root.resolve()),
                "dataset_sha256": self.sha256,
                "encoder": key,
                "subjects": cached,
            }
            try:
                atomic_write_json(path, doc)
            except OSError as err:  # a read-only cache only costs time
                log.warning("cannot write the template-subject embedding cache %s: %s", path, err)
        return out

    def albedo_ita(self, photo_ita_deg: float | None) -> float | None:
        """A photo's measured ITA on the template subjects' albedo scale (None without calibration).

        Call after :meth:`embeddings` (which fits the calibration).
        """
        return None if self.ita_calibration is None else self.ita_calibration.albedo_ita(photo_ita_deg)

    def retrieve(
        self,
        identity: np.ndarray,
        embeddings: dict[str, np.ndarray],
        *,
        ita_deg: float | None,
        ita_weight: float,
        fixed: str | None = None,
        exclude: tuple[str, ...] = (),
    ) -> Retrieval:
        """Choose the template subject for one face.

        Parameters
        ----------
        identity : (D,) float32 unit identity embedding of the face.
        embeddings : :meth:`embeddings` of the same encoder.
        ita_deg : the face's skin tone (degrees: its photo's ITA, or :meth:`albedo_ita` of
            it) or None.
        ita_weight : score penalty per degree of ITA difference.
        fixed : use this template subject (scored too) instead of the best one.
        exclude : ids never chosen (e.g. the held-out subject itself).

        Raises
        ------
        InputFileError
            ``fixed`` is not a usable template subject (valid ids listed) or excluded.
        Id2rError
            Every template subject is excluded.
        ConfigError
            ``identity`` does not match the embeddings' size.
        """
        e = np.asarray(identity, np.float32).reshape(-1)
        candidates = [sid for sid in self.ids() if sid not in set(exclude)]
        if fixed is not None:
            self.subject(fixed)
            if fixed in exclude:
                raise Id2rError(f"template subject {fixed!r} is excluded for this face (it is the face's own subject)")
        elif not candidates:
            raise Id2rError(
                f"every template subject of {self.root} is excluded ({sorted(exclude)}); nothing to retrieve"
            )
        scores: dict[str, float] = {}
        cosine: dict[str, float] = {}
        for sid in candidates if fixed is None else [fixed]:
            t = np.asarray(embeddings[sid], np.float32).reshape(-1)
            if t.shape != e.shape:
                raise ConfigError(
                    f"identity has {e.size} dimensions but the template subjects' embeddings have {t.size}"
                )
            c = float(np.dot(e, t) / max(float(np.linalg.norm(e) * np.linalg.norm(t)), 1e-12))
            ita_t = self.subjects[sid].ita_deg
            penalty = 0.0 if ita_deg is None or ita_t is None else ita_weight * abs(float(ita_deg) - ita_t)
            cosine[sid] = c
            scores[sid] = c - penalty
        best = fixed if fixed is not None else max(sorted(scores), key=lambda s: scores[s])
        return Retrieval(template_id=best, score=scores[best], scores=scores, cosine=cosine)
