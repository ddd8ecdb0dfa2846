"""Reading the toolkit's JSON manifests from files a user may not have made.

:func:`read_json` bounds what a hostile file can cost: a size limit checked before the
file is read, and nesting too deep for Python's parser (``RecursionError``) reported as a
bad file, like any other JSON error, naming the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from id2reflectance.errors import InputFileError

JSON_MAX_BYTES = 64 << 20
"""Largest manifest read, bytes (a session of thousands of frames takes well under 1 MiB)."""


def read_json(path: str | Path, *, max_bytes: int | None = None) -> Any:
    """Parse the UTF-8 JSON file ``path``.

    Parameters
    ----------
    path : the file.
    max_bytes : a larger file is refused before it is read (None: :data:`JSON_MAX_BYTES`).

    Raises
    ------
    InputFileError
        Naming the file: missing or unreadable, over ``max_bytes``, not UTF-8, bad JSON
        (``bad JSON at line L column C: ...``) or nested too deeply to parse.
    """
    path = Path(path)
    max_bytes = JSON_MAX_BYTES if max_bytes is None else max_bytes
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputFileError(path, None, f"{size} bytes, over the {max_bytes} byte limit of a manifest")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(path, None, f"not UTF-8 text ({err.reason})") from err
    except OSError as err:
        raise InputFileError(path, None, f"cannot read: {err.strerror}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(path, None, f"bad JSON at line {err.lineno} column {err.colno}: {err.msg}") from err
    except RecursionError as err:
        raise InputFileError(
            path, None, f"bad JSON: nested too deeply to parse (about {sys.getrecursionlimit()} levels at most)"
        ) from err
