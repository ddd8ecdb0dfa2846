"""``id2r train codebook`` and ``id2r eval codebook``: the reflectance codebook model."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import dataset_option, device_option, out_option, progress_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.cli.torch_options import set_threads, torch_threads_option, training_options


@click.group("train")
def train_group() -> None:
    """Train models from a built dataset."""


@train_group.command("codebook")
@click.option(
    "--stage", type=click.IntRange(1, 2), required=True, help="1: shared codebook; 2: domain codebooks + fusion."
)
@click.option(
    "--config",
    "config_src",
    required=True,
    help="TOML/YAML config file, or a preset name: paper_512, cpu_128, tiny.",
)
@out_option(required=False, help="Run folder [default: runs/codebook-stage<N>].")
@click.option(
    "--init",
    "init_from",
    type=click.Path(path_type=Path),
    default=None,
    help="Stage 2: the stage-1 run (or checkpoint) folder to start from.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Override train.seed (initialisation, data order, augmentation) [the config's].",
)
@training_options
def train_codebook_cmd(
    stage: int,
    config_src: str,
    dataset: Path,
    out: Path | None,
    resume: bool,
    init_from: Path | None,
    seed: int | None,
    device: str,
    threads: int | None,
    no_progress: bool,
) -> None:
    """Train the reflectance codebooks (VQGAN) on --dataset.

    Stage 1 learns one shared codebook on RGB faces and reflectance maps mixed half and
    half; stage 2 copies it into one codebook per domain (diffuse, specular, roughness,
    normal), fine-tunes them with the shared encoder/decoder and trains the fusion module.
    Every run writes run.json (config, git revision, dataset checksum), config.yaml,
    metrics.jsonl and safetensors checkpoints into --out. Multi-GPU: launch with torchrun.

    \b
    Examples:
      id2r train codebook --stage 1 --config cpu_128 --dataset data/ds -o runs/s1 --threads 1
      id2r train codebook --stage 2 --config cpu_128 --dataset data/ds --init runs/s1 -o runs/s2
      id2r train codebook --stage 1 --config runs/s1/config.yaml --dataset data/ds -o runs/s1 --resume
      torchrun --nproc_per_node 4 -m id2reflectance.cli.main train codebook --stage 1 \\
          --config my512.yaml --dataset data/ds -o runs/s1_512 --device cuda
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.model.codebook.config import load_run_config
    from id2reflectance.training.codebook import train_codebook

    cfg = load_run_config(config_src)
    if seed is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
    set_threads(threads)
    out = out or Path("runs") / f"codebook-stage{stage}"
    with (
        output_lock(out, enabled=os.environ.get("RANK", "0") == "0"),
        progress_bar(enabled=not no_progress) as progress,
    ):
        result = train_codebook(
            cfg,
            stage=stage,  # type: ignore[arg-type]
            data=dataset,
            out=out,
            resume=resume,
            init_from=init_from,
            device=device,
            progress=progress,
        )
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return
    loss = result.metrics.get("loss")
    click.echo(
        f"{result.run_dir}: {result.step} steps, last checkpoint {result.checkpoint.name}"
        + (f", loss {loss:.4f}" if loss is not None else "")
        + ("" if result.perceptual else " (no perceptual loss)")
    )


@click.group("eval")
def eval_group() -> None:
    """Evaluate trained models."""


@eval_group.command("codebook")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@dataset_option(retired=("--data",))
@click.option("--split", default=None, help="train, val, test or all [default: the run's data.eval_split].")
@click.option("--weights", type=click.Choice(["ema", "model"]), default="ema", show_default=True)
@click.option("--batch", "batch_size", type=click.IntRange(1), default=8, show_default=True)
@device_option()
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write results as JSON.")
@click.option(
    "--lpips-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Local LPIPS-style weights (.safetensors) to also report LPIPS; omitted: no LPIPS figure.",
)
@torch_threads_option
@progress_option()
def eval_codebook_cmd(
    runs: tuple[Path, ...],
    dataset: Path,
    split: str | None,
    weights: str,
    batch_size: int,
    device: str,
    json_out: Path | None,
    lpips_weights: Path | None,
    threads: int | None,
    no_progress: bool,
) -> None:
    """PSNR per domain and codebook usage of one or more RUNS (run or checkpoint folders).

    For each run: reconstruction through its codebooks (stage 1: the shared codebook;
    stage 2: each domain's codebook, or the single one of a joint run) and, for stage 2,
    prediction from RGB through the fusion module. Passing a multi-domain and a joint run
    gives the codebook ablation table.

    \b
    Examples:
      id2r eval codebook runs/s2 --dataset data/ds
      id2r eval codebook runs/s1 runs/s2_joint runs/s2 --dataset data/ds --json ablation.json
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance._shared.atomic import atomic_write_json
    from id2reflectance.evaluation.codebook import evaluate_codebook, format_table

    set_threads(threads)
    results = []
    with progress_bar(enabled=not no_progress) as progress:
        for run in runs:
            results.append(
                evaluate_codebook(
                    run,
                    dataset,
                    split=split,
                    weights=weights,
                    batch_size=batch_size,
                    device=device,
                    lpips_weights=lpips_weights,
                    progress=progress,
                )
            )
    click.echo(format_table(results))
    if any(not r["perceptual"] for r in results):
        click.echo("note: runs marked perceptual=false were trained without the perceptual loss")
    if json_out is not None:
        atomic_write_json(json_out, results)
        click.echo(f"wrote {json_out}")
