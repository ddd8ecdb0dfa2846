"""``id2r simulate``: write simulated light-stage sessions with ground truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from id2reflectance._shared.config import load_config
from id2reflectance._shared.lock import output_lock
from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_sessions
from id2reflectance.cli.options import image_size_option, out_option, progress_option, template_option, uv_size_option
from id2reflectance.cli.progress import progress_bar


@click.command("simulate")
@out_option(help="Folder of the sessions (OUT/S0000, ...).", file_okay=False, positional=True)
@click.option(
    "--subjects", "-n", type=click.IntRange(1, 10000), default=1, show_default=True, help="Number of subjects."
)
@click.option("--first", type=click.IntRange(0, 9999), default=0, show_default=True, help="Index of the first subject.")
@click.option("--seed", type=int, default=None, help="Random seed (default 0, or the config file's).")
@image_size_option(type=click.IntRange(16, 8192), help="Camera image size, pixels (square) [512].", retired=("--size",))
@uv_size_option(type=click.IntRange(16, 8192), help="UV map size, texels [512].")
@click.option(
    "--cameras", type=click.IntRange(1, 7), default=None, help="Number of cameras (front, left, right, ...) [3]."
)
@click.option("--noise", type=click.FloatRange(min=0), default=None, help="Poisson gain: var = noise*x + read^2 [0].")
@click.option("--read-noise", type=click.FloatRange(min=0), default=None, help="Read-noise sigma, stored units [0].")
@click.option(
    "--dark-offset", type=click.FloatRange(min=0), default=None, help="Offset added to frames; writes dark frames [0]."
)
@click.option(
    "--saturation", type=click.FloatRange(min=0, min_open=True), default=None, help="Clip stored values at LEVEL."
)
@click.option(
    "--ambient",
    type=click.FloatRange(min=0),
    default=None,
    help="Room light on the face in every frame, fraction of the full-on pattern [0].",
)
@click.option(
    "--backdrop", type=click.FloatRange(min=0), default=None, help="Lit backdrop behind the head, stored value [0]."
)
@click.option("--no-inverses", is_flag=True, help="Skip the inverse gradient patterns.")
@click.option(
    "--face-model",
    "face_model",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the ICT face model (default: $ID2R_FACE_MODEL or ../shared/face-models/ict-facekit-light).",
)
@click.option(
    "--expression",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Face-model heads: strength of a random expression per subject, 0 = neutral [0].",
)
@click.option(
    "--head-model",
    type=click.Choice(["auto", "face_model", "procedural"]),
    default=None,
    help="Heads: the face model (an error if absent), procedural, or auto: the face model when found [auto].",
)
@click.option(
    "--appearance",
    type=click.Choice(["procedural", "photo", "auto"]),
    default=None,
    help="Face-model heads: face shape and albedo detail from a real person's photo (the London set's even "
    "ids, --face-photos), painted only, or auto: photo when the set (and dlib) is found [auto].",
)
@click.option(
    "--face-photos",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the photo set for --appearance photo (default: ../shared/face-photos/london).",
)
@template_option(
    help="Layout the heads are rendered in and their truth written in (truth/mesh.obj, truth/uv): the "
    "procedural template, or the face model's topology and UVs (face-model heads only; auto: the face "
    "model when found) [auto].",
    default=None,
)
@click.option(
    "--motion-px", type=click.FloatRange(min=0), default=None, help="Largest head shift between exposures, pixels [0]."
)
@click.option(
    "--motion-deg", type=click.FloatRange(min=0), default=None, help="Largest head roll between exposures, degrees [0]."
)
@click.option(
    "--motion-tilt-deg", type=click.FloatRange(min=0), default=None, help="Largest head yaw/pitch, degrees [0]."
)
@click.option(
    "--expression-mm", type=click.FloatRange(0, 20), default=None, help="Largest expression change, millimetres [0]."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML/YAML file with SimulatorConfig fields; options given here override it.",
)
@progress_option(retired=("-q", "--quiet"))
def simulate_cmd(
    out: Path,
    subjects: int,
    first: int,
    seed: int | None,
    image_size: int | None,
    uv_size: int | None,
    cameras: int | None,
    noise: float | None,
    read_noise: float | None,
    dark_offset: float | None,
    saturation: float | None,
    ambient: float | None,
    backdrop: float | None,
    no_inverses: bool,
    face_model: Path | None,
    expression: float | None,
    head_model: str | None,
    appearance: str | None,
    face_photos: Path | None,
    template: str | None,
    motion_px: float | None,
    motion_deg: float | None,
    motion_tilt_deg: float | None,
    expression_mm: float | None,
    config_file: Path | None,
    no_progress: bool,
) -> None:
    """Simulate light-stage sessions of simulated subjects into the --out folder: S0000, S0001, ...

    Heads come from the ICT face model (identity weights drawn per subject) when it is
    found (--face-model, $ID2R_FACE_MODEL or ../shared/face-models/ict-facekit-light),
    else from the procedural head; --head-model procedural forces the latter.

    Each session holds session.json, cross- and parallel-polarised frames of every
    gradient pattern for each camera, masks, a scanned mesh and the ground truth under
    truth/ (UV maps, per-camera albedos, normals, roughness, visibility). The same seed
    gives identical sessions.

    \b
    Examples:
      id2r simulate -o sessions/ --subjects 4 --seed 0
      id2r simulate -o quick/ -n 1 --image-size 256 --uv-size 256 --no-inverses
      id2r simulate -o ict/ -n 8 --face-model ../shared/face-models/ict-facekit-light
      id2r simulate -o mannequins/ -n 2 --head-model procedural
      id2r simulate -o people/ -n 8 --appearance photo
      id2r simulate -o noisy/ -n 2 --noise 1e-4 --read-noise 1e-3 --dark-offset 0.02 --saturation 0.7
      id2r simulate -o moving/ -n 1 --motion-px 1.5 --motion-deg 0.4 --expression-mm 0.5
      id2r simulate -o stage/ -n 1 --noise 5e-5 --read-noise 0.002 --ambient 0.05 --backdrop 0.1
    """
    config = load_config(config_file, SimulatorConfig) if config_file is not None else SimulatorConfig()
    overrides = {
        "seed": seed,
        "image_size": image_size,
        "uv_size": uv_size,
        "cameras": cameras,
        "noise": noise,
        "read_noise": read_noise,
        "dark_offset": dark_offset,
        "saturation": saturation,
        "ambient": ambient,
        "backdrop": backdrop,
        "inverses": False if no_inverses else None,
        "face_model": str(face_model) if face_model is not None else None,
        "expression": expression,
        "head_model": head_model if head_model is not None else ("face_model" if face_model is not None else None),
        "template": template,
        "appearance_source": appearance,
        "face_photos": str(face_photos) if face_photos is not None else None,
        "motion_px": motion_px,
        "motion_deg": motion_deg,
        "motion_tilt_deg": motion_tilt_deg,
        "expression_mm": expression_mm,
    }
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        paths = simulate_sessions(out, subjects=range(first, first + subjects), config=config, progress=progress)
    for p in paths:
        click.echo(str(p))
