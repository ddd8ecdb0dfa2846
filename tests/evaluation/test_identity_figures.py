"""Verification AUC, rank-1 and distances of identity embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.errors import ShapeError
from id2reflectance.evaluation.identity_figures import identity_figures, student_embeddings, verification_auc


def test_auc_is_the_share_of_correctly_ordered_pairs_with_ties_halved():
    assert verification_auc(np.array([0.1, 0.2]), np.array([0.5, 0.9])) == 1.0
    assert verification_auc(np.array([0.6]), np.array([0.5, 0.9])) == 0.5
    assert verification_auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert verification_auc(np.array([1.0, 2.0]), np.array([0.5])) == 0.0
    with pytest.raises(ShapeError):
        verification_auc(np.array([]), np.array([0.5]))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_figures_of_separated_and_of_collapsed_identities():
    gen = np.random.default_rng(0)
    people = _unit(gen.normal(size=(6, 16)))
    probes = _unit(people + 0.05 * gen.normal(size=people.shape))
    labels = [f"p{k}" for k in range(6)]
    f = identity_figures(people, labels, probes[::-1], labels[::-1])  # probe order does not matter
    assert f.people == 6 and f.auc == 1.0 and f.rank1 == 1.0
    assert f.same_max < 0.3 < f.other_min and f.other_beyond_threshold == 1.0
    # every "person" the same face (the simulated subjects): chance figures
    same = _unit(np.ones((6, 16)) + 0.01 * gen.normal(size=(6, 16)))
    g = identity_figures(same, labels, _unit(same + 0.01 * gen.normal(size=same.shape)), labels)
    assert 0.2 < g.auc < 0.9 and g.rank1 < 1.0 and g.other_beyond_threshold == 0.0
    # probes of unknown people are left out
    h = identity_figures(people, labels, np.concatenate([probes[:2], probes[2:3]]), ["p0", "p1", "x"])
    assert h.people == 2


def test_bad_shapes_and_labels():
    e = np.eye(3)
    with pytest.raises(ShapeError, match="distinct"):
        identity_figures(e, ["a", "a", "b"], e, ["a", "b", "c"])
    with pytest.raises(ShapeError, match="one label per embedding"):
        identity_figures(e, ["a", "b"], e, ["a", "b", "c"])
    with pytest.raises(ShapeError, match="must be"):
        identity_figures(e, ["a", "b", "c"], np.eye(4), ["a", "b", "c", "d"])


def test_student_embeddings_feed_aligned_uint8_faces_in_minus_one_to_one():
    import torch

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return torch.nn.functional.normalize(x.mean(dim=(2, 3)), dim=1)

    faces = [np.full((8, 8, 3), v, np.uint8) for v in (0, 255, 128)]
    out = student_embeddings(Probe(), faces, batch=2)
    assert out.shape == (3, 3) and out.dtype == np.float32
    assert [tuple(x.shape) for x in seen] == [(2, 3, 8, 8), (1, 3, 8, 8)]
    assert float(seen[0][0].min()) == -1.0 and float(seen[0][1].max()) == 1.0
