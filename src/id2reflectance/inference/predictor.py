"""Monocular inference: one photo in, a reflectance asset out (ID2Reflectance).

Pipeline of :meth:`Inferencer.predict_image` (see ``docs/inference.md``):

1. detect faces (:func:`~id2reflectance.face.detect.find_faces`: small images and turned
   photos searched too; a turned face is read upright,
   :func:`~id2reflectance.face.detect.upright`): none is an error naming the photo;
   several are an error (count and boxes listed) unless ``all_faces``;
2. align each face FFHQ-style at the swapper's resolution R
   (:func:`~id2reflectance.face.detect.align_face`, the convention of the dataset's views);
3. identity: the :class:`~id2reflectance.face.identity.IdentityEncoder` (default dlib,
   128-d) on the original photo with the detected landmarks; the swapper's ``id_dim`` must
   equal its ``dim``;
4. skin tone: ITA of the cheeks and forehead referenced to the eye whites
   (:func:`~id2reflectance.face.white_reference.eye_white_tone`: the photo's exposure and
   white balance cancel), else (no usable eye white, or ``skin_tone="photo"``) the photo's
   (:func:`~id2reflectance.face.skin_tone.photo_ita_deg`); optionally put on the albedo
   scale by the template subjects' calibration (:meth:`Inferencer.face_ita`); none for a
   greyscale photo (:func:`~id2reflectance.face.detect.greyscale_image`: retrieval by
   identity alone, with a warning; with ``template_tone`` the template subject's diffuse
   untoned, an error for the photo front view, which reads the photo's colour);
   a warning when much of the skin is clipped or nearly black
   (:func:`~id2reflectance.face.skin_tone.skin_exposure_warning`); a warning when the
   face is cut by the photo's frame or partly mirrored by the alignment
   (:func:`~id2reflectance.face.framing.framing_warnings`);
5. template subject: the dataset subject of ``template_split`` with the best
   ``cos(identity) - ita_weight * |ITA difference|`` from the template bank
   (:class:`~id2reflectance.inference.template_subjects.TemplateBank`), or the fixed
   ``template``;
6. swap: the template subject's ``rgb_full.png`` of every view, resized to R, and the
   identity go through :meth:`IdentitySwapper.predict` in one batch (faces x views); each
   domain is decoded to the dataset's physical units (:func:`decode_view`, the inverse of
   the dataset loader's encoding); the mask is the template subject's view mask
   (``InferConfig.output`` and ``front_view`` select the variants: the template subject's
   own maps plus the swap's change, its maps toned to the photo, the photo as the front
   view's input);
7. stitch the views into the UV space of the template subject's mesh (the face template
   mesh's topology and UVs with the subject's registered vertices,
   :func:`~id2reflectance.processing.bake.view_stitch.stitch_views`; the unseen texels
   are filled wrapping around u only in the procedural template's chart, which is closed
   in u, not in the face model's atlas).

:func:`~id2reflectance.inference.output.write_prediction` writes an asset folder
(``shared/asset-format.md``, ``frame: "template"``, ``source.kind: "photo"``) with the
template subject's mesh, the aligned view maps, the aligned input and ``prediction.json``,
atomically.

dlib, Open3D and OpenEXR are imported only when used (by the face, mesh and image-IO
functions that need them).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.imageio import linear_to_srgb, srgb_to_linear
from id2reflectance.capture.geometry.mesh import FaceMesh, wraps_in_u
from id2reflectance.dataset.manifest import layout_name, same_layout
from id2reflectance.errors import ConfigError, Id2rError, InputFileError
from id2reflectance.face.detect import (
    Face,
    align_face,
    alignment_scale,
    as_uint8_rgb,
    find_faces,
    greyscale_image,
    upright,
)
from id2reflectance.face.framing import framing_warnings
from id2reflectance.face.identity import DlibIdentityEncoder, aligned_landmarks
from id2reflectance.face.skin_tone import aligned_skin, ita_of_pixels, skin_exposure_warning, skin_region
from id2reflectance.face.white_reference import EyeWhiteTone, eye_white_tone_aligned, white_balanced
from id2reflectance.inference.albedo_tone import albedo_ita_from_eye_white, retone_gain
from id2reflectance.inference.template_subjects import TemplateBank, resize_image
from id2reflectance.model.loading import load_swapper
from id2reflectance.processing.bake.prepared_mesh import PreparedMesh, prepare_mesh
from id2reflectance.processing.bake.view_stitch import StitchConfig, ViewMaps, stitch_views

log = logging.getLogger(__name__)

VIEWS = ("front", "left", "right")
OUTPUTS = ("decode", "template_residual", "template_tone")
# the output for real photos (``id2r infer``'s default): on the London evaluation people with the model trained in
# the face model's layout, template_tone with its gain from the eye-white tone (tone_from="eye_white") orders the
# self-reported groups' predicted ITA and moves < 5 degrees over exposure / white balance (median 2.0, p90 3.7)
# and between a person's neutral and smiling photos (4.0); decode does not order the groups and moves 24 degrees
# (p90) over the variants when retrieval switches template (docs/evaluation.md, "Tone from the eye whites")
PHOTO_OUTPUT = "template_tone"
TONE_GAIN_MIN, TONE_GAIN_MAX = 0.25, 4.0  # per-channel diffuse gain of output "template_tone"
# Inferencer.prepared_mesh keeps this many texels' worth of the template subjects' baking
# geometry (about 70 MB per 512 x 512 template subject): 4 template subjects at 512, 1 from 1024 texels up
PREPARED_MESH_TEXELS = 4 * 512 * 512
MAX_UPSCALE = 2.0  # a face enlarged more than this by the alignment gets a warning (FacePrediction.warnings)
VIEW_MAPS = ("rgb", "diffuse_albedo", "specular_albedo", "roughness", "normal", "mask")
UV_MAPS = ("diffuse_albedo", "specular_albedo", "roughness", "normal_object", "normal_tangent", "coverage")


@dataclass(frozen=True)
class InferConfig:
    """Options of monocular inference (``id2r infer``).

    Attributes
    ----------
    views : aligned views predicted and stitched (subset of front, left, right).
    uv_size : texels of the output UV maps (power of two, 256..8192).
    template : fixed template subject id; None retrieves the closest template subject.
    template_split : dataset split the template subjects come from (train, val, test or all).
    ita_weight : retrieval score = cos(identity) - ita_weight * |ITA_face - ITA_template|
        (per degree of albedo ITA; ITA_template: the template subject's).
    skin_tone : the face's skin tone for retrieval: ``"eye_white"``, the skin referenced to
        the eye whites (:func:`~id2reflectance.face.white_reference.eye_white_tone`: stable
        under the photo's exposure and white balance; the photo ITA when no eye white is
        usable, :attr:`FacePrediction.skin_tone_source` says which), or ``"photo"``, the
        photo's ITA (follows the exposure: 69 degrees median spread over -1..+1 stop and
        warm/cool on the London photos, against 1.0 referenced; docs/evaluation.md).
    ita_calibration : estimate the face's albedo ITA from its photo's measured ITA with the
        template subjects' fit (:class:`~id2reflectance.face.skin_tone.ItaCalibration`).
        Only valid for photos lit and exposed like the template subjects' full-on front
        views (light-stage captures); on the evaluation's HDR-lit renders it made retrieval
        worse, so it is off by default and the photo's measured ITA is compared with the
        template subjects' albedo ITA directly.
    output : ``"decode"`` (the paper's design): the maps are the modulated decoder's outputs
        for the template subject's views. ``"template_residual"``: the template subject's
        own dataset maps plus what the identity modulation changes (swapped minus
        unmodulated decoder outputs, in the model's [-1, 1] encoding), so the decoder's
        reconstruction error of the template subject cancels and an identity that changes
        nothing returns the template subject's maps exactly. ``"template_tone"``: the
        template subject's own dataset maps, their diffuse albedo multiplied per channel by
        the face's skin tone relative to the template subject's as the stage-2 model sees
        them: ``gain = mean(D_photo) / mean(D_template)`` (linear RGB, over the template
        subject's front mask, clipped to [:data:`TONE_GAIN_MIN`, :data:`TONE_GAIN_MAX`]),
        with ``D_photo`` and ``D_template`` the stage-2 model's diffuse albedo (the swapper
        with ``modulate=False``) for the aligned photo (with ``skin_tone="eye_white"`` and
        an eye white found: the photo white-balanced and exposed by its eye whites,
        :func:`~id2reflectance.face.white_reference.white_balanced`, so the gain does not
        follow the photo's exposure) and for the template subject's front
        view, so the decoder's bias cancels in the ratio; needs the front view. (With the
        identity modulation on, the gain measured the same on average over 8 swappers, with
        more spread between them.)
    tone_from : how ``"template_tone"`` chooses its gain. ``"eye_white"`` (default): where the
        face has an eye-white referenced ITA, the gain that puts the template subject's front
        skin at the albedo ITA that tone maps to
        (:func:`~id2reflectance.inference.albedo_tone.albedo_ita_from_eye_white`, fitted on
        simulated renders; :func:`~id2reflectance.inference.albedo_tone.retone_gain`), so the
        prediction's tone follows the eye whites, not the photo's exposure; without one (no
        usable eye white, ``skin_tone="photo"``), the model's reading as with ``"model"``.
        ``"model"``: the stage-2 model's ratio described under ``output`` (the gain until
        2026-12-07; on the London photos it moved with the exposure and scrambled the groups'
        order, docs/evaluation.md).
    front_view : ``"template"`` (the paper's design): every view, the front included, is
        the swapper applied to the template subject's view. ``"photo"``: the front view is
        the swapper applied to the aligned photo itself (with its own identity), so the
        subject's own skin tone, marks and features reach the front maps; the side views
        stay the template subject's. Stitching uses the template subject's mesh and cameras
        either way (the photo is FFHQ-aligned like the template subject's front view). Only
        with ``output="decode"`` (the photo has no dataset maps).
    all_faces : several faces in a photo are an error unless True (then each is processed).
    device : torch device of the swapper (``cpu``, ``cuda``, ``cuda:1``).
    cache_dir : template-subject embedding cache folder; None = ``$ID2R_CACHE_DIR`` or
        ``~/.cache/id2reflectance`` (never inside the dataset).
    """

    views: tuple[str, ...] = VIEWS
    uv_size: int = 512
    template: str | None = None
    template_split: str = "train"
    ita_weight: float = 0.01
    skin_tone: Literal["eye_white", "photo"] = "eye_white"
    ita_calibration: bool = False
    output: Literal["decode", "template_residual", "template_tone"] = "decode"
    front_view: Literal["template", "photo"] = "template"
    tone_from: Literal["eye_white", "model"] = "eye_white"
    all_faces: bool = False
    device: str = "cpu"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        views = tuple(self.views)
        if not views or any(v not in VIEWS for v in views) or len(set(views)) != len(views):
            raise ConfigError(f"views must be distinct names among {list(VIEWS)}, got {list(views)}")
        if not (256 <= self.uv_size <= 8192) or self.uv_size & (self.uv_size - 1):
            raise ConfigError(f"uv_size must be a power of two from 256 to 8192, got {self.uv_size}")
        if not (np.isfinite(self.ita_weight) and self.ita_weight >= 0):
            raise ConfigError(f"ita_weight must be a finite number >= 0, got {self.ita_weight}")
        if self.skin_tone not in ("eye_white", "photo"):
            raise ConfigError(f"skin_tone must be 'eye_white' or 'photo', got {self.skin_tone!r}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"output must be one of {list(OUTPUTS)}, got {self.output!r}")
        if self.output == "template_tone" and "front" not in views:
            raise ConfigError("output 'template_tone' needs the front view (its tone gain compares front views)")
        if self.tone_from not in ("eye_white", "model"):
            raise ConfigError(f"tone_from must be 'eye_white' or 'model', got {self.tone_from!r}")
        if self.front_view not in ("template", "photo"):
            raise ConfigError(f"front_view must be 'template' or 'photo', got {self.front_view!r}")
        if self.front_view == "photo" and self.output != "decode":
            raise ConfigError(
                f"front_view='photo' needs output='decode', got {self.output!r} (the photo has no dataset maps)"
            )
        if self.template_split not in ("train", "val", "test", "all"):
            raise ConfigError(f"template_split must be train, val, test or all, got {self.template_split!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ConfigError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {self.device!r}") from err


@dataclass
class FacePrediction:
    """The reflectance predicted for one face of one photo.

    Attributes
    ----------
    source : photo path or label.
    face_index : index of the face in the photo (largest first).
    box : detector box (left, top, right, bottom) pixels, or None for an aligned input.
    identity : (D,) float32 unit identity embedding.
    ita_deg : the face's skin tone used for retrieval (ITA, degrees): the eye-white
        referenced or the photo's measured ITA (``skin_tone_source``), with
        ``ita_calibration`` put on the albedo scale; or None.
    template_id : the template subject used; template_score : its retrieval score.
    aligned : (R, R, 3) uint8 sRGB, the aligned input face.
    views : view -> {``rgb`` (R, R, 3) float32 sRGB code values in [0, 1] (the swapped
        face), ``diffuse_albedo`` (R, R, 3) float32 linear Rec.709 in [0, 1],
        ``specular_albedo`` (R, R, 1) float32 (the asset's quantity, 0..0.25),
        ``roughness`` (R, R, 1) float32 GGX perceptual in [0, 1], ``normal`` (R, R, 3)
        float32 unit, camera frame with OpenGL axes, ``mask`` (R, R) bool}; maps are 0
        outside the mask.
    uv : asset-format maps (S = uv_size): ``diffuse_albedo`` (S, S, 3), ``specular_albedo``
        (S, S, 1), ``roughness`` (S, S, 1), ``normal_object`` (S, S, 3) in the template
        subject's mesh's frame, ``normal_tangent`` (S, S, 3), ``coverage`` (S, S, 1); float32.
    landmarks : (68, 2) float64 landmarks in the photo (None for an aligned input).
    scores : retrieval score of every candidate template subject.
    photo_ita_deg : the ITA measured on the photo's cheeks and forehead, or None.
    eye_white_ita_deg : the same skin referenced to the eye whites, or None (none usable).
    skin_tone_source : ``"eye_white"`` or ``"photo"``: which of the two ``ita_deg`` is from
        (``"photo"`` also when neither is known); ``"none"`` when the eye white gave no
        estimate and the photo's skin is largely clipped or nearly black (``ita_deg`` None,
        retrieval by identity alone, with a warning).
    tone_gain : (3,) per-channel diffuse gain applied with output ``"template_tone"``, else None.
    albedo_ita_target : the front skin's albedo ITA (degrees) that gain was fitted to
        (``tone_from="eye_white"`` with an eye-white estimate), else None.
    warnings : what limits this prediction or the photo, one sentence each (a greyscale
        photo, skin clipped or nearly black in much of the face, no measurable skin tone,
        a face enlarged more than :data:`MAX_UPSCALE` times by the alignment, a face found
        only in the photo turned, :attr:`~id2reflectance.face.detect.Face.turned`, a face
        cut by the photo's frame or partly mirrored by the alignment).
    """

    source: str
    face_index: int
    box: tuple[int, int, int, int] | None
    identity: np.ndarray
    ita_deg: float | None
    template_id: str
    template_score: float
    aligned: np.ndarray
    views: dict[str, dict[str, np.ndarray]]
    uv: dict[str, np.ndarray]
    landmarks: np.ndarray | None = None
    scores: dict[str, float] = field(default_factory=dict)
    photo_ita_deg: float | None = None
    tone_gain: tuple[float, float, float] | None = None
    warnings: tuple[str, ...] = ()
    eye_white_ita_deg: float | None = None
    skin_tone_source: str = "photo"
    albedo_ita_target: float | None = None

    @property
    def coverage_seen(self) -> float:
        """Fraction of the UV chart seen by at least one view (texels with coverage > 0)."""
        return float((self.uv["coverage"] > 0).mean())


@dataclass(frozen=True)
class _FaceInput:
    aligned: np.ndarray  # (R, R, 3) uint8
    identity: np.ndarray  # (D,) float32
    photo_ita_deg: float | None
    source: str
    face_index: int
    box: tuple[int, int, int, int] | None
    landmarks: np.ndarray | None
    exclude: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    eye_white_ita_deg: float | None = None
    balanced: np.ndarray | None = None  # (R, R, 3) uint8: aligned, white-balanced by the eye whites
    photo_ita_usable: bool = True  # False: much of the skin clipped or nearly black (skin_exposure_warning)
    grey: bool = False  # a greyscale photo: no tone (template_tone keeps the template's diffuse)


def stitch_config(uv_size: int, mesh: FaceMesh) -> StitchConfig:
    """How a prediction's views are stitched into ``mesh``'s UV layout at ``uv_size`` texels:
    the final hole-fill wraps around u only where the chart is closed in u (the procedural
    template's; not the face model's atlas, whose first and last columns are unrelated)."""
    return StitchConfig(size=uv_size, wrap_u=wraps_in_u(mesh))


def decode_view(outputs: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """Model outputs of one view -> physical units (inverse of the dataset loader's encoding).

    Parameters
    ----------
    outputs : domain -> (3, R, R) float in the model's [-1, 1] encoding (``rgb``,
        ``diffuse``, ``specular``, ``roughness``, ``normal``).
    mask : (R, R) bool, where the face is.

    Returns
    -------
    ``rgb`` (R, R, 3) sRGB in [0, 1]; ``diffuse_albedo`` (R, R, 3) linear (sRGB decoded);
    ``specular_albedo`` (R, R, 1) = x / 4 (x the channel mean in [0, 1]; the loader stores
    ``min(1, 4 s)``); ``roughness`` (R, R, 1) = x; ``normal`` (R, R, 3) = ``2 x - 1``
    renormalised (= the output itself); ``mask`` (R, R) bool. All float32, 0 outside the
    mask (except ``rgb``).
    """

    def unit(name: str) -> np.ndarray:
        a = np.asarray(outputs[name], np.float32).transpose(1, 2, 0)
        return np.clip((a + 1.0) * 0.5, 0.0, 1.0)

    m = np.asarray(mask, bool)
    m3 = m[..., None]
    rgb = unit("rgb")
    diffuse = srgb_to_linear(unit("diffuse")).astype(np.float32)
    spec = unit("specular").mean(axis=2, keepdims=True) / 4.0
    rough = unit("roughness").mean(axis=2, keepdims=True)
    n = np.asarray(outputs["normal"], np.float32).transpose(1, 2, 0)
    norm = np.linalg.norm(n, axis=2, keepdims=True)
    n = np.where(norm > 1e-6, n / np.maximum(norm, 1e-6), np.array([0.0, 0.0, 1.0], np.float32))
    return {
        "rgb": rgb.astype(np.float32),
        "diffuse_albedo": np.where(m3, diffuse, 0.0).astype(np.float32),
        "specular_albedo": np.where(m3, spec, 0.0).astype(np.float32),
        "roughness": np.where(m3, rough, 0.0).astype(np.float32),
        "normal": np.where(m3, n, 0.0).astype(np.float32),
        "mask": m,
    }


def encode_view(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Physical view maps (:meth:`TemplateBank.view_maps`) -> the model's encoding: domain ->
    (3, R, R) float32 in [-1, 1] (the dataset loader's; :func:`decode_view` inverts it)."""

    def enc(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float32)
        a = np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a
        return (2.0 * a - 1.0).transpose(2, 0, 1).astype(np.float32)

    return {
        "diffuse": enc(linear_to_srgb(np.clip(maps["diffuse_albedo"], 0.0, 1.0))),
        "specular": enc(np.minimum(1.0, 4.0 * maps["specular_albedo"])),
        "roughness": enc(maps["roughness"]),
        "normal": np.asarray(maps["normal"], np.float32).transpose(2, 0, 1).copy(),
    }


def _as_tensor(img: np.ndarray) -> torch.Tensor:
    """(R, R, 3) float in [0, 1] -> (3, R, R) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(img, np.float32).transpose(2, 0, 1) * 2.0 - 1.0))


class Inferencer:
    """A loaded swapper, a template bank and an identity encoder, ready for photos.

    Parameters
    ----------
    checkpoint : a swapper checkpoint folder or run folder (``id2r train swapper``).
    dataset : a built dataset whose ``template_split`` subjects are the templates.
    config : InferConfig.
    identity : the identity encoder (default :class:`~id2reflectance.face.identity.DlibIdentityEncoder`);
        its ``dim`` must equal the swapper's ``id_dim``.

    Raises
    ------
    InputFileError
        Not a swapper checkpoint (kind named), weights that do not match, not a dataset,
        no usable template subject (dataset and missing files named), unknown fixed template subject
        (valid ids listed).
    ConfigError
        Identity sizes differ; an unavailable device.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        dataset: str | Path,
        config: InferConfig = InferConfig(),
        identity: Any | None = None,
    ) -> None:
        swapper, meta = load_swapper(checkpoint)
        self._setup(swapper, meta, dataset, config, identity)

    @classmethod
    def from_swapper(
        cls,
        swapper: Any,
        dataset: str | Path,
        config: InferConfig = InferConfig(),
        identity: Any | None = None,
        *,
        meta: dict[str, Any] | None = None,
    ) -> Inferencer:
        """An Inferencer around an already loaded swapper (anything with ``resolution``,
        ``id_dim``, ``domains`` and ``predict(template_rgb, identity)``, which must also take
        ``modulate=False`` when ``config.output`` is ``"template_residual"`` or
        ``"template_tone"``)."""
        self = cls.__new__(cls)
        self._setup(swapper, dict(meta or {}), dataset, config, identity)
        return self

    def _setup(
        self, swapper: Any, meta: dict[str, Any], dataset: str | Path, config: InferConfig, identity: Any
    ) -> None:
        device = torch.device(config.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {config.device!r} requested but CUDA is not available here; use --device cpu")
        needed = {"rgb", "diffuse", "specular", "roughness", "normal"}
        missing = needed - set(getattr(swapper, "domains", ()))
        if missing:
            raise ConfigError(f"the swapper does not predict {sorted(missing)}; inference needs {sorted(needed)}")
        if identity is None:
            identity = DlibIdentityEncoder()
        if int(identity.dim) != int(swapper.id_dim):
            raise ConfigError(
                f"the swapper takes {swapper.id_dim}-d identities but the identity encoder "
                f"{type(identity).__name__} gives {identity.dim}-d embeddings (use the encoder it was trained with)"
            )
        self.config = config
        self.swapper = swapper.to(device).eval() if isinstance(swapper, torch.nn.Module) else swapper
        self.device = device
        self.meta = meta
        self.encoder = identity
        self.resolution = int(swapper.resolution)
        self.bank = TemplateBank(
            dataset, split=config.template_split, views=tuple(config.views), cache_dir=config.cache_dir
        )
        if config.template is not None:
            self.bank.subject(config.template)
        self.checkpoint = str(meta.get("loaded_from", ""))
        self._check_layout(meta)
        self._embeddings: dict[str, np.ndarray] | None = None
        self._ita_checked = False  # face_ita: calibration fitted (and its absence reported)
        self._prepared: OrderedDict[str, PreparedMesh] = (
            OrderedDict()
        )  # template subject id -> PreparedMesh (prepared_mesh)

    # ------------------------------------------------------------------ helpers

    def _check_layout(self, meta: dict[str, Any]) -> None:
        """The model must have been trained in the dataset's UV layout (``meta.template``;
        a checkpoint without one was trained in the procedural layout)."""
        trained = (meta.get("meta") or {}).get("template")
        if not same_layout(trained, self.bank.layout):
            where = Path(self.checkpoint) / "checkpoint.json" if self.checkpoint else Path("<swapper>")
            raise InputFileError(
                where,
                "meta.template",
                f"the model was trained in the UV layout {layout_name(trained)}, but the dataset "
                f"{self.bank.manifest_path} is in {layout_name(self.bank.layout)}; "
                "use the dataset the model was trained on (or one built with the same --template)",
            )

    @property
    def checkpoint_sha256(self) -> str:
        """SHA-256 of the checkpoint's ``checkpoint.json`` (which lists every weight file's
        SHA-256), or "" for a swapper given in memory."""
        p = Path(self.checkpoint) / "checkpoint.json"
        return sha256_file(p) if self.checkpoint and p.is_file() else ""

    def template_ids(self) -> list[str]:
        """The usable template subject ids (sorted)."""
        return self.bank.ids()

    def template_embeddings(self) -> dict[str, np.ndarray]:
        """Identity embedding (D,) float32 of every template subject (computed once, cached on disk)."""
        if self._embeddings is None:
            self._embeddings = self.bank.embeddings(self.encoder)
        return self._embeddings

    def face_ita(self, photo_ita_deg: float | None) -> float | None:
        """A face's albedo ITA (degrees) from its photo's measured ITA, per ``ita_calibration``.

        Calibrated: :meth:`~id2reflectance.inference.template_subjects.TemplateBank.albedo_ita` (None when the templates
        give no usable fit); uncalibrated: the photo's value itself.
        """
        if not self.config.ita_calibration:
            return photo_ita_deg
        if not self._ita_checked:
            self.template_embeddings()  # measures the template subjects and fits the calibration
            self._ita_checked = True
            if self.bank.ita_calibration is None:
                log.warning(
                    "template subjects of %s: no skin-tone calibration (too few or inconsistent ITA values); "
                    "retrieval uses identity only",
                    self.bank.root,
                )
        return self.bank.albedo_ita(photo_ita_deg)

    def template_mesh(self, template_id: str) -> FaceMesh:
        """The template subject's mesh (the face template mesh's topology and UVs, its registered vertices)."""
        return self.bank.mesh(template_id)

    def prepared_mesh(self, template_id: str) -> PreparedMesh:
        """The template subject's mesh's baking geometry at ``config.uv_size``
        (:func:`~id2reflectance.processing.bake.prepared_mesh.prepare_mesh`), kept for the
        :data:`PREPARED_MESH_TEXELS` / uv_size² most recently used template subjects (at
        least one): a photo stitched onto a template subject used before skips rasterising its UV
        layout, building its ray-casting scene and tangent frames, and ray casting its
        views' visibility."""
        if template_id in self._prepared:
            self._prepared.move_to_end(template_id)
            return self._prepared[template_id]
        prepared = prepare_mesh(self.template_mesh(template_id), self.config.uv_size, keep_visibility=True)
        self._prepared[template_id] = prepared
        keep = max(1, PREPARED_MESH_TEXELS // self.config.uv_size**2)
        while len(self._prepared) > keep:
            self._prepared.popitem(last=False)
        return prepared

    # ------------------------------------------------------------------ public API

    def predict_aligned(
        self,
        aligned: np.ndarray,
        *,
        identity: np.ndarray | None = None,
        source: str = "",
        exclude: tuple[str, ...] = (),
    ) -> FacePrediction:
        """Predict the reflectance of an already FFHQ-aligned face.

        Parameters
        ----------
        aligned : (S, S, 3) uint8 sRGB, an aligned face (resized to the swapper's R).
        identity : (D,) unit embedding to use; None embeds ``aligned`` with the encoder
            (:func:`~id2reflectance.face.identity.embed_aligned`).
        source : label recorded in the prediction.
        exclude : subject ids never used as template subject (e.g. the held-out subject itself).
        """
        img = as_uint8_rgb(aligned, name=source or "aligned")
        if img.shape[0] != img.shape[1]:
            raise ConfigError(f"an aligned face must be square, got {img.shape[1]}x{img.shape[0]}")
        warnings = self._colour_warnings(img, source or "the aligned face")
        big, lm, _ = aligned_landmarks(img)
        if identity is None:
            identity = np.asarray(self.encoder.embed(big, lm), np.float32)
        region = skin_region(lm, big.shape[:2])
        ita = None if warnings else ita_of_pixels(big, region)
        face = _FaceInput(
            aligned=self._to_resolution(img),
            identity=self._check_identity(identity),
            photo_ita_deg=ita,
            eye_white_ita_deg=None if warnings else eye_white_tone_aligned(big, lm).ita_deg,
            grey=bool(warnings),
            source=source,
            face_index=0,
            box=None,
            landmarks=None,
            exclude=tuple(exclude),
            warnings=warnings,
        )
        return self._predict([face])[0]

    def predict_image(self, image: np.ndarray, *, source: str = "") -> list[FacePrediction]:
        """Detect, align, embed, retrieve, swap, decode and stitch every face of a photo.

        Parameters
        ----------
        image : (H, W, 3) uint8 sRGB photo, RGB order.
        source : the photo's path or a label (used in messages and metadata).

        Returns
        -------
        One FacePrediction per face (one unless ``config.all_faces``), largest face first.

        Raises
        ------
        Id2rError
            No face found; several faces without ``all_faces`` (count and boxes listed); a
            greyscale photo with the photo front view (it reads the photo's colour).
        """
        name = source or "the image"
        img = as_uint8_rgb(image, name=name)
        faces = find_faces(img)
        if not faces:
            raise Id2rError(f"no face found in {name}")
        if len(faces) > 1 and not self.config.all_faces:
            boxes = ", ".join(str(tuple(int(x) for x in f.box)) for f in faces)
            raise Id2rError(
                f"{len(faces)} faces found in {name} (boxes left, top, right, bottom: {boxes}); "
                "use --all-faces (InferConfig.all_faces) to process every face"
            )
        colour_warnings = self._colour_warnings(img, name)
        inputs = []
        for k, f in enumerate(faces):
            src, lm = upright(img, f)  # the photo itself unless the face was found turned
            aligned, matrix = align_face(src, lm, size=self.resolution)
            identity = np.asarray(self.encoder.embed(src, lm), np.float32)
            use_eye = self.config.skin_tone == "eye_white"
            ita, eye_tone, skin_warnings, exposed = (
                (None, None, (), False) if colour_warnings else _skin_tone(src, lm, eye_white=use_eye)
            )
            eye_ita = None if eye_tone is None else eye_tone.ita_deg
            balanced = (
                white_balanced(aligned, eye_tone.eye_white, skin=eye_tone.skin)
                if use_eye and eye_tone is not None and eye_tone.eye_white is not None and eye_ita is not None
                else None
            )
            warnings = (
                colour_warnings
                + skin_warnings
                + _geometry_warnings(f, matrix, self.resolution)
                + framing_warnings(lm, src.shape[:2], matrix, self.resolution)
            )
            inputs.append(
                _FaceInput(
                    aligned=aligned,
                    identity=self._check_identity(identity),
                    photo_ita_deg=ita,
                    eye_white_ita_deg=eye_ita,
                    balanced=balanced,
                    photo_ita_usable=not exposed,
                    grey=bool(colour_warnings),
                    source=source,
                    face_index=k,
                    box=tuple(int(x) for x in f.box),  # type: ignore[arg-type]
                    landmarks=np.asarray(f.landmarks, np.float64),
                    warnings=warnings,
                )
            )
        return self._predict(inputs)

    # ------------------------------------------------------------------ internals

    def _colour_warnings(self, img: np.ndarray, name: str) -> tuple[str, ...]:
        """``()`` for a colour image; for a greyscale one, the warning that retrieval uses
        identity alone (and, with ``template_tone``, that the diffuse is the template
        subject's, untoned), or an :class:`Id2rError` with front view ``photo`` (it reads the
        photo's colour)."""
        if not greyscale_image(img):
            return ()
        if self.config.front_view == "photo":
            raise Id2rError(
                f"{name} is a greyscale photo: --front-view photo reads the skin colour from the photo; "
                "use a colour photo, or the template front view"
            )
        untoned = (
            "; its diffuse albedo is the template subject's own, untoned"
            if self.config.output == "template_tone"
            else ""
        )
        return (
            "greyscale photo: no skin tone measured, the template subject was retrieved by identity alone" + untoned,
        )

    def _to_resolution(self, img: np.ndarray) -> np.ndarray:
        if img.shape[0] == self.resolution:
            return img
        out = resize_image(img.astype(np.float32) / 255.0, self.resolution)
        return np.round(np.clip(out, 0, 1) * 255.0).astype(np.uint8)

    def _check_identity(self, identity: np.ndarray) -> np.ndarray:
        e = np.asarray(identity, np.float32).reshape(-1)
        if e.shape != (int(self.swapper.id_dim),) or not np.all(np.isfinite(e)):
            raise ConfigError(f"identity must be a finite ({self.swapper.id_dim},) vector, got shape {e.shape}")
        return e / max(float(np.linalg.norm(e)), 1e-12)

    def _predict(self, faces: list[_FaceInput]) -> list[FacePrediction]:
        cfg = self.config
        r = self.resolution
        embeddings = self.template_embeddings()
        sources = [_tone_source(f, cfg.skin_tone) for f in faces]
        face_ita = [
            None if src == "none" else self.face_ita(f.eye_white_ita_deg if src == "eye_white" else f.photo_ita_deg)
            for f, src in zip(faces, sources)
        ]
        chosen = [
            self.bank.retrieve(
                f.identity,
                embeddings,
                ita_deg=ita,
                ita_weight=cfg.ita_weight,
                fixed=cfg.template,
                exclude=f.exclude,
            )
            for f, ita in zip(faces, face_ita)
        ]
        tids = [c.template_id for c in chosen]
        out_np, tone = self._swap(faces, tids)
        preds = []
        nv = len(cfg.views)
        for i, (f, tid, res, ita, src) in enumerate(zip(faces, tids, chosen, face_ita, sources)):
            mesh = self.template_mesh(tid)
            cams = self.bank.cameras(tid, r, tuple(cfg.views))
            views: dict[str, dict[str, np.ndarray]] = {}
            maps = []
            gain, target = None, None
            if tone is not None and f.grey:  # output "template_tone" without a colour to read
                gain = (1.0, 1.0, 1.0)
            elif tone is not None and cfg.tone_from == "eye_white" and src == "eye_white":
                target = albedo_ita_from_eye_white(f.eye_white_ita_deg)  # type: ignore[arg-type]
                front = self.bank.view_maps(tid, "front", r)
                gain = retone_gain(front["diffuse_albedo"], front["mask"], target)
            elif tone is not None:  # output "template_tone", the model's reading
                gain = _tone_gain(
                    {k: a[i] for k, a in tone["template"].items()},
                    {k: a[i] for k, a in tone["photo"].items()},
                    self.bank.mask(tid, "front", r),
                )
            for j, v in enumerate(cfg.views):
                b = i * nv + j
                dec = decode_view({k: a[b] for k, a in out_np.items()}, self.bank.mask(tid, v, r))
                if gain is not None:  # the template subject's own maps (physical units), diffuse toned
                    dec = {**self.bank.view_maps(tid, v, r), "rgb": dec["rgb"]}
                    dec["diffuse_albedo"] = np.clip(dec["diffuse_albedo"] * np.asarray(gain, np.float32), 0.0, 1.0)
                views[v] = dec
                maps.append(
                    ViewMaps(
                        camera=cams[v],
                        diffuse_albedo=dec["diffuse_albedo"],
                        specular_albedo=dec["specular_albedo"],
                        roughness=dec["roughness"],
                        normal=dec["normal"],
                        mask=dec["mask"].astype(np.float32),
                    )
                )
            config = stitch_config(cfg.uv_size, mesh)
            baked = stitch_views(mesh, maps, config=config, prepared=self.prepared_mesh(tid))
            uv = {
                "diffuse_albedo": baked.diffuse_albedo.astype(np.float32),
                "specular_albedo": baked.specular_albedo[..., None].astype(np.float32),
                "roughness": baked.roughness[..., None].astype(np.float32),
                "normal_object": baked.normal_object.astype(np.float32),
                "normal_tangent": baked.normal_tangent.astype(np.float32),
                "coverage": baked.coverage[..., None].astype(np.float32),
            }
            score, scores = res.score, res.scores
            preds.append(
                FacePrediction(
                    source=f.source,
                    face_index=f.face_index,
                    box=f.box,
                    identity=f.identity,
                    ita_deg=ita,
                    photo_ita_deg=f.photo_ita_deg,
                    template_id=tid,
                    template_score=float(score),
                    aligned=f.aligned,
                    views=views,
                    uv=uv,
                    landmarks=f.landmarks,
                    scores=scores,
                    tone_gain=gain,
                    warnings=f.warnings,
                    eye_white_ita_deg=f.eye_white_ita_deg,
                    skin_tone_source=src,
                    albedo_ita_target=target,
                )
            )
        return preds

    def _swap(
        self, faces: list[_FaceInput], tids: list[str]
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]] | None]:
        """The swapper on every face and view, one batch (faces x views, view order of the
        config), domain -> (N, 3, R, R) in the model encoding; with output
        ``template_tone`` also the unmodulated model (``modulate=False``) on each face's
        template subject's front view and aligned photo (``{"template": ..., "photo": ...}``, one
        entry per face), the two sides of the tone gain."""
        cfg = self.config
        r = self.resolution
        photo_front = cfg.front_view == "photo"
        rgb = [
            _as_tensor(f.aligned.astype(np.float32) / 255.0 if photo_front and v == "front" else self.bank.rgb(t, v, r))
            for f, t in zip(faces, tids)
            for v in cfg.views
        ]
        ids = [f.identity for f in faces for _ in cfg.views]
        tone = None
        with torch.no_grad():
            batch, ident = torch.stack(rgb).to(self.device), torch.from_numpy(np.stack(ids)).to(self.device)
            out = self.swapper.predict(batch, ident)
            if cfg.output == "template_residual":
                plain = self.swapper.predict(batch, ident, modulate=False)
                truth = [encode_view(self.bank.view_maps(t, v, r)) for t in tids for v in cfg.views]
                out = {
                    k: torch.from_numpy(np.stack([tr[k] for tr in truth])).to(self.device) + (out[k] - plain[k])
                    if k != "rgb"
                    else out[k]
                    for k in out
                }
            if cfg.output == "template_tone":
                nv, front, nf = len(cfg.views), cfg.views.index("front"), len(faces)
                pair = [rgb[i * nv + front] for i in range(nf)] + [
                    _as_tensor((f.aligned if f.balanced is None else f.balanced).astype(np.float32) / 255.0)
                    for f in faces
                ]
                pair_ids = torch.from_numpy(np.stack([f.identity for f in faces] * 2)).to(self.device)
                plain = self.swapper.predict(torch.stack(pair).to(self.device), pair_ids, modulate=False)
                plain_np = {k: v.detach().float().cpu().numpy() for k, v in plain.items()}
                tone = {
                    "template": {k: a[:nf] for k, a in plain_np.items()},
                    "photo": {k: a[nf:] for k, a in plain_np.items()},
                }
        return {k: v.detach().float().cpu().numpy() for k, v in out.items()}, tone


def photo_output(front_view: str) -> str:
    """The ``InferConfig.output`` ``id2r infer`` uses unless told: :data:`PHOTO_OUTPUT`, or
    ``"decode"`` with ``front_view`` ``"photo"`` (the only output that takes the photo as a view)."""
    return "decode" if front_view == "photo" else PHOTO_OUTPUT


def _tone_source(face: _FaceInput, wanted: str) -> str:
    """``"eye_white"`` when ``wanted`` and the face has an eye-white referenced ITA; ``"none"``
    when ``wanted`` is ``"eye_white"`` without one and the photo's skin is largely clipped or
    nearly black (its photo ITA then reads the exposure, 54-65 degrees for every London person
    at +1 stop: retrieval by identity alone); else ``"photo"``."""
    if wanted == "eye_white" and face.eye_white_ita_deg is not None:
        return "eye_white"
    return "none" if wanted == "eye_white" and not face.photo_ita_usable else "photo"


def _skin_tone(
    photo: np.ndarray, landmarks: np.ndarray, *, eye_white: bool
) -> tuple[float | None, EyeWhiteTone, tuple[str, ...], bool]:
    """The face's ITA in ``photo`` (degrees, None when not measurable), its eye-white
    referenced tone (:class:`~id2reflectance.face.white_reference.EyeWhiteTone`) and the warnings about its exposure
    (:func:`~id2reflectance.face.skin_tone.skin_exposure_warning`) and, when retrieval has
    no skin tone (neither with ``eye_white``, else no photo ITA), about that, or with ``eye_white``
    where its eye whites are clipped in every channel
    (:data:`~id2reflectance.face.white_reference.CLIPPED_WARNING`); and whether much
    of the skin is clipped or nearly black (that warning given)."""
    skin, region, lm = aligned_skin(photo, landmarks)
    ita = ita_of_pixels(skin, region)
    eye = eye_white_tone_aligned(skin, lm)
    exposure = skin_exposure_warning(skin, region)
    warnings = (exposure,) if exposure else ()
    if ita is None and (eye.ita_deg is None or not eye_white):
        warnings += ("too little usable skin to measure the skin tone: retrieval by identity alone",)
    elif eye_white and eye.ita_deg is None and exposure:
        warnings += (
            "no skin tone for retrieval: the eye whites give no reference and the photo's own skin colour "
            "follows its exposure; the template subject was retrieved by identity alone",
        )
    if eye_white and eye.ita_deg is not None and eye.warning:  # every channel of the eye whites clipped
        warnings += (eye.warning,)
    return ita, eye, warnings, exposure is not None


def _geometry_warnings(face: Face, matrix: np.ndarray, resolution: int) -> tuple[str, ...]:
    """Warnings about how a detected :class:`~id2reflectance.face.detect.Face` reached the model: found only in
    the photo turned, or enlarged more than :data:`MAX_UPSCALE` times by the alignment
    ``matrix`` (2, 3) to ``resolution`` px."""
    out: tuple[str, ...] = ()
    if face.turned:
        out += (
            f"the face was found with the photo turned {face.turned} degrees counter-clockwise "
            "(sideways or upside down, without EXIF orientation); it was aligned upright",
        )
    scale = alignment_scale(matrix)
    if scale > MAX_UPSCALE:
        width = face.box[2] - face.box[0]
        out += (
            f"the face is {width} px wide in the photo and is enlarged {scale:.1f}x to the model's "
            f"{resolution} px: the maps carry little of this face's detail",
        )
    return out


def _tone_gain(
    template_front: dict[str, np.ndarray], photo: dict[str, np.ndarray], mask: np.ndarray
) -> tuple[float, float, float]:
    """Per-channel diffuse gain of output ``template_tone``: mean linear diffuse albedo of
    the unmodulated model's output for the photo over that for the template subject's front
    view, inside the template subject's front ``mask`` (R, R) bool; outputs domain -> (3, R, R) model
    encoding. Clipped to [TONE_GAIN_MIN, TONE_GAIN_MAX]; 1 where the mask is empty."""
    m = np.asarray(mask, bool)
    if not m.any():
        return (1.0, 1.0, 1.0)
    d_t = decode_view(template_front, m)["diffuse_albedo"][m].mean(axis=0)
    d_p = decode_view(photo, m)["diffuse_albedo"][m].mean(axis=0)
    g = np.clip(d_p / np.maximum(d_t, 1e-4), TONE_GAIN_MIN, TONE_GAIN_MAX)
    return (float(g[0]), float(g[1]), float(g[2]))
