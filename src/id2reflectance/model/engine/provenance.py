"""Provenance of a training run: source revision and software versions."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_write, atomic_write_json


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


def write_run_record(
    run_dir: Path,
    *,
    run_file: str,
    config: dict[str, Any],
    steps: int,
    resumed_at: int | None,
    fresh: dict[str, Any],
    session: dict[str, Any],
) -> dict[str, Any]:
    """Write ``RUN/<run_file>`` (JSON) and ``RUN/config.yaml``; returns the record written.

    Parameters
    ----------
    config : the resolved config as a dict (:func:`~.config.config_to_dict`).
    steps : ``train.steps`` of this call (a resume may extend the run).
    resumed_at : None for a new run: the record is ``fresh`` + ``config`` + ``session`` +
        ``resumes: []``. Otherwise the step resumed from: the original record is kept, its
        ``config.train.steps`` updated and ``{"from_step": resumed_at, **session}``
        appended to ``resumes``.
    session : what describes this process (revision, device, software, ...).
    """
    import yaml  # PyYAML, needed only here: model/ imports with torch, numpy and safetensors alone

    if resumed_at is None:
        record = {**fresh, "config": config, **session, "resumes": []}
    else:
        record = json.loads((run_dir / run_file).read_text(encoding="utf-8"))
        record["config"]["train"]["steps"] = steps
        record.setdefault("resumes", []).append({"from_step": resumed_at, **session})
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / run_file, record)
    text = yaml.safe_dump(config, sort_keys=False)
    atomic_write(run_dir / "config.yaml", lambda p: p.write_text(text, encoding="utf-8"))
    return record
