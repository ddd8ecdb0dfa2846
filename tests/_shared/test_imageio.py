import numpy as np
import pytest

from id2reflectance._shared.imageio import (
    MAX_IMAGE_PIXELS,
    check_image_header,
    decode_image,
    image_header_size,
    linear_to_srgb,
    read_exr,
    read_image,
    read_mask,
    read_png,
    srgb_to_linear,
    write_exr,
    write_png,
    write_tiff16,
)
from id2reflectance.errors import ConfigError, InputFileError, ShapeError
from tests.faults import hostile_image


def test_srgb_reference_values():
    # IEC 61966-2-1: code 0.5 -> 0.2140 linear; 0.04045 is the breakpoint (-> 0.0031308)
    assert srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.21404, abs=1e-5)
    assert srgb_to_linear(np.array([0.04045]))[0] == pytest.approx(0.0031308, abs=1e-6)
    x = np.linspace(0, 1, 101)
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x)), x, atol=1e-6)


def test_exr_roundtrip_rgb_and_y(tmp_path):
    rgb = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32) * 10
    write_exr(tmp_path / "a.exr", rgb)
    back, names = read_exr(tmp_path / "a.exr")
    assert names == ("R", "G", "B") and back.dtype == np.float32
    np.testing.assert_array_equal(back, rgb)
    y = rgb[..., 0]
    write_exr(tmp_path / "y.exr", y)
    back, names = read_exr(tmp_path / "y.exr")
    assert names == ("Y",) and back.shape == (5, 7, 1)
    np.testing.assert_array_equal(back[..., 0], y)
    # read_image replicates single channels
    assert read_image(tmp_path / "y.exr", "linear").shape == (5, 7, 3)


def test_exr_half_and_bad_shape(tmp_path):
    a = np.full((2, 3, 3), 0.1234567, np.float32)
    write_exr(tmp_path / "h.exr", a, half=True)
    back, _ = read_exr(tmp_path / "h.exr")
    np.testing.assert_allclose(back, a, rtol=1e-3)
    with pytest.raises(ShapeError):
        write_exr(tmp_path / "bad.exr", np.zeros((2, 3, 2)))
    assert not (tmp_path / "bad.exr").exists()


def test_truncated_exr_names_file(tmp_path):
    write_exr(tmp_path / "a.exr", np.ones((16, 16, 3), np.float32))
    data = (tmp_path / "a.exr").read_bytes()
    (tmp_path / "t.exr").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputFileError, match="t.exr"):
        read_image(tmp_path / "t.exr", "linear")


def test_16bit_png_and_tiff_linear(tmp_path):
    a = np.random.default_rng(1).random((4, 6, 3)).astype(np.float32)
    write_png(tmp_path / "a.png", a, bits=16)
    write_tiff16(tmp_path / "a.tif", a)
    for name in ("a.png", "a.tif"):
        np.testing.assert_allclose(read_image(tmp_path / name, "linear"), a, atol=1 / 65535)


def test_8bit_srgb_png_decoded_and_8bit_linear_refused(tmp_path):
    a = np.array([[[0.5, 0.25, 1.0]]], np.float32)
    write_png(tmp_path / "s.png", a, bits=8)
    lin = read_image(tmp_path / "s.png", "srgb")
    np.testing.assert_allclose(lin, srgb_to_linear(np.round(a * 255) / 255), atol=1e-6)
    with pytest.raises(InputFileError, match="16-bit"):
        read_image(tmp_path / "s.png", "linear")


def test_encoding_mismatch_and_missing(tmp_path):
    write_exr(tmp_path / "a.exr", np.ones((2, 2, 3), np.float32))
    with pytest.raises(InputFileError, match="encoding"):
        read_image(tmp_path / "a.exr", "srgb")
    with pytest.raises(InputFileError, match="not found"):
        read_image(tmp_path / "none.exr", "linear")
    with pytest.raises(InputFileError, match="RAW"):
        read_image(tmp_path / "a.exr", "raw")


def test_corrupt_png(tmp_path):
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InputFileError, match="c.png"):
        read_image(tmp_path / "c.png", "srgb")


def test_truncated_png_is_one_error_without_opencv_noise(tmp_path, capfd):
    write_png(tmp_path / "full.png", np.random.default_rng(0).random((64, 64, 3), np.float32))
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:400])
    capfd.readouterr()
    for read in (lambda p: read_image(p, "srgb"), read_png):
        with pytest.raises(InputFileError, match="cut.png"):
            read(tmp_path / "cut.png")
    assert "WARN" not in capfd.readouterr().err  # OpenCV's codec warning is silenced
    assert read_png(tmp_path / "full.png").shape == (64, 64, 3)


def test_mask(tmp_path):
    m = np.zeros((3, 4), np.float32)
    m[1, 2] = 1.0
    write_png(tmp_path / "m.png", m)
    got = read_mask(tmp_path / "m.png")
    assert got.dtype == bool and got.sum() == 1 and got[1, 2]


