"""The own reader and writer of uncompressed scanline EXR against the OpenEXR library."""

import errno
import fcntl
import os
import struct
import threading
import time

import numpy as np
import OpenEXR
import pytest

from id2reflectance._shared import exr_plain
from id2reflectance._shared.exr_plain import plain_layout, read_plain_exr, write_plain_exr
from id2reflectance._shared.imageio import MAX_IMAGE_PIXELS, read_exr, write_exr
from id2reflectance.errors import InputFileError


def _library_write(path, a, compression=OpenEXR.NO_COMPRESSION):
    """The OpenEXR library's own file of ``a`` (H, W, 1|3|4) float32 (what write_exr wrote before)."""
    names = {1: "Y", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    data = {names: a} if a.shape[2] > 1 else {"Y": np.ascontiguousarray(a[..., 0])}
    with OpenEXR.File({"compression": compression, "type": OpenEXR.scanlineimage}, data) as f:
        f.write(str(path))


def _library_read(path):
    with OpenEXR.File(str(path)) as f:
        ((_, ch),) = f.channels().items()
        return np.asarray(ch.pixels)


def _any_bits(shape, seed=0):
    """float32 values of every bit pattern: NaNs with payloads, infinities, denormals, -0."""
    return np.random.default_rng(seed).integers(0, 2**32, shape, dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (5, 7, 4), (5, 7, 1), (37, 300, 3)])
@pytest.mark.parametrize("direct", [False, True])
def test_written_files_are_the_library_bytes(tmp_path, shape, direct):
    a = _any_bits(shape)
    _library_write(tmp_path / "lib.exr", a)
    write_plain_exr(tmp_path / "own.exr", a, {1: "Y", 3: "RGB", 4: "RGBA"}[shape[2]], direct=direct)
    assert (tmp_path / "own.exr").read_bytes() == (tmp_path / "lib.exr").read_bytes()


def test_lines_across_write_blocks_and_a_bool_mask(tmp_path, monkeypatch):
    # blocks smaller than a band and than the header: every line crosses the staging logic
    monkeypatch.setattr(exr_plain, "_BLOCK", 4096)
    monkeypatch.setattr(exr_plain, "_BUFFERED_BLOCK", 4096)
    monkeypatch.setattr(exr_plain, "_BAND_BYTES", 10_000)
    a = _any_bits((301, 129, 3), seed=1)
    _library_write(tmp_path / "lib.exr", a)
    for direct in (False, True):
        write_plain_exr(tmp_path / "own.exr", a, "RGB", direct=direct)
        assert (tmp_path / "own.exr").read_bytes() == (tmp_path / "lib.exr").read_bytes()
    mask = np.random.default_rng(2).random((301, 129)) > 0.5
    _library_write(tmp_path / "mlib.exr", mask.astype(np.float32)[..., None])
    write_plain_exr(tmp_path / "mown.exr", mask, "Y", direct=True)
    assert (tmp_path / "mown.exr").read_bytes() == (tmp_path / "mlib.exr").read_bytes()


def test_a_refused_direct_write_goes_through_the_page_cache(tmp_path, monkeypatch):
    a = _any_bits((64, 200, 3), seed=3)
    _library_write(tmp_path / "lib.exr", a)
    real_write, calls = os.write, []

    def refuse_direct(fd, data):  # a file system that takes O_DIRECT opens but not its writes
        calls.append(fd)
        if os.O_DIRECT & fcntl.fcntl(fd, fcntl.F_GETFL):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(exr_plain.os, "write", refuse_direct)
    write_plain_exr(tmp_path / "own.exr", a, "RGB", direct=True)
    assert calls and (tmp_path / "own.exr").read_bytes() == (tmp_path / "lib.exr").read_bytes()
    monkeypatch.setattr(exr_plain, "_open_direct", lambda path, flags: -1)  # no O_DIRECT at all
    write_plain_exr(tmp_path / "own2.exr", a, "RGB", direct=True)
    assert (tmp_path / "own2.exr").read_bytes() == (tmp_path / "lib.exr").read_bytes()


