import numpy as np
import pytest

from id2reflectance.capture.geometry.mesh import sample_bilinear
from id2reflectance.capture.ggx import normal_incidence_albedo, specular_moments


def test_sample_bilinear_centres_midpoints_wrap_and_clamp():
    tex = np.arange(16, dtype=np.float32).reshape(4, 4)
    centres = np.array([[(j + 0.5) / 4, 1 - (i + 0.5) / 4] for i in range(4) for j in range(4)])
    np.testing.assert_allclose(sample_bilinear(tex, centres), tex.ravel())
    mid = sample_bilinear(tex, np.array([[0.25, 1 - 0.125]]))  # between texels (0,0) and (0,1)
    assert mid[0] == pytest.approx(0.5)
    seam = sample_bilinear(tex, np.array([[0.0, 1 - 0.125]]))  # u wraps: columns 3 and 0
    assert seam[0] == pytest.approx(1.5)
    top = sample_bilinear(tex, np.array([[0.125, 1.0]]))  # v clamps at the top row
    assert top[0] == pytest.approx(0.0)
    # a layout of separate charts (the face model's): the outermost columns clamp, never mix
    edges = sample_bilinear(tex, np.array([[0.0, 1 - 0.125], [1.0, 1 - 0.125]]), wrap_u=False)
    np.testing.assert_allclose(edges, [0.0, 3.0])
    rgb = sample_bilinear(np.stack([tex, 2 * tex, 3 * tex], -1), centres[:3])
    np.testing.assert_allclose(rgb, np.stack([tex.ravel()[:3] * k for k in (1, 2, 3)], -1))


def test_normal_incidence_albedo_matches_the_quadrature():
    r = np.array([0.21, 0.333, 0.47, 0.6, 0.74])
    z = np.tile([0.0, 0.0, 1.0], (len(r), 1))
    m0, _ = specular_moments(z, z, r)
    np.testing.assert_allclose(normal_incidence_albedo(r), m0, rtol=1e-6)
    # Fresnel F0 = 0.028 bounds the normal-incidence albedo of a k = 1 lobe from above
    assert np.all(m0 < 0.03) and np.all(np.diff(m0) < 0)
