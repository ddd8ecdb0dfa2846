"""One exception tree for the whole toolkit.

Every error a user can cause derives from :class:`Id2rError`; the CLI turns it into a
one-line message and exit code 2. Messages name the file and the field at fault, what was
expected and what was found, e.g. ``session.json: frames[3].scale must be > 0, got -1``.
"""

from __future__ import annotations

from pathlib import Path


class Id2rError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputFileError(Id2rError, ValueError):
    """A file (or a field inside it) is missing, unreadable or invalid.

    Parameters
    ----------
    path
        The file at fault (shown relative to the folder the user named when possible).
    field
        The JSON path or channel inside the file, or ``None`` for the file as a whole.
    message
        What is wrong: expected and found.
    """

    def __init__(self, path: str | Path, field: str | None, message: str) -> None:
        self.path = str(path)
        self.field = field
        self.message = message
        where = self.path if field is None else f"{self.path}: {field}"
        super().__init__(f"{where}: {message}")


class ShapeError(Id2rError, ValueError):
    """An array has the wrong shape or size."""


class ConfigError(Id2rError, ValueError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""


class CaptureError(Id2rError):
    """A capture cannot be processed as a whole (e.g. no valid pixels, nothing seen)."""


class OutputError(Id2rError, OSError):
    """An output cannot be written: disk full, read-only folder, no permission, another
    command writing the same folder.

    Also an :class:`OSError` (``errno`` kept), so handlers of OS errors still see it.

    Parameters
    ----------
    path
        The output file or folder that could not be written.
    message
        What went wrong (``no space left on device``, ``read-only file system``, ...).
    errno_code
        The OS error number behind it, or ``None``.
    """

    def __init__(self, path: str | Path, message: str, errno_code: int | None = None) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")
        self.errno = errno_code

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __reduce__(self):  # type: ignore[no-untyped-def]  # rebuilt from its fields (Dask pickles errors)
        return (type(self), (self.path, self.message, self.errno))


class SessionInvalidError(Id2rError):
    """A session breaks the session format; carries every problem found.

    Parameters
    ----------
    problems
        Each item is one complete message naming file and JSON path.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = self.problems[0] if self.problems else "invalid session"
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        super().__init__(head + more)
