"""Verification figures of paired embeddings: reference values on constructed cases."""

import numpy as np
import pytest

from id2reflectance.errors import ShapeError
from id2reflectance.face.verification import verification_figures


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_perfectly_separated_people():
    g = np.eye(4)  # four orthogonal people: distance sqrt(2) between any two
    p = _unit(g + 0.1 * np.roll(np.eye(4), 1, axis=1))  # each probe close to its own gallery image
    f = verification_figures(g, p)
    assert f.people == 4 and f.impostor_pairs == 6 + 6 + 12
    assert f.auc == 1.0 and f.rank1 == 1.0
    assert f.impostor_above_threshold == pytest.approx(1.0) and f.genuine_below_threshold == 1.0
    assert f.genuine_median == pytest.approx(np.linalg.norm(g[0] - p[0]))
    assert f.impostor_median > 1.3


def test_indistinguishable_people_give_chance():
    rng = np.random.default_rng(0)
    g = _unit(rng.normal(size=(40, 16)))
    p = _unit(rng.normal(size=(40, 16)))  # probes unrelated to their gallery image
    f = verification_figures(g, p)
    assert 0.35 < f.auc < 0.65 and f.rank1 < 0.2


def test_auc_counts_ties_half_and_rank1_counts_misses():
    g = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [1.0, 0.0]])  # probes swapped: every genuine pair is the farthest
    f = verification_figures(g, p)
    assert f.rank1 == 0.0 and f.auc < 0.5
    same = verification_figures(g, g.copy())  # genuine 0, impostors sqrt(2): perfect
    assert same.auc == 1.0 and same.genuine_median == 0.0
    tie = verification_figures(np.zeros((2, 2)), np.zeros((2, 2)))  # every distance 0: all ties
    assert tie.auc == pytest.approx(0.5)


def test_bad_shapes():
    with pytest.raises(ShapeError):
        verification_figures(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(ShapeError):
        verification_figures(np.zeros((3, 3)), np.zeros((3, 4)))
