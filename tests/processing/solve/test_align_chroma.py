"""Chromaticity features and the joint fit (processing/solve/align_chroma.py)."""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance.processing.solve.align_chroma import chroma_features, chroma_floors, fit_joint
from id2reflectance.processing.solve.align_features import (
    fit_similarity,
    log_features,
    luminance,
    pyramid,
    reference_pyramid,
    sample_points,
    similarity_matrix,
)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """(h, w, 3) float32 skin-like colour texture: smooth blotches of two pigments on a base colour."""
    rng = np.random.default_rng(seed)
    a = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 2.0)
    b = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 3.0)
    a, b = a / a.std(), b / b.std()
    base = np.array([0.5, 0.3, 0.2], np.float32)
    return base * np.exp(0.15 * a[..., None] * [1.0, 2.0, 2.5] + 0.1 * b[..., None] * [0.2, 1.0, 0.5]).astype(
        np.float32
    )


def _warp(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``img`` as a frame moved by ``M`` (reference pixel -> frame pixel): frame(M x) = img(x)."""
    h, w = img.shape[:2]
    return cv2.warpAffine(img, M[:2], (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def test_chromaticity_does_not_see_the_pattern_shading() -> None:
    h, w = 96, 128
    rgb = _texture(h, w, 0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # a gradient pattern's shading with fine relief lit from one side: the same in every channel
    relief = cv2.GaussianBlur(np.random.default_rng(1).standard_normal((h, w)).astype(np.float32), (0, 0), 1.0)
    shading = (0.5 + 0.4 * xx / w) * (1.0 + 0.2 * relief)
    lit = rgb * shading[..., None]
    region = np.ones((h, w), bool)
    floors = chroma_floors(rgb, region)
    c_ref, c_lit = chroma_features(rgb, 1, floors)[0], chroma_features(lit, 1, floors)[0]
    eps = 0.05 * float(np.median(luminance(rgb)))
    l_ref, l_lit = log_features(luminance(rgb), eps=eps), log_features(luminance(lit), eps=eps)
    inner = (slice(8, -8), slice(8, -8))
    chroma_change = np.std((c_lit - c_ref)[inner]) / np.std(c_ref[inner])
    lum_change = np.std((l_lit - l_ref)[inner]) / np.std(l_ref[inner])
    assert chroma_change < 0.2 * lum_change  # the relief's shading is in the luminance's features only
    assert chroma_change < 0.05


def test_the_joint_fit_of_one_pair_is_the_single_fit() -> None:
    h, w = 96, 128
    img = luminance(_texture(h, w, 2))
    M_true = similarity_matrix(0.002, 0.004, 0.7, -0.4, (w - 1) / 2, (h - 1) / 2)
    feats = log_features(img, eps=0.01)
    moved = log_features(_warp(img, M_true), eps=0.01)
    region = np.zeros((h, w), bool)
    region[12:-12, 12:-12] = True
    ref = reference_pyramid(feats, sample_points(region, levels=2, max_samples=1 << 14))
    single, _ = fit_similarity(ref, pyramid(moved, 2), init=np.eye(3))
    joint = fit_joint([ref], [pyramid(moved, 2)], init=np.eye(3))
    np.testing.assert_allclose(joint, single, atol=1e-6)
    corners = np.array([[12.0, 12.0, 1.0], [w - 13.0, 12.0, 1.0], [12.0, h - 13.0, 1.0], [w - 13.0, h - 13.0, 1.0]])
    assert np.abs(corners @ (joint - M_true)[:2].T).max() < 0.1  # pixels


def _two_pairs(noise: float) -> float:
    """x offset of the joint fit of two feature pairs that see the same motion, the second's frame
    shifted by 0.3 px more along x and carrying white noise of ``noise`` times its features'
    deviation, relative to the first pair's own optimum (0: the first pair's, 0.3: the second's)."""
    h, w = 96, 128
    rng = np.random.default_rng(3)
    a, b = luminance(_texture(h, w, 4)), luminance(_texture(h, w, 5))
    c = ((w - 1) / 2, (h - 1) / 2)
    M_true = similarity_matrix(0.0, 0.0, 0.5, 0.3, *c)
    bias = similarity_matrix(0.0, 0.0, 0.3, 0.0, *c)
    fa, fb = log_features(a, eps=0.01), log_features(b, eps=0.01)
    ma = log_features(_warp(a, M_true), eps=0.01)
    mb = log_features(_warp(b, M_true @ bias), eps=0.01)
    mb = mb + np.float32(noise * float(mb.std())) * rng.standard_normal(mb.shape).astype(np.float32)
    region = np.zeros((h, w), bool)
    region[12:-12, 12:-12] = True
    pts = sample_points(region, levels=2, max_samples=1 << 14)
    ra, rb = reference_pyramid(fa, pts), reference_pyramid(fb, pts)
    alone, _ = fit_similarity(ra, pyramid(ma, 2), init=np.eye(3))
    M = fit_joint([ra, rb], [pyramid(ma, 2), pyramid(mb, 2)], init=np.eye(3))
    return float(M[0, 2] - alone[0, 2])


def test_the_joint_fit_weighs_each_pair_by_its_residual() -> None:
    # both pairs noise-free: the joint optimum lies between theirs; the second noisy: it pulls less
    clean, noisy = _two_pairs(0.0), _two_pairs(0.5)
    assert -0.02 < clean < 0.32 and -0.02 < noisy < 0.32
    assert noisy < clean - 0.05
    assert noisy < 0.15
