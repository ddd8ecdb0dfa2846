"""One writer per output: an advisory lock held for a command's life.

``with output_lock(OUT):`` takes an exclusive ``fcntl.flock`` on ``.<name>.lock`` beside
``OUT`` (a file or a folder). A second command naming the same output while the first
runs is refused with :class:`~id2reflectance.errors.OutputError` naming ``OUT`` and the
holder's process id and command. The kernel drops a flock when its process dies, so the
lock file of a killed command never blocks the next one; the file is removed on release.

The lock sits beside ``OUT``, not inside it, because outputs are replaced whole by a
rename (:func:`~id2reflectance._shared.atomic.atomic_folder`): a lock file inside would be
renamed away with the old folder and stop excluding anyone.

Advisory only: it excludes the toolkit's own commands (every command that writes takes
it), not other programs. Local file systems; ``flock`` over NFS depends on the mount.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from id2reflectance._shared.atomic import as_output_error
from id2reflectance.errors import OutputError

log = logging.getLogger(__name__)


def lock_path(out: str | Path) -> Path:
    """The lock file of output ``out``: ``<parent>/.<name>.lock`` (absolute)."""
    p = Path(out).absolute()
    return p.parent / f".{p.name}.lock"


def _holder(path: Path) -> str:
    """``pid N (command)`` from a lock file, or ``another process`` when it says nothing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0][:200] if text else "another process"


def _open_locked(path: Path, out: Path) -> int:
    """Open ``path`` and lock it; the descriptor, or OutputError when someone holds it."""
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise (as_output_error(err, out, inside=(path.parent,)) or err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise OutputError(
                out,
                f"another id2r command is writing it ({_holder(path)}); wait for it to finish or choose another output",
                errno.EBUSY,
            ) from None
        # the holder before us may have removed the file after we opened it: lock the current one
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def output_lock(out: str | Path, *, enabled: bool = True) -> Iterator[Path]:
    """Hold the exclusive lock of output ``out`` for the ``with`` block.

    Parameters
    ----------
    out : the output file or folder a command writes (need not exist yet; its parent is
        created).
    enabled : False yields without locking (e.g. the ranks > 0 of a torchrun job, which
        write nothing).

    Yields
    ------
    The lock file's path.

    Raises
    ------
    OutputError
        Another process holds the lock (its pid and command named), or the lock file
        cannot be created (read-only folder, disk full).
    """
    out = Path(out)
    path = lock_path(out)
    if not enabled:
        yield path
        return
    fd = _open_locked(path, out)
    try:
        note = f"pid {os.getpid()} ({' '.join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:150]})"
        os.ftruncate(fd, 0)
        os.write(fd, f"{note}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    except OSError as err:  # a full disk may refuse even these bytes; the lock itself holds
        log.debug("could not note the holder in %s: %s", path, err)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked: a waiter that opened it re-checks the inode
        os.close(fd)
