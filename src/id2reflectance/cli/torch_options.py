"""Options shared by the commands that run torch models (train, eval, infer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from id2reflectance.cli.options import dataset_option, device_option, progress_option, threads_option

F = TypeVar("F", bound=Callable[..., Any])

THREADS_HELP = "CPU threads for torch [torch default]; 1 is much faster on a busy shared CPU."


def torch_threads_option(fn: F) -> F:
    """``--threads N`` for torch; apply it with :func:`set_threads`."""
    return threads_option(help=THREADS_HELP)(fn)


def ita_calibration_option(fn: F) -> F:
    """``--ita-calibration`` flag of the commands that retrieve templates (``InferConfig.ita_calibration``)."""
    return click.option(
        "--ita-calibration",
        is_flag=True,
        help="Map the photo's measured ITA onto the albedo scale (a fit over the templates' full-on front "
        "views) before retrieval; only for photos lit and exposed like those views.",
    )(fn)


def skin_tone_option(fn: F) -> F:
    """``--skin-tone eye-white|photo`` of the commands that retrieve templates (``InferConfig.skin_tone``)."""
    return click.option(
        "--skin-tone",
        type=click.Choice(["eye-white", "photo"]),
        default="eye-white",
        show_default=True,
        help="The face's skin tone for retrieval: the skin referenced to the eye whites (stable under the "
        "photo's exposure and white balance; the photo's colour when no eye white is usable) or the photo's colour.",
    )(fn)


def ita_weight_option(fn: F) -> F:
    """``--ita-weight W`` of the commands that retrieve templates (``InferConfig.ita_weight``)."""
    return click.option(
        "--ita-weight",
        type=float,
        default=0.01,
        show_default=True,
        help="Retrieval: score = cos(identity) - w * |ITA difference| (per degree).",
    )(fn)


def prediction_option(*, default: str | None = "decode", default_help: str = "") -> Callable[[F], F]:
    """``--prediction decode|template-residual|template-tone`` (``InferConfig.output``, underscored);
    ``default`` None leaves the choice to the command (``default_help`` says what it is)."""

    def deco(fn: F) -> F:
        return click.option(
            "--prediction",
            type=click.Choice(["decode", "template-residual", "template-tone"]),
            default=default,
            show_default=default is not None,
            help="decode: the swapped decoder's maps (the paper's design); template-residual: the template's own "
            "maps plus the change the identity makes (swapped minus unswapped decoder outputs); template-tone: the "
            "template's own maps, diffuse albedo scaled per channel to the photo's skin tone as the stage-2 model "
            "sees it." + (f" [default: {default_help}]" if default is None else ""),
        )(fn)

    return deco


def front_view_option(fn: F) -> F:
    """``--front-view template|photo`` (``InferConfig.front_view``)."""
    return click.option(
        "--front-view",
        type=click.Choice(["template", "photo"]),
        default="template",
        show_default=True,
        help="template: every view is the swapped template view (the paper's design); photo: the front view "
        "is predicted from the photo itself (its own skin tone and marks), the side views from the template. "
        "Needs --prediction decode.",
    )(fn)


def training_options(fn: F) -> F:
    """``--dataset``, ``--resume``, ``--device``, ``--threads``, ``--no-progress`` of a training command."""
    for deco in reversed(
        (
            dataset_option(retired=("--data",)),
            click.option("--resume", is_flag=True, help="Continue the newest checkpoint in --out."),
            device_option(),
            torch_threads_option,
            progress_option(),
        )
    ):
        fn = deco(fn)
    return fn


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` unless None (torch is imported only then)."""
    if threads is not None:
        import torch  # heavy: imported only when asked for, keeps `id2r --help` fast

        torch.set_num_threads(threads)
