"""How well identity embeddings tell people apart: verification and identification figures.

Two images per person (a gallery image and a probe image, e.g. the same face under two
lightings). With Euclidean distances between embeddings (dlib's convention: the same
person below 0.6 between dlib's own descriptors, whose length is about 1.45; unit-normalised
dlib embeddings put every distance about 1.45x closer, so the 0.6 threshold only holds for
the descriptors):

* genuine distances: probe ``i`` to gallery ``i`` (the same person);
* impostor distances: every image of one person to every image of another (gallery and
  probe images both count, each unordered pair of images once);
* verification AUC: the probability that a genuine distance is below an impostor distance
  (ties count half), the area under the ROC curve;
* rank-1: the fraction of probes whose nearest gallery embedding is their own person's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from id2reflectance.errors import ShapeError

SAME_PERSON_DISTANCE = 0.6  # dlib's threshold: closer descriptors (not normalised) are the same person


@dataclass(frozen=True)
class VerificationFigures:
    """Figures of one set of people (see the module docstring); distances are Euclidean."""

    people: int
    impostor_pairs: int
    impostor_above_threshold: float  # fraction of impostor distances > threshold
    impostor_median: float
    genuine_median: float
    genuine_below_threshold: float  # fraction of genuine distances < threshold
    auc: float
    rank1: float
    threshold: float

    def to_json(self) -> dict:
        return asdict(self)


def _auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(genuine < impostor) + P(equal) / 2 by ranks (Mann-Whitney)."""
    both = np.concatenate([genuine, impostor])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0
    ranks[order] = np.repeat(avg, counts) + 1.0
    r_gen = ranks[: len(genuine)].sum()
    u = r_gen - len(genuine) * (len(genuine) + 1) / 2.0  # genuine ranked above impostor
    return float(1.0 - u / (len(genuine) * len(impostor)))


def verification_figures(
    gallery: np.ndarray, probes: np.ndarray, *, threshold: float = SAME_PERSON_DISTANCE
) -> VerificationFigures:
    """Verification and identification figures of paired embeddings.

    Parameters
    ----------
    gallery, probes : (P, D) float embeddings of P >= 2 people, row ``i`` of both the same
        person: dlib's own descriptors (:meth:`~.identity.DlibIdentityEncoder.descriptor`,
        the scale on which ``threshold`` 0.6 is dlib's same-person distance) or unit
        embeddings (``embed``: distances about 1.45x shorter for dlib).
    threshold : the same-person distance.

    Returns
    -------
    VerificationFigures.
    """
    g = np.asarray(gallery, np.float64)
    p = np.asarray(probes, np.float64)
    if g.ndim != 2 or g.shape != p.shape or len(g) < 2:
        raise ShapeError(f"verification_figures: gallery and probes must both be (P >= 2, D), got {g.shape}, {p.shape}")
    n = len(g)
    d_gp = np.linalg.norm(g[:, None] - p[None], axis=-1)  # gallery i to probe j
    genuine = np.diag(d_gp)
    off = ~np.eye(n, dtype=bool)
    iu = np.triu_indices(n, 1)
    d_gg = np.linalg.norm(g[:, None] - g[None], axis=-1)[iu]
    d_pp = np.linalg.norm(p[:, None] - p[None], axis=-1)[iu]
    impostor = np.concatenate([d_gg, d_pp, d_gp[off]])
    rank1 = float(np.mean(np.argmin(d_gp, axis=0) == np.arange(n)))
    return VerificationFigures(
        people=n,
        impostor_pairs=int(impostor.size),
        impostor_above_threshold=float(np.mean(impostor > threshold)),
        impostor_median=float(np.median(impostor)),
        genuine_median=float(np.median(genuine)),
        genuine_below_threshold=float(np.mean(genuine < threshold)),
        auc=_auc(genuine, impostor),
        rank1=rank1,
        threshold=float(threshold),
    )
