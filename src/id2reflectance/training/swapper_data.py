"""Training images of the swapper: dataset RGB views, optional real photos, teacher embeddings.

:func:`load_face_images` gathers the RGB views of the training split (every configured
view and environment; the first ``max_subjects`` subjects in manifest order when given)
and, optionally, real face photos aligned to the model resolution, into one in-memory
:class:`FaceImages` (images (N, 3, R, R) float32 in [-1, 1], sRGB code values).
:func:`teacher_embeddings` computes the identity network's embedding of every image once
and caches it in the run folder keyed by image (``identity_targets.npy`` + ``.json``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from id2reflectance._shared.atomic import atomic_write, atomic_write_json
from id2reflectance.dataset.torch_dataset import ReflectanceDataset
from id2reflectance.errors import ConfigError, Id2rError, InputFileError
from id2reflectance.face.detect import align_face, find_faces, read_photo
from id2reflectance.face.identity import DlibIdentityEncoder, embed_aligned

log = logging.getLogger(__name__)

TARGETS_NPY = "identity_targets.npy"
TARGETS_JSON = "identity_targets.json"
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, R, R) float in [-1, 1] -> (R, R, 3) uint8 sRGB."""
    a = ((image.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(a.permute(1, 2, 0).cpu().numpy())


def from_uint8(image: np.ndarray) -> torch.Tensor:
    """(R, R, 3) uint8 sRGB -> (3, R, R) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(127.5).sub(1.0)


@dataclass
class FaceImages:
    """Aligned training faces in memory.

    Attributes
    ----------
    images : (N, 3, R, R) float32 in [-1, 1].
    keys : per image, ``<subject>/<view>/rgb_<env>.png`` or ``photo:<file name>``.
    owners : per image, its identity (subject id or ``photo:<file name>``).
    subjects : the dataset subjects used, in order.
    photo_keys : keys of the photos used.
    photos_skipped : ``{"file": ..., "reason": ...}`` of photos left out.
    """

    images: torch.Tensor
    keys: list[str]
    owners: list[str]
    subjects: list[str]
    photo_keys: list[str] = field(default_factory=list)
    photos_skipped: list[dict[str, str]] = field(default_factory=list)
    held_out_source: str = ""

    def __post_init__(self) -> None:
        self.by_owner: dict[str, list[int]] = {}
        for i, o in enumerate(self.owners):
            self.by_owner.setdefault(o, []).append(i)
        self.identities = list(self.by_owner)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def subject_count(self) -> int:
        return len(self.subjects)

    def tensor_all(self) -> torch.Tensor:
        """(N, 3, R, R) float32 in [-1, 1]."""
        return self.images

    def tensor(self, idx: list[int], *, flip: list[bool]) -> torch.Tensor:
        """(B, 3, R, R) float32 images ``idx``, mirrored where ``flip``."""
        x = self.images[torch.as_tensor(idx, dtype=torch.long)].clone()
        f = torch.as_tensor(flip, dtype=torch.bool)
        if bool(f.any()):
            x[f] = x[f].flip(-1)
        return x

    def held_out_mask(self, share: float, *, seed: int) -> torch.Tensor:
        """(N,) bool: images whose identity is held out of the student's training.

        ``round(share * identities)`` identities (at least one when ``share > 0`` and there are two
        or more), chosen with ``numpy.random.default_rng(seed)``.
        """
        n_id = len(self.identities)
        k = int(round(share * n_id))
        if share > 0 and n_id >= 2:
            k = min(max(k, 1), n_id - 1)
        else:
            k = 0
        chosen = set(np.random.default_rng(seed).permutation(n_id)[:k].tolist())
        held = {self.identities[i] for i in chosen}
        self.held_out_source = f"{k} of {n_id} identities: {sorted(held)}"
        return torch.tensor([o in held for o in self.owners], dtype=torch.bool)

    def draw_pairs(
        self, step: int, batch: int, same_prob: float, seed: int
    ) -> tuple[list[int], list[int], list[bool], list[bool]]:
        """Templates, identity sources, same-identity flags and flips of ``step`` (deterministic).

        Same identity: another image of the template's identity (the template itself when it
        has one image); otherwise an image of another identity (the template's own when there is
        only one identity, and the pair then counts as same-identity).
        """
        rng = np.random.default_rng([seed, step, 7])
        tmpl, src, same, flip = [], [], [], []
        for _ in range(batch):
            t = int(rng.integers(len(self)))
            owner = self.owners[t]
            want_same = bool(rng.random() < same_prob) or len(self.identities) == 1
            if want_same:
                pool = [i for i in self.by_owner[owner] if i != t] or [t]
            else:
                others = [o for o in self.identities if o != owner]
                pool = self.by_owner[others[int(rng.integers(len(others)))]]
            tmpl.append(t)
            src.append(int(pool[int(rng.integers(len(pool)))]))
            same.append(want_same)
            flip.append(bool(rng.random() < 0.5))
        return tmpl, src, same, flip


def load_photos(folder: str | Path, resolution: int) -> tuple[list[str], list[np.ndarray], list[dict[str, str]]]:
    """Aligned faces (R, R, 3) uint8 of the photos in ``folder`` holding exactly one face.

    Returns ``(names, aligned images, skipped [{"file", "reason"}])``; unreadable images and
    images with no or several faces are skipped (and logged with a warning listing them).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, None, "--photos must be a folder of face photos (.png/.jpg)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    names, images, skipped = [], [], []
    for p in files:
        try:
            img = read_photo(p)
        except InputFileError as err:
            skipped.append({"file": p.name, "reason": err.message})
            continue
        faces = find_faces(img)
        if len(faces) != 1:
            skipped.append({"file": p.name, "reason": f"{len(faces)} faces found, need exactly one"})
            continue
        aligned, _ = align_face(img, faces[0].landmarks, size=resolution)
        names.append(p.name)
        images.append(aligned)
    if skipped:
        log.warning(
            "skipped %d of %d photos in %s: %s",
            len(skipped),
            len(files),
            folder,
            "; ".join(f"{s['file']} ({s['reason']})" for s in skipped),
        )
    return names, images, skipped


def load_face_images(
    data: str | Path,
    cfg: Any,
    *,
    photos: str | Path | None = None,
    max_subjects: int | None = None,
    run_dir: Path | None = None,
) -> FaceImages:
    """Training faces of a swapper run (``cfg``: :class:`~.swapper_config.SwapperRunConfig`).

    Raises
    ------
    InputFileError
        Broken dataset, missing view/environment, empty split (from the dataset reader).
    ConfigError
        No usable image at all.
    """
    ds = _rgb_views(data, cfg, cfg.data.train_split)
    subjects: list[str] = []
    for sid, _, _ in ds.items:
        if sid not in subjects:
            subjects.append(sid)
    if max_subjects is not None:
        subjects = subjects[:max_subjects]
    keep = set(subjects)
    images, keys, owners = [], [], []
    for i, (sid, view, env) in enumerate(ds.items):
        if sid in keep:
            images.append(ds[i]["rgb"])
            keys.append(f"{sid}/{view}/rgb_{env}.png")
            owners.append(sid)
    photo_keys: list[str] = []
    skipped: list[dict[str, str]] = []
    if photos is not None:
        names, aligned, skipped = load_photos(photos, cfg.resolution)
        for name, img in zip(names, aligned, strict=True):
            images.append(from_uint8(img))
            keys.append(f"photo:{name}")
            owners.append(f"photo:{name}")
            photo_keys.append(f"photo:{name}")
    if not images:
        raise ConfigError(f"{data}: no training image for the swapper")
    if len(set(owners)) < 2:
        log.warning("only one identity in the training data: every pair is a same-identity pair")
    return FaceImages(
        images=torch.stack(images),
        keys=keys,
        owners=owners,
        subjects=subjects,
        photo_keys=photo_keys,
        photos_skipped=skipped,
    )


def eval_face_images(data: str | Path, cfg: Any) -> torch.Tensor | None:
    """(M, 3, R, R) float32 RGB views of the eval split, or None when the split is empty."""
    try:
        ds = _rgb_views(data, cfg, cfg.data.eval_split)
    except InputFileError as err:
        if err.field == "subjects":
            return None
        raise
    return torch.stack([ds[i]["rgb"] for i in range(len(ds))])


def teacher_embeddings(
    faces: FaceImages,
    run_dir: Path,
    *,
    network: str,
    net: nn.Module | None,
    device: torch.device | str = "cpu",
    progress: Callable[[str, int, int], None] | None = None,
) -> torch.Tensor:
    """(N, D) float32 unit teacher embeddings of ``faces``, cached in ``run_dir``.

    Parameters
    ----------
    network : ``"dlib"`` (dlib's network through :func:`~id2reflectance.face.identity.embed_aligned`),
        otherwise the name of ``net`` (e.g. ``"arcface"``), a differentiable identity network.

    device : where ``net`` runs.

    The cache (``identity_targets.npy`` and ``.json`` with ``network``, ``keys``, ``methods``)
    is reused when its network and keys match; images already embedded are not recomputed.
    """
    npy, meta_path = run_dir / TARGETS_NPY, run_dir / TARGETS_JSON
    cached: dict[str, tuple[np.ndarray, str]] = {}
    if npy.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arr = np.load(npy)
            if meta.get("network") == network and len(meta["keys"]) == arr.shape[0]:
                cached = {k: (arr[i], m) for i, (k, m) in enumerate(zip(meta["keys"], meta["methods"], strict=True))}
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
            log.warning("ignoring unreadable identity cache %s: %s", npy, err)
    out: list[np.ndarray] = []
    methods: list[str] = []
    todo = [i for i, k in enumerate(faces.keys) if k not in cached]
    computed: dict[int, tuple[np.ndarray, str]] = {}
    if todo:
        if network == "dlib":
            try:
                enc = DlibIdentityEncoder()
            except ImportError as err:
                raise Id2rError(f"dlib is needed for the identity embeddings: {err}") from err
            for n, i in enumerate(todo):
                computed[i] = embed_aligned(enc, to_uint8(faces.images[i]))
                if progress is not None:
                    progress("identity embeddings", n + 1, len(todo))
        elif net is not None:
            with torch.no_grad():
                for s in range(0, len(todo), 16):
                    chunk = todo[s : s + 16]
                    e = net(faces.images[torch.as_tensor(chunk)].to(device)).cpu().numpy()
                    for j, i in enumerate(chunk):
                        computed[i] = (e[j].astype(np.float32), "crop")
        else:
            raise ConfigError(f"unknown identity network {network!r}")
    for i, k in enumerate(faces.keys):
        vec, method = computed[i] if i in computed else cached[k]
        out.append(np.asarray(vec, np.float32))
        methods.append(method)
    arr = np.stack(out).astype(np.float32)
    if todo:
        atomic_write(npy, lambda p: np.save(p, arr))
        atomic_write_json(meta_path, {"network": network, "keys": faces.keys, "methods": methods})
        n_box = sum(m == "box" for m in methods)
        if n_box:
            log.info("dlib found no face in %d of %d images: landmarks fitted in the aligned face box", n_box, len(arr))
    return torch.from_numpy(arr)


def _rgb_views(data: str | Path, cfg: Any, split: str) -> ReflectanceDataset:
    """The dataset's RGB views of ``split`` at the swapper's resolution, as the swapper
    config selects them (views, environments), without augmentation."""
    return ReflectanceDataset(
        data,
        split=split,
        domains=("rgb",),
        views=cfg.data.views,
        resolution=cfg.resolution,
        environments=cfg.data.environments,
        augment=False,
    )