@pytest.mark.parametrize("channels", [3, 4])
def test_read_is_the_library_read_bit_for_bit(tmp_path, channels):
    a = _any_bits((33, 65, channels), seed=channels)
    _library_write(tmp_path / "a.exr", a)
    got = read_plain_exr(tmp_path / "a.exr", max_pixels=MAX_IMAGE_PIXELS)
    assert got is not None
    pixels, names, _ = got
    assert names == ("R", "G", "B", "A")[:channels] and pixels.dtype == np.float32 and pixels.flags.writeable
    np.testing.assert_array_equal(pixels.view(np.uint32), _library_read(tmp_path / "a.exr").view(np.uint32))
    back, _ = read_exr(tmp_path / "a.exr")
    np.testing.assert_array_equal(back.view(np.uint32), a.view(np.uint32))


@pytest.mark.parametrize("channels", [3, 4])
def test_a_view_of_the_file_is_the_library_read_and_copies_on_write(tmp_path, channels):
    a = _any_bits((33, 65, channels), seed=channels)
    _library_write(tmp_path / "a.exr", a)
    before = (tmp_path / "a.exr").read_bytes()
    got = read_plain_exr(tmp_path / "a.exr", max_pixels=MAX_IMAGE_PIXELS, in_place=True, band_rows=4)
    assert got is not None
    view, names, extremes = got
    assert names == ("R", "G", "B", "A")[:channels] and view.dtype == np.float32 and view.flags.writeable
    assert view.strides == (8 + 4 * channels * 65, 4, -4 * 65) and not view.flags.c_contiguous
    np.testing.assert_array_equal(view.view(np.uint32), _library_read(tmp_path / "a.exr").view(np.uint32))
    copy = read_plain_exr(tmp_path / "a.exr", max_pixels=MAX_IMAGE_PIXELS, band_rows=4)
    assert copy is not None and extremes is not None and copy[2] is not None
    np.testing.assert_array_equal([extremes[0], extremes[1]], [copy[2][0], copy[2][1]])  # NaN where NaN
    np.testing.assert_array_equal(extremes[2], copy[2][2])
    view[3:9] = 1.5  # copy on write: the process's pages change, never the file
    assert (view[3:9] == 1.5).all() and (tmp_path / "a.exr").read_bytes() == before
    lines = exr_plain.file_lines(view)
    assert lines.shape == (33, channels * 65) and (lines[3] == 1.5).all()


def test_a_file_that_cannot_be_mapped_is_read_by_the_library(tmp_path, monkeypatch):
    """A file system without ``mmap`` (some network or FUSE mounts): no view, the frame is read by
    the OpenEXR library instead of refusing a readable file."""
    from id2reflectance._shared.imageio import read_frame

    a = _any_bits((17, 9, 3), seed=3)
    _library_write(tmp_path / "a.exr", a)

    def no_mmap(*args, **kwargs):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(exr_plain.mmap, "mmap", no_mmap)
    assert read_plain_exr(tmp_path / "a.exr", max_pixels=MAX_IMAGE_PIXELS, in_place=True) is None
    assert read_plain_exr(tmp_path / "a.exr", max_pixels=MAX_IMAGE_PIXELS) is None
    img, extremes = read_frame(tmp_path / "a.exr", "linear", band_rows=4)
    assert extremes is None
    np.testing.assert_array_equal(img.view(np.uint32), a.view(np.uint32))


def test_mapped_lines_are_the_file_the_writer_writes(tmp_path):
    rgb, y = _any_bits((21, 37, 3), seed=8), _any_bits((21, 37), seed=9)
    for name, a, channels in (("rgb", rgb, "RGB"), ("y", y, "Y")):
        view = exr_plain.mapped_lines(tmp_path / f"{name}.exr", 21, 37, channels)
        assert view.shape == a.shape and view.flags.writeable and not view.flags.c_contiguous
        view[...] = a
        del view
        write_plain_exr(tmp_path / f"{name}_w.exr", a, channels)
        assert (tmp_path / f"{name}.exr").read_bytes() == (tmp_path / f"{name}_w.exr").read_bytes(), name
    memory = exr_plain.mapped_lines(None, 21, 37, "RGB")  # the layout without a file
    assert memory.strides == (8 + 12 * 37, 4, -4 * 37) and memory.flags.writeable
    with pytest.raises(ValueError, match="channels"):
        exr_plain.mapped_lines(tmp_path / "x.exr", 2, 2, "RGBA")


