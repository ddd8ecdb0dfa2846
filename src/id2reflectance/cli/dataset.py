"""``id2r dataset build|check|info|split``: versioned, checksummed training sets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import (
    dataset_option,
    image_size_option,
    out_option,
    progress_option,
    template_option,
    uv_size_option,
    workers_option,
)
from id2reflectance.cli.progress import progress_bar
from id2reflectance.dataset.build import BuildConfig, build_dataset
from id2reflectance.dataset.cluster import ClusterConfig
from id2reflectance.dataset.manifest import check_dataset, dataset_info, read_manifest
from id2reflectance.dataset.splits import SPLITS, SplitConfig, resplit_dataset, split_columns, split_table
from id2reflectance.errors import ConfigError


def _fractions(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected three numbers like 0.8,0.1,0.1, got {value!r}") from None
    if len(parts) != 3:
        raise click.BadParameter(f"expected three numbers (train,val,test), got {value!r}")
    return parts  # type: ignore[return-value]


def split_options(f):  # type: ignore[no-untyped-def]
    """--split-seed, --split-fractions and --split-stratify, shared by build and split."""
    f = click.option(
        "--split-stratify",
        type=click.Choice(["skin-type", "hash"]),
        default="skin-type",
        show_default=True,
        help="skin-type: divide each Fitzpatrick type by the fractions (every type with 2+ subjects "
        "gets a test subject); hash: each subject by its own hash (adding subjects moves none).",
    )(f)
    f = click.option(
        "--split-fractions",
        default="0.8,0.1,0.1",
        show_default=True,
        callback=_fractions,
        help="train,val,test fractions (sum 1).",
    )(f)
    return click.option("--split-seed", type=int, default=0, show_default=True)(f)


def _split_config(seed: int, fractions: tuple[float, float, float], stratify: str) -> SplitConfig:
    try:
        return SplitConfig(seed=seed, fractions=fractions, stratify=stratify.replace("-", "_"))  # type: ignore[arg-type]
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--split-fractions") from None


def _echo_split_table(manifest: dict) -> None:
    table = split_table(manifest)
    cols = split_columns(table)
    click.echo("split   " + " ".join(f"{head:>8}" for _, head in cols) + "    total")
    for s in SPLITS:
        click.echo(f"{s:7} " + " ".join(f"{table[s][c]:8d}" for c, _ in cols) + f" {sum(table[s].values()):8d}")


@click.group("dataset")
def dataset_group() -> None:
    """Build, check and summarise training datasets."""


@dataset_group.command("build")
@click.argument("sessions_dir", type=click.Path(path_type=Path))
@out_option(help="Dataset folder.", retired=("--output",))
@workers_option(help="Dask LocalCluster worker processes (0 = one per core).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler (tcp://host:8786).")
@click.option("--memory-limit", default="auto", show_default=True, help="Per-worker memory limit (LocalCluster).")
@image_size_option(default=512, help="Training view size, pixels.")
@uv_size_option(default=512, help="UV map size, texels.", retired=("--bake-size",))
@click.option(
    "--env",
    "envs",
    multiple=True,
    default=("full", "courtyard", "sunset"),
    show_default=True,
    help="Lighting of the RGB views: 'full' (full-on pattern), built-in HDR names or files; "
    "repeat the option or separate with commas (--env full,courtyard).",
)
@split_options
@click.option("--keep-work", is_flag=True, help="Keep each subject's work area (solve, bake, views) under OUT/.work.")
@template_option(help="UV layout every subject is baked in (recorded in dataset.json; docs/template.md).")
@click.option(
    "--eyes/--no-eyes",
    default=True,
    show_default=True,
    help="RGB views with the face model's eyeballs (face-model layout only; recorded in dataset.json).",
)
@progress_option()
def build_cmd(
    sessions_dir: Path,
    out: Path,
    workers: int,
    scheduler: str | None,
    memory_limit: str,
    image_size: int,
    uv_size: int,
    envs: tuple[str, ...],
    split_seed: int,
    split_fractions: tuple[float, float, float],
    split_stratify: str,
    keep_work: bool,
    template: str,
    eyes: bool,
    no_progress: bool,
) -> None:
    """Build (or resume) a dataset from every session folder in SESSIONS_DIR.

    Per subject, one Dask task chain: validate, solve, register + bake, render the
    aligned training views. A failing subject is reported and skipped; re-running resumes
    (finished subjects are verified by checksum and skipped, and the finished stages of
    the others are reused from OUT/.work when their inputs and outputs hash the same). A
    worker that dies mid-build has its tasks run again on another worker and is reported.
    Exit code 1 if any subject failed.

    \b
    Examples:
      id2r dataset build sessions/ -o dataset/ --workers 2
      id2r dataset build sessions/ -o dataset/ --scheduler tcp://10.0.0.5:8786
    """
    cfg = BuildConfig(
        image_size=image_size,
        bake_size=uv_size,
        environments=tuple(e.strip() for spec in envs for e in spec.split(",") if e.strip()),
        split=_split_config(split_seed, split_fractions, split_stratify),
        keep_work=keep_work,
        cluster=ClusterConfig(scheduler=scheduler, workers=workers, memory_limit=memory_limit),
        template=template,
        eyes=eyes,
    )
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        rep = build_dataset(
            sessions_dir,
            out,
            config=cfg,
            progress=progress,
            on_dashboard=lambda url: click.echo(f"Dask dashboard: {url}", err=True),
        )
    click.echo(f"{'subject':10} {'status':8} " + " ".join(f"{s:>9}" for s in ("validate", "solve", "bake", "views")))
    for sid in sorted(rep.built):
        t = rep.timings_s.get(sid, {})
        reused = rep.reused.get(sid, [])
        click.echo(
            f"{sid:10} {'built':8} "
            + " ".join(f"{t.get(s, 0):9.1f}" for s in ("validate", "solve", "bake", "views"))
            + (f"  (reused: {', '.join(reused)})" if reused else "")
        )
    for sid in sorted(rep.skipped):
        click.echo(f"{sid:10} {'skipped':8} (already built, checksums verified)")
    for f in rep.failed:
        click.echo(f"{f['id']:10} {'FAILED':8} in {f['stage']}: {f['error']}")
    click.echo(
        f"{len(rep.built)} built, {len(rep.skipped)} skipped, {len(rep.failed)} failed in {rep.wall_s:.1f} s -> {out}"
    )
    for lost in rep.lost_workers:
        click.echo(
            f"warning: Dask worker {lost['worker']} died during the build while running "
            f"{', '.join(lost['tasks']) or 'no task'}; its tasks were run again on another worker",
            err=True,
        )
    if rep.moved:
        click.echo(
            f"warning: {len(rep.moved)} subject(s) changed split since the last build: "
            + ", ".join(f"{sid} {a}->{b}" for sid, (a, b) in sorted(rep.moved.items()))
            + "; models trained on the former split must not be evaluated on the new test split",
            err=True,
        )
    if rep.failed:
        click.echo("error: failed subject(s): " + ", ".join(f["id"] for f in rep.failed), err=True)
        sys.exit(1)


@dataset_group.command("check")
@dataset_option(positional=True)
def check_cmd(dataset: Path) -> None:
    """Verify the schema of --dataset and every file's SHA-256; exit 1 on any mismatch.

    \b
    Example:
      id2r dataset check --dataset dataset/
    """
    problems = check_dataset(dataset)
    for p in problems:
        click.echo(f"error: {p}", err=True)
    if problems:
        click.echo(f"{dataset}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{dataset}: ok")


@dataset_group.command("info")
@dataset_option(positional=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_cmd(dataset: Path, as_json: bool) -> None:
    """Summarise --dataset: counts per split, skin-tone histogram, sizes.

    \b
    Example:
      id2r dataset info --dataset dataset/
    """
    info = dataset_info(dataset)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['subjects']} subjects ({info['failed']} failed at build), splits {info['splits']}")
    click.echo(f"views {info['views']} at {info['image_size']} px, lighting {info['environments']}")
    click.echo(f"UV layout {info['template']}, RGB views {'with' if info['eyes'] else 'without'} eyes")
    if info["ita_deg"]:
        click.echo(f"ITA {info['ita_deg']['min']:.1f} .. {info['ita_deg']['max']:.1f} deg")
    for k, v in info["fitzpatrick"].items():
        click.echo(f"  Fitzpatrick {k}: {'#' * v} {v}")
    _echo_split_table(read_manifest(dataset))
    click.echo(f"{info['files']} files, {info['bytes'] / 1e6:.1f} MB")


@dataset_group.command("split")
@dataset_option(positional=True)
@split_options
def split_cmd(dataset: Path, split_seed: int, split_fractions: tuple[float, float, float], split_stratify: str) -> None:
    """Re-split the subjects of --dataset into train/val/test without reprocessing them.

    Rewrites dataset.json (atomically; provenance.split records the options) and prints the
    subjects per split and skin type. Models trained on the former split must not be
    evaluated on the new test split.

    \b
    Examples:
      id2r dataset split --dataset dataset/ --split-fractions 0.75,0.05,0.2
      id2r dataset split --dataset dataset/ --split-stratify hash --split-seed 3
    """
    cfg = _split_config(split_seed, split_fractions, split_stratify)
    with output_lock(dataset):  # the folder a build writes: no split while it runs
        splits = resplit_dataset(dataset, cfg)
    counts = {s: sum(1 for v in splits.values() if v == s) for s in SPLITS}
    click.echo(f"{dataset}: {len(splits)} subjects split {counts} ({cfg.stratify}, seed {cfg.seed})")
    _echo_split_table(read_manifest(dataset))
