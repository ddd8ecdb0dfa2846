import json

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr, write_exr, write_png
from id2reflectance.capture.frames import frame_stats, load_camera_frames, load_mask, saturation_mask
from id2reflectance.capture.session import Frame, load_session
from id2reflectance.errors import InputFileError
from tests.conftest import make_tiny_session


def test_dark_scale_and_colour_matrix(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    write_exr(root / "frames/cam0/dark_cross.exr", np.full((8, 8, 3), 0.01, np.float32))
    data = json.loads((root / "session.json").read_text())
    data["frames"].append(
        {
            "camera": "cam0",
            "pattern": "dark",
            "polarization": "cross",
            "file": "frames/cam0/dark_cross.exr",
            "encoding": "linear",
            "scale": 1.0,
        }
    )
    data["frames"][0]["scale"] = 2.0  # full cross
    M = np.array([[1.2, -0.1, -0.1], [-0.05, 1.1, -0.05], [0.0, -0.2, 1.2]])
    data["rig"]["color_matrix"] = M.tolist()
    (root / "session.json").write_text(json.dumps(data))
    s = load_session(root)
    raw = __import__("id2reflectance._shared.imageio", fromlist=["read_exr"]).read_exr(
        root / "frames/cam0/full_cross.exr"
    )[0]
    cf = load_camera_frames(s, "cam0")
    # frames decoded and corrected by threads: the same arrays, in the same order
    cf4 = load_camera_frames(s, "cam0", workers=4, stats=True)
    assert list(cf4.images) == list(cf.images) and len(cf4.stats) == len(cf.images)
    for key, img in cf.images.items():
        np.testing.assert_array_equal(cf4.images[key], img)
    np.testing.assert_array_equal(cf4.saturated, cf.saturated)
    expected = ((raw - 0.01) * 2.0) @ M.T
    np.testing.assert_allclose(cf.images[("full", "cross")], expected, rtol=1e-5, atol=1e-6)
    assert ("dark", "cross") not in cf.images
    # parallel has no dark frame: only the colour matrix
    rawp = __import__("id2reflectance._shared.imageio", fromlist=["read_exr"]).read_exr(
        root / "frames/cam0/full_parallel.exr"
    )[0]
    np.testing.assert_allclose(cf.images[("full", "parallel")], rawp @ M.T, rtol=1e-5, atol=1e-6)


def test_saturation_plateau_detected(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    img = np.full((8, 8, 3), 0.2, np.float32)
    img[:3, :3] = 0.9  # clipped plateau of 9 pixels
    write_exr(root / "frames/cam0/full_parallel.exr", img)
    cf = load_camera_frames(load_session(root), "cam0")
    assert cf.saturated.sum() == 9 and cf.saturated[:3, :3].all()


def test_nan_and_size_mismatch_name_file(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    bad = np.full((8, 8, 3), 0.2, np.float32)
    bad[2, 2, 1] = np.nan
    write_exr(root / "frames/cam0/gradient_y_cross.exr", bad)
    with pytest.raises(InputFileError, match=r"frames/cam0/gradient_y_cross.exr: frames\[\d+\].file: contains NaN"):
        load_camera_frames(load_session(root), "cam0")
    # with threads the error still names the first bad frame in session order
    write_exr(root / "frames/cam0/gradient_z_parallel.exr", bad)
    with pytest.raises(InputFileError, match=r"frames/cam0/gradient_y_cross.exr: frames\[\d+\].file: contains NaN"):
        load_camera_frames(load_session(root), "cam0", workers=4)
    write_exr(root / "frames/cam0/gradient_y_cross.exr", np.zeros((4, 8, 3), np.float32))
    with pytest.raises(InputFileError, match="is 8x4 but camera 'cam0' is 8x8"):
        load_camera_frames(load_session(root), "cam0")


def test_mask_size_checked(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    s = load_session(root)
    assert load_mask(s, "cam0") is None
    write_png(root / "masks/cam0.png", np.ones((8, 8)))
    assert load_mask(s, "cam0").all()
    write_png(root / "masks/cam0.png", np.ones((5, 8)))
    with pytest.raises(InputFileError, match="masks/cam0.png"):
        load_mask(s, "cam0")


def test_saturation_mask_matches_the_per_pixel_definition() -> None:
    """Sparse, dense and absent clipping, EXR plateau and integer encodings, against np.any."""
    rng = np.random.default_rng(3)
    exr = Frame("c", "full", "cross", "f.exr", "linear", 1.0)
    png = Frame("c", "full", "cross", "f.png", "srgb", 1.0)
    for frac in (0.0, 0.001, 0.3, 0.9):
        img = rng.uniform(0.0, 0.7, (40, 50, 3)).astype(np.float32)
        clip = rng.random(img.shape) < frac
        img[clip] = 1.0
        np.testing.assert_array_equal(saturation_mask(img, png), np.any(img >= np.float32(1 - 1e-6), axis=2))
        expected = np.any(img >= img.max() * np.float32(1 - 1e-6), axis=2)
        expected = expected if expected.sum() >= 4 else np.zeros_like(expected)
        np.testing.assert_array_equal(saturation_mask(img, exr), expected, err_msg=str(frac))
    assert saturation_mask(np.zeros((4, 5, 3), np.float32), exr).shape == (4, 5)


def test_frame_stats_only_on_request(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    s = load_session(root)
    assert load_camera_frames(s, "cam0").stats == {}
    cf = load_camera_frames(s, "cam0", stats=True)
    assert set(cf.stats) == {f.file for f in s.frames}
    f = s.frames[0]
    img = __import__("id2reflectance._shared.imageio", fromlist=["read_exr"]).read_exr(root / f.file)[0]
    assert cf.stats[f.file] == frame_stats(f, img, saturation_mask(img, f))
    assert cf.stats[f.file].p999 > cf.stats[f.file].p001 > 0.0


def test_saturation_mask_band_by_band(monkeypatch) -> None:
    """The banded comparison (bands of a few rows, hits in some bands only, a last partial
    band) gives the per-pixel definition."""
    import id2reflectance.capture.frames as frames_mod

    monkeypatch.setattr(frames_mod, "_CHECK_BAND_ELEMENTS", 3 * 50 * 3)  # 3 rows per band
    rng = np.random.default_rng(5)
    png = Frame("c", "full", "cross", "f.png", "srgb", 1.0)
    img = rng.uniform(0.0, 0.7, (41, 50, 3)).astype(np.float32)
    img[7, 3, 2] = 1.0  # one hit in the third band, in the last channel
    img[40, 49, 0] = 1.0  # one in the last, partial band
    img[20:26] = 1.0  # whole bands
    got = saturation_mask(img, png)
    np.testing.assert_array_equal(got, np.any(img >= np.float32(1 - 1e-6), axis=2))
    assert got.sum() == 2 + 6 * 50


def test_band_extremes_and_the_saturation_check_they_spare(monkeypatch) -> None:
    """The bands' minima and maxima give the frame's; with the bands' maxima the
    saturation check compares only the bands that reach its threshold and gives the same
    mask (a plateau in some bands, a last partial band, integer and EXR encodings)."""
    import id2reflectance.capture.frames as frames_mod

    monkeypatch.setattr(frames_mod, "_CHECK_BAND_ELEMENTS", 3 * 50 * 3)  # 3 rows per band
    rng = np.random.default_rng(8)
    exr = Frame("c", "full", "cross", "f.exr", "linear", 1.0)
    png = Frame("c", "full", "cross", "f.png", "srgb", 1.0)
    img = rng.uniform(-0.2, 0.7, (41, 50, 3)).astype(np.float32)
    img[7, 3:9, 2] = 2.5  # a plateau of 6 pixels at the peak, in the third band
    img[40, 49, 0] = 1.0  # a clipped integer code in the last, partial band
    lo, hi, band_max = frames_mod._band_extremes(img)
    assert (lo, hi) == (float(img.min()), float(img.max()))
    assert band_max.shape == (14,) and band_max[2] == 2.5 and band_max[13] == img[39:].max()
    compared: list[int] = []
    real = np.greater_equal

    def counting(a, b, out):  # noqa: ANN001, ANN202 (the banded comparison's ufunc call)
        compared.append(a.shape[0])
        return real(a, b, out=out)

    monkeypatch.setattr(frames_mod.np, "greater_equal", counting)
    got = saturation_mask(img, exr, peak=hi, band_max=band_max)
    assert len(compared) == 1  # only the band holding the peak
    monkeypatch.setattr(frames_mod.np, "greater_equal", real)
    np.testing.assert_array_equal(got, saturation_mask(img, exr))
    assert got.sum() == 6
    np.testing.assert_array_equal(
        saturation_mask(img, png, band_max=band_max), np.any(img >= np.float32(1 - 1e-6), axis=2)
    )
    img[12, 0, 1] = np.nan
    lo, hi, _ = frames_mod._band_extremes(img)
    assert np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_found_by_min_and_max(tmp_path, bad) -> None:
    root = make_tiny_session(tmp_path / "s")
    img = np.full((8, 8, 3), 0.2, np.float32)
    img[5, 1] = bad
    img[6, 6, 2] = bad
    write_exr(root / "frames/cam0/full_parallel.exr", img)
    with pytest.raises(InputFileError, match=r"full_parallel.exr: frames\[\d+\].file: contains NaN or Inf in 2 pixel"):
        load_camera_frames(load_session(root), "cam0")


def test_uncompressed_frames_are_checked_like_any_other(tmp_path):
    """Uncompressed EXR frames (read without the OpenEXR library, their extremes taken while
    read): the same frames, saturation mask and NaN error as the library's ZIP frames."""
    root = make_tiny_session(tmp_path / "s")
    s = load_session(root)
    pixels = {f.file: read_exr(s.path(f.file))[0] for f in s.frames}
    lit = next(f.file for f in s.frames if f.pattern == "full")
    pixels[lit][1:4, 2:4] = pixels[lit].max() * 2  # a plateau of 6 pixels at the frame's new maximum
    loaded = {}
    for compression in ("zip", "none"):
        for name, img in pixels.items():
            write_exr(s.path(name), img, compression=compression)
        loaded[compression] = load_camera_frames(s, "cam0", workers=2)
    assert loaded["none"].saturated.sum() == 6
    np.testing.assert_array_equal(loaded["none"].saturated, loaded["zip"].saturated)
    for key, img in loaded["zip"].images.items():
        np.testing.assert_array_equal(loaded["none"].images[key], img)
    bad = pixels[lit].copy()
    bad[5, 6, 2] = np.inf
    write_exr(s.path(lit), bad, compression="none")
    with pytest.raises(InputFileError, match=rf"{lit}: frames\[\d+\].file: contains NaN or Inf in 1 pixel"):
        load_camera_frames(s, "cam0")
