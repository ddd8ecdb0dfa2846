"""Rebuild and load the network of any checkpoint kind.

A checkpoint's ``arch`` record (``checkpoint.json``, :mod:`.engine.checkpoint`) names its
kind and holds the configs its network is built from:

    ``{"kind": "vqgan", "config": <RunConfig dict>}``          stage 1: the codebook VQGAN
    ``{"kind": "multidomain", "config": <RunConfig dict>}``    stage 2: multi-domain codebooks + fusion
    ``{"kind": "swapper", "config": <RunConfig dict of its base>, "swapper": <SwapperConfig dict>}``

:data:`CHECKPOINT_KINDS` is the one table of kinds; :func:`load_model` reads a checkpoint's
metadata, builds the network from the table and loads its weights strictly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torch import nn

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import RunConfig, config_from_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.swapper.network import SWAPPER_KIND, IdentitySwapper, build_swapper


def _run_config(arch: dict[str, Any], where: str) -> RunConfig:
    try:
        return config_from_dict(arch["config"], where=f"{where}.config")
    except (KeyError, TypeError, ConfigError) as err:
        raise InputFileError(where, "arch", f"cannot rebuild the model: {err}") from err


def _build_vqgan(arch: dict[str, Any], *, where: str) -> VQGAN:
    return VQGAN(_run_config(arch, where).model)


def _build_multidomain(arch: dict[str, Any], *, where: str) -> MultiDomainVQGAN:
    cfg = _run_config(arch, where)
    return MultiDomainVQGAN(cfg.model, cfg.fusion, cfg.data.domains)


@dataclass(frozen=True)
class CheckpointKind:
    """One kind of checkpoint.

    Attributes
    ----------
    label : what error messages call it (``"expected a <label> checkpoint"``).
    trained_by : the command that trains one.
    build : ``build(arch, where=...)``, a freshly initialised network from the ``arch``
        record (``where`` prefixes error messages).
    """

    label: str
    trained_by: str
    build: Callable[..., nn.Module]


CHECKPOINT_KINDS: dict[str, CheckpointKind] = {
    "vqgan": CheckpointKind("stage-1 codebook", "id2r train codebook --stage 1", _build_vqgan),
    "multidomain": CheckpointKind("stage-2 codebook", "id2r train codebook --stage 2", _build_multidomain),
    SWAPPER_KIND: CheckpointKind("swapper", "id2r train swapper", build_swapper),
}


def build_model(arch: dict[str, Any], *, where: str = "arch") -> nn.Module:
    """A freshly initialised network of the architecture an ``arch`` record describes.

    Parameters
    ----------
    arch : a checkpoint's ``arch`` record (see the module docstring).
    where : prefix for error messages (e.g. the checkpoint.json path).

    Raises
    ------
    InputFileError
        An unknown kind, or configs the network cannot be built from (field named).
    """
    kind = arch.get("kind") if isinstance(arch, dict) else None
    if kind not in CHECKPOINT_KINDS:
        *first, last = (repr(k) for k in CHECKPOINT_KINDS)
        raise InputFileError(where, "arch.kind", f"expected {', '.join(first)} or {last}, got {kind!r}")
    return CHECKPOINT_KINDS[kind].build(arch, where=where)


def load_model(path: str | Path, *, weights: str = "ema", kind: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild and load the network of a checkpoint folder (eval mode, CPU).

    Parameters
    ----------
    path : a checkpoint folder, or a run folder (its newest intact checkpoint is used).
    weights : ``"ema"`` (falls back to ``"model"`` when the run kept no EMA) or ``"model"``.
    kind : a key of :data:`CHECKPOINT_KINDS` the checkpoint must be of (None: any kind).

    Returns
    -------
    network, the checkpoint.json contents (``loaded_from``: the checkpoint folder,
    ``loaded_weights``: the weights file read).

    Raises
    ------
    InputFileError
        Not a checkpoint or run folder, a checkpoint of another kind than ``kind``, or
        weights that do not match the architecture (file and key named).
    """
    wanted = CHECKPOINT_KINDS[kind] if kind is not None else None
    path = Path(path)
    if not (path / ckpt.META_FILE).is_file():
        if not ckpt.list_checkpoints(path):
            what = f"{wanted.label} checkpoint" if wanted is not None else "checkpoint"
            raise InputFileError(path, None, f"neither a {what} folder nor a run folder with checkpoints")
        path = ckpt.newest_intact_checkpoint(path)  # a torn newest one is skipped with a warning
    doc = ckpt.read_checkpoint_meta(path)
    where = path / ckpt.META_FILE
    if wanted is not None:
        got = doc["arch"].get("kind") if isinstance(doc["arch"], dict) else None
        if got != kind:
            raise InputFileError(
                where,
                "arch.kind",
                f"expected a {wanted.label} checkpoint ({kind!r}), got {got!r} (train one with `{wanted.trained_by}`)",
            )
    model = build_model(doc["arch"], where=str(where))
    name = "ema.safetensors" if weights == "ema" and "ema.safetensors" in doc["files"] else "model.safetensors"
    ckpt.load_module_strict(path / name, model)
    model.eval()
    doc["loaded_from"] = str(path)
    doc["loaded_weights"] = name
    return model, doc


def load_swapper(path: str | Path, *, weights: str = "ema") -> tuple[IdentitySwapper, dict[str, Any]]:
    """:func:`load_model` of a swapper checkpoint (``kind="swapper"``).

    Returns
    -------
    swapper, the checkpoint.json contents (``meta`` holds ``identity_network``,
    ``student_agreement``, ``perceptual``, ...; ``loaded_from`` the checkpoint folder).
    """
    model, doc = load_model(path, weights=weights, kind=SWAPPER_KIND)
    return cast(IdentitySwapper, model), doc
