"""Figures of an identity encoder on labelled faces: verification AUC, rank-1, distances.

Two sets of embeddings of the same people (on the London photos the neutral and the smiling
photo of each person; on simulated subjects the front view under two lightings):
``gallery`` (N, D) and ``probes`` (M, D) with labels. Distances are Euclidean between the
rows as given: for dlib pass its own descriptors
(:meth:`~id2reflectance.face.identity.DlibIdentityEncoder.descriptor`), whose distance
has the same-person threshold 0.6; the unit embeddings the encoder returns shrink every
distance (by about 1.46 on the London photos).

- verification AUC: the probability that a same-person pair (a probe and its gallery
  entry) is closer than a different-person pair (a probe and another person's gallery
  entry), ties counting one half (the Mann-Whitney statistic over all pairs);
- rank-1: the share of probes whose nearest gallery entry is their own person;
- same-person and different-person distances (mean, max / min) and the share of
  different-person pairs farther apart than :data:`DLIB_THRESHOLD`.

:func:`session_front_photos` turns a simulated session's front camera under two lit
patterns into 8-bit sRGB photos (the benchmark simulates the sessions; evaluation code
does not import the simulator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance.capture.frames import load_camera_frames
from id2reflectance.capture.session import load_session
from id2reflectance.errors import ShapeError

DLIB_THRESHOLD = 0.6  # dlib's same-person distance threshold


@dataclass(frozen=True)
class IdentityFigures:
    """Verification and identification figures (see the module).

    people : labels with both a gallery and a probe embedding; auc; rank1;
    same_mean, same_max : same-person distances; other_mean, other_min : different-person
    distances; other_beyond_threshold : share of different-person pairs farther than
    :data:`DLIB_THRESHOLD`.
    """

    people: int
    auc: float
    rank1: float
    same_mean: float
    same_max: float
    other_mean: float
    other_min: float
    other_beyond_threshold: float


def verification_auc(same: np.ndarray, other: np.ndarray) -> float:
    """P(a same-person distance < a different-person distance), ties 1/2; (S,) and (O,) floats."""
    s = np.asarray(same, np.float64).ravel()
    o = np.sort(np.asarray(other, np.float64).ravel())
    if s.size == 0 or o.size == 0:
        raise ShapeError("verification_auc: needs at least one same-person and one different-person distance")
    greater = o.size - np.searchsorted(o, s, side="right")
    ties = np.searchsorted(o, s, side="right") - np.searchsorted(o, s, side="left")
    return float(np.mean((greater + 0.5 * ties) / o.size))


def identity_figures(
    gallery: np.ndarray, gallery_labels: Sequence[str], probes: np.ndarray, probe_labels: Sequence[str]
) -> IdentityFigures:
    """:class:`IdentityFigures` of ``probes`` (M, D) against ``gallery`` (N, D), labels given.

    Only the probes whose label is in the gallery count; the gallery's labels must be distinct.
    """
    g = np.asarray(gallery, np.float64)
    p = np.asarray(probes, np.float64)
    if g.ndim != 2 or p.ndim != 2 or g.shape[1] != p.shape[1]:
        raise ShapeError(f"identity_figures: gallery {g.shape} and probes {p.shape} must be (N, D) and (M, D)")
    if len(gallery_labels) != len(g) or len(probe_labels) != len(p):
        raise ShapeError("identity_figures: one label per embedding")
    if len(set(gallery_labels)) != len(gallery_labels):
        raise ShapeError("identity_figures: gallery labels must be distinct")
    index = {lab: k for k, lab in enumerate(gallery_labels)}
    rows = [k for k, lab in enumerate(probe_labels) if lab in index]
    if not rows or len(g) < 2:
        raise ShapeError("identity_figures: needs two gallery people and a probe of one of them")
    d = np.linalg.norm(p[rows, None, :] - g[None, :, :], axis=-1)  # (M', N)
    own = np.array([index[probe_labels[k]] for k in rows])
    same_mask = np.zeros_like(d, bool)
    same_mask[np.arange(len(rows)), own] = True
    same, other = d[same_mask], d[~same_mask]
    return IdentityFigures(
        people=len(rows),
        auc=verification_auc(same, other),
        rank1=float(np.mean(np.argmin(d, axis=1) == own)),
        same_mean=float(same.mean()),
        same_max=float(same.max()),
        other_mean=float(other.mean()),
        other_min=float(other.min()),
        other_beyond_threshold=float(np.mean(other > DLIB_THRESHOLD)),
    )


def session_front_photos(
    session: str | Path, *, camera: str = "front", patterns: tuple[str, ...] = ("full", "gradient_x")
) -> dict[str, np.ndarray]:
    """The ``camera``'s view of a session under each lit pattern as an 8-bit sRGB photo.

    Each photo is the pattern's cross- plus parallel-polarised frame (diffuse and specular,
    as an unpolarised camera sees it), scaled so the brightest 0.1 % of the pattern's
    ``full`` frame reaches 1 (every pattern with the same scale, so a darker pattern stays
    darker), clipped and sRGB-encoded.

    Returns
    -------
    pattern -> (H, W, 3) uint8 sRGB.
    """
    frames = load_camera_frames(load_session(session), camera).images
    lit = {p: frames[(p, "cross")] + frames[(p, "parallel")] for p in patterns}
    ref = frames[("full", "cross")] + frames[("full", "parallel")]
    scale = 1.0 / max(float(np.percentile(ref, 99.9)), 1e-6)
    return {
        p: np.round(linear_to_srgb(np.clip(img * scale, 0.0, 1.0)) * 255.0).astype(np.uint8) for p, img in lit.items()
    }


def student_embeddings(student: object, aligned: Sequence[np.ndarray], *, batch: int = 32) -> np.ndarray:
    """Embeddings (N, D) float32 of FFHQ-aligned faces by an identity student.

    Parameters
    ----------
    student : a torch module mapping (B, 3, R, R) float32 in [-1, 1] (sRGB code values) to
        (B, D) unit rows (:class:`~id2reflectance.model.identity.student.IdentityStudent`).
    aligned : N faces, each (R, R, 3) uint8 sRGB.
    """
    import torch  # heavy: only the student figures need it

    out = []
    with torch.no_grad():
        for k in range(0, len(aligned), batch):
            x = torch.from_numpy(np.stack(aligned[k : k + batch])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            out.append(student(x).cpu().numpy())  # type: ignore[operator]
    return np.concatenate(out).astype(np.float32)
