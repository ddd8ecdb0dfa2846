"""``id2r infer``: photos in, reflectance assets out (monocular inference)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import (
    dataset_option,
    device_option,
    out_option,
    progress_option,
    uv_size_option,
)
from id2reflectance.cli.progress import progress_bar
from id2reflectance.cli.torch_options import (
    front_view_option,
    ita_calibration_option,
    ita_weight_option,
    prediction_option,
    set_threads,
    skin_tone_option,
    torch_threads_option,
)
from id2reflectance.errors import Id2rError


def _views(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@click.command("infer")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@out_option(help="Output folder.")
@dataset_option(help="Built dataset whose subjects are the templates (views + mesh_vertices.npy).")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="Swapper run folder or checkpoint folder (id2r train swapper).",
)
@click.option("--template", default=None, help="Use this template subject instead of the closest one.")
@click.option(
    "--template-split",
    type=click.Choice(["train", "val", "test", "all"]),
    default="train",
    show_default=True,
    help="Dataset split the templates come from.",
)
@click.option("--all-faces", is_flag=True, help="Process every face of a photo (default: several faces is an error).")
@click.option("--views", default="front,left,right", show_default=True, help="Views to predict and stitch.")
@uv_size_option(default=512, help="UV map size, texels (a power of two from 256 to 8192).")
@ita_weight_option
@device_option()
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Template-embedding cache [default: $ID2R_CACHE_DIR or ~/.cache/id2reflectance].",
)
@ita_calibration_option
@skin_tone_option
@prediction_option(
    default=None,
    default_help="template-tone, the better prediction for real photos (docs/evaluation.md); decode with "
    "--front-view photo",
)
@front_view_option
@torch_threads_option
@progress_option()
def infer_cmd(
    photos: tuple[Path, ...],
    out: Path,
    dataset: Path,
    checkpoint: Path,
    template: str | None,
    template_split: str,
    all_faces: bool,
    views: str,
    uv_size: int,
    ita_weight: float,
    device: str,
    cache_dir: Path | None,
    ita_calibration: bool,
    skin_tone: str,
    prediction: str | None,
    front_view: str,
    threads: int | None,
    no_progress: bool,
) -> None:
    """Predict reflectance assets from PHOTOS (image files or folders of images).

    Each face is detected, aligned, embedded (dlib identity), matched to the closest
    template subject of --dataset (identity and skin tone), swapped by the identity
    swapper of --checkpoint in every view, and stitched into the template's UV space.
    Writes OUT/<photo>/asset (an asset folder for id2r relight, export and report),
    OUT/<photo>/views/<view>/*.png, aligned.png and prediction.json, and OUT/infer.json.
    A photo that fails leaves nothing behind. Exit code 0: all photos done; 1: some
    failed (listed); 2: bad input (every photo failed, or a bad checkpoint or dataset).

    \b
    Examples:
      id2r infer portrait.jpg -o out/ --dataset data/ds --checkpoint runs/swapper
      id2r infer photos/ -o out/ --dataset data/ds --checkpoint runs/swapper --uv-size 1024
      id2r infer group.jpg -o out/ --dataset data/ds --checkpoint runs/swapper --all-faces
      id2r infer me.png -o out/ --dataset data/ds --checkpoint runs/swapper --template S0012 --views front
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.inference.batch import infer_photos, summary_table
    from id2reflectance.inference.predictor import InferConfig, Inferencer, photo_output

    set_threads(threads)
    config = InferConfig(
        views=_views(views),
        uv_size=uv_size,
        template=template,
        template_split=template_split,
        ita_weight=ita_weight,
        ita_calibration=ita_calibration,
        skin_tone=skin_tone.replace("-", "_"),  # type: ignore[arg-type]
        output=photo_output(front_view) if prediction is None else prediction.replace("-", "_"),  # type: ignore[arg-type]
        front_view=front_view,  # type: ignore[arg-type]
        all_faces=all_faces,
        device=device,
        cache_dir=None if cache_dir is None else str(cache_dir),
    )
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:  # before loading the model
        inferencer = Inferencer(checkpoint, dataset, config)
        report = infer_photos(photos, out, inferencer=inferencer, progress=progress)
    if report.succeeded:
        click.echo(summary_table(report))
        click.echo(f"wrote {len(report.succeeded)} photo(s) to {out}")
    for r in report.succeeded:
        for face in r.faces:
            for warning in face["warnings"]:
                click.echo(f"warning: {r.photo.name} (face {face['face_index']}): {warning}", err=True)
    for r in report.failed:
        click.echo(f"error: {r.error}", err=True)
    if report.failed:
        if not report.succeeded:
            raise Id2rError(f"no photo could be processed ({len(report.failed)} failed)")
        click.echo(f"{len(report.failed)} of {len(report.results)} photo(s) failed", err=True)
        sys.exit(1)