@pytest.mark.parametrize("compression", ["zip", "zips", "piz", "rle", "none"])
def test_exr_compressions_are_lossless(tmp_path, compression):
    a = np.random.default_rng(2).random((9, 11, 3)).astype(np.float32)
    a[:4] = 0  # a constant run, as outside a mask
    write_exr(tmp_path / "a.exr", a, compression=compression)
    back, names = read_exr(tmp_path / "a.exr")
    assert names == ("R", "G", "B")
    np.testing.assert_array_equal(back, a)
    # planar input (a transposed (C, H, W) array) is written as the same file, byte for
    # byte (the interleaved array is handed to OpenEXR whole, the planes one by one)
    write_exr(
        tmp_path / "p.exr", np.ascontiguousarray(a.transpose(2, 0, 1)).transpose(1, 2, 0), compression=compression
    )
    assert (tmp_path / "p.exr").read_bytes() == (tmp_path / "a.exr").read_bytes()
    write_exr(tmp_path / "s.exr", a[:, ::-1][:, ::-1], compression=compression)  # strided: copied first
    assert (tmp_path / "s.exr").read_bytes() == (tmp_path / "a.exr").read_bytes()


def test_exr_unknown_compression_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="compression"):
        write_exr(tmp_path / "a.exr", np.zeros((2, 2, 3)), compression="jpeg")  # type: ignore[arg-type]
    assert not (tmp_path / "a.exr").exists()


def test_exr_rgba_and_other_channel_names(tmp_path):
    import OpenEXR

    rgba = np.random.default_rng(3).random((5, 6, 4)).astype(np.float32)
    write_exr(tmp_path / "a.exr", rgba)
    back, names = read_exr(tmp_path / "a.exr")
    assert names == ("R", "G", "B", "A")
    np.testing.assert_array_equal(back, rgba)
    # channels OpenEXR does not interleave are read plane by plane, in alphabetical order
    planes = {"Z": rgba[..., 0].copy(), "U": rgba[..., 1].copy()}
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, planes) as f:
        f.write(str(tmp_path / "uz.exr"))
    back, names = read_exr(tmp_path / "uz.exr")
    assert names == ("U", "Z")
    np.testing.assert_array_equal(back, rgba[..., [1, 0]])


# ----------------------------------------------------------------------------- hostile headers


def _no_decoding(monkeypatch):
    """From now on every pixel decoder fails the test if called (OpenEXR may read headers only)."""
    import OpenEXR
    import tifffile

    from id2reflectance._shared import imageio

    def refuse(*args, **kwargs):
        pytest.fail("pixels decoded although the header was refused")

    real_file = OpenEXR.File

    def header_only(*args, **kwargs):
        if not kwargs.get("header_only"):
            refuse()
        return real_file(*args, **kwargs)

    monkeypatch.setattr(imageio, "decode_image", refuse)
    monkeypatch.setattr(imageio, "read_plain_exr", refuse)  # the own reader of uncompressed EXR
    monkeypatch.setattr(tifffile, "imread", refuse)
    monkeypatch.setattr(OpenEXR, "File", header_only)


@pytest.mark.parametrize("name", ["huge.png", "huge.tif", "huge.exr"])
def test_a_header_claiming_100000_squared_pixels_is_refused_before_decoding(tmp_path, monkeypatch, name):
    path = hostile_image(tmp_path / name)
    _no_decoding(monkeypatch)
    assert image_header_size(path) == (100_000, 100_000)
    msg = rf"{name}: header claims 100000x100000 pixels, over the limit of {MAX_IMAGE_PIXELS} pixels; not decoded"
    with pytest.raises(InputFileError, match=msg):
        read_image(path, "linear")
    with pytest.raises(InputFileError, match="is 100000x100000 but camera 'cam0' is 8x8"):
        check_image_header(path, (8, 8), what="camera 'cam0'")


def test_a_jpeg_header_claiming_65535_squared_pixels_is_refused_before_decoding(tmp_path, monkeypatch):
    path = hostile_image(tmp_path / "huge.jpg")  # 65535 is JPEG's largest side
    _no_decoding(monkeypatch)
    assert image_header_size(path) == (65535, 65535)
    with pytest.raises(InputFileError, match="huge.jpg: header claims 65535x65535 pixels, over the limit"):
        read_image(path, "srgb")


def test_opencv_alone_raises_on_such_a_header_and_decode_image_turns_that_into_none(tmp_path):
    import cv2

    data = np.fromfile(hostile_image(tmp_path / "huge.png"), np.uint8)
    with pytest.raises(cv2.error, match="CV_IO_MAX_IMAGE_PIXELS"):  # what really happens without the header check
        cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert decode_image(data, cv2.IMREAD_UNCHANGED) is None  # so a JPEG too gives one named error, no traceback


def test_an_honest_header_of_an_ordinary_size_reads(tmp_path):
    write_png(tmp_path / "a.png", np.full((6, 10, 3), 0.5), bits=16)
    assert image_header_size(tmp_path / "a.png") == (6, 10)
    import cv2

    ok, jpg = cv2.imencode(".jpg", np.zeros((6, 10, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    (tmp_path / "a.jpg").write_bytes(jpg.tobytes())  # progressive: its frame header is SOF2
    assert image_header_size(tmp_path / "a.jpg") == (6, 10)
    assert read_image(tmp_path / "a.jpg", "srgb").shape == (6, 10, 3)
    assert read_image(tmp_path / "a.png", "linear").shape == (6, 10, 3)
    (tmp_path / "b.png").write_bytes(b"GIF89a" + bytes(30))
    assert image_header_size(tmp_path / "b.png") is None  # not a PNG header: left to the decoder
    with pytest.raises(InputFileError, match="b.png: not a readable image file"):
        read_image(tmp_path / "b.png", "srgb")
