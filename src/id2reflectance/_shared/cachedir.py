"""The per-user cache folder of id2reflectance (shared by every cache of the package)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_VAR = "ID2R_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$ID2R_CACHE_DIR``, else ``$XDG_CACHE_HOME/id2reflectance``, else ``~/.cache/id2reflectance``."""
    env = os.environ.get(CACHE_DIR_VAR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "id2reflectance"
