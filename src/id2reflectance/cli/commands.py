"""The top-level commands, one module per stage, imported only when run.

Each command's module imports its stage's library (together about a second of imports);
``id2r solve`` loads only the solve's (:class:`LazyGroup`), ``id2r --help`` loads them all.
"""

from __future__ import annotations

import importlib

import click

COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "validate": ("validate", "validate_cmd"),
    "simulate": ("simulate", "simulate_cmd"),
    "calibrate": ("calibrate", "calibrate_cmd"),
    "rig": ("rig", "rig_cmd"),
    "solve": ("solve", "solve_cmd"),
    "bake": ("bake", "bake_cmd"),
    "report": ("report", "report_cmd"),
    "relight": ("relight", "relight_cmd"),
    "export": ("export", "export_cmd"),
    "infer": ("infer", "infer_cmd"),
    "train": ("train", "train_group"),
    "eval": ("train", "eval_group"),
    "demo": ("demo", "demo_cmd"),
    "dataset": ("dataset", "dataset_group"),
}
"""Command name -> (module under ``id2reflectance.cli``, attribute), in ``--help`` order."""

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("eval_swapper", "eval_swapper_cmd"),  # `id2r eval swapper` beside `id2r eval codebook`
    "train": ("train_swapper", "train_swapper_cmd"),  # `id2r train swapper` beside `id2r train codebook`
}


def _attr(module: str, name: str) -> click.Command:
    return getattr(importlib.import_module(f"id2reflectance.cli.{module}"), name)


def load_command(name: str) -> click.Command | None:
    """The command ``name`` (importing its module and library), or None when there is none."""
    if name not in COMMAND_MODULES:
        return None
    cmd = _attr(*COMMAND_MODULES[name])
    if name in SUBCOMMANDS and isinstance(cmd, click.Group):
        sub = _attr(*SUBCOMMANDS[name])
        cmd.add_command(sub)
    return cmd


def all_commands() -> list[click.Command]:
    """Every top-level command, in ``--help`` order (imports every stage's library)."""
    return [c for c in map(load_command, COMMAND_MODULES) if c is not None]
