"""``id2r relight``: render reflectance assets under HDR environments or light-stage patterns."""

from __future__ import annotations

from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import env_cache_option, image_size_option, out_option, progress_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.processing.relight.batch import relight_assets
from id2reflectance.processing.relight.render import RelightConfig


@click.command("relight")
@click.argument("assets", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--env",
    "envs",
    multiple=True,
    required=True,
    help="Environment: a 2:1 .exr/.hdr file, a built-in name (studio, city, ...) or pattern:<name>. Repeatable.",
)
@out_option(help="Output folder.")
@click.option("--env-rotate", type=float, default=0.0, show_default=True, help="Rotate environments about +y, degrees.")
@click.option(
    "--normalize",
    type=click.Choice(["none", "mean"]),
    default="none",
    show_default=True,
    help="mean: scale each image environment to mean luminance 1 (the level of pattern:full).",
)
@click.option("--orbit", type=int, default=1, show_default=True, help="Cameras around the head (without --session).")
@image_size_option(default=512, help="Orbit image size, pixels.", retired=("--size",))
@click.option("--fov", "fov_deg", type=float, default=20.0, show_default=True, help="Orbit field of view, degrees.")
@click.option("--elevation", "elevation_deg", type=float, default=0.0, show_default=True, help="Orbit elevation, deg.")
@click.option("--session", type=click.Path(path_type=Path), default=None, help="Use this session's cameras and rig.")
@click.option("--camera", default=None, help="Only this camera of --session.")
@click.option(
    "--polarization",
    type=click.Choice(["none", "cross", "parallel"]),
    default="none",
    show_default=True,
    help="none: D + S; cross: D/2; parallel: D/2 + S (as the session's frames).",
)
@click.option("--shadows", is_flag=True, help="Self-shadowing by ray casting against the mesh (slower).")
@click.option(
    "--eyes",
    is_flag=True,
    help="Render the face model's eyeballs with face-model-layout assets (docs/relight-export.md).",
)
@click.option("--black-background", is_flag=True, help="Black instead of the environment behind the head.")
@click.option("--exposure", "exposure_stops", type=float, default=None, help="PNG exposure in stops (default: auto).")
@env_cache_option()
@progress_option()
def relight_cmd(
    assets: tuple[Path, ...],
    envs: tuple[str, ...],
    out: Path,
    env_rotate: float,
    normalize: str,
    orbit: int,
    image_size: int,
    fov_deg: float,
    elevation_deg: float,
    session: Path | None,
    camera: str | None,
    polarization: str,
    shadows: bool,
    eyes: bool,
    black_background: bool,
    exposure_stops: float | None,
    no_env_cache: bool,
    no_progress: bool,
) -> None:
    """Render ASSETS (asset folders) under environments; write EXR, PNG and a contact sheet.

    Writes OUT/<subject>/<environment>/<camera>.exr (linear) and .png (tone-mapped sRGB),
    OUT/contact_sheet.png (subjects x environments) and OUT/relight.json. Lat-long maps:
    row 0 is up (+y), the image centre is +z (in front of the face). pattern:* uses the
    light-stage patterns exactly (as the simulator). Bad input: one line naming the file,
    exit code 2, nothing written.

    \b
    Examples:
      id2r relight assets/S0000 --env studio --env city -o relit/
      id2r relight assets/S0000 --env my_room.hdr --env-rotate 90 --normalize mean --orbit 4 -o relit/
      id2r relight assets/S0000 --env pattern:gradient_x --session sessions/S0000 --camera front \\
          --polarization parallel -o relit/
    """
    config = RelightConfig(
        polarization=polarization,  # type: ignore[arg-type]
        background="black" if black_background else "environment",
        shadows=shadows,
        exposure_stops=exposure_stops,
        orbit=orbit,
        image_size=image_size,
        fov_deg=fov_deg,
        elevation_deg=elevation_deg,
        env_rotate_deg=env_rotate,
        normalize=normalize,  # type: ignore[arg-type]
        env_cache=not no_env_cache,
        eyes=eyes,
    )
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        path = relight_assets(assets, out, envs=envs, config=config, session=session, camera=camera, progress=progress)
    click.echo(f"wrote {path}")
