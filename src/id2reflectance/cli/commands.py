"""The list of top-level commands, one module per stage."""

from __future__ import annotations

import click

from id2reflectance.cli.validate import validate_cmd

COMMANDS: list[click.Command] = [
    validate_cmd,
]
