import numpy as np
import pytest

from id2reflectance.capture.geometry.mesh import sample_bilinear
from id2reflectance.capture.ggx import normal_incidence_albedo, specular_moments
from id2reflectance.capture.simulator.footprint import footprint_taps


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


def test_footprint_taps_box_and_lens_blur():
    taps, w = footprint_taps(1, 0.0)
    assert taps.tolist() == [0] and w.tolist() == [1.0]
    taps, w = footprint_taps(3, 0.0)  # the box: the pixel's own three sub-samples, equal weights
    assert taps.tolist() == [0, 1, 2]
    np.testing.assert_allclose(w, 1 / 3)
    taps, w = footprint_taps(3, 0.5)  # box * Gaussian(0.5 px): reaches 2 px, symmetric about the centre tap 1
    assert w.sum() == pytest.approx(1.0) and taps[0] < 0 and taps[-1] > 2
    np.testing.assert_allclose(w, w[::-1])
    assert taps[np.argmax(w)] == 1
    d = (taps + 0.5) / 3 - 0.5  # offsets in pixels: the variance of box (1/12) + Gaussian (0.25)
    assert np.sum(w * d * d) == pytest.approx(1 / 12 + 0.25, rel=0.05)


def _stripe_plane(pixel_samples: int, blur_px: float = 0.0):
    """A plane facing a 32 px camera; diffuse albedo R: a stripe pattern of period 1.25 px
    (finer than the pixels), G and B constant; the plane's right edge is inside the image."""
    from id2reflectance.capture.camera import Camera
    from id2reflectance.capture.geometry.mesh import FaceMesh, raycasting_scene
    from id2reflectance.capture.simulator.render import DiffuseTextures, render_camera
    from id2reflectance.capture.simulator.skin import SubjectMaps
    from id2reflectance.capture.simulator.visibility import vertex_visibility

    verts = np.array([[-0.6, -0.6, 1.0], [0.4, -0.6, 1.0], [0.4, 0.6, 1.0], [-0.6, 0.6, 1.0]])
    uvs = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    mesh = FaceMesh(verts, np.array([[0, 2, 1], [0, 3, 2]]), uvs)  # normals toward the camera (-z)
    assert np.all(mesh.face_normals()[:, 2] < 0)
    s = 256
    u = (np.arange(s) + 0.5) / s
    albedo = np.empty((s, s, 3), np.float32)
    albedo[..., 0] = 0.5 + 0.4 * np.sin(2 * np.pi * 25.6 * u)[None, :]  # 32 px wide plane: 1.25 px period
    albedo[..., 1], albedo[..., 2] = 0.5, 0.3
    maps = SubjectMaps(
        diffuse_albedo=albedo,
        specular_albedo=np.full((s, s), 0.04, np.float32),
        roughness=np.full((s, s), 0.4, np.float32),
        normal_object=np.broadcast_to(np.float32([0, 0, -1]), (s, s, 3)).copy(),
        covered=np.ones((s, s), bool),
    )
    tex = DiffuseTextures(radiance={"full": albedo}, visibility=np.ones((s, s), np.float32), wrap_u=False)
    cam = Camera(
        "c", 32, 32, np.array([[32.0, 0, 15.5], [0, 32.0, 15.5], [0, 0, 1]]), np.zeros(0), np.eye(3), np.zeros(3)
    )
    vis = vertex_visibility(mesh, directions=16)
    scene = raycasting_scene(mesh)
    return render_camera(
        cam,
        mesh,
        scene,
        maps,
        tex,
        vis,
        patterns=("full",),
        samples=(2, 2),
        pixel_samples=pixel_samples,
        blur_px=blur_px,
    )


def test_pixel_samples_integrate_image_and_truth_alike():
    point, area, blurred = _stripe_plane(1), _stripe_plane(3), _stripe_plane(3, 0.5)
    # the head is where the pixel centre meets it, whatever the footprint
    np.testing.assert_array_equal(point.hit, area.hit)
    m = area.hit
    assert 0 < m.sum() < m.size
    # detail finer than a pixel: one point sample per pixel aliases it at full contrast, the
    # 3 x 3 box keeps ~0.26 of it (|1 + 2 cos(2 pi 0.8 / 3)| / 3 at 0.8 cycles per pixel)
    std_point = point.truth["diffuse_albedo"][m, 0].std()
    std_area = area.truth["diffuse_albedo"][m, 0].std()
    assert std_point > 0.2 and std_area < 0.4 * std_point
    # the lens blur (sigma 0.5 px) takes out most of what the box leaves
    assert blurred.truth["diffuse_albedo"][m, 0].std() < 0.3 * std_area
    # image and truth integrate over the same footprint: the full pattern's cross radiance
    # of an open plane is half its albedo, pixel by pixel
    for r in (area, blurred):
        np.testing.assert_allclose(2 * r.cross["full"][m], r.truth["diffuse_albedo"][m], atol=1e-6)
        # silhouette pixels average only the samples that meet the plane: no background mixed in
        const = np.broadcast_to([0.5, 0.3], (m.sum(), 2))
        np.testing.assert_allclose(r.truth["diffuse_albedo"][m, 1:], const, atol=1e-6)
        np.testing.assert_allclose(r.truth["normal"][m], np.broadcast_to([0, 0, -1], (m.sum(), 3)), atol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        _stripe_plane(2)
