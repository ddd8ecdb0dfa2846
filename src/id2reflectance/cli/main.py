"""The ``id2r`` command group.

Every command parses its options, builds a config and calls one library function.
An :class:`Id2rError` becomes a one-line message on stderr and exit code 2 (a traceback
only with ``--debug``); so does an OS error that means an output cannot be written (disk
full, read-only folder) where it escapes the atomic writers.
"""

from __future__ import annotations

import logging
import sys

import click

from id2reflectance import __version__
from id2reflectance._shared.atomic import WRITE_ERRNOS
from id2reflectance._shared.collector import allow_freeze, freeze
from id2reflectance.errors import Id2rError, SessionInvalidError


class _Group(click.Group):
    """Click group that renders library errors as one clear line and exit code 2, and
    imports a command's module (and its library) only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from id2reflectance.cli.commands import COMMAND_MODULES

        return list(dict.fromkeys([*COMMAND_MODULES, *self.commands]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            from id2reflectance.cli.commands import load_command

            cmd = load_command(cmd_name)
            if cmd is not None:
                self.add_command(cmd)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SessionInvalidError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            for p in err.problems:
                click.echo(f"error: {p}", err=True)
            sys.exit(2)
        except Id2rError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except OSError as err:  # disk full, read-only, no permission: outside the atomic writers
            if err.errno not in WRITE_ERRNOS or (ctx.obj and ctx.obj.get("debug")):
                raise
            where = f"{err.filename}: " if err.filename is not None else ""
            click.echo(f"error: {where}{WRITE_ERRNOS[err.errno]}", err=True)
            sys.exit(2)
        except MemoryError:
            click.echo("error: out of memory; try smaller tiles or fewer workers", err=True)
            sys.exit(3)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="id2r")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """id2reflectance: light-stage captures to relightable reflectance assets.

    \b
    Typical run:
      id2r simulate -o sessions/ --subjects 2 --seed 0
      id2r validate sessions/S0000
      id2r solve sessions/S0000 -o solved/S0000
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    """Register every command now (tests; ``id2r`` itself loads each one when it is run)."""
    from id2reflectance.cli.commands import all_commands

    for cmd in all_commands():
        cli.add_command(cmd)


def main() -> None:
    """Entry point of the ``id2r`` console script (commands are loaded lazily).

    The process ends after the command: what is alive then (imported modules, numba's
    compiler state: about 120 000 objects after ``id2r solve``) is frozen, so that the
    interpreter's shutdown does not walk it for garbage (about 0.25 CPU s after a solve;
    :func:`~id2reflectance._shared.collector.freeze`).
    """
    allow_freeze()  # this process ends with the command (library users' processes are never frozen)
    try:
        cli(prog_name="id2r")
    finally:
        freeze()


if __name__ == "__main__":
    main()
