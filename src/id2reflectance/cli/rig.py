"""``id2r rig``: write a calibrated rig into sessions."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("rig")
def rig_cmd() -> None:
    """Work with calibrated rigs (rig.json from ``id2r calibrate cameras``)."""


@rig_cmd.command("apply")
@click.argument("rig", type=click.Path(path_type=Path))
@click.argument("sessions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--colour",
    "colour",
    type=click.Path(path_type=Path),
    default=None,
    help="colour.json whose color_matrix replaces the rig's.",
)
@click.option(
    "--align",
    is_flag=True,
    help="Keep each session's world frame: rigidly fit the rig to the session's current cameras first.",
)
def apply_cmd(rig: Path, sessions: tuple[Path, ...], colour: Path | None, align: bool) -> None:
    """Write RIG's cameras (and colour matrix) into each SESSION's session.json.

    Every session is validated before and after; if any fails, none is written.

    \b
    Examples:
      id2r rig apply rig.json sessions/S0000 sessions/S0001
      id2r rig apply rig.json sessions/* --colour colour.json --align
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.capture.rig import apply_rig, read_colour_matrix, read_rig

    rig_file = read_rig(rig)
    matrix = read_colour_matrix(colour) if colour is not None else None
    done = apply_rig(rig_file, list(sessions), align=align, color_matrix=matrix)
    for folder, info in done.items():
        extra = " + color_matrix" if info["color_matrix"] else ""
        if info["align_residual_mm"] is not None:
            extra += f", aligned (residual {info['align_residual_mm']:.2f} mm)"
        click.echo(f"{folder}: cameras {', '.join(info['cameras'])}{extra}")