def test_write_exr_uses_the_own_writer_without_changing_a_byte(tmp_path, monkeypatch):
    a = _any_bits((40, 50, 3), seed=5)
    _library_write(tmp_path / "lib.exr", a)
    opened = []
    real_open = exr_plain._open_direct
    monkeypatch.setattr(exr_plain, "_open_direct", lambda path, flags: opened.append(path) or real_open(path, flags))
    write_exr(tmp_path / "plain.exr", a, compression="none", direct=True)  # under EXR_DIRECT_BYTES: page cache
    monkeypatch.setattr("id2reflectance._shared.imageio.EXR_DIRECT_BYTES", 0)
    write_exr(tmp_path / "cached.exr", a, compression="none")  # not asked: page cache
    assert not opened
    write_exr(tmp_path / "own.exr", a, compression="none", direct=True)
    assert len(opened) == 1
    for name in ("plain.exr", "cached.exr", "own.exr"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "lib.exr").read_bytes()
    write_exr(tmp_path / "m.exr", a[..., 0] > 0, compression="none")  # a bool mask: 0.0 / 1.0
    np.testing.assert_array_equal(_library_read(tmp_path / "m.exr"), (a[..., 0] > 0).astype(np.float32))


def _patched(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def _plain_file(tmp_path, shape=(16, 24, 3)):
    a = _any_bits(shape, seed=7)
    _library_write(tmp_path / "a.exr", a)
    return a, (tmp_path / "a.exr").read_bytes()


def test_other_files_are_left_to_the_library(tmp_path):
    a, data = _plain_file(tmp_path)
    _library_write(tmp_path / "zip.exr", a, OpenEXR.ZIP_COMPRESSION)
    _library_write(tmp_path / "y.exr", a[..., :1])
    write_exr(tmp_path / "half.exr", np.ones_like(a), half=True, compression="none")
    chlist = struct.pack("<iB3xii", 2, 0, 1, 1)
    variants = {
        "tiled flag": data[:5] + bytes([data[5] | 0x02]) + data[6:],
        "decreasing lines": _patched(
            data, b"lineOrder\0lineOrder\0\x01\0\0\0\0", b"lineOrder\0lineOrder\0\x01\0\0\0\1"
        ),
        "uint channel": _patched(data, b"B\0" + chlist, b"B\0" + struct.pack("<iB3xii", 0, 0, 1, 1)),
        "sampled channel": _patched(data, b"G\0" + chlist, b"G\0" + struct.pack("<iB3xii", 2, 0, 2, 1)),
    }
    for name, content in variants.items():
        (tmp_path / "v.exr").write_bytes(content)
        assert read_plain_exr(tmp_path / "v.exr", max_pixels=MAX_IMAGE_PIXELS) is None, name
    for name in ("zip.exr", "y.exr", "half.exr"):
        assert read_plain_exr(tmp_path / name, max_pixels=MAX_IMAGE_PIXELS) is None, name
    # and the library still reads them as before
    np.testing.assert_array_equal(read_exr(tmp_path / "zip.exr")[0].view(np.uint32), a.view(np.uint32))
    assert read_exr(tmp_path / "y.exr")[1] == ("Y",)


def test_bad_offsets_lines_and_truncation_fall_back_or_name_the_file(tmp_path):
    a, data = _plain_file(tmp_path)
    layout = plain_layout(data, len(data), max_pixels=MAX_IMAGE_PIXELS)
    assert layout is not None and layout.height == 16 and layout.width == 24
    table = layout.first - 8 * layout.height
    line3 = layout.first + 3 * layout.record
    bad = {
        "offset table": data[: table + 8] + struct.pack("<Q", 7) + data[table + 16 :],
        "line y": data[:line3] + struct.pack("<i", 9) + data[line3 + 4 :],
        "line size": data[: line3 + 4] + struct.pack("<i", 5) + data[line3 + 8 :],
        "truncated": data[: len(data) - 100],
        "header cut": data[:200],
    }
    for name, content in bad.items():
        path = tmp_path / f"{name.replace(' ', '_')}.exr"
        path.write_bytes(content)
        assert read_plain_exr(path, max_pixels=MAX_IMAGE_PIXELS) is None, name
        assert read_plain_exr(path, max_pixels=MAX_IMAGE_PIXELS, in_place=True) is None, name  # never mapped short
        try:  # the library's word: it reads what it can trust, or read_exr names the file
            pixels, _ = read_exr(path)
        except InputFileError as err:
            assert path.name in str(err), name
        else:
            assert name in ("offset table",), name  # the library rebuilds a broken offset table
            np.testing.assert_array_equal(pixels.view(np.uint32), a.view(np.uint32))
    assert read_plain_exr(tmp_path / "a.exr", max_pixels=100) is None  # over the pixel limit: the library's check


def test_a_file_written_while_its_array_is_filled_has_the_final_values(tmp_path, monkeypatch):
    """``rows_ready``: each band of lines is built only once its rows are final."""
    from id2reflectance.processing.solve.outputs import RowGate

    monkeypatch.setattr(exr_plain, "_BAND_BYTES", 1)  # a line per band: a wait per line
    final = _any_bits((48, 20, 3), seed=9)
    a = np.full_like(final, np.nan)
    gate, asked = RowGate(), []

    def fill() -> None:
        for r in range(0, 48, 5):
            time.sleep(0.002)
            a[r : r + 5] = final[r : r + 5]
            gate.advance(min(r + 5, 48))

    def ready(rows: int) -> None:
        asked.append(rows)
        gate.wait(rows)

    filler = threading.Thread(target=fill)
    filler.start()
    write_exr(tmp_path / "a.exr", a, compression="none", rows_ready=ready)
    filler.join()
    assert asked == list(range(1, 49))
    np.testing.assert_array_equal(_library_read(tmp_path / "a.exr").view(np.uint32), final.view(np.uint32))
    gate = RowGate()
    gate.advance(3)
    gate.fail()
    gate.wait(3)  # finished rows stay readable
    with pytest.raises(RuntimeError, match="stopped"):
        gate.wait(4)


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf])
def test_the_extremes_taken_on_the_way_are_the_frame_checks(tmp_path, monkeypatch, special):
    from id2reflectance._shared.imageio import read_frame
    from id2reflectance.capture.frames import _band_extremes

    monkeypatch.setattr(exr_plain, "_BAND_BYTES", 3000)  # merged in pieces smaller than a band
    a = np.random.default_rng(11).standard_normal((53, 40, 3)).astype(np.float32)
    if special is not None:
        a[37, 5, 1] = special
    write_exr(tmp_path / "a.exr", a, compression="none")
    img, extremes = read_frame(tmp_path / "a.exr", "linear", band_rows=7)  # 53 rows: a last band of 4
    np.testing.assert_array_equal(img, a)
    lo, hi, highs = _band_extremes(img)  # what the frame check computes without them (1 MB bands)
    assert extremes is not None and len(extremes[2]) == 8
    np.testing.assert_array_equal([extremes[0], extremes[1]], [lo, hi])
    np.testing.assert_array_equal(extremes[2], [a[r : r + 7].max() for r in range(0, 53, 7)])
    write_exr(tmp_path / "z.exr", a, compression="zip")  # the library's read: no extremes
    img, extremes = read_frame(tmp_path / "z.exr", "linear", band_rows=7)
    assert extremes is None and np.array_equal(img, a, equal_nan=True)
