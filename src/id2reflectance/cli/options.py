"""The options every command spells the same way, and the retired spellings they replace.

One spelling per concept:

=================  ==========================================================================
``-o/--out``       what the command writes: a file or a folder, per command
``--dataset``      the input dataset folder (holding dataset.json)
``--no-progress``  do not draw progress bars (every command that draws them)
``--threads N``    in-process threads, N >= 1; not given: the command's automatic choice
``--workers N``    Dask worker processes (``id2r dataset build`` only)
``--device``       torch device, ``cpu`` unless given
``--uv-size``      UV map size, texels
``--image-size``   camera / view / render size, pixels
=================  ==========================================================================

A retired spelling (:data:`RETIRED`, and the positional OUT or DATASET some commands took)
keeps working as a hidden alias: it is not shown in ``--help``, using it prints a one-line
note on stderr naming the new spelling, and giving it together with the new spelling is a
usage error naming both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])

#: retired option spelling -> its replacement (``--workers`` is retired only where it meant threads)
RETIRED: dict[str, str] = {
    "--output": "-o/--out",
    "--data": "--dataset",
    "-q": "--no-progress",
    "--quiet": "--no-progress",
    "--size": "--image-size (pixels) or --uv-size (texels)",
    "--bake-size": "--uv-size",
    "--texture-size": "--uv-size",
    "--render-size": "--image-size",
}
#: ``--workers`` means Dask worker processes; where it meant threads it is retired for ``--threads``
WORKERS = "--workers"

_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _retired_values(ctx: click.Context) -> dict[str, tuple[str, Any]]:
    """Values given through a retired spelling, by the name of the parameter they stand for."""
    return ctx.meta.setdefault(f"id2reflectance.retired.{id(ctx)}", {})  # meta is shared by nested contexts


class CanonicalOption(click.Option):
    """An option spelled by this module; ``concept`` names what it means (``out``, ``dataset``, ...).

    It takes the value of a retired spelling given instead of it; giving both is a usage error.
    """

    def __init__(self, *args: Any, concept: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.concept = concept

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        retired = _retired_values(ctx).pop(self.name or "", None)
        if retired is not None:
            spelling, given = retired
            if ctx.get_parameter_source(self.name or "") in _GIVEN:
                new = "/".join(self.opts)
                raise click.UsageError(f"{spelling} and {new} both given; use only {new}", ctx=ctx)
            value = given
        return super().process_value(ctx, value)


class _Retired:
    """Shared by the hidden alias parameters: note on stderr, value handed to the new option."""

    name: str | None
    target: str
    spelling: str
    new: str
    transform: Callable[[Any], Any]

    def _hand_over(self, ctx: click.Context, value: Any) -> None:
        if ctx.resilient_parsing or ctx.get_parameter_source(self.name or "") not in _GIVEN:
            return
        click.echo(f"note: {self.spelling} is retired; use {self.new}", err=True)
        _retired_values(ctx)[self.target] = (self.spelling, self.transform(value))


class RetiredOption(_Retired, click.Option):
    """A retired option spelling: hidden, processed before the options it stands for."""

    def __init__(
        self, decls: Sequence[str], *, target: str, new: str, transform: Callable[[Any], Any], **kwargs: Any
    ) -> None:
        name = "retired_" + target + "_" + decls[-1].lstrip("-").replace("-", "_")
        super().__init__([*decls, name], hidden=True, expose_value=False, is_eager=True, **kwargs)
        self.target, self.new, self.transform = target, new, transform
        self.spelling = "/".join(decls)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        value = super().process_value(ctx, value)
        self._hand_over(ctx, value)
        return value


class RetiredArgument(_Retired, click.Argument):
    """A retired positional argument: optional, left out of the usage line."""

    def __init__(self, decls: Sequence[str], *, target: str, new: str, **kwargs: Any) -> None:
        metavar = decls[0]
        super().__init__(
            ["retired_" + target], required=False, metavar=metavar, expose_value=False, is_eager=True, **kwargs
        )
        self.target, self.new, self.transform = target, new, lambda v: v
        self.spelling = f"the positional {metavar}"

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        value = super().process_value(ctx, value)
        self._hand_over(ctx, value)
        return value


def _apply(fn: F, decorators: Sequence[Callable[[F], F]]) -> F:
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def _canonical(
    decls: Sequence[str],
    concept: str,
    *,
    retired: Sequence[str] = (),
    positional: str | None = None,
    retired_type: Any = None,
    transform: Callable[[Any], Any] = lambda v: v,
    **kwargs: Any,
) -> Callable[[F], F]:
    """Decorator adding the option ``decls`` and the hidden aliases of its retired spellings.

    ``retired_type`` (default: the option's type) reads a retired option's value and
    ``transform`` maps it onto the new option's meaning; ``positional`` names a retired
    positional argument (OUT, DATASET).
    """
    name = decls[-1].lstrip("-").replace("-", "_")
    new = "/".join(decls)
    for spelling in retired:
        if spelling not in RETIRED and spelling != WORKERS:
            raise ValueError(f"{spelling} is not listed in id2reflectance.cli.options.RETIRED")
    param_type = kwargs.get("type")
    decorators: list[Callable[[F], F]] = []
    if positional is not None:
        decorators.append(click.argument(positional, cls=RetiredArgument, target=name, new=new, type=param_type))
    decorators.append(click.option(*decls, name, cls=CanonicalOption, concept=concept, **kwargs))
    for spelling in retired:
        alias: dict[str, Any] = {"is_flag": True} if kwargs.get("is_flag") else {"type": retired_type or param_type}
        decorators.append(click.option(spelling, cls=RetiredOption, target=name, new=new, transform=transform, **alias))

    def decorate(fn: F) -> F:
        return _apply(fn, decorators)

    return decorate


def out_option(
    *,
    help: str,
    required: bool = True,
    default: Path | None = None,
    file_okay: bool = True,
    dir_okay: bool = True,
    retired: Sequence[str] = (),
    positional: bool = False,
) -> Callable[[F], F]:
    """``-o/--out PATH``: what the command writes (a file or a folder, per command).

    ``positional``: the command took OUT as its positional argument before; it keeps
    working, hidden.
    """
    given_default = {} if default is None else {"default": default, "show_default": True}  # an explicit None
    return _canonical(  # default would count as a value and let a required option go missing
        ("-o", "--out"),
        "out",
        retired=retired,
        positional="OUT" if positional else None,
        type=click.Path(file_okay=file_okay, dir_okay=dir_okay, path_type=Path),
        required=required and default is None,
        help=help,
        **given_default,
    )


def dataset_option(
    *,
    help: str = "Dataset folder (holding dataset.json).",
    required: bool = True,
    retired: Sequence[str] = (),
    positional: bool = False,
) -> Callable[[F], F]:
    """``--dataset PATH``: the input dataset folder."""
    return _canonical(
        ("--dataset",),
        "dataset",
        retired=retired,
        positional="DATASET" if positional else None,
        type=click.Path(path_type=Path),
        required=required,
        help=help,
    )


def progress_option(*, retired: Sequence[str] = ()) -> Callable[[F], F]:
    """``--no-progress`` flag; pass ``enabled=not no_progress`` to :func:`~id2reflectance.cli.progress.progress_bar`."""
    return _canonical(("--no-progress",), "progress", retired=retired, is_flag=True, help="Do not draw progress bars.")


def env_cache_option() -> Callable[[F], F]:
    """``--no-env-cache`` flag: prefilter environments without the on-disk cache (also ``ID2R_ENV_CACHE=0``)."""
    return _canonical(
        ("--no-env-cache",),
        "env_cache",
        is_flag=True,
        help="Do not read or write the cache of prefiltered environments ($ID2R_CACHE_DIR/environments).",
    )


def _zero_is_automatic(value: int | None) -> int | None:
    return value or None  # the retired --workers 0 meant the command's automatic choice


def threads_option(*, help: str, retired: Sequence[str] = ()) -> Callable[[F], F]:
    """``--threads N`` (int >= 1, or None when not given: the command's automatic choice).

    ``help`` names the threads and the automatic choice. A retired ``--workers`` alias takes
    0 for the automatic choice, as before.
    """
    return _canonical(
        ("--threads",),
        "threads",
        retired=retired,
        retired_type=click.IntRange(0),
        transform=_zero_is_automatic,
        type=click.IntRange(1),
        default=None,
        help=help,
    )


def workers_option(*, help: str, default: int = 0) -> Callable[[F], F]:
    """``--workers N``: Dask worker processes (nothing else is spelled ``--workers``)."""
    return _canonical(("--workers",), "workers", type=click.IntRange(0), default=default, show_default=True, help=help)


class DeviceType(click.ParamType):
    """A torch device name: ``cpu``, ``cuda`` or ``cuda:N``."""

    name = "device"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not _DEVICE.fullmatch(text):
            self.fail(f"expected cpu, cuda or cuda:N, got {text!r}", param, ctx)
        return text


def device_option(*, help: str = "Torch device: cpu, cuda, cuda:1, ...") -> Callable[[F], F]:
    """``--device`` (default ``cpu``)."""
    return _canonical(("--device",), "device", type=DeviceType(), default="cpu", show_default=True, help=help)


def _size_option(
    flag: str, dest: str, *, help: str, default: Any, type: Any, retired: Sequence[str]
) -> Callable[[F], F]:
    return _canonical(
        (flag,), dest, retired=retired, type=type, default=default, show_default=default is not None, help=help
    )


def uv_size_option(
    *, help: str, default: int | None = None, type: Any = int, retired: Sequence[str] = ()
) -> Callable[[F], F]:
    """``--uv-size N``: UV map size, texels (``help`` says so, with the command's limits)."""
    return _size_option("--uv-size", "uv_size", help=help, default=default, type=type, retired=retired)


def image_size_option(
    *, help: str, default: Any = None, type: Any = int, retired: Sequence[str] = ()
) -> Callable[[F], F]:
    """``--image-size``: camera, view or render size, pixels."""
    return _size_option("--image-size", "image_size", help=help, default=default, type=type, retired=retired)


def template_option(*, help: str, default: str | None = "auto") -> Callable[[F], F]:
    """``--template procedural|face_model|auto``: the shared UV space (docs/template.md)."""
    return _canonical(
        ("--template",),
        "template",
        type=click.Choice(["procedural", "face_model", "auto"]),
        default=default,
        show_default=default is not None,
        help=help,
    )
