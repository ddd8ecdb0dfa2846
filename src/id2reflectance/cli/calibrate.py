"""``id2r calibrate``: rig cameras from board captures, colour from a ColorChecker, simulation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import image_size_option, out_option, progress_option, threads_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.errors import ConfigError


@click.group("calibrate")
def calibrate_cmd() -> None:
    """Calibrate a rig: cameras from board captures, colour from a ColorChecker.

    \b
    Typical run:
      id2r calibrate simulate -o calib/                    # or your own captures
      id2r calibrate cameras calib/boards --board calib/board.json -o rig.json
      id2r calibrate colour calib/colour/front/chart.exr --camera front \\
          --white-level 0.5 -o colour.json
      id2r rig apply rig.json sessions/S0000 --colour colour.json
    """


@calibrate_cmd.command("cameras")
@click.argument("capture_dir", type=click.Path(path_type=Path))
@click.option(
    "--board", "board", required=True, help="Board SPEC: a .toml/.json/.yaml file, inline JSON, or key=value list."
)
@out_option(help="rig.json to write.", retired=("--output",))
@click.option("--reference", default="", help="Camera whose frame is the world (default: first by name).")
@click.option(
    "--world",
    type=click.Choice(["camera", "board"]),
    default="camera",
    show_default=True,
    help="World frame: the reference camera, or a board pose (--world-pose, default first shared).",
)
@click.option("--world-pose", default="", help="Board pose (image stem) defining the world with --world board.")
@click.option(
    "--dist-model",
    type=click.Choice(["k1k2", "k1k2p1p2", "k1k2p1p2k3"]),
    default="k1k2",
    show_default=True,
    help="Distortion coefficients to estimate.",
)
@click.option("--min-corners", type=int, default=10, show_default=True, help="Drop detections with fewer corners.")
@click.option(
    "--min-shared", type=int, default=2, show_default=True, help="Board poses two cameras must share to be linked."
)
@click.option("--encoding", type=click.Choice(["auto", "linear", "srgb", "raw"]), default="auto", show_default=True)
@threads_option(help="Threads decoding images and detecting corners [default: min(4, CPUs)].", retired=("--workers",))
@click.option("--name", default="id2r-rig", show_default=True, help="Rig name written into rig.json.")
@click.option("--no-opencv", is_flag=True, help="Skip the comparison with OpenCV calibrateCamera/stereoCalibrate.")
@progress_option()
def cameras_cmd(
    capture_dir: Path,
    board: str,
    out: Path,
    reference: str,
    world: str,
    world_pose: str,
    dist_model: str,
    min_corners: int,
    min_shared: int,
    encoding: str,
    threads: int | None,
    name: str,
    no_opencv: bool,
    no_progress: bool,
) -> None:
    """Calibrate every camera from board captures in CAPTURE_DIR/<camera>/<image>.

    Images with the same name in different camera folders are one board pose seen by
    several cameras; a folder of <camera><number> images (a stereo camera's left01.jpg,
    right01.jpg, ...) is read as camera and pose. --board counts squares (a chessboard with 9x6 inner corners has
    10x7 squares). Writes rig.json (session-format cameras plus a report: RMS before
    and after bundle adjustment, per-image errors, outliers, dropped images, OpenCV's
    own result on the same detections).

    \b
    Examples:
      id2r calibrate cameras captures/ --board board.toml -o rig.json
      id2r calibrate cameras stereo/ -o rig.json \\
          --board "type=chessboard,squares_x=10,squares_y=7,square_size=0.025"   # left01.jpg, right01.jpg, ...
      id2r calibrate cameras captures/ -o rig.json --reference front \\
          --board "type=charuco,squares_x=11,squares_y=8,square_size=0.03,marker_size=0.022,dictionary=DICT_5X5_100"
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.capture.calibration.boards import parse_board_spec
    from id2reflectance.capture.calibration.cameras import CameraCalibrationConfig, calibrate_cameras
    from id2reflectance.capture.rig import RigFile, write_rig

    with output_lock(out):
        spec = parse_board_spec(board)
        config = CameraCalibrationConfig(
            min_corners=min_corners,
            min_shared_poses=min_shared,
            reference_camera=reference,
            world=world,  # type: ignore[arg-type]
            world_pose=world_pose,
            dist_model=dist_model,  # type: ignore[arg-type]
            encoding=encoding,  # type: ignore[arg-type]
            compare_opencv=not no_opencv,
            workers=threads or 0,  # 0: the library's automatic choice
        )
        with progress_bar(enabled=not no_progress) as progress:
            result = calibrate_cameras(capture_dir, spec, config=config, progress=progress)
        write_rig(out, RigFile(name, result.cameras, None, result.report))
    rep = result.report
    click.echo(f"{out}: {len(result.cameras)} camera(s), {rep['board_poses']} board pose(s), {rep['corners']} corners")
    click.echo(
        f"  RMS reprojection: {rep['rms_before_px']:.3f} px before, {rep['rms_after_px']:.3f} px after adjustment"
    )
    for n, c in result.cameras.items():
        r = rep["cameras"][n]
        click.echo(
            f"  {n}: fx {c.K[0, 0]:.2f} fy {c.K[1, 1]:.2f} cx {c.K[0, 2]:.2f} cy {c.K[1, 2]:.2f} "
            f"k1 {c.dist[0]:.4f} k2 {c.dist[1]:.4f}  RMS {r['rms_px']:.3f} px over {r['images']} image(s)"
        )
        cv = rep.get("opencv", {}).get("cameras", {}).get(n, {}).get("ours_minus_opencv")
        if cv:
            click.echo(
                f"      vs OpenCV: fx {cv['fx_pct']:+.3f}%  cx {cv['cx_px']:+.2f} px  cy {cv['cy_px']:+.2f} px  "
                f"rotation {cv['rotation_deg']:.4f} deg  translation {cv['translation_mm']:.2f} mm"
                + (
                    f" ({cv['translation_pct_of_baseline']:.2f} % of the baseline)"
                    if n != rep["opencv"].get("reference")
                    else ""
                )
            )
    for o in rep["outliers"]:
        click.echo(f"  outlier (not used): {o['image']} (RMS {o['rms_px']:.2f} px)")
    for d in rep["dropped"]:
        click.echo(f"  dropped: {d}")
    if rep["relabelled"]:
        click.echo(f"  corner labels turned to agree between cameras: {', '.join(rep['relabelled'])}")
    for w in rep["warnings"]:
        click.echo(f"warning: {w}", err=True)


