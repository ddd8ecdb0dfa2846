"""Provoking faults in tests: a disk that fills up, a folder that is read-only, image
files whose header lies about their size.

Tests run as root in CI, where ``chmod`` does not stop writes: :func:`read_only` first
tries the real thing and, when a probe write still succeeds, injects the error the kernel
would give instead (EROFS), so the test asserts the same behaviour either way.
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

ENOSPC_EXR = 'Failed to write pixel data to image file "{}". No space left on device.'
"""What OpenEXR raises (RuntimeError) when the disk fills up, as measured on /dev/full."""


def _inside(path: object, folder: Path) -> bool:
    p = Path(os.fsdecode(path)).absolute()
    return p == folder or folder in p.parents


def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ``folder`` read-only: by chmod where that stops writes, else by injecting EROFS
    into every file or folder creation under it. Returns ``"chmod"`` or ``"injected"``."""
    folder = folder.absolute()
    folder.chmod(0o555)
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except PermissionError:
        return "chmod"
    probe.unlink()
    folder.chmod(0o755)

    def refuse(where: object) -> None:
        if where is not None and _inside(where, folder):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(where))

    real_mkstemp, real_mkdtemp, real_open = tempfile.mkstemp, tempfile.mkdtemp, os.open

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 (tempfile's own name)
        refuse(dir)
        return real_mkstemp(*args, dir=dir, **kwargs)

    def mkdtemp(*args, dir=None, **kwargs):  # noqa: A002
        refuse(dir)
        return real_mkdtemp(*args, dir=dir, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(os, "open", os_open)
    return "injected"


def full_disk_for_exr(
    monkeypatch: pytest.MonkeyPatch, *, after: int = 0, when: Callable[[str], bool] = lambda name: True
) -> list[str]:
    """Let ``after`` OpenEXR files (of those whose name passes ``when``) be written, then
    fail every later one as a full disk does (a part of the file written, then OpenEXR's
    RuntimeError, or for an uncompressed file written without the library the OSError
    ENOSPC of ``os.write``). Returns the files that met the full disk or were let through."""
    import OpenEXR

    from id2reflectance._shared import imageio

    tried: list[str] = []
    real_write = OpenEXR.File.write
    real_plain = imageio.write_plain_exr

    def write_plain(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not when(str(path)):
            return real_plain(path, *args, **kwargs)
        tried.append(str(path))
        if len(tried) > after:
            Path(path).write_bytes(b"v/1\x01" + b"\0" * 64)  # a torn start of a file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_plain(path, *args, **kwargs)

    monkeypatch.setattr(imageio, "write_plain_exr", write_plain)

    def write(self, filename):  # type: ignore[no-untyped-def]
        if not when(str(filename)):
            return real_write(self, filename)
        tried.append(str(filename))
        if len(tried) > after:
            Path(filename).write_bytes(b"v/1\x01" + b"\0" * 64)  # a torn start of a file
            raise RuntimeError(ENOSPC_EXR.format(filename))
        return real_write(self, filename)

    monkeypatch.setattr(OpenEXR.File, "write", write)
    return tried


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders the atomic writers left in ``folder`` (names starting with '.')."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def hostile_image(path: Path, size: int = 100_000) -> Path:
    """Write a small valid PNG, JPEG, TIFF or OpenEXR image (by ``path``'s suffix) whose header
    then claims ``size`` x ``size`` pixels (JPEG: at most 65535); everything else in the file
    is left consistent (the PNG's header CRC is recomputed, the TIFF's dimensions become LONG
    tags)."""
    import cv2
    import numpy as np
    import tifffile

    from id2reflectance._shared.imageio import write_exr

    suffix = path.suffix.lower()
    if suffix == ".png":
        ok, buf = cv2.imencode(".png", np.zeros((8, 8), np.uint16))
        b = bytearray(buf.tobytes())
        b[16:24] = struct.pack(">II", size, size)
        b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    elif suffix in (".jpg", ".jpeg"):
        ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
        b = bytearray(buf.tobytes())
        i = b.index(b"\xff\xc0") + 5  # baseline frame header: length (2), precision (1), height, width
        b[i : i + 4] = struct.pack(">HH", min(size, 65535), min(size, 65535))
    elif suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, np.zeros((8, 8), np.uint16))
        b = bytearray(path.read_bytes())
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages.first.tags
            entries = [tags["ImageWidth"].offset, tags["ImageLength"].offset]
        for o in entries:  # tag (2), type (2), count (4), value (4)
            b[o + 2 : o + 4] = struct.pack("<H", 4)
            b[o + 8 : o + 12] = struct.pack("<I", size)
    elif suffix == ".exr":
        write_exr(path, np.zeros((8, 8, 3), np.float32))
        b = bytearray(path.read_bytes())
        key = b"dataWindow\x00box2i\x00"
        i = b.index(key) + len(key) + 4  # after the attribute's size
        b[i + 8 : i + 16] = struct.pack("<ii", size - 1, size - 1)
    else:
        raise ValueError(f"no hostile {suffix} writer")
    path.write_bytes(bytes(b))
    return path
