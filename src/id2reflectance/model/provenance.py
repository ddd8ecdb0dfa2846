"""Provenance of a training run: source revision and software versions."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch


def git_revision(path: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": <sha or "unknown">, "dirty": bool | None}`` of the repository holding ``path``.

    ``dirty`` is True when tracked files differ from the commit (untracked files ignored).
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def software_versions() -> dict[str, str]:
    """Python, torch, numpy versions and the CUDA/cuDNN build (when present)."""
    from id2reflectance import __version__

    out = {
        "id2reflectance": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["gpu"] = torch.cuda.get_device_name(0)
    return out
