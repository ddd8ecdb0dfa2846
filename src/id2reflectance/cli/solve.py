"""``id2r solve``: per-camera reflectance maps from a session."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from id2reflectance._shared.config import load_config
from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import out_option, progress_option, threads_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.errors import ConfigError
from id2reflectance.processing.solve.camera_maps import MAP_FILES
from id2reflectance.processing.solve.solver import SolverConfig, solve_session


@click.command("solve")
@click.argument("session", type=click.Path(path_type=Path))
@out_option(help="Output folder.")
@click.option("--tile-rows", type=int, default=None, help="Image rows per band (0 = auto, about 65536 pixels).")
@threads_option(
    help="Threads solving bands of rows [default: the config's workers; 0 there: all cores, at most 8].",
    retired=("--workers",),
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "numba", "numpy"]),
    default=None,
    help="Per-pixel solver: fused numba kernel, numpy reference, or auto (numba when installed).",
)
@click.option(
    "--denoise",
    type=click.Choice(["auto", "none"]),
    default=None,
    help="Edge-aware denoising before the solve, its strength from the estimated noise (auto), or none.",
)
@click.option(
    "--maps",
    "maps",
    default=None,
    metavar="NAMES",
    help="Comma-separated maps to write [default: all]: " + ", ".join(MAP_FILES) + ".",
)
@click.option(
    "--align",
    type=click.Choice(["auto", "none", "rigid", "flow"]),
    default=None,
    help="Align each frame to the full cross-polarised one before solving (subject motion) [default: auto].",
)
@click.option(
    "--scan-normals",
    "scan_normals",
    type=click.Choice(["auto", "off"]),
    default=None,
    help="Take the denoised normals' low frequencies from the session's scan where it has one (auto) [default: auto].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML or YAML file with SolverConfig fields; options given here override it.",
)
@progress_option()
def solve_cmd(
    session: Path,
    out: Path,
    tile_rows: int | None,
    threads: int | None,
    backend: str | None,
    denoise: str | None,
    maps: str | None,
    align: str | None,
    scan_normals: str | None,
    config_path: Path | None,
    no_progress: bool,
) -> None:
    """Solve diffuse/specular albedo, normals and roughness for every camera of SESSION.

    Writes OUT/<camera>/{diffuse_albedo, specular_albedo, normal_diffuse,
    normal_diffuse_r|g|b, normal_specular, roughness, mask, confidence}.exr (float32,
    uncompressed by default, every choice lossless; camera image space, 0 outside the mask;
    --maps writes only the maps named, e.g. without the per-channel diffuse normals) and OUT/solve.json (statistics, warnings, timings, versions, config). OUT is written beside as a temporary folder and renamed into
    place; on any error nothing is written and the exit code is 2.

    \b
    Examples:
      id2r solve sessions/S0000 -o solved/S0000
      id2r solve sessions/S0000 -o solved/S0000 --tile-rows 64 --threads 4
      id2r solve sessions/S0000 -o solved/S0000 --config solve.toml
      id2r solve sessions/S0000 -o solved/S0000 --backend numpy
      id2r solve sessions/S0000 -o solved/S0000 --align rigid
      id2r solve sessions/S0000 -o solved/S0000 --denoise none
      id2r solve sessions/S0000 -o solved/S0000 --scan-normals off
      id2r solve sessions/S0000 -o solved/S0000 --maps diffuse_albedo,specular_albedo,normal_specular,roughness,mask

    \b
    solve.toml:
      diffuse_normal_channel = "g"
      min_specular = 0.001
      compression = "zip"    # or "none" (default), "rle", "zips", "piz": all lossless
    """
    config = load_config(config_path, SolverConfig) if config_path is not None else SolverConfig()
    chosen = None if maps is None else tuple(m.strip() for m in maps.split(",") if m.strip())
    given = (
        ("tile_rows", tile_rows),
        ("workers", threads),
        ("backend", backend),
        ("align", align),
        ("denoise", denoise),
        ("scan_normals", scan_normals),
        ("maps", chosen),
    )
    for name, value in given:
        if value is None:
            continue
        try:
            config = dataclasses.replace(config, **{name: value})
        except ConfigError as err:
            flag = "--threads" if name == "workers" else f"--{name.replace('_', '-')}"
            raise ConfigError(f"{flag}: {err}") from err
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        report = solve_session(session, out, config=config, progress=progress)
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    for name, cam in report.cameras.items():
        c = cam.counts
        click.echo(
            f"{name}: {c.valid} valid pixel(s) of {c.pixels}, {c.specular_fallback} specular fallback(s), "
            f"solve {cam.timings['solve']:.2f} s"
        )
    click.echo(f"wrote {out} in {report.timings['total']:.1f} s")
