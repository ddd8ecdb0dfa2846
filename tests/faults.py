"""Provoking storage faults in tests: a disk that fills up, a folder that is read-only.

Tests run as root in CI, where ``chmod`` does not stop writes: :func:`read_only` first
tries the real thing and, when a probe write still succeeds, injects the error the kernel
would give instead (EROFS), so the test asserts the same behaviour either way.
"""

from __future__ import annotations

import errno
import os
import tempfile
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
    fail every later one as a full disk does (a part of the file written, OpenEXR's
    RuntimeError). Returns the files that met the full disk or were let through."""
    import OpenEXR

    tried: list[str] = []
    real_write = OpenEXR.File.write

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
