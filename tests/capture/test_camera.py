import cv2
import numpy as np

from id2reflectance.capture.camera import Camera, look_at


def _cam():
    R, t = look_at(np.array([0.4, 0.1, 0.9]), np.zeros(3))
    K = np.array([[1500.0, 0.0, 255.5], [0, 1490.0, 250.0], [0, 0, 1]])
    return Camera("c", 512, 512, K, np.array([-0.12, 0.08, 0.001, -0.0005, 0.01]), R, t)


def test_look_at_is_opencv_convention():
    R, t = look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) > 0
    # camera +x = world +x, image down (+y) = world -y, forward (+z) = world -z
    np.testing.assert_allclose(R, np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(-R.T @ t, [0, 0, 1], atol=1e-12)


def test_project_matches_opencv():
    cam = _cam()
    pts = np.random.default_rng(0).uniform(-0.1, 0.1, (50, 3))
    ours, depth = cam.project(pts)
    ref, _ = cv2.projectPoints(pts, cv2.Rodrigues(cam.R)[0], cam.t, cam.K, cam.dist)
    np.testing.assert_allclose(ours, ref[:, 0], atol=1e-6)
    assert np.all(depth > 0)


def test_pixel_rays_round_trip():
    cam = _cam()
    pix = np.array([[10.0, 20.0], [255.5, 250.0], [500.0, 480.0]])
    o, d = cam.pixel_rays(pix)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
    back, _ = cam.project(o + 0.8 * d)
    np.testing.assert_allclose(back, pix, atol=1e-4)
    o2, d_all = cam.pixel_rays()
    assert d_all.shape == (512 * 512, 3)
    np.testing.assert_allclose(d_all[20 * 512 + 10], d[0], atol=1e-9)
