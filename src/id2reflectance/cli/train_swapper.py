"""``id2r train swapper``: the identity-conditioned swapper on a trained stage-2 model."""

from __future__ import annotations

import os
from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import out_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.cli.torch_options import set_threads, training_options


@click.command("swapper")
@click.option(
    "--config",
    "config_src",
    required=True,
    help="TOML/YAML config file, or a preset name: paper_512, cpu_128, tiny (same resolution as the base).",
)
@click.option(
    "--base",
    type=click.Path(path_type=Path),
    default=None,
    help="Stage-2 run or checkpoint folder (id2r train codebook --stage 2); optional with --resume.",
)
@out_option(required=False, help="Run folder [default: runs/swapper].")
@click.option(
    "--photos",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of real face photos (.png/.jpg) added to the training faces; photos without exactly one "
    "face are skipped with a warning.",
)
@click.option(
    "--arcface",
    type=click.Path(path_type=Path),
    default=None,
    help="Local ArcFace IResNet weights (.safetensors/.pt): identity network and 512-d embeddings "
    "[default: a student distilled from dlib, 128-d].",
)
@click.option(
    "--max-subjects",
    type=click.IntRange(1),
    default=None,
    help="Train on the first N training subjects only (data-scaling curve).",
)
@training_options
def train_swapper_cmd(
    config_src: str,
    dataset: Path,
    base: Path | None,
    out: Path | None,
    photos: Path | None,
    arcface: Path | None,
    resume: bool,
    device: str,
    threads: int | None,
    max_subjects: int | None,
    no_progress: bool,
) -> None:
    """Train the ID2Reflectance identity swapper on the RGB views of --dataset.

    The stage-2 model of --base stays frozen; identity-conditioned AdaIN layers in its
    decoder (at the config's swapper.levels) learn to turn a template face into a face
    with a given identity embedding, and, through the same decoder, every reflectance
    map. Losses: identity (a dlib-distilled student network, or ArcFace with --arcface),
    L1 (+ perceptual when configured) on same-identity pairs, and a hinge GAN loss after
    train.disc_start. Writes run.json, config.yaml, metrics.jsonl, the identity student and
    safetensors checkpoints into --out, and prints a summary with the identity similarity
    of a few held-out pairs.

    \b
    Examples:
      id2r train swapper --config cpu_128 --dataset data/ds --base runs/s2 -o runs/swap --threads 1
      id2r train swapper --config tiny --dataset data/ds --base runs/s2 -o runs/swap16 --max-subjects 16
      id2r train swapper --config cpu_128 --dataset data/ds --base runs/s2 -o runs/swap_arc \\
          --arcface weights/arcface_r100.safetensors --photos photos/
      id2r train swapper --config runs/swap/config.yaml --dataset data/ds -o runs/swap --resume
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.model.swapper.config import load_swapper_config
    from id2reflectance.training.swapper import train_swapper

    cfg = load_swapper_config(config_src)
    set_threads(threads)
    out = out or Path("runs") / "swapper"
    with (
        output_lock(out, enabled=os.environ.get("RANK", "0") == "0"),
        progress_bar(enabled=not no_progress) as progress,
    ):
        result = train_swapper(
            cfg,
            data=dataset,
            base=base,
            out=out,
            photos=photos,
            arcface=arcface,
            resume=resume,
            device=device,
            max_subjects=max_subjects,
            progress=progress,
        )
    m = result.metrics
    click.echo(f"{result.run_dir}: {result.step} steps, last checkpoint {result.checkpoint.name}")
    losses = ", ".join(
        f"{k} {m[k]:.4f}" for k in ("loss", "identity", "l1_same", "perceptual_same", "g_loss", "d_loss") if k in m
    )
    if losses:
        click.echo(f"final losses: {losses}")
    if result.identity_network == "arcface":
        click.echo("identity network: ArcFace")
    else:
        agreement = result.student_agreement
        click.echo(
            "identity network: student distilled from dlib"
            + (f", held-out cosine agreement {agreement:.3f}" if agreement is not None else "")
        )
    h = result.heldout
    if h:
        click.echo(
            f"held-out identity similarity ({h['teacher']}, {h['pairs']} pairs): swapped {h['sim_swapped']:.3f} "
            f"vs template {h['sim_template']:.3f}"
        )
    else:
        click.echo("held-out identity similarity: no held-out subject in the eval split")
    if not result.perceptual:
        click.echo("note: trained without the perceptual loss (no train.perceptual_weights)")