@calibrate_cmd.command("colour")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--camera", required=True, help="Name of the camera that took the chart images.")
@out_option(help="colour.json to write.", retired=("--output",))
@click.option("--dark", type=click.Path(path_type=Path), default=None, help="Dark frame subtracted from each image.")
@click.option(
    "--white-level",
    type=float,
    default=1.0,
    show_default=True,
    help="Linear Rec.709 value a perfect white records (0.5 for cross-polarised frames under 'full').",
)
@click.option("--weighting", type=click.Choice(["uniform", "inverse_luminance"]), default="uniform", show_default=True)
@click.option("--white-constraint", is_flag=True, help="Map the white patch exactly.")
@click.option("--encoding", type=click.Choice(["auto", "linear", "srgb", "raw"]), default="auto", show_default=True)
@click.option(
    "--rig",
    "rig_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the matrix into this rig.json (rig.color_matrix).",
)
def colour_cmd(
    images: tuple[Path, ...],
    camera: str,
    out: Path,
    dark: Path | None,
    white_level: float,
    weighting: str,
    white_constraint: bool,
    encoding: str,
    rig_path: Path | None,
) -> None:
    """Fit the camera-RGB -> linear Rec.709 matrix from ColorChecker Classic IMAGES.

    Reference: colour-science's ColorChecker24 (After November 2014), D50 data adapted to
    D65 (Bradford). Prints CIEDE2000 per patch, mean and maximum.

    \b
    Examples:
      id2r calibrate colour chart_full_cross.exr --camera front --white-level 0.5 -o colour.json
      id2r calibrate colour a.tif b.tif --camera front --dark dark.tif -o colour.json --rig rig.json
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance._shared.atomic import atomic_write_json
    from id2reflectance.capture.calibration.colour import ColourCalibrationConfig, calibrate_colour
    from id2reflectance.capture.rig import read_rig, write_rig

    with output_lock(out), output_lock(rig_path or out, enabled=rig_path is not None):
        rig = read_rig(rig_path) if rig_path is not None else None
        config = ColourCalibrationConfig(
            white_level=white_level,
            weighting=weighting,
            white_constraint=white_constraint,
            encoding=encoding,  # type: ignore[arg-type]
        )
        result = calibrate_colour(list(images), camera=camera, dark=dark, config=config)
        atomic_write_json(out, result.to_json())
        if rig is not None and rig_path is not None:
            write_rig(rig_path, dataclasses.replace(rig, color_matrix=result.color_matrix))
    names = list(result.to_json()["delta_e_2000"]["per_patch"])
    click.echo(f"{out}: color_matrix for camera '{camera}' from {len(result.readings)} image(s)")
    for row in result.color_matrix:
        click.echo("  [" + ", ".join(f"{v:+.5f}" for v in row) + "]")
    for n, d in zip(names, result.delta_e, strict=True):
        click.echo(f"  {n:>22s}  dE2000 {d:.3f}")
    click.echo(f"  CIEDE2000 mean {result.delta_e.mean():.3f}, max {result.delta_e.max():.3f}")


@calibrate_cmd.command("simulate")
@out_option(help="Folder of the captures and their truth.", positional=True)
@click.option("--poses", type=int, default=20, show_default=True, help="Board poses.")
@click.option(
    "--rolls",
    default="",
    help="Board in-plane rotations, degrees, comma-separated: one pose each, instead of --poses random ones.",
)
@image_size_option(type=str, default="1600x1200", help="Image size WxH, pixels.", retired=("--size",))
@click.option("--board", default=None, help="Board SPEC (default: ChArUco 11x8, 30 mm squares, DICT_5X5_100).")
@click.option("--encoding", type=click.Choice(["srgb8", "linear16", "exr"]), default="srgb8", show_default=True)
@click.option("--no-chart", is_flag=True, help="Do not render the ColorChecker images.")
@click.option("--seed", type=int, default=0, show_default=True)
@progress_option()
def simulate_cmd(
    out: Path,
    poses: int,
    rolls: str,
    image_size: str,
    board: str | None,
    encoding: str,
    no_chart: bool,
    seed: int,
    no_progress: bool,
) -> None:
    """Render simulated calibration captures with their truth into OUT.

    OUT/boards/<camera>/pose_NNN.png (board captures), OUT/colour/<camera>/chart.exr
    (ColorChecker under the full pattern, cross-polarised: --white-level 0.5),
    OUT/board.json and OUT/truth.json (true cameras, board poses, colour matrix).

    \b
    Examples:
      id2r calibrate simulate -o calib/
      id2r calibrate simulate -o calib/ --poses 10 --image-size 800x600 --encoding exr
      id2r calibrate simulate -o calib/ --rolls 0,45,90,135,180,270 --no-chart \
          --board "type=chessboard,squares_x=10,squares_y=7,square_size=0.025"
    """
    # library imported on use: keeps `id2r --help` fast
    from id2reflectance.capture.calibration.boards import parse_board_spec
    from id2reflectance.capture.simulator.calibration_captures import SimCalibrationConfig, simulate_calibration

    try:
        w, h = (int(v) for v in image_size.lower().split("x"))
    except ValueError as err:
        raise ConfigError(f"--image-size must be WxH, e.g. 1600x1200, got {image_size!r}") from err
    kwargs: dict = dict(width=w, height=h, n_poses=poses, encoding=encoding, chart=not no_chart, seed=seed)
    if rolls:
        try:
            kwargs["rolls_deg"] = tuple(float(v) for v in rolls.split(","))
        except ValueError as err:
            raise ConfigError(f"--rolls must be degrees separated by commas, e.g. 0,90,180, got {rolls!r}") from err
        kwargs["n_poses"] = len(kwargs["rolls_deg"])
    if board is not None:
        spec = parse_board_spec(board)
        kwargs["board"] = spec
        if spec.type == "chessboard":
            kwargs.update(min_visible=1.0, spread_m=(0.06, 0.04, 0.1), max_tilt_deg=30.0)
    config = SimCalibrationConfig(**kwargs)
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        simulate_calibration(out, config, progress=progress)
    click.echo(f"{out}: {len(config.names)} camera(s) x {config.n_poses} board pose(s), truth in {out / 'truth.json'}")
