"""Simulated calibration captures with known truth: board poses and a ColorChecker.

The simulated rig mirrors the light-stage simulator's: cameras about 1 m from a head at
the origin, at yaw 0 and +-40 degrees, looking at it, with small radial distortion. Boards
are rendered in random poses by :mod:`capture.sim_render` (sub-pixel exact corners, blur,
noise), the ColorChecker by :mod:`capture.sim_chart`; or, for the accuracy figures,
corner detections are simulated directly (truth plus Gaussian noise of a given RMS).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from id2reflectance._shared.atomic import atomic_folder, atomic_write_json
from id2reflectance._shared.imageio import linear_to_srgb, write_exr, write_png
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.calibration.board_captures import CameraDetections
from id2reflectance.capture.calibration.boards import BoardSpec, Detection, board_texture, object_points
from id2reflectance.capture.calibration.colour import reference_rec709
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.simulator.chart import SIM_COLOR_MATRIX, render_chart_image
from id2reflectance.capture.simulator.target_render import apply_sensor, render_plane, rotation_about
from id2reflectance.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimCalibrationConfig:
    """What :func:`simulate_calibration` renders.

    Geometry: ``yaws_deg`` cameras on a circle of radius ``distance`` (metres) around the
    origin at head height, looking at it; horizontal field of view ``fov_deg``.
    """

    width: int = 1600
    height: int = 1200
    fov_deg: float = 30.0  # horizontal field of view, degrees
    distance: float = 1.0  # metres from the origin
    yaws_deg: tuple[float, ...] = (0.0, -40.0, 40.0)
    names: tuple[str, ...] = ("front", "left", "right")
    k1: float = -0.08
    k2: float = 0.05
    principal_offset_px: tuple[float, float] = (6.0, -4.0)  # (cx, cy) minus the image centre
    n_poses: int = 20
    board: BoardSpec = field(default_factory=lambda: BoardSpec("charuco", 11, 8, 0.03, 0.022, "DICT_5X5_100"))
    max_tilt_deg: float = 45.0  # board yaw / pitch range, degrees
    max_roll_deg: float = 20.0  # in-plane board rotation range, degrees
    rolls_deg: tuple[float, ...] = ()  # given in-plane rotations instead, degrees, one per pose (n_poses of them)
    min_visible: float = 0.35  # fraction of corners every camera must see (1.0 for chessboards)
    spread_m: tuple[float, float, float] = (0.15, 0.11, 0.15)  # board centre range around the origin, metres
    max_view_deg: float = 65.0  # largest angle between the board normal and a camera's view ray
    supersample: int = 3  # samples per pixel along each axis
    blur_sigma_px: float = 0.7
    exposure: float = 0.75  # linear value of white paper at the image centre
    read_noise: float = 0.004  # standard deviation, linear units
    shot_noise: float = 4e-4  # variance per unit signal
    encoding: Literal["srgb8", "linear16", "exr"] = "srgb8"
    chart: bool = True  # also render a ColorChecker per camera under colour/<camera>/
    chart_white_level: float = 0.5  # recorded Rec.709 value of white (cross-polarised full)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.yaws_deg) != len(self.names) or len(self.names) < 1:
            raise ConfigError("sim: yaws_deg and names must have the same, non-zero length")
        if self.width < 64 or self.height < 64:
            raise ConfigError(f"sim: image size must be at least 64x64, got {self.width}x{self.height}")
        if self.n_poses < 1 or self.supersample < 1:
            raise ConfigError("sim: n_poses and supersample must be >= 1")
        if self.rolls_deg and len(self.rolls_deg) != self.n_poses:
            raise ConfigError(f"sim: {len(self.rolls_deg)} rolls_deg given for n_poses={self.n_poses}")


#: The rig of the calibration accuracy figures (docs/calibration.md): 12-megapixel cameras (4096 x 3072), 30 degree field,
#: 20 board poses (the figures use corner detections with 0.3 px noise, not renders).
FIGURE_RIG = SimCalibrationConfig(width=4096, height=3072, n_poses=20, chart=False)


def sim_rig(config: SimCalibrationConfig) -> dict[str, Camera]:
    """The simulated rig's true cameras (session format, world = head frame, y up)."""
    f = 0.5 * config.width / np.tan(np.radians(config.fov_deg) / 2)
    cx = (config.width - 1) / 2 + config.principal_offset_px[0]
    cy = (config.height - 1) / 2 + config.principal_offset_px[1]
    K = np.array([[f, 0, cx], [0, f * 1.0005, cy], [0, 0, 1]])
    cams = {}
    for name, yaw in zip(config.names, config.yaws_deg, strict=True):
        a = np.radians(yaw)
        eye = config.distance * np.array([np.sin(a), 0.0, np.cos(a)])
        R, t = look_at(eye, np.zeros(3))
        dist = np.array([config.k1, config.k2, 0.0, 0.0, 0.0])
        cams[name] = Camera(name, config.width, config.height, K.copy(), dist, R, t)
    return cams


