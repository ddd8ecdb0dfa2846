"""The alignment's working resolution and face region (processing/solve/align_work.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from id2reflectance.processing.solve.align_features import similarity_matrix
from id2reflectance.processing.solve.align_work import (
    ambient_ratio,
    downsample,
    downsample_mask,
    face_region,
    to_camera,
    upsample_mask,
    work_factor,
)
from id2reflectance.processing.solve.separation import AXES

REF = ("full", "cross")


def test_work_factor_keeps_the_face_at_least_480_px() -> None:
    assert [work_factor(e) for e in (100, 959, 960, 1919, 1920, 6000)] == [1, 1, 2, 2, 4, 8]


@pytest.mark.parametrize("f", [2, 4])
def test_box_average_and_motion_share_one_pixel_convention(f: int) -> None:
    h, w = 37, 50  # not multiples of f: the remainder is dropped
    xs = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    small = downsample(np.ascontiguousarray(xs), f)
    assert small.shape == (h // f, w // f)
    np.testing.assert_allclose(small[0], f * np.arange(w // f) + (f - 1) / 2, atol=1e-5)  # x = f x_w + (f - 1) / 2
    Mw = similarity_matrix(0.01, -0.02, 0.7, -0.4, 10.0, 8.0)
    M = to_camera(Mw, f)
    pw = np.array([[3.0, 4.0, 1.0], [11.0, 2.0, 1.0]])
    pc = pw.copy()
    pc[:, :2] = f * pw[:, :2] + (f - 1) / 2
    moved_w = pw @ Mw.T
    np.testing.assert_allclose(pc @ M.T, np.c_[f * moved_w[:, :2] + (f - 1) / 2, np.ones(2)], atol=1e-9)
    assert downsample(xs, 1) is xs
    big = upsample_mask(np.eye(3, dtype=bool), f, (3 * f + 1, 3 * f + 1))
    assert big.shape == (3 * f + 1, 3 * f + 1) and big[0, 0] and not big[0, f] and big[-1, -1]


@pytest.mark.parametrize("f", [1, 2, 4])
def test_the_mask_is_box_averaged_on_8_bits_as_on_floats(f: int) -> None:
    rng = np.random.default_rng(f)
    for share in (0.3, 0.5, 0.7):  # 0.5: many blocks exactly half in the mask (kept, as >= 0.5)
        mask = rng.random((37 * f + 3, 29 * f + 1)) < share
        small = downsample_mask(mask, f)
        assert small.dtype == bool
        np.testing.assert_array_equal(small, downsample(mask.astype(np.float32), f) >= 0.5)


def _frames(backdrop: float, ambient: float) -> dict[tuple[str, str], np.ndarray]:
    """Luminance of a lit disk (the face: the stage's patterns change it) on a backdrop that
    every pattern sees alike, plus ``ambient`` x full-on on the face."""
    yy, xx = np.mgrid[:64, :64].astype(np.float32)
    face = (xx - 32) ** 2 + (yy - 30) ** 2 < 20**2
    full = np.where(face, 0.5, 0.0).astype(np.float32)
    out = {REF: full * (1 + ambient) + backdrop * ~face}
    for i, a in enumerate(AXES):
        ramp = 0.5 + 0.4 * np.sin(xx / 9.0 + i) * face
        grad = full * ramp
        out[(f"gradient_{a}", "cross")] = grad + ambient * full + backdrop * ~face
        out[(f"inverse_{a}", "cross")] = full - grad + ambient * full + backdrop * ~face
    return {k: v.astype(np.float32) for k, v in out.items()}, face


def test_a_lit_backdrop_is_not_the_face() -> None:
    lum, face = _frames(backdrop=0.3, ambient=0.0)
    region = face_region(lum, None, REF, inverses=True)
    near = cv2.dilate(face.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # the 5 x 5 average's reach
    assert not (region & ~near).any() and (region & face).sum() > 0.9 * face.sum()
    # without inverses: twice the gradients' mean less full-on (this disk's ramps are not a Lambertian
    # face's: up to 0.55 x full on the face, so its steepest-lit parts drop out too)
    gradients_only = {k: v for k, v in lum.items() if not k[0].startswith("inverse")}
    region = face_region(gradients_only, None, REF, inverses=False)
    assert not (region & ~near).any() and (region & face).sum() > 0.7 * face.sum()
    # brightness alone takes the backdrop when there is nothing to tell the stage's light by
    assert face_region({REF: lum[REF]}, None, REF, inverses=False).all()
    mask = np.zeros_like(face)
    mask[5:9, 5:9] = True
    assert face_region(lum, mask, REF, inverses=True) is mask


def test_ambient_ratio_from_the_complementary_patterns() -> None:
    lum, face = _frames(backdrop=0.0, ambient=0.05)
    assert ambient_ratio(lum, face) == pytest.approx(0.05 / 1.05, rel=1e-3)
    clean, _ = _frames(backdrop=0.0, ambient=0.0)
    assert ambient_ratio(clean, face) == pytest.approx(0.0, abs=1e-6)
    assert ambient_ratio({REF: clean[REF]}, face) == 0.0


def test_frames_that_do_not_complement_fall_back_to_brightness() -> None:
    lum, face = _frames(backdrop=0.0, ambient=0.0)
    same = {k: lum[REF] for k in lum}  # every pattern alike: no stage light to tell the face by
    assert (face_region(same, None, REF, inverses=True) == face).all()


def test_the_face_window_grows_the_face_box_and_keeps_the_box_average_grid() -> None:
    from id2reflectance.processing.solve.align_work import MAX_CROP_SHARE, MIN_CROP_MARGIN, face_window

    # a 1000 px face in a 4096 px frame: a quarter of its extent on each side, origin a multiple of f
    x0, y0, x1, y1 = face_window((1501, 1203, 2501, 2203), 1000.0, (4096, 4096), 2)
    assert (x0, y0) == (1250, 952) and x0 % 2 == 0 and y0 % 2 == 0 and (x1, y1) == (2751, 2453)
    # a small face: at least MIN_CROP_MARGIN; clipped at the frame's edges
    assert face_window((10, 300, 110, 400), 100.0, (1000, 1000), 1) == (0, 300 - MIN_CROP_MARGIN, 174, 464)
    # a face filling the frame: the whole frame (a window over MAX_CROP_SHARE of it saves little)
    side = int(np.sqrt(MAX_CROP_SHARE) * 1000) - 2 * MIN_CROP_MARGIN + 20
    assert face_window((100, 100, 100 + side, 100 + side), float(side), (1000, 1000), 1) == (0, 0, 1000, 1000)


def test_a_motion_fitted_on_a_window_maps_to_camera_pixels() -> None:
    M = similarity_matrix(0.002, -0.001, 0.4, -0.3, 100.0, 80.0)
    f, origin = 2, (64, 32)
    cam = to_camera(M, f, origin)
    xw = np.array([37.0, 51.0, 1.0])  # a working pixel of the window and where M puts it
    to_cam = np.array([[f, 0.0, (f - 1) / 2 + origin[0]], [0.0, f, (f - 1) / 2 + origin[1]], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(cam @ (to_cam @ xw), to_cam @ (M @ xw))
    mask = np.zeros((10, 12), bool)
    mask[3, 4] = True
    big = upsample_mask(mask, f, (60, 70), (origin[0] // 2, origin[1] // 2, origin[0] // 2 + 24, origin[1] // 2 + 20))
    assert big.shape == (60, 70) and big.sum() == f * f and big[16 + 6, 32 + 8]


@pytest.mark.parametrize("f", [2, 4, 8])
def test_a_view_of_a_frame_file_is_box_averaged_as_the_frame(tmp_path, monkeypatch, f: int) -> None:
    """Rows of B, G, R planes (a frame read in place from an uncompressed EXR file) give the
    box averages of the same frame as an array, bit for bit (plane by plane, or in bands)."""
    from id2reflectance._shared import pages
    from id2reflectance._shared.exr_plain import read_plain_exr, write_plain_exr

    monkeypatch.setattr(pages, "_BAND_BYTES", 20000)  # several bands
    a = np.random.default_rng(f).random((203, 150, 3), dtype=np.float32) * np.float32(7.0)
    write_plain_exr(tmp_path / "f.exr", a, "RGB")
    view = read_plain_exr(tmp_path / "f.exr", max_pixels=1 << 20, in_place=True)[0]
    assert not view.flags.c_contiguous
    for part in (view, view[17:190, 9:140]):
        want = downsample(np.ascontiguousarray(part), f)
        np.testing.assert_array_equal(downsample(part, f).view(np.uint32), want.view(np.uint32))
