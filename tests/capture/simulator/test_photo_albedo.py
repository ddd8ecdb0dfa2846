"""Photographic albedo detail: the face model fitted to a photo's landmarks, the photo de-lit
and put on the fitted head's texels (synthetic photos; the real ones in test_photo_subjects.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from id2reflectance.capture.geometry.face_model import load_face_model
from id2reflectance.capture.geometry.face_model_heads import template_offset
from id2reflectance.capture.simulator.face_model_subjects import FaceModelHead
from id2reflectance.capture.simulator.photo_albedo import PhotoFit, PhotoLayer, delit_photo, fit_photo, photo_layer
from id2reflectance.capture.simulator.truth_layout import layout_geometry
from id2reflectance.errors import ShapeError
from tests.face_model_data import FOLDER, needs_model

pytestmark = needs_model


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rx @ ry


def _true_fit(w: np.ndarray) -> tuple[PhotoFit, np.ndarray]:
    """A camera looking at the head with identity ``w`` and its (68, 2) landmarks, 256 px photo."""
    model = load_face_model(FOLDER)
    fit = PhotoFit(w, _rotation(8.0, -4.0), 1300.0, np.array([128.0, -105.0]), 0.0)
    pts = model.vertices(w)[model.landmarks68] + template_offset(model)
    return fit, fit.project(pts)[0]


def test_fit_recovers_the_camera_and_the_landmarks():
    model = load_face_model(FOLDER)
    w = np.random.default_rng(1).standard_normal(40)
    truth, marks = _true_fit(w)
    fit = fit_photo(model, marks)
    assert fit.rms_px < 0.6, fit.rms_px  # 68 landmarks fitted to a fraction of a pixel
    assert abs(fit.scale / truth.scale - 1) < 0.03
    angle = np.degrees(np.arccos(np.clip((np.trace(fit.rotation @ truth.rotation.T) - 1) / 2, -1, 1)))
    assert angle < 3.0, angle
    # the shape is a real fit, not the mean head: its landmarks are closer to the truth's in 3D
    idx = model.landmarks68
    true3d = model.vertices(w)[idx]
    err_fit = np.linalg.norm(model.vertices(fit.identity)[idx] - true3d, axis=1).mean()
    err_mean = np.linalg.norm(model.neutral[idx] - true3d, axis=1).mean()
    assert err_fit < 0.6 * err_mean, (err_fit, err_mean)
    with pytest.raises(ShapeError, match="68, 2"):
        fit_photo(model, marks[:60])


def _synthetic_photo(marks: np.ndarray) -> np.ndarray:
    """A 256 px sRGB photo: grey backdrop, an oval of skin around the landmarks with darker
    brows, lit by a strong left-to-right gradient."""
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float64)
    centre = marks.mean(axis=0)
    half = np.ptp(marks, axis=0) * 0.75
    inside = ((xx - centre[0]) / half[0]) ** 2 + ((yy - centre[1]) / half[1]) ** 2 < 1
    lin = np.where(inside[..., None], np.array([0.45, 0.30, 0.22]), np.array([0.18, 0.18, 0.18]))
    for a, b in ((17, 22), (22, 27)):
        brow = marks[a:b]
        near = np.min(np.hypot(xx[..., None] - brow[:, 0], yy[..., None] - brow[:, 1]), axis=-1) < 3
        lin = np.where((near & inside)[..., None], lin * 0.2, lin)
    shade = np.where(inside, 0.5 + (xx - centre[0] + half[0]) / (2 * half[0]) * 0.8, 1.0)
    lin = lin * shade[..., None]
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.round(np.clip(srgb, 0, 1) * 255).astype(np.uint8)


def test_delighting_removes_the_shading_and_keeps_the_brows():
    _, marks = _true_fit(np.zeros(40))
    ratio, person = delit_photo(_synthetic_photo(marks), marks)
    lum = ratio @ np.array([0.2126, 0.7152, 0.0722])
    left = lum[int(marks[29, 1]), int(marks[2, 0] + 6)]  # cheeks at the nose's height: 1.8x apart in the photo
    right = lum[int(marks[29, 1]), int(marks[14, 0] - 6)]
    assert 0.75 < left / right < 1.25, (left, right)
    brow = lum[int(round(marks[19, 1])), int(round(marks[19, 0]))]
    assert brow < 0.45 * min(left, right), brow
    assert person[2, 2] == 0 and person[int(marks[30, 1]), int(marks[30, 0])] > 0.9
    assert marks[8, 1] < 240 and person[int(marks[8, 1]) + 12, int(marks[8, 0])] < 0.1  # below the chin: not the face


def test_layer_covers_the_face_and_blends_relative_to_the_skin():
    model = load_face_model(FOLDER)
    w = np.zeros(40)
    fit, marks = _true_fit(w)
    geo = layout_geometry(model, FaceModelHead(tuple(w)), size=64)
    delit = delit_photo(_synthetic_photo(marks), marks)
    layer = photo_layer(delit, fit, geo.mesh, geo.raster, geo.valid.astype(float), donor="x")
    nose = model.neutral[model.landmarks68[30]] + template_offset(model)
    pos = geo.raster.interpolate(geo.mesh.vertices, geo.mesh.faces)
    d = np.linalg.norm(pos - nose, axis=-1) + 1e9 * ~geo.valid
    assert layer.weight.reshape(-1)[np.argmin(d)] > 0.9  # the nose tip faces the camera
    back = geo.valid & (geo.raster.interpolate(geo.mesh.vertex_normals(), geo.mesh.faces)[..., 2] < -0.5)
    assert back.any() and layer.weight[back].max() == 0.0  # the back of the head is not in the photo
    assert layer.weight[~geo.valid].max() == 0.0
    flat = PhotoLayer(np.ones((2, 2, 3), np.float32), np.array([[1, 0.5], [0, 1]], np.float32))
    albedo = np.full((4, 3), 0.1)
    out, hair = flat.blend(albedo, np.zeros(4), np.array([0.5, 0.4, 0.3]))
    assert np.allclose(out[0], [0.5, 0.4, 0.3]) and np.allclose(out[1], [0.3, 0.25, 0.2]) and np.allclose(out[2], 0.1)
    assert np.all(hair == 0)  # skin-coloured photo: no hair


def test_iris_colour_from_the_eyes_darker_half():
    from id2reflectance.capture.simulator.photo_albedo import iris_darkness

    _, marks = _true_fit(np.zeros(40))
    colours = {}
    for name, iris in (("blue", (70, 110, 150)), ("brown", (70, 40, 20))):
        img = _synthetic_photo(marks)
        for a in (36, 42):  # sclera over the eye, an iris disc in its middle
            centre = marks[a : a + 6].mean(axis=0)
            cv2.fillConvexPoly(img, cv2.convexHull(np.round(marks[a : a + 6]).astype(np.int32)), (235, 230, 225))
            radius = int(0.3 * np.ptp(marks[a : a + 6, 0]))  # the iris fills most of the open eye
            cv2.circle(img, tuple(int(v) for v in np.round(centre)), radius, iris, -1)
        colours[name] = iris_darkness(img, marks)
    assert colours["blue"] < 0.2 and colours["brown"] > 0.8, colours


def test_texels_spanning_several_pixels_take_the_photo_low_passed():
    from id2reflectance.capture.simulator.photo_albedo import footprint_px, prefiltered_remap

    rng = np.random.default_rng(0)
    photo = rng.uniform(0.5, 1.5, (200, 200, 3)).astype(np.float32)  # pixel-scale detail only
    jj, ii = np.meshgrid(np.arange(40), np.arange(40))
    covered = np.ones((40, 40), bool)
    covered[:, 20] = False  # a chart border: its neighbours' sides do not span the gap
    for step in (0.5, 4.0):
        xy = np.stack([10 + step * jj, 10 + step * ii], axis=-1).astype(np.float32)
        foot = footprint_px(xy, covered)
        assert np.allclose(foot[covered], step) and not foot[~covered].any()
        plain = cv2.remap(photo, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR)
        ours = prefiltered_remap(photo, xy, foot)
        if step < 1:  # a texel finer than a pixel: plain bilinear sampling
            assert np.allclose(ours, plain, atol=1e-6)
        else:  # one texel per 4 pixels: the detail averaged over its footprint, not one pixel's
            assert ours.std() < 0.5 * plain.std(), (ours.std(), plain.std())
            assert abs(ours.mean() - 1.0) < 0.02


def test_bright_photo_texels_roll_off_without_a_plateau():
    # a hard clip gave the brightest texels one value: the solver took the plateau for a saturated sensor
    ratio = np.linspace(0.5, 2.5, 64, dtype=np.float32)[:, None, None] * np.ones((64, 1, 3), np.float32)
    layer = PhotoLayer(ratio.reshape(8, 8, 3), np.ones((8, 8), np.float32))
    albedo, _ = layer.blend(np.zeros((64, 3)), np.zeros(64), np.array([0.6, 0.4, 0.3]))
    red = albedo[:, 0]
    assert np.all(np.diff(red) > 0) and red.max() < 0.95  # strictly increasing, below the ceiling
    assert np.allclose(red[ratio[:, 0, 0] * 0.6 <= 0.8], (ratio[:, 0, 0] * 0.6)[ratio[:, 0, 0] * 0.6 <= 0.8])
