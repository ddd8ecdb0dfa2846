"""PyTorch dataset over a built training set (docs/dataset-format.md, version 1).

Reads only the PNG/JSON part (no OpenEXR, no Open3D), so it runs on a training machine
without those packages. Each item is one (subject, view[, environment]) of the chosen
split; every requested domain becomes a (3, H, W) float32 tensor in [-1, 1]:

- ``rgb``: sRGB code values of ``rgb_<environment>.png``;
- ``diffuse``: the linear albedo sRGB-encoded (IEC 61966-2-1 OETF);
- ``specular``: ``min(1, 4 s)`` of the specular albedo ``s``, replicated to 3 channels;
- ``roughness``: GGX perceptual roughness ``r``, replicated;
- ``normal``: the stored ``(n + 1) / 2`` (camera frame, OpenGL axes);

each mapped from [0, 1] to [-1, 1] by ``2 x - 1``. Images are resized to ``resolution`` as
images (area averaging when shrinking, bilinear when enlarging; normals are not
renormalised). ``mask`` is (1, H, W) float32 in [0, 1].

Augmentation (``augment=True``) is a horizontal flip with probability 1/2, drawn from
``numpy.random.default_rng([seed, epoch, index])`` so it is reproducible in any worker
process; a flip mirrors every domain and negates the normal's x component on the face
(``(n_x + 1) / 2 -> 1 - (n_x + 1) / 2`` weighted by the mask, so the background's code
value is the same in flipped and unflipped items: otherwise half of the training items
would show a different background normal for the same black RGB background, which the
RGB-to-normal fusion cannot predict). An item is addressed by ``index`` (epoch 0) or by
the pair ``(index, epoch)``, which lets a sampler vary the augmentation per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from id2reflectance._shared.imageio import linear_to_srgb, read_png_unit
from id2reflectance.dataset.manifest import DOMAINS, MANIFEST, SPLITS, dataset_sha256, read_manifest
from id2reflectance.errors import ConfigError, InputFileError

__all__ = ["DOMAINS", "MANIFEST", "SPLITS", "ReflectanceDataset", "dataset_sha256", "read_manifest"]

_FILES = {
    "diffuse": "diffuse_albedo.png",
    "specular": "specular_albedo.png",
    "roughness": "roughness.png",
    "normal": "normal.png",
}


_read_png = read_png_unit  # (H, W, C) float32 in [0, 1], RGB order


class ReflectanceDataset(Dataset):
    """Items of one split of a built dataset, as model-ready tensors.

    Parameters
    ----------
    root : the dataset folder (holding ``dataset.json``).
    split : ``"train"``, ``"val"``, ``"test"``, ``"all"`` or a sequence of those.
    domains : any of ``rgb, diffuse, specular, roughness, normal``.
    views : any of the dataset's views (``front``, ``left``, ``right``).
    resolution : output side in pixels (square).
    environments : rgb images to use (``"full"``, ``"env0"``, ...); every environment is a
        separate item. Ignored when ``rgb`` is not requested.
    augment : deterministic horizontal flips (see module docstring).
    seed : augmentation seed.

    Raises
    ------
    ConfigError
        Unknown domain or split name, or a non-positive resolution.
    InputFileError
        The manifest is invalid or lacks a requested domain, view or environment (field
        named), the split is empty, or a needed file is missing (file named).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | Sequence[str],
        domains: Sequence[str],
        views: Sequence[str],
        resolution: int,
        environments: Sequence[str] = ("full",),
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        self.domains = tuple(domains)
        self.views = tuple(views)
        self.resolution = int(resolution)
        self.environments = tuple(environments)
        self.augment = augment
        self.seed = int(seed)
        splits = SPLITS if split == "all" else ((split,) if isinstance(split, str) else tuple(split))
        bad = [s for s in splits if s not in SPLITS]
        if bad:
            raise ConfigError(f"split must be 'all' or among {list(SPLITS)}, got {bad}")
        bad = [d for d in self.domains if d not in DOMAINS]
        if bad or not self.domains:
            raise ConfigError(f"domains must be a non-empty subset of {list(DOMAINS)}, got {list(self.domains)}")
        if self.resolution < 1:
            raise ConfigError(f"resolution must be >= 1, got {resolution}")
        doc = read_manifest(self.root)
        manifest = self.root / MANIFEST
        self.image_size = int(doc["image_size"])
        for field, wanted in (("domains", self.domains), ("views", self.views)):
            missing = [w for w in wanted if w not in doc[field]]
            if missing:
                raise InputFileError(
                    manifest, field, f"the config asks for {missing} but the dataset has only {doc[field]}"
                )
        envs: tuple[str | None, ...] = (None,)
        # rgb file stems: "full" -> rgb_full.png; the k-th other environment -> rgb_env<k>.png,
        # asked for by its manifest name ("courtyard") or as "env<k>"
        self._env_stem: dict[str, str] = {}
        k = 0
        for e in doc["environments"]:
            if e == "full":
                self._env_stem[e] = "full"
            else:
                self._env_stem[e] = self._env_stem[f"env{k}"] = f"env{k}"
                k += 1
        if "rgb" in self.domains:
            missing = [e for e in self.environments if e not in self._env_stem]
            if missing or not self.environments:
                raise InputFileError(
                    manifest,
                    "environments",
                    f"the config asks for {list(self.environments)} but the dataset has only {doc['environments']}",
                )
            envs = self.environments
        subjects = [s["id"] for s in doc["subjects"] if s["split"] in splits]
        if not subjects:
            raise InputFileError(manifest, "subjects", f"no subject in split(s) {list(splits)}")
        self.items: list[tuple[str, str, str | None]] = [(s, v, e) for s in subjects for v in self.views for e in envs]
        for sid, view, env in self.items:
            for d in self.domains:
                p = self._path(sid, view, d, env)
                if not p.is_file():
                    raise InputFileError(p, None, f"missing: domain {d!r} of subject {sid} view {view}")

    def _path(self, sid: str, view: str, domain: str, env: str | None) -> Path:
        name = (
            f"rgb_{self._env_stem[env or 'full']}.png"
            if domain == "rgb"
            else ("mask.png" if domain == "mask" else _FILES[domain])
        )
        return self.root / "subjects" / sid / "views" / view / name

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, path: Path, *, channels: int) -> np.ndarray:
        img = _read_png(path)
        h, w = img.shape[:2]
        if h != self.image_size or w != self.image_size:
            raise InputFileError(path, None, f"expected {self.image_size}x{self.image_size} pixels, got {w}x{h}")
        if img.shape[2] != channels and not (channels == 1 and img.shape[2] >= 1):
            raise InputFileError(path, None, f"expected {channels} channel(s), got {img.shape[2]}")
        img = img[..., :channels]
        if self.resolution != self.image_size:
            interp = cv2.INTER_AREA if self.resolution < self.image_size else cv2.INTER_LINEAR
            img = cv2.resize(img, (self.resolution, self.resolution), interpolation=interp)
            if img.ndim == 2:
                img = img[..., None]
        return img

    def _unit(self, domain: str, path: Path) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] in the model's encoding of ``domain``."""
        if domain in ("rgb", "normal"):
            return self._load(path, channels=3)
        if domain == "diffuse":
            return linear_to_srgb(np.clip(self._load(path, channels=3), 0.0, 1.0)).astype(np.float32)
        grey = self._load(path, channels=1)
        if domain == "specular":
            grey = np.minimum(1.0, 4.0 * grey)
        return np.repeat(grey, 3, axis=2)

    def flips(self, index: int, epoch: int = 0) -> bool:
        """Whether item ``index`` is mirrored in ``epoch`` (always False without augmentation)."""
        if not self.augment:
            return False
        return bool(np.random.default_rng([self.seed, epoch, index]).random() < 0.5)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """One item: per domain (3, H, W) float32 in [-1, 1], ``mask`` (1, H, W) float32,
        ``subject``, ``view``, ``environment`` (str, "" without rgb), ``flipped`` (bool)."""
        index, epoch = (key, 0) if isinstance(key, (int, np.integer)) else (int(key[0]), int(key[1]))
        if not 0 <= index < len(self.items):
            raise IndexError(f"index {index} out of range for {len(self.items)} items")
        sid, view, env = self.items[index]
        flip = self.flips(index, epoch)
        out: dict[str, Any] = {"subject": sid, "view": view, "environment": env or "", "flipped": flip}
        mask_path = self._path(sid, view, "mask", env)
        if mask_path.is_file():
            m = self._load(mask_path, channels=1)
            m = m[:, ::-1] if flip else m
        else:
            m = np.ones((self.resolution, self.resolution, 1), np.float32)
        for d in self.domains:
            img = self._unit(d, self._path(sid, view, d, env))
            if flip:
                img = img[:, ::-1]
                if d == "normal":  # mirror n_x on the face only: the background code stays
                    img = img.copy()
                    img[..., 0] += m[..., 0] * (1.0 - 2.0 * img[..., 0])
            out[d] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1) * 2.0 - 1.0, dtype=np.float32))
        out["mask"] = torch.from_numpy(np.ascontiguousarray(m.transpose(2, 0, 1), dtype=np.float32))
        return out
