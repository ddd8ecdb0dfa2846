"""Checkpoints: safetensors weights + one small JSON; strict, pickle-free loading.

A checkpoint is a folder ``RUN/checkpoints/step_<NNNNNNNN>/`` written atomically (built in
a temporary folder, renamed into place):

    model.safetensors      generator weights and buffers (state_dict keys)
    ema.safetensors        EMA copy of the same keys (absent when EMA is off)
    disc.safetensors       discriminator weights (absent without a discriminator)
    optim.safetensors      every optimiser's tensor state, keys ``<name>/state/<param index>/<field>``
    rng.safetensors        torch CPU (and CUDA) RNG states, numpy and Python RNG state arrays
    checkpoint.json        format, step, architecture, config, optimiser param_groups and
                           non-tensor state, scalar RNG fields, metadata, sha256 of every file

Loading checks every file's sha256, then compares keys, shapes and dtypes with the model in
state-dict order; the first mismatch raises :class:`~id2reflectance.errors.InputFileError`
naming the file and the key. Only ``safetensors`` and ``json`` are parsed: nothing is
unpickled, and a safetensors header is checked against the file's size before it is
parsed (:func:`check_safetensors_header`).

A torn checkpoint (a file truncated, missing or edited after it was written: its sha256
differs from ``checkpoint.json``) is never loaded: a resume or a run folder given to
:func:`~id2reflectance.model.loading.load_model` takes the newest intact checkpoint, with a
warning naming the torn one (:func:`newest_intact_checkpoint`).

This module is the format only; rebuilding the network an ``arch`` record describes and
loading it is :mod:`id2reflectance.model.loading`.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from id2reflectance._shared.atomic import atomic_folder, sha256_file
from id2reflectance.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

FORMAT_NAME = "id2r-codebook-checkpoint"
FORMAT_VERSION = 1
META_FILE = "checkpoint.json"
_STEP_DIR = re.compile(r"^step_(\d{8})$")
_ALWAYS_SAVED = ("model.safetensors", "optim.safetensors", "rng.safetensors")
SAFETENSORS_MAX_HEADER = 100 << 20
"""Largest safetensors JSON header read, bytes (the safetensors library's own limit)."""


def check_safetensors_header(path: str | Path) -> None:
    """Check a safetensors file's 8-byte header length against the file before parsing it.

    Raises
    ------
    InputFileError
        The file is missing or shorter than 8 bytes, its header length is over
        :data:`SAFETENSORS_MAX_HEADER` or runs past the end of the file, or the header
        does not start as a JSON object.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as err:
        raise InputFileError(path, None, f"cannot read: {err.strerror}") from err
    if len(head) < 8:
        raise InputFileError(path, None, f"not a safetensors file: {size} byte(s), the header length alone takes 8")
    n = int.from_bytes(head[:8], "little")
    if n > SAFETENSORS_MAX_HEADER:
        raise InputFileError(path, "header", f"claims {n} bytes, over the {SAFETENSORS_MAX_HEADER} byte limit")
    if 8 + n > size:
        raise InputFileError(path, "header", f"claims {n} bytes but the file has {size - 8} after the length")
    if head[8:9] != b"{":
        raise InputFileError(path, "header", "is not a JSON object (malformed file)")


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file (CPU), after :func:`check_safetensors_header`.

    Raises InputFileError naming the file when it is unreadable or malformed.
    """
    check_safetensors_header(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise InputFileError(path, None, f"not a readable safetensors file (corrupted?): {err}") from err


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def load_tensors_strict(path: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Read a safetensors file whose keys, shapes and dtypes must equal ``expected``'s.

    Parameters
    ----------
    path : the ``.safetensors`` file.
    expected : reference tensors (e.g. ``module.state_dict()``); only keys/shapes/dtypes are used.

    Raises
    ------
    InputFileError
        Unreadable/corrupted file, or the first key (in ``expected``'s order, then the file's
        extra keys) that is missing, unexpected, or of another shape or dtype.
    """
    found = read_safetensors(path)
    for key, ref in expected.items():
        if key not in found:
            raise InputFileError(path, key, "missing from the checkpoint (checkpoint of another architecture?)")
        got = found[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise InputFileError(
                path, key, f"shape {tuple(got.shape)} in the checkpoint, the model expects {tuple(ref.shape)}"
            )
        if got.dtype != ref.dtype:
            raise InputFileError(path, key, f"dtype {got.dtype} in the checkpoint, the model expects {ref.dtype}")
    for key in found:
        if key not in expected:
            raise InputFileError(path, key, "not in the model (checkpoint of another architecture?)")
    return found


def load_module_strict(path: Path, module: nn.Module) -> None:
    """Load ``path`` into ``module`` after :func:`load_tensors_strict` (always ``strict=True``)."""
    tensors = load_tensors_strict(path, module.state_dict())
    module.load_state_dict(tensors, strict=True)


# ----------------------------------------------------------------------------- optimiser


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for field, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}/state/{pid}/{field}"] = value
            else:
                scalars.setdefault(str(pid), {})[field] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalar_state": scalars}


def _unflatten_optimizer(
    name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}/state/"
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, field = key[len(prefix) :].split("/", 1)
            state.setdefault(int(pid), {})[field] = value
    for pid, fields in meta.get("scalar_state", {}).items():
        state.setdefault(int(pid), {}).update(fields)
    try:
        groups = [
            {k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
            for g in meta["param_groups"]
        ]
    except (KeyError, TypeError) as err:
        raise InputFileError(path, f"optimizers.{name}.param_groups", "missing or malformed") from err
    return {"state": state, "param_groups": groups}


# ----------------------------------------------------------------------------- RNG


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The process's torch (CPU, CUDA), numpy and Python RNG states as tensors + JSON scalars."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    np_state = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(np_state[1], dtype=np.int64))
    py_state = random.getstate()
    tensors["python_state"] = torch.tensor(py_state[1], dtype=torch.int64)
    scalars = {
        "numpy": {"pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_state[0], "gauss_next": py_state[2]},
    }
    return tensors, scalars


def restore_rng(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only when CUDA is available here)."""
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        keys = sorted((k for k in tensors if k.startswith("torch_cuda_")), key=lambda k: int(k.rsplit("_", 1)[1]))
        states = [tensors[k] for k in keys]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    n = scalars["numpy"]
    keys = tensors["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = scalars["python"]
    random.setstate((p["version"], tuple(int(v) for v in tensors["python_state"].tolist()), p["gauss_next"]))


# ----------------------------------------------------------------------------- save / load


def step_dir(run_dir: str | Path, step: int) -> Path:
    """``RUN/checkpoints/step_<8 digits>``."""
    return Path(run_dir) / "checkpoints" / f"step_{step:08d}"


def _step_folders(run_dir: str | Path) -> list[Path]:
    """Every ``step_<8 digits>`` folder of a run, oldest first (complete or not)."""
    base = Path(run_dir) / "checkpoints"
    if not base.is_dir():
        return []
    return sorted((p for p in base.iterdir() if p.is_dir() and _STEP_DIR.match(p.name)), key=lambda p: p.name)


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders of a run (holding ``checkpoint.json``), oldest first."""
    return [p for p in _step_folders(run_dir) if (p / META_FILE).is_file()]


def newest_intact_checkpoint(run_dir: str | Path) -> Path:
    """The newest checkpoint folder of a run whose ``checkpoint.json`` parses and whose
    files all match their sha256; each newer, torn one is skipped with a warning.

    Raises
    ------
    InputFileError
        No checkpoint folder at all, or none intact (the newest one's fault named).
    """
    folders = _step_folders(run_dir)
    if not folders:
        raise InputFileError(Path(run_dir) / "checkpoints", None, "no complete checkpoint to resume from")
    torn: list[InputFileError] = []
    for path in reversed(folders):
        try:
            read_checkpoint_meta(path)
        except InputFileError as err:
            log.warning("checkpoint %s is torn, not loaded: %s", path, err)
            torn.append(err)
            continue
        if torn:
            log.warning("using %s, the newest intact checkpoint (%d newer one(s) torn)", path.name, len(torn))
        return path
    newest = torn[0]
    raise InputFileError(
        newest.path, newest.field, f"{newest.message}; no intact checkpoint in {Path(run_dir) / 'checkpoints'}"
    )


def save_checkpoint(
    path: str | Path,
    *,
    step: int,
    arch: dict[str, Any],
    model: nn.Module,
    ema: dict[str, torch.Tensor] | None,
    disc: nn.Module | None,
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
) -> Path:
    """Write one checkpoint folder atomically.

    Parameters
    ----------
    path : destination folder (replaced if it exists).
    step : optimiser steps completed.
    arch : ``{"kind": ..., "config": ..., ...}``, enough to rebuild the model (the kinds:
        :data:`id2reflectance.model.loading.CHECKPOINT_KINDS`).
    model, disc : modules whose state dicts are saved (``disc`` may be None).
    ema : EMA tensors with the model's keys, or None.
    optimizers : by name (e.g. ``{"gen": ..., "disc": ...}``).
    meta : JSON-able run metadata (``perceptual``, ``git_revision``, ``dataset_sha256``, ...).
    """
    path = Path(path)
    with atomic_folder(path) as tmp:
        files: dict[str, dict[str, torch.Tensor]] = {"model.safetensors": _contiguous(model.state_dict())}
        if ema is not None:
            files["ema.safetensors"] = _contiguous(ema)
        if disc is not None:
            files["disc.safetensors"] = _contiguous(disc.state_dict())
        opt_tensors: dict[str, torch.Tensor] = {}
        opt_meta: dict[str, Any] = {}
        for name, opt in optimizers.items():
            t, m = _flatten_optimizer(name, opt)
            opt_tensors.update(t)
            opt_meta[name] = m
        files["optim.safetensors"] = _contiguous(opt_tensors)
        rng_tensors, rng_scalars = capture_rng()
        files["rng.safetensors"] = _contiguous(rng_tensors)
        for name, tensors in files.items():
            save_file(tensors, str(tmp / name))
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "step": int(step),
            "arch": arch,
            "optimizers": opt_meta,
            "rng": rng_scalars,
            "meta": meta,
            "files": {name: sha256_file(tmp / name) for name in sorted(files)},
        }
        (tmp / META_FILE).write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def save_and_prune(run_dir: str | Path, *, step: int, keep: int, **kwargs: Any) -> Path:
    """:func:`save_checkpoint` into ``run_dir``'s folder for ``step``, then delete all but
    the ``keep`` newest checkpoints; ``kwargs`` as for :func:`save_checkpoint`."""
    path = save_checkpoint(step_dir(run_dir, step), step=step, **kwargs)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first field (dotted path) where two config dicts differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if d is not None:
                return d
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


RUN_FILE = "run.json"
"""A run folder's metadata file (resolved config, dataset checksum, provenance)."""


def prepare_run_dir(
    run_dir: Path,
    *,
    resume: bool,
    config: dict[str, Any],
    data_sha: str,
    check_kind: Callable[[dict[str, Any], Path], None],
    is_main: bool = True,
) -> Path | None:
    """Check a run folder before training; on resume return the checkpoint to continue from
    (the newest intact one: :func:`newest_intact_checkpoint`).

    Parameters
    ----------
    run_dir : the run folder (``--out``).
    resume : False: the folder must be new or empty (None is returned).
    config : the resolved config as a dict; on resume it must equal the run's except for
        ``train.steps`` (extending or shortening a run is allowed).
    data_sha : SHA-256 of the dataset's ``dataset.json``; must equal the run's.
    check_kind : ``check_kind(run_meta, run_json_path)`` raises when the run is of another
        kind (e.g. another stage).
    is_main : only the main process checks that a fresh run's folder is empty.
    """
    if not resume:
        if is_main and run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        return None
    meta_path = run_dir / RUN_FILE
    if not meta_path.is_file():
        raise InputFileError(meta_path, None, "missing: nothing to resume (start without --resume)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputFileError(meta_path, None, f"not valid JSON: {err}") from err
    check_kind(meta, meta_path)
    old = dict(meta.get("config", {}))
    old["train"] = {**old.get("train", {}), "steps": config["train"]["steps"]}
    diff = first_difference(old, config)
    if diff is not None:
        raise ConfigError(
            f"{meta_path}: config field {diff[0]} is {diff[1]!r} in the run but {diff[2]!r} now; "
            "resume with the run's config"
        )
    if meta.get("dataset", {}).get("sha256") != data_sha:
        raise ConfigError(
            f"{meta_path}: dataset.json checksum differs from the run's dataset; resume with the same data"
        )
    if is_main:  # a checkpoint being written when the run was killed: never complete, never listed
        for stale in (run_dir / "checkpoints").glob(".step_*.tmp"):
            log.info("removing %s, a checkpoint left unfinished by a killed run", stale)
            shutil.rmtree(stale, ignore_errors=True)
    return newest_intact_checkpoint(run_dir)


def read_checkpoint_meta(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Parse ``checkpoint.json`` of a checkpoint folder; with ``verify`` check every file's sha256.

    Raises
    ------
    InputFileError
        Missing/unparsable JSON, wrong format or version, or a file whose checksum differs.
    """
    path = Path(path)
    mfile = path / META_FILE
    try:
        doc = json.loads(mfile.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(mfile, None, f"cannot read checkpoint metadata: {err.strerror}") from err
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise InputFileError(mfile, None, f"not valid JSON (corrupted?): {err}") from err
    if not isinstance(doc, dict):
        raise InputFileError(mfile, None, f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT_NAME:
        raise InputFileError(mfile, "format", f"expected {FORMAT_NAME!r}, got {doc.get('format')!r}")
    if doc.get("version") != FORMAT_VERSION:
        raise InputFileError(mfile, "version", f"expected {FORMAT_VERSION}, got {doc.get('version')!r}")
    for key in ("step", "arch", "files", "optimizers", "rng", "meta"):
        if key not in doc:
            raise InputFileError(mfile, key, "missing")
    files = doc["files"]
    if not isinstance(files, dict) or not all(isinstance(n, str) and n == Path(n).name for n in files):
        raise InputFileError(mfile, "files", "must map plain file names of this folder to their sha256")
    for name in _ALWAYS_SAVED:
        if name not in files:
            raise InputFileError(mfile, "files", f"does not list {name}, which every checkpoint holds")
    if verify:
        for name, digest in files.items():
            f = path / name
            if not f.is_file():
                raise InputFileError(f, None, "listed in checkpoint.json but missing")
            if sha256_file(f) != digest:
                raise InputFileError(f, None, "sha256 differs from checkpoint.json (corrupted or edited file)")
    return doc


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    ema: dict[str, torch.Tensor] | None = None,
    disc: nn.Module | None = None,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    rng: bool = False,
) -> dict[str, Any]:
    """Restore a checkpoint into existing objects (strictly) and return its ``checkpoint.json``.

    Parameters
    ----------
    model : receives ``model.safetensors``.
    ema : dict of tensors updated in place from ``ema.safetensors`` (required to exist when given).
    disc : receives ``disc.safetensors``.
    optimizers : by the names they were saved under.
    rng : also restore the RNG states.
    """
    path = Path(path)
    doc = read_checkpoint_meta(path)
    load_module_strict(path / "model.safetensors", model)
    if ema is not None:
        if "ema.safetensors" not in doc["files"]:
            raise InputFileError(
                path / META_FILE, "files", "the run uses EMA but this checkpoint has no ema.safetensors"
            )
        loaded = load_tensors_strict(path / "ema.safetensors", ema)
        for k in ema:
            ema[k].copy_(loaded[k])
    if disc is not None:
        if "disc.safetensors" not in doc["files"]:
            raise InputFileError(path / META_FILE, "files", "the run has a discriminator but the checkpoint has none")
        load_module_strict(path / "disc.safetensors", disc)
    if optimizers:
        tensors = read_safetensors(path / "optim.safetensors")
        for name, opt in optimizers.items():
            if name not in doc["optimizers"]:
                raise InputFileError(path / META_FILE, f"optimizers.{name}", "missing")
            sd = _unflatten_optimizer(name, tensors, doc["optimizers"][name], path / META_FILE)
            try:
                opt.load_state_dict(sd)
            except (ValueError, KeyError, RuntimeError) as err:
                raise InputFileError(path / "optim.safetensors", name, f"does not fit this optimiser: {err}") from err
    if rng:
        rng_tensors = read_safetensors(path / "rng.safetensors")
        restore_rng(rng_tensors, doc["rng"])
    return doc
