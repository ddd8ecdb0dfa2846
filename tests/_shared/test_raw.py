"""Camera RAW decoding through rawpy (LibRaw), on a minimal DNG written here.

The DNG holds an RGGB Bayer mosaic of a flat scene with known codes, white level 65535,
black level 0 and an identity colour matrix, so the linear decode must return the codes
/ 65535 exactly: no gamma, no auto-brightness, unit white balance.
"""

import numpy as np
import pytest
import tifffile

from id2reflectance._shared.imageio import read_image
from id2reflectance.errors import InputFileError

RGB_CODES = (10000, 20000, 30000)


def write_dng(path, h=64, w=96, black=0):
    r, g, b = RGB_CODES
    cfa = np.zeros((h, w), np.uint16)
    cfa[0::2, 0::2] = r + black
    cfa[0::2, 1::2] = g + black
    cfa[1::2, 0::2] = g + black
    cfa[1::2, 1::2] = b + black
    identity = (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1)
    tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "id2r test camera", True),  # UniqueCameraModel
        (50717, "I", 1, (65535,), True),  # WhiteLevel
        (50714, "I", 1, (black,), True),  # BlackLevel
        (50721, "2i", 9, identity, True),  # ColorMatrix1 (identity, SRATIONAL)
        (50778, "H", 1, (21,), True),  # CalibrationIlluminant1: D65
    ]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags)
    return path


def test_dng_decodes_linearly(tmp_path):
    img = read_image(write_dng(tmp_path / "f.dng"), "raw")
    assert img.shape == (64, 96, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[8:-8, 8:-8].reshape(-1, 3).mean(0), np.array(RGB_CODES) / 65535, rtol=1e-4)


def test_raw_errors(tmp_path):
    (tmp_path / "bad.dng").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputFileError, match="bad.dng"):
        read_image(tmp_path / "bad.dng", "raw")
    write_dng(tmp_path / "f.dng")
    with pytest.raises(InputFileError, match="OpenEXR frames must be 'linear'|unsupported image type|encoding"):
        read_image(tmp_path / "f.dng", "linear")


@pytest.mark.parametrize("keep", [0.5, 0.9, 200])
def test_truncated_raw_is_a_named_error(tmp_path, keep):
    path = write_dng(tmp_path / "t.dng")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    with pytest.raises(InputFileError, match=r"t.dng: not a readable camera RAW file"):
        read_image(path, "raw")


def _claim(path, width, height):
    """Patch the DNG's ImageWidth / ImageLength tags (LONG) to claim another sensor size; the data stays."""
    import struct

    with tifffile.TiffFile(path) as tif:
        tags = {t.code: t for t in tif.pages.first.tags.values()}
        offsets = {code: tags[code].offset for code in (256, 257)}
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, offsets[256] + 8, width)
    struct.pack_into("<I", data, offsets[257] + 8, height)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("width", "height"), [(16000, 12000), (60000, 60000)])
def test_a_raw_header_claiming_a_sensor_larger_than_its_file_is_refused_before_decoding(
    tmp_path, monkeypatch, width, height
):
    import rawpy

    path = _claim(write_dng(tmp_path / "forged.dng"), width, height)
    real = rawpy.imread
    opened = []

    def imread(p):  # the metadata parse only: a decode would call postprocess on the second open
        opened.append(p)
        if len(opened) > 1:
            raise AssertionError("decoded after the header check")
        return real(p)

    monkeypatch.setattr(rawpy, "imread", imread)
    with pytest.raises(InputFileError, match=rf"forged.dng: is \d+ bytes, too small for the {width}x{height} sensor"):
        read_image(path, "raw")
    assert len(opened) == 1


def test_a_raw_frame_of_another_size_than_its_camera_is_refused_from_its_header(tmp_path):
    from id2reflectance._shared.imageio import check_image_header, image_header_size

    path = write_dng(tmp_path / "f.dng")
    assert image_header_size(path) == (64, 96)
    check_image_header(path, (64, 96))
    with pytest.raises(InputFileError, match=r"f.dng: is 96x64 but camera 'cam0' is 16x16"):
        check_image_header(path, (16, 16), what="camera 'cam0'")
