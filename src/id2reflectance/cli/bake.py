"""``id2r bake``: register the template to a session's scan and bake the solved maps into UV."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from id2reflectance._shared.config import load_config
from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import out_option, progress_option, uv_size_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.errors import ConfigError
from id2reflectance.processing.bake.baker import BakeConfig, bake_session


@click.command("bake")
@click.argument("session", type=click.Path(path_type=Path))
@click.argument("solved", type=click.Path(path_type=Path))
@out_option(help="Asset folder to write.")
@uv_size_option(help="UV map size, texels: a power of two from 256 to 8192 [default: 1024].", retired=("--size",))
@click.option(
    "--template",
    type=click.Path(path_type=Path),
    default=None,
    help="procedural, face_model (the face model's topology and UVs), auto, or a template OBJ "
    "(UVs + landmark comments) [default: auto: the face model's layout when the face model is found, "
    "else the shipped procedural template].",
)
@click.option(
    "--normal-source",
    type=click.Choice(["specular", "diffuse"]),
    default=None,
    help="Which solved normal to bake [default: specular].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML or YAML file with BakeConfig fields; options given here override it.",
)
@click.option("--no-previews", is_flag=True, help="Do not write previews/*.png.")
@progress_option()
def bake_cmd(
    session: Path,
    solved: Path,
    out: Path,
    uv_size: int | None,
    template: Path | None,
    normal_source: str | None,
    config_path: Path | None,
    no_previews: bool,
    no_progress: bool,
) -> None:
    """Fit the face template to SESSION's scan and bake SOLVED's maps into its UV layout.

    SOLVED is the output of `id2r solve SESSION`. The template is registered to the
    scan named by session.json's "mesh" (similarity ICP, per-axis scaling, non-rigid
    ICP ending on the template's radial correspondences), then every texel is projected
    into each camera (with lens distortion), tested for occlusion by ray casting, and
    the cameras' maps are blended with weights from the viewing angle, the distance to
    the solver-mask border and occlusion boundaries. The diffuse albedo is corrected for
    the mesh's ambient occlusion. Unseen texels are filled smoothly and get coverage 0.

    Writes the asset folder OUT (uv/{diffuse_albedo, specular_albedo, roughness,
    normal_object, normal_tangent, coverage}.exr, mesh.obj, asset.json, previews/*.png)
    and OUT/bake.json (coverage, fitting residual, timings). OUT is built beside as a
    temporary folder and renamed into place; on any error nothing is written and the
    exit code is 2.

    \b
    Examples:
      id2r bake sessions/S0000 solved/S0000 -o assets/S0000
      id2r bake sessions/S0000 solved/S0000 -o assets/S0000 --uv-size 2048
      id2r bake sessions/S0000 solved/S0000 -o assets/S0000 --config bake.toml

    \b
    bake.toml:
      size = 2048
      normal_source = "diffuse"
      [registration]
      stiffness = [30.0, 3.0]
      correspondence = "closest"
    """
    config = load_config(config_path, BakeConfig) if config_path is not None else BakeConfig()
    options = (
        ("size", uv_size),
        ("template", None if template is None else str(template)),
        ("normal_source", normal_source),
        ("previews", False if no_previews else None),
    )
    overrides = {k: v for k, v in options if v is not None}
    if overrides:
        try:
            config = dataclasses.replace(config, **overrides)
        except ConfigError as err:
            name = next(iter(overrides))
            flag = "--uv-size" if name == "size" else f"--{name.replace('_', '-')}"
            raise ConfigError(f"{flag}: {err}") from err
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        result = bake_session(session, solved, out, config=config, progress=progress)
    res = result.registration.residual
    click.echo(
        f"registered: fit residual mean {res.mean:.3f} mm, p95 {res.p95:.3f} mm "
        f"({100 * result.registration.matched_fraction:.1f}% of template vertices on the scan)"
    )
    click.echo(f"seen by a camera: {100 * result.maps.coverage_seen():.1f}% of the UV chart (the rest is filled)")
    click.echo(f"wrote {out} in {result.report['timings_s']['total']:.1f} s")
