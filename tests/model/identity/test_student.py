"""The ArcFace crop of the differentiable identity network, against OpenCV."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from id2reflectance.errors import ShapeError
from id2reflectance.model.identity.iresnet import ARCFACE_TEMPLATE
from id2reflectance.model.identity.student import ALIGNED_FIVE_POINTS, _five_point_crop_grid, fit_similarity


def _similarity(angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


@pytest.mark.parametrize("seed", range(5))
def test_fit_similarity_recovers_an_exact_transform_like_opencv(seed):
    rng = np.random.default_rng(seed)
    truth = _similarity(rng.uniform(-np.pi, np.pi), rng.uniform(0.2, 5.0), *rng.uniform(-50, 50, 2))
    src = rng.uniform(-100, 100, (int(rng.integers(2, 9)), 2)).astype(np.float32)
    dst = (src.astype(np.float64) @ truth[:, :2].T + truth[:, 2]).astype(np.float32)
    M = fit_similarity(src, dst)
    ref, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    assert M.shape == (2, 3) and M.dtype == np.float64
    np.testing.assert_allclose(M, truth, atol=1e-5, rtol=0)
    np.testing.assert_allclose(M, ref, atol=1e-5, rtol=0)


def test_fit_similarity_is_the_least_squares_fit_of_noisy_points():
    rng = np.random.default_rng(7)
    src = rng.uniform(-1, 1, (5, 2))
    dst = src @ _similarity(0.3, 1.7, 0.2, -0.1)[:, :2].T + rng.normal(0, 0.01, (5, 2))
    M = fit_similarity(src, dst)

    def cost(m):
        return float(np.sum((src @ m[:, :2].T + m[:, 2] - dst) ** 2))

    for k in range(4):  # any other similarity fits worse
        p = np.array([M[0, 0], M[1, 0], M[0, 2], M[1, 2]])
        p[k] += 1e-3
        assert cost(M) < cost(np.array([[p[0], -p[1], p[2]], [p[1], p[0], p[3]]]))


def test_five_point_crop_matches_the_opencv_matrix():
    src = (ALIGNED_FIVE_POINTS * 2.0 - 1.0).astype(np.float32)
    dst = ((ARCFACE_TEMPLATE + 0.5) / 112.0 * 2.0 - 1.0).astype(np.float32)
    ref, inliers = cv2.estimateAffinePartial2D(dst, src, method=cv2.LMEDS)  # the former implementation
    assert inliers.all()
    np.testing.assert_allclose(fit_similarity(dst, src), ref, atol=1e-9, rtol=0)
    theta = torch.from_numpy(ref.astype(np.float32))[None].expand(2, 2, 3)
    expected = F.affine_grid(theta, [2, 3, 112, 112], align_corners=False)
    assert torch.equal(_five_point_crop_grid(112, batch=2, device=torch.device("cpu")), expected)


def test_fit_similarity_rejects_bad_points():
    with pytest.raises(ShapeError, match="N >= 2"):
        fit_similarity(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ShapeError, match="N >= 2"):
        fit_similarity(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="all equal"):
        fit_similarity(np.ones((3, 2)), np.zeros((3, 2)))
