"""``id2r report``: one self-contained HTML QA report."""

from __future__ import annotations

from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import image_size_option, out_option, uv_size_option
from id2reflectance.report.build import ReportConfig, build_report


@click.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@out_option(help="HTML file to write.", retired=("--output",))
@click.option(
    "--session",
    type=click.Path(path_type=Path),
    default=None,
    help="The session of a solve folder, or of an asset (accuracy against its ground truth).",
)
@click.option("--no-renders", is_flag=True, help="Skip relit renders of assets (faster).")
@image_size_option(default=256, help="Size of each relit render, pixels.", retired=("--render-size",))
@click.option("--no-viewer", is_flag=True, help="Leave out the interactive 3D viewer of assets (smaller, faster page).")
@uv_size_option(default=512, help="Texels per side of the maps embedded for the viewer (a power of two).")
@click.option(
    "--subject-pages", is_flag=True, help="Dataset: also write a viewer page per subject, linked from its thumbnail."
)
def report_cmd(
    path: Path,
    out: Path,
    session: Path | None,
    no_renders: bool,
    image_size: int,
    no_viewer: bool,
    uv_size: int,
    subject_pages: bool,
) -> None:
    """Write a QA report of PATH: a session, a solve, an asset or a dataset folder.

    The HTML file embeds every image (no side files): input thumbnails with saturated
    pixels in red, solver and UV maps, coverage, warnings, statistics, relit renders,
    error maps where the simulator's ground truth exists; for an asset, an interactive
    WebGL viewer (orbit, zoom, the eight built-in HDR environments, rotation, exposure,
    per-map views) shading as `id2r relight`, map histograms and per-region figures; for a
    dataset, per-subject status, subjects per skin type and split, the skin-tone (ITA)
    histogram and thumbnails (linked to per-subject viewer pages with --subject-pages).

    \b
    Examples:
      id2r report sessions/S0000 -o S0000_capture.html
      id2r report solved/S0000 --session sessions/S0000 -o S0000_solve.html
      id2r report assets/S0000 -o S0000_asset.html
      id2r report dataset/ -o dataset.html
    """
    cfg = ReportConfig(
        renders=not no_renders,
        render_size=image_size,
        session=session,
        viewer=not no_viewer,
        viewer_map_size=uv_size,
        subject_pages=subject_pages,
    )
    with output_lock(out):
        written = build_report(path, out, config=cfg)
    click.echo(f"wrote {written}")
