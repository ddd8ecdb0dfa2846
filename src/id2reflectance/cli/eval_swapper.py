"""``id2r eval swapper``: held-out evaluation of identity-swapper checkpoints."""

from __future__ import annotations

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
    torch_threads_option,
)


def _variants(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    return () if names == ("none",) else names


@click.command("swapper")
@dataset_option()
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    required=True,
    metavar="[LABEL=]PATH",
    help="Swapper run or checkpoint folder, optionally labelled; repeat for ablations (labels like n8, n16 "
    "give the scaling curve when the run does not record its training subjects).",
)
@out_option(help="Report folder (replaced).")
@click.option("--split", default="test", show_default=True, help="Split of the held-out subjects.")
@click.option(
    "--fixed-template",
    default=None,
    help="Template of the fixed-template ablation row [default: the first training subject].",
)
@click.option("--no-template-ablation", is_flag=True, help="Skip the fixed-template row.")
@click.option(
    "--variants",
    default="photo-front,template-tone",
    show_default=True,
    help="Comma-separated prediction variants added as rows for the first checkpoint (decode, "
    "template-residual, template-tone, photo-front), or 'none'.",
)
@click.option(
    "--no-template-maps",
    is_flag=True,
    help="Skip the retrieval-only baseline row (the retrieved template's own ground-truth maps).",
)
@click.option(
    "--views",
    default="front,left,right",
    show_default=True,
    help="Comma-separated views to predict and compare.",
)
@click.option(
    "--environments",
    default=None,
    help="Comma-separated input photos (full, env0, ...) [default: every one in the dataset].",
)
@click.option(
    "--arcface",
    type=click.Path(path_type=Path),
    default=None,
    help="Local ArcFace weights for the identity-similarity metric [default: dlib].",
)
@click.option(
    "--lpips-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Local LPIPS weights (.safetensors); without them LPIPS is reported as unavailable.",
)
@click.option("--no-uv", is_flag=True, help="Skip the UV-space comparison (no mesh stitching, no OpenEXR).")
@uv_size_option(default=256, help="Size of the predicted UV maps, texels.")
@click.option("--max-subjects", type=click.IntRange(1), default=None, help="Evaluate only the first N subjects.")
@device_option(help="Torch device of the swapper: cpu, cuda, cuda:1, ...")
@ita_calibration_option
@ita_weight_option
@prediction_option()
@front_view_option
@torch_threads_option
@progress_option()
def eval_swapper_cmd(
    dataset: Path,
    checkpoints: tuple[str, ...],
    out: Path,
    split: str,
    fixed_template: str | None,
    no_template_ablation: bool,
    variants: str,
    no_template_maps: bool,
    views: str,
    environments: str | None,
    arcface: Path | None,
    lpips_weights: Path | None,
    no_uv: bool,
    uv_size: int,
    max_subjects: int | None,
    device: str,
    ita_calibration: bool,
    ita_weight: float,
    prediction: str,
    front_view: str,
    threads: int | None,
    no_progress: bool,
) -> None:
    """Evaluate swapper CHECKPOINTs on the held-out subjects of DATASET.

    Each held-out subject's aligned front photo (full-on and every environment) is the
    input; its identity is embedded, the reflectance predicted (never with the subject as
    template) and compared with the subject's own maps: PSNR/SSIM per view and domain,
    PSNR in UV space, LPIPS (with local weights), identity similarity of a rendering, and
    the FAIR skin-tone scores. Writes report.md, report.html, metrics.json and figures to
    --out and prints the main table.

    \b
    Examples:
      id2r eval swapper --dataset data/ds --checkpoint runs/sw -o reports/sw
      id2r eval swapper --dataset data/ds --checkpoint l16_32=runs/sw_a \\
          --checkpoint l16_32_64=runs/sw_b -o reports/levels --fixed-template S0003
      id2r eval swapper --dataset data/ds --checkpoint n8=runs/n8 --checkpoint n16=runs/n16 \\
          --checkpoint n32=runs/n32 -o reports/scaling --no-template-ablation --threads 1
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.evaluation.report import format_table, write_report
    from id2reflectance.evaluation.swapper import SwapperEvalConfig, evaluate_swapper, parse_checkpoint_spec

    set_threads(threads)
    config = SwapperEvalConfig(
        split=split,
        views=tuple(v.strip() for v in views.split(",") if v.strip()),
        environments=tuple(e.strip() for e in environments.split(",") if e.strip()) if environments else None,
        fixed_template=fixed_template,
        template_ablation=not no_template_ablation,
        variants=_variants(variants),
        template_maps=not no_template_maps,
        uv=not no_uv,
        ita_calibration=ita_calibration,
        ita_weight=ita_weight,
        output=prediction.replace("-", "_"),  # type: ignore[arg-type]
        front_view=front_view,  # type: ignore[arg-type]
        uv_size=uv_size,
        lpips_weights=None if lpips_weights is None else str(lpips_weights),
        arcface=None if arcface is None else str(arcface),
        max_subjects=max_subjects,
        device=device,
    )
    specs = [parse_checkpoint_spec(c) for c in checkpoints]
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        evaluation = evaluate_swapper(dataset, specs, config, progress=progress)
        write_report(evaluation, out)
    click.echo(format_table(evaluation.metrics))
    click.echo(f"wrote {out}/report.md, report.html, metrics.json")
