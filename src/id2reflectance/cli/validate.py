"""``id2r validate``: check a session folder and summarise it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from id2reflectance.capture.validate import validate_session


@click.command("validate")
@click.argument("session", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-images", is_flag=True, help="Check session.json only, do not decode frames.")
def validate_cmd(session: Path, as_json: bool, no_images: bool) -> None:
    """Check SESSION against the session format; list every problem.

    Each problem names the file and the JSON path at fault. Exit code 0 when valid,
    1 when any problem is found. A valid session prints a summary: cameras, patterns,
    resolution, dynamic range and saturated-pixel counts.

    \b
    Examples:
      id2r validate sessions/S0000
      id2r validate sessions/S0000 --json > report.json
    """
    report = validate_session(session, images=not no_images)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for p in report.problems:
            click.echo(f"error: {p}", err=True)
        for w in report.warnings:
            click.echo(f"warning: {w}", err=True)
        if report.ok:
            click.echo(f"{session}: valid")
            for line in report.summary_lines():
                click.echo(line)
        else:
            click.echo(f"{session}: {len(report.problems)} problem(s)", err=True)
    sys.exit(0 if report.ok else 1)
