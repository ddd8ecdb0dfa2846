"""Write files and folders so that a killed run leaves either nothing or the whole thing.

Every output goes to a temporary path beside its destination and is renamed into place
(``os.replace`` is atomic on one filesystem). A write that fails for lack of space or of
permission (disk full, quota, read-only file system, no write permission) raises
:class:`~id2reflectance.errors.OutputError` naming the destination, after the temporary
file or folder is removed; the destination keeps its previous content.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from id2reflectance.errors import OutputError

WRITE_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
"""OS errors that mean an output cannot be written, and the words :class:`OutputError` uses."""
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)  # never about reading an input


def _within(name: Any, folders: tuple[Path, ...]) -> bool:
    try:
        p = Path(os.fsdecode(name)).absolute()
    except (TypeError, ValueError):
        return False
    return any(p == f or f in p.parents for f in folders)


def as_output_error(err: BaseException, dest: str | Path, *, inside: tuple[Path, ...] = ()) -> OutputError | None:
    """The :class:`OutputError` naming ``dest`` for ``err``, or None when ``err`` is no write failure.

    Disk full, quota, file too large and read-only file system always count; permission
    errors count when they name no file or a file under one of ``inside`` (the output's
    folders: a permission error on an input is the input's problem). Native writers that
    raise ``RuntimeError`` with the OS message (OpenEXR: "No space left on device") count too.
    """
    if isinstance(err, OutputError):
        return err
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        if err.errno in _STORAGE_ERRNOS or err.filename is None or _within(err.filename, inside):
            return OutputError(dest, f"cannot write: {WRITE_ERRNOS[err.errno]}", err.errno)
        return None
    if isinstance(err, RuntimeError):
        for code in _STORAGE_ERRNOS:
            if os.strerror(code) in str(err):
                return OutputError(dest, f"cannot write: {WRITE_ERRNOS[code]}", code)
    return None


def _raise_as_output_error(
    err: BaseException, dest: Path, *, inside: tuple[Path, ...], staged: Path | None = None
) -> None:
    """Raise :func:`as_output_error`'s error for ``err`` (unless it is ``err`` itself or None).

    ``staged``: the temporary folder standing for ``dest``; an error naming a file in it is
    reported under ``dest`` (the name the user knows).
    """
    named = err.path if isinstance(err, OutputError) else getattr(err, "filename", None)
    in_staged = False
    if staged is not None and named is not None and _within(named, (staged.absolute(),)):
        in_staged = True
        dest = dest / Path(os.fsdecode(named)).absolute().relative_to(staged.absolute())
    if isinstance(err, OutputError):  # from a nested writer: renamed only when it names a staged file
        if in_staged:
            raise OutputError(dest, err.message, err.errno) from err
        return
    out_err = as_output_error(err, dest, inside=inside)
    if out_err is not None:
        raise out_err from err


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` then rename ``tmp_path`` to ``path``.

    The temporary file keeps the destination's suffix (some writers pick the format from
    it). On any exception the temporary file is removed and the destination is untouched.
    """
    path = Path(path)
    folders = (path.parent.absolute(),)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as err:
        _raise_as_output_error(err, path, inside=folders)
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp_path, path)
    except BaseException as err:
        tmp_path.unlink(missing_ok=True)
        _raise_as_output_error(err, path, inside=folders)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically (NaN is refused)."""
    text = json.dumps(obj, indent=2, allow_nan=False, sort_keys=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def atomic_folder(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success rename it to ``path``.

    If ``path`` exists and ``overwrite`` is true it is replaced only after the new folder
    is complete (the old one is moved aside, the new one renamed in, the old one removed).
    On an exception the temporary folder is deleted and ``path`` is untouched.
    """
    path = Path(path)
    folders = (path.parent.absolute(),)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        _raise_as_output_error(err, path, inside=folders)
        raise
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} already exists")
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / "x", path)  # the previous output back in place
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_as_output_error(err, path, inside=(tmp.absolute(), *folders), staged=tmp)
        raise


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
