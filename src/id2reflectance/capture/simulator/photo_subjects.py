"""Simulated subjects whose face shape and albedo detail come from real people's photos.

``SimulatorConfig.appearance_source``: ``"procedural"`` (the painted appearance alone),
``"photo"`` (a real person's neutral photo for every face-model subject; the photo set must
be found) or ``"auto"`` (photo when the set and the face model are found). Subject ``i`` of
seed ``s`` takes the photo of a donor of its own sex (``people.csv``'s gender) among the
set's subject donors (:mod:`~id2reflectance.capture.face_photos`: even ids only, the odd
ones are the real-photo benchmark's): the ``k``-th subject of a sex (``k`` counted over
subjects ``0..i-1``) takes entry ``k`` of a permutation of that sex's donors drawn from
``(s, 5)``, so no two subjects of a seed share a donor until every donor of their sex is used; its identity weights are the
face-model fit to the photo's landmarks and its albedo carries the photo
(:mod:`~id2reflectance.capture.simulator.photo_albedo`). Its skin (tone, pigment), appearance
(scalp hair style, eyebrows where the photo does not reach) and the rest are drawn as before.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from id2reflectance._shared.dlib_faces import largest_face_landmarks
from id2reflectance._shared.imageio import decode_image, read_file_bytes
from id2reflectance.capture.face_photos import Donor, default_face_photos_dir, read_donors
from id2reflectance.capture.geometry.face_model import FaceModel
from id2reflectance.capture.geometry.face_model_heads import Eyes
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.regions import UVRaster
from id2reflectance.capture.simulator.appearance import Appearance
from id2reflectance.capture.simulator.face_model_subjects import FaceModelHead
from id2reflectance.capture.simulator.photo_albedo import (
    PhotoFit,
    PhotoLayer,
    delit_photo,
    fit_photo,
    iris_darkness,
    photo_layer,
)
from id2reflectance.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

AppearanceSource = Literal["auto", "photo", "procedural"]


def resolve_face_photos(source: str, path: str | None) -> Path | None:
    """The photo set's folder the subjects use, or None for procedural appearances.

    Parameters
    ----------
    source : ``"procedural"`` (None), ``"photo"`` (the set must be found) or ``"auto"``
        (the set when found and dlib is installed, else None).
    path : the set's folder (``people.csv``); None: ``../shared/face-photos/london``.
    """
    if source == "procedural":
        return None
    if source not in ("auto", "photo"):
        raise ConfigError(f"appearance source must be 'auto', 'photo' or 'procedural', got {source!r}")
    root = Path(path) if path is not None else default_face_photos_dir()
    if source == "auto" and importlib.util.find_spec("dlib") is None:
        log.info("dlib is not installed (the photos' landmarks need it): procedural appearances")
        return None
    if not (root / "people.csv").is_file():
        if source == "auto" and path is None:
            log.info("face photos not found at %s: procedural appearances", root)
            return None
        raise InputFileError(root / "people.csv", None, "not found: the face-photo set (docs/face-model.md)")
    return root


@lru_cache(maxsize=4)
def _donors(root: str) -> tuple[Donor, ...]:
    donors = read_donors(root)
    if not donors:
        raise InputFileError(Path(root) / "people.csv", "id", "no subject donors (even ids) in the face-photo set")
    return donors


def pick_donor(root: Path, *, seed: int, rank: int, sex: str) -> Donor:
    """The donor of a subject of ``seed`` that is the ``rank``-th of its sex ``sex`` (0 for
    the first): entry ``rank`` (modulo the pool's size) of a permutation, drawn from
    ``(seed, 5, pool size)``, of the donors of that gender (all donors when none has it)."""
    donors = _donors(str(root))
    pool = [d for d in donors if d.gender == sex] or list(donors)
    order = np.random.default_rng([int(seed), 5, len(pool)]).permutation(len(pool))
    return pool[int(order[rank % len(pool)])]


@lru_cache(maxsize=64)
def _read_donor(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(photo (H, W, 3) uint8 RGB, landmarks (68, 2)) of a donor's photo."""
    img = decode_image(read_file_bytes(Path(path)), cv2.IMREAD_COLOR)
    if img is None:
        raise InputFileError(path, None, "not a readable image")
    rgb = np.ascontiguousarray(img[..., ::-1])
    marks = largest_face_landmarks(rgb)
    if marks is None:
        raise InputFileError(path, None, "no face found in the donor photo")
    rgb.flags.writeable = False
    marks.flags.writeable = False
    return rgb, marks


@lru_cache(maxsize=64)
def donor_fit(model: FaceModel, path: str) -> PhotoFit:
    """The face model fitted to the landmarks of the photo at ``path`` (cached)."""
    return fit_photo(model, _read_donor(path)[1])


@lru_cache(maxsize=16)
def _delit(path: str) -> tuple[np.ndarray, np.ndarray]:
    photo, marks = _read_donor(path)
    return delit_photo(photo, marks)


def with_donor(head: FaceModelHead, model: FaceModel, donor: Donor) -> FaceModelHead:
    """``head`` with the identity weights of the face model's fit to ``donor``'s photo (the
    modes beyond the fit 0; the expression kept)."""
    fit = donor_fit(model, str(donor.photo))
    w = np.zeros(max(len(head.identity), len(fit.identity)))
    w[: len(fit.identity)] = fit.identity
    return replace(head, identity=tuple(float(x) for x in w[: len(head.identity)]))


def with_donor_eyes(look: Appearance, hair_darkness: float, donor: Donor) -> Appearance:
    """``look`` with the donor's iris colour: its iris shift set so that the iris darkness
    (the skin's ``hair_darkness`` plus the shift) is the photo's
    (:func:`~id2reflectance.capture.simulator.photo_albedo.iris_darkness`)."""
    photo, marks = _read_donor(str(donor.photo))
    shift = float(np.clip(iris_darkness(photo, marks) - hair_darkness, -1.0, 1.0))
    return replace(look, iris_shift=round(shift, 4))


def subject_photo_layer(
    model: FaceModel,
    photo: Path,
    mesh: FaceMesh,
    raster: UVRaster,
    eyes: Eyes | None,
    *,
    donor: str = "",
) -> PhotoLayer:
    """The photo at ``photo`` on the texels of ``mesh`` (the subject's head as rendered,
    metres, in ``raster``'s layout): the skin's texels, not the eyeballs; the photo's own
    mask keeps it above the jaw line (:func:`~id2reflectance.capture.simulator.photo_albedo.delit_photo`)."""
    where = raster.covered.astype(np.float64)
    if eyes is not None:
        where = where * (1.0 - raster.interpolate(eyes.weight[:, None], mesh.faces)[..., 0])
    return photo_layer(_delit(str(photo)), donor_fit(model, str(photo)), mesh, raster, where, donor=donor)