def project_board(
    camera: Camera, pose: tuple[np.ndarray, np.ndarray], spec: BoardSpec, *, two_sided: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """True image positions of the board corners a camera sees.

    Parameters
    ----------
    pose : (R (3, 3), t (3,)) board -> world, metres.
    two_sided : the print is seen from its back too (see :func:`render_board_image`).

    Returns
    -------
    ids : (N,) int64 corners in front of the camera, on the printed side (or either side
        with ``two_sided``), in the image.
    pixels : (N, 2) float64 (column, row).
    """
    R, t = pose
    obj = object_points(spec)
    world = obj @ R.T + t
    px, depth = camera.project(world)
    centre_board = R.T @ (camera.center - t)  # camera centre in the board frame
    facing = two_sided or centre_board[2] < 0
    inside = (px[:, 0] > 4) & (px[:, 0] < camera.width - 5) & (px[:, 1] > 4) & (px[:, 1] < camera.height - 5)
    ok = inside & (depth > 0) & facing
    ids = np.flatnonzero(ok).astype(np.int64)
    return ids, px[ok]


def random_board_poses(
    cameras: dict[str, Camera], config: SimCalibrationConfig, *, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``config.n_poses`` board poses (board -> world) that every camera sees enough of.

    Tilts up to ``config.max_tilt_deg``, in-plane rolls up to ``config.max_roll_deg``.
    """
    rolls: list[float | None] = [None] * config.n_poses
    return _place_boards(cameras, config, rolls, rng=rng)


def rolled_board_poses(
    cameras: dict[str, Camera], config: SimCalibrationConfig, rolls_deg: list[float], *, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One board pose (board -> world) per roll in ``rolls_deg``, every camera seeing enough of it.

    The roll is the board's in-plane rotation, degrees (0: board x along world x, board y
    down); tilt and position are drawn as in :func:`random_board_poses`.
    """
    return _place_boards(cameras, config, [float(r) for r in rolls_deg], rng=rng)


def turned_over(pose: tuple[np.ndarray, np.ndarray], spec: BoardSpec) -> tuple[np.ndarray, np.ndarray]:
    """The board pose turned over about the board's vertical centre line: its back faces where its print did."""
    R, t = pose
    w, h = spec.size_m
    centre = np.array([w / 2, h / 2, 0.0])
    R2 = R @ rotation_about(1, np.pi)
    return R2, t + R @ centre - R2 @ centre


def _place_boards(
    cameras: dict[str, Camera], config: SimCalibrationConfig, rolls: list[float | None], *, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    spec = config.board
    w, h = spec.size_m
    centre_board = np.array([w / 2, h / 2, 0.0])
    base = np.diag([1.0, -1.0, -1.0])  # board x -> world x, board y (down) -> -y, printed side -> +z
    need = config.min_visible if spec.type == "charuco" else 1.0
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    tilt = np.radians(config.max_tilt_deg)
    tries = 0
    while len(poses) < len(rolls) and tries < 200 * len(rolls):
        tries += 1
        R = rotation_about(1, rng.uniform(-tilt, tilt)) @ rotation_about(0, rng.uniform(-tilt, tilt)) @ base
        roll = rolls[len(poses)]
        if roll is None:  # drawn here, after the tilts: the sequence of earlier versions
            roll = rng.uniform(-config.max_roll_deg, config.max_roll_deg)
        R = R @ rotation_about(2, np.radians(roll))
        centre = rng.uniform(-1.0, 1.0, 3) * np.asarray(config.spread_m)
        t = centre - R @ centre_board
        ok = True
        for cam in cameras.values():
            ids, _ = project_board(cam, (R, t), spec)
            view = cam.center - centre
            cos = -(R[:, 2] @ view) / np.linalg.norm(view)
            if len(ids) < need * spec.n_corners or cos < np.cos(np.radians(config.max_view_deg)):
                ok = False
                break
        if ok:
            poses.append((R, t))
    if len(poses) < len(rolls):
        raise ConfigError(f"sim: could only place {len(poses)} of {len(rolls)} board poses; enlarge the field")
    return poses


def simulate_detections(
    cameras: dict[str, Camera],
    poses: list[tuple[np.ndarray, np.ndarray]],
    spec: BoardSpec,
    *,
    noise_px: float,
    rng: np.random.Generator,
) -> dict[str, dict[str, Detection]]:
    """Corner detections without images: true corners plus Gaussian noise.

    ``noise_px`` is the 2-D RMS corner error (per-axis sigma ``noise_px / sqrt(2)``).
    Returns ``{camera: {"pose_000": Detection, ...}}``.
    """
    out: dict[str, dict[str, Detection]] = {}
    for name, cam in cameras.items():
        out[name] = {}
        for i, pose in enumerate(poses):
            ids, px = project_board(cam, pose, spec)
            if len(ids):
                noisy = px + rng.normal(0.0, noise_px / np.sqrt(2), px.shape)
                out[name][f"pose_{i:03d}"] = Detection(ids=ids, corners=noisy)
    return out


# ------------------------------------------------------------------ rendering


def render_board_image(
    camera: Camera,
    pose: tuple[np.ndarray, np.ndarray],
    config: SimCalibrationConfig,
    *,
    rng: np.random.Generator,
    texture: tuple[np.ndarray, int] | None = None,
    two_sided: bool = False,
) -> np.ndarray:
    """One board capture: (H, W, 3) float32 linear camera RGB (gray board, noisy).

    ``two_sided``: the print is seen from its back too, mirrored (a board on glass).
    """
    spec = config.board
    px_per_square = 120
    tex, margin = texture if texture is not None else board_texture(spec, px_per_square=px_per_square)
    texel = spec.square_size / px_per_square
    refl = render_plane(
        camera,
        pose,
        tex,
        texel_size=texel,
        origin_texel=(margin, margin),
        background=0.25,
        supersample=config.supersample,
        two_sided=two_sided,
    )
    rad = config.exposure * refl
    img = apply_sensor(
        rad, blur_sigma_px=config.blur_sigma_px, read_noise=config.read_noise, shot_noise=config.shot_noise, rng=rng
    )
    return np.repeat(img[..., None], 3, axis=2)


# ------------------------------------------------------------------ writing


def _write_image(path: Path, img: np.ndarray, encoding: str) -> Path:
    if encoding == "exr":
        return write_exr(path.with_suffix(".exr"), img)
    if encoding == "linear16":
        return write_png(path.with_suffix(".png"), img, bits=16)
    return write_png(path.with_suffix(".png"), linear_to_srgb(img), bits=8)


def simulate_calibration(
    out: str | Path, config: SimCalibrationConfig = SimCalibrationConfig(), *, progress: ProgressFn | None = None
) -> dict:
    """Write simulated calibration captures and their truth into ``out`` (atomically).

    Layout::

        OUT/board.json                      the board spec (for --board)
        OUT/boards/<camera>/pose_NNN.png    board captures (or .exr with encoding "exr")
        OUT/colour/<camera>/chart.exr       ColorChecker under the full pattern (if config.chart)
        OUT/truth.json                      cameras (session format), board poses, colour matrix

    An existing ``OUT`` is replaced only if it is empty or an earlier simulation (it holds
    ``truth.json``). Returns the truth object written to ``truth.json``.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "truth.json").is_file())):
        raise ConfigError(f"{out} exists and is not a simulated calibration folder; choose another output")
    rng = np.random.default_rng(config.seed)
    cameras = sim_rig(config)
    if config.rolls_deg:
        poses = rolled_board_poses(cameras, config, list(config.rolls_deg), rng=rng)
    else:
        poses = random_board_poses(cameras, config, rng=rng)
    tex = board_texture(config.board, px_per_square=120)
    total = len(cameras) * len(poses)
    truth: dict = {
        "format": "id2r-calibration-truth",
        "version": 1,
        "board": config.board.to_json(),
        "cameras": {n: c.to_json() for n, c in cameras.items()},
        "board_poses": {f"pose_{i:03d}": {"R": R.tolist(), "t": t.tolist()} for i, (R, t) in enumerate(poses)},
        "encoding": config.encoding,
    }
    with atomic_folder(out) as tmp:
        done = 0
        for name, cam in cameras.items():
            for i, pose in enumerate(poses):
                img = render_board_image(cam, pose, config, rng=rng, texture=tex)
                _write_image(tmp / "boards" / name / f"pose_{i:03d}", img, config.encoding)
                done += 1
                if progress is not None:
                    progress("render boards", done, total)
        if config.chart:
            rho = reference_rec709()
            for name, cam in cameras.items():
                img = render_chart_image(cam, rho, SIM_COLOR_MATRIX, white_level=config.chart_white_level, rng=rng)
                write_exr(tmp / "colour" / name / "chart.exr", img)
            truth["color_matrix"] = SIM_COLOR_MATRIX.tolist()
            truth["chart_white_level"] = config.chart_white_level
        atomic_write_json(tmp / "board.json", config.board.to_json())
        atomic_write_json(tmp / "truth.json", truth)
    log.info("simulated %d board captures of %d cameras into %s", total, len(cameras), out)
    return truth


# ------------------------------------------------------------------ figures


def rig_errors(
    estimated: dict[str, Camera], truth: dict[str, Camera], *, reference: str
) -> dict[str, dict[str, float]]:
    """How far a calibrated rig is from the truth, camera by camera.

    Extrinsics are compared relative to the ``reference`` camera (whatever world frame each
    rig uses): the rotation error is the angle of ``R_rel_est @ R_rel_true^T`` with
    ``R_rel = R_cam @ R_ref^T``, the translation error the distance between the camera
    centres expressed in the reference camera's frame.

    Returns
    -------
    {camera: {"fx_pct", "fy_pct", "cx_pct", "cy_pct" (signed, % of the true value),
    "rotation_deg", "centre_mm"}}
    """
    out: dict[str, dict[str, float]] = {}
    er, tr = estimated[reference], truth[reference]
    for name, t in truth.items():
        e = estimated[name]
        pct = 100 * (np.array([e.K[0, 0], e.K[1, 1], e.K[0, 2], e.K[1, 2]]) / t.K[[0, 1, 0, 1], [0, 1, 2, 2]] - 1)
        R_e, R_t = e.R @ er.R.T, t.R @ tr.R.T
        c_e = er.R @ (e.center - er.center)
        c_t = tr.R @ (t.center - tr.center)
        out[name] = {
            "fx_pct": float(pct[0]),
            "fy_pct": float(pct[1]),
            "cx_pct": float(pct[2]),
            "cy_pct": float(pct[3]),
            "rotation_deg": float(np.degrees(Rotation.from_matrix(R_e @ R_t.T).magnitude())),
            "centre_mm": float(1000 * np.linalg.norm(c_e - c_t)),
        }
    return out


def detections_as_capture(
    detections: dict[str, dict[str, Detection]], size: tuple[int, int]
) -> dict[str, CameraDetections]:
    """Wrap :func:`simulate_detections` output for ``calibrate_rig`` (all cameras ``size``)."""
    return {c: CameraDetections(c, size, dict(d), {p: f"{c}/{p}" for p in d}) for c, d in detections.items()}
