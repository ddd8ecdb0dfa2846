"""Calibration boards: their specification, their geometry and their detection in images.

Two kinds of planar target are supported:

- ``charuco``: an OpenCV ChArUco board (``cv2.aruco.CharucoBoard``): a chessboard whose
  white squares hold ArUco markers, so every inner corner has a unique id and partial
  views are usable; a board seen from behind (on glass: mirrored markers) is read in the
  mirrored image.
- ``chessboard``: a plain chessboard (top-left square black); only complete views are
  detected (``cv2.findChessboardCornersSB``); the corners are labelled from the square
  colours and the view's orientation, and a grid that is part of a larger board is
  recognised (:mod:`capture.calibration.chessboard`).

Board frame: metres, origin at the board's top-left outer corner as printed, x to the
right, y down, z into the board (the printed side faces -z). Inner corner ``id`` sits at
``(col + 1) * square_size, (row + 1) * square_size, 0`` with ``id = row * (squares_x - 1)
+ col`` for both kinds (OpenCV's ChArUco numbering).
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from id2reflectance._shared.config import from_dict, load_config
from id2reflectance._shared.imageio import linear_to_srgb
from id2reflectance.capture.calibration.chessboard import label_grid, larger_grid
from id2reflectance.errors import ConfigError, ShapeError

log = logging.getLogger(__name__)

BoardType = Literal["charuco", "chessboard"]


@dataclass(frozen=True)
class BoardSpec:
    """A printed calibration board.

    Attributes
    ----------
    type : ``"charuco"`` or ``"chessboard"``.
    squares_x, squares_y : number of squares along the board's x (columns) and y (rows).
    square_size : side of one square, metres.
    marker_size : side of one ArUco marker, metres (ChArUco only; < square_size).
    dictionary : OpenCV predefined ArUco dictionary name, e.g. ``"DICT_5X5_100"``.
    legacy_pattern : ChArUco layout of OpenCV < 4.6 (differs for an even number of rows).
    """

    type: BoardType = "charuco"
    squares_x: int = 9
    squares_y: int = 7
    square_size: float = 0.025  # metres
    marker_size: float = 0.018  # metres
    dictionary: str = "DICT_5X5_100"
    legacy_pattern: bool = False

    def __post_init__(self) -> None:
        if self.type not in ("charuco", "chessboard"):
            raise ConfigError(f"board.type must be 'charuco' or 'chessboard', got {self.type!r}")
        if self.squares_x < 3 or self.squares_y < 3:
            raise ConfigError(f"board.squares_x and squares_y must be >= 3, got {self.squares_x}x{self.squares_y}")
        if not self.square_size > 0:
            raise ConfigError(f"board.square_size must be > 0 metres, got {self.square_size}")
        if self.square_size > 1.0:
            raise ConfigError(f"board.square_size is in metres, got {self.square_size} (millimetres?)")
        if self.type == "charuco":
            if not 0 < self.marker_size < self.square_size:
                raise ConfigError(
                    f"board.marker_size must be in (0, square_size={self.square_size}), got {self.marker_size}"
                )
            if not hasattr(cv2.aruco, self.dictionary) or not self.dictionary.startswith("DICT_"):
                raise ConfigError(f"board.dictionary: unknown ArUco dictionary {self.dictionary!r}")
            n_markers = (self.squares_x * self.squares_y) // 2
            if n_markers > _dictionary_size(self.dictionary):
                raise ConfigError(
                    f"board.dictionary {self.dictionary} has {_dictionary_size(self.dictionary)} markers, "
                    f"a {self.squares_x}x{self.squares_y} board needs {n_markers}"
                )

    @property
    def n_corners(self) -> int:
        """Number of inner corners, ``(squares_x - 1) * (squares_y - 1)``."""
        return (self.squares_x - 1) * (self.squares_y - 1)

    @property
    def size_m(self) -> tuple[float, float]:
        """Board extent (width, height) in metres."""
        return self.squares_x * self.square_size, self.squares_y * self.square_size

    def to_json(self) -> dict:
        """Plain JSON object (what :func:`parse_board_spec` reads back)."""
        return {
            "type": self.type,
            "squares_x": self.squares_x,
            "squares_y": self.squares_y,
            "square_size": self.square_size,
            "marker_size": self.marker_size,
            "dictionary": self.dictionary,
            "legacy_pattern": self.legacy_pattern,
        }


def _dictionary_size(name: str) -> int:
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
    return int(d.bytesList.shape[0])


def parse_board_spec(spec: str | Path) -> BoardSpec:
    """Read a board specification from a file or an inline string.

    Parameters
    ----------
    spec : one of
        - a path to a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file holding the
          :class:`BoardSpec` fields;
        - an inline JSON object, ``'{"type": "charuco", "squares_x": 9, ...}'``;
        - an inline ``key=value`` list, ``"type=charuco,squares_x=9,squares_y=7,
          square_size=0.025,marker_size=0.018,dictionary=DICT_5X5_100"``.

    Raises
    ------
    ConfigError
        Unknown keys, wrong types, impossible sizes, unknown dictionary, unreadable file.
    """
    text = str(spec).strip()
    path = Path(text)
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--board: inline JSON is invalid: {err.msg} at column {err.colno}") from err
        if not isinstance(data, dict):
            raise ConfigError("--board: inline JSON must be an object")
        return from_dict(BoardSpec, data, where="board")
    if "=" in text and not path.exists():
        data: dict = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--board: expected key=value, got {item!r}")
            try:
                data[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
            except tomllib.TOMLDecodeError:
                data[key.strip()] = value.strip()
        return from_dict(BoardSpec, data, where="board")
    if not path.is_file():
        raise ConfigError(f"--board: {text!r} is neither a board file nor an inline specification")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read board JSON: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be an object")
        return from_dict(BoardSpec, data, where=path.name)
    return load_config(path, BoardSpec)


def object_points(spec: BoardSpec) -> np.ndarray:
    """Inner-corner positions in the board frame.

    Returns
    -------
    (N, 3) float64, metres, row ``id`` is corner ``id``; z = 0.
    """
    nx, ny = spec.squares_x - 1, spec.squares_y - 1
    jj, ii = np.meshgrid(np.arange(nx), np.arange(ny))
    pts = np.stack([(jj.ravel() + 1) * spec.square_size, (ii.ravel() + 1) * spec.square_size, np.zeros(nx * ny)], 1)
    return pts.astype(np.float64)


def charuco_board(spec: BoardSpec):  # -> cv2.aruco.CharucoBoard
    """The OpenCV ``CharucoBoard`` of a ChArUco spec."""
    if spec.type != "charuco":
        raise ConfigError(f"charuco_board: spec is a {spec.type}")
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, spec.dictionary))
    board = cv2.aruco.CharucoBoard((spec.squares_x, spec.squares_y), spec.square_size, spec.marker_size, d)
    board.setLegacyPattern(spec.legacy_pattern)
    return board


def board_texture(spec: BoardSpec, *, px_per_square: int = 120, margin_squares: float = 0.5) -> tuple[np.ndarray, int]:
    """The printed board as an image, for rendering.

    Returns
    -------
    texture : (Ht, Wt) float32 in [0, 1] (reflectance: 0 black ink, 1 white paper).
        Board corner (0, 0) is the outer top-left edge of texel ``(margin, margin)``.
    margin : white margin around the board, texels.
    """
    margin = int(round(margin_squares * px_per_square))
    w = spec.squares_x * px_per_square
    h = spec.squares_y * px_per_square
    if spec.type == "charuco":
        img = charuco_board(spec).generateImage((w + 2 * margin, h + 2 * margin), marginSize=margin, borderBits=1)
        tex = img.astype(np.float32) / 255.0
    else:
        jj, ii = np.meshgrid(np.arange(w) // px_per_square, np.arange(h) // px_per_square)
        inner = ((ii + jj) % 2 == 1).astype(np.float32)  # top-left square black
        tex = np.ones((h + 2 * margin, w + 2 * margin), np.float32)
        tex[margin : margin + h, margin : margin + w] = inner
    return tex, margin


# ------------------------------------------------------------------ detection


@dataclass(frozen=True)
class Detection:
    """Board corners found in one image.

    ids : (N,) int64 corner ids (rows of :func:`object_points`), increasing.
    corners : (N, 2) float64 pixel positions (column, row); pixel (0, 0) is the centre
        of the top-left pixel.
    from_behind : the board is seen from its back (a mirror image of the print).
    larger_board : inner corners (x, y) of the chessboard actually seen when the grid
        found is only part of it (the board specification is too small); such a
        detection is not usable. None otherwise.
    """

    ids: np.ndarray
    corners: np.ndarray
    from_behind: bool = False
    larger_board: tuple[int, int] | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def to_gray(image: np.ndarray) -> np.ndarray:
    """Display-referred gray for the detectors, as float32 in [0, 255].

    ``image`` : (H, W, 3) or (H, W) float linear (any exposure), or uint8 gray/RGB
    (already display-referred). A linear luminance is normalised by its 99.5th
    percentile and sRGB-encoded, which suits dim or bright captures alike.
    Returns (H, W) float32 (not quantised; round it for the 8-bit detectors).
    """
    a = np.asarray(image)
    if a.dtype == np.uint8:
        g = a if a.ndim == 2 else a[..., :3].mean(axis=2)
        return np.ascontiguousarray(g, dtype=np.float32)
    if a.ndim == 3:
        a = a[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    if a.ndim != 2:
        raise ShapeError(f"to_gray: expected (H, W) or (H, W, 3), got {np.asarray(image).shape}")
    a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.percentile(a, 99.5)) if a.size else 0.0
    if peak <= 0:
        peak = float(a.max()) if a.size and a.max() > 0 else 1.0
    return linear_to_srgb(a / peak) * np.float32(255.0)


def _refine(gray: np.ndarray, corners: np.ndarray, half_windows: np.ndarray, *, max_shift: float = 1.0) -> np.ndarray:
    """cv2.cornerSubPix on the float image, one window size per corner.

    Parameters
    ----------
    gray : (H, W) float32 image.
    corners : (N, 2) float64 initial positions (column, row).
    half_windows : (N,) int half window sizes in pixels.
    max_shift : a refinement that moves a corner further than this (pixels) is refused
        (the window caught another edge); the initial position is kept.

    Returns
    -------
    (N, 2) float64 refined positions.
    """
    out = corners.astype(np.float64).copy()
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-4)
    for w in np.unique(half_windows):
        sel = np.flatnonzero(half_windows == w)
        pts = corners[sel].reshape(-1, 1, 2).astype(np.float32).copy()
        cv2.cornerSubPix(gray, pts, (int(w), int(w)), (-1, -1), crit)
        new = pts.reshape(-1, 2).astype(np.float64)
        ok = np.linalg.norm(new - corners[sel], axis=1) <= max_shift
        out[sel[ok]] = new[ok]
    return out


def _nearest_distance(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N,) distance from each of ``points`` (N, 2) to the nearest of ``others`` (M, 2), itself excluded."""
    d = np.sqrt(((points[:, None, :] - others[None, :, :]) ** 2).sum(-1))
    d[d < 1e-9] = np.inf
    return d.min(axis=1)


def _detect_charuco(gray: np.ndarray, spec: BoardSpec) -> Detection | None:
    """ChArUco corners; a board seen from behind (mirrored markers) is read in the mirrored image."""
    board = charuco_board(spec)
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    cp = cv2.aruco.CharucoParameters()
    cp.tryRefineMarkers = True
    detector = cv2.aruco.CharucoDetector(board, cp, params)
    # tryRefineMarkers recovers markers the first pass missed (small or blurred ones):
    # on 800 x 600 renders 97 % of the corners instead of 43 %, but a few recovered ones
    # are off by 1-1.5 px; :func:`consistent_corners` removes those. OpenCV's own corner
    # refinement is kept as is (a second cornerSubPix pass did not help on ChArUco).
    for behind in (False, True):
        img = np.ascontiguousarray(gray[:, ::-1]) if behind else gray
        ch_corners, ch_ids, _, _ = detector.detectBoard(img)
        if ch_ids is None or len(ch_ids) == 0:
            continue
        ids = ch_ids.reshape(-1).astype(np.int64)
        corners = ch_corners.reshape(-1, 2).astype(np.float64)
        if behind:  # back to the image's columns (pixel centres at integers)
            corners[:, 0] = gray.shape[1] - 1 - corners[:, 0]
        order = np.argsort(ids)
        return Detection(ids=ids[order], corners=corners[order], from_behind=behind)
    return None


def consistent_corners(
    ids: np.ndarray, corners: np.ndarray, spec: BoardSpec, *, min_px: float = 0.3, factor: float = 4.0
) -> np.ndarray:
    """Which corners agree with their neighbours: (N,) bool.

    Each corner is predicted from the corners within two squares of it on the board by a
    homography (locally exact for a plane, lens distortion included to well below 0.01 px
    over that span) and refused when the prediction misses it by more than
    ``max(min_px, factor * median miss)``. Corners with fewer than six neighbours are kept.

    Parameters
    ----------
    ids : (N,) int corner ids.   corners : (N, 2) float pixels.
    """
    P = object_points(spec)[ids][:, :2] / spec.square_size
    miss = np.full(len(ids), np.nan)
    for k in range(len(ids)):
        d = np.abs(P - P[k]).max(axis=1)
        nb = np.flatnonzero((d > 0) & (d <= 2.01))
        if len(nb) < 6:
            continue
        H, _ = cv2.findHomography(P[nb], corners[nb], 0)
        if H is None:
            continue
        q = H @ np.array([P[k, 0], P[k, 1], 1.0])
        miss[k] = np.hypot(q[0] / q[2] - corners[k, 0], q[1] / q[2] - corners[k, 1])
    checked = np.isfinite(miss)
    if not checked.any():
        return np.ones(len(ids), bool)
    limit = max(min_px, factor * float(np.median(miss[checked])))
    return ~checked | (miss <= limit)


def _detect_chessboard(gray: np.ndarray, grayf: np.ndarray, spec: BoardSpec) -> Detection | None:
    nx, ny = spec.squares_x - 1, spec.squares_y - 1
    flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
    ok, corners = cv2.findChessboardCornersSB(gray, (nx, ny), flags=flags)
    if not ok or corners is None:
        ok, corners = cv2.findChessboardCorners(gray, (nx, ny), flags=cv2.CALIB_CB_ADAPTIVE_THRESH)
        if not ok or corners is None:
            return None
    c = corners.reshape(-1, 2).astype(np.float64)
    ids = np.arange(nx * ny, dtype=np.int64)
    # A second cornerSubPix on the float image, window 0.35 x the corner spacing: on
    # renders with known truth 0.05 px RMS against 0.13 px for findChessboardCornersSB alone.
    half = np.clip(np.round(0.35 * _nearest_distance(c, c)), 2, 15).astype(int)
    c = _refine(grayf, c, half)
    labelled, behind = label_grid(grayf, c, nx, ny)
    seen = larger_grid(grayf, labelled, nx, ny)
    if seen != (nx, ny):
        return Detection(ids=ids, corners=labelled, from_behind=behind, larger_board=seen)
    return Detection(ids=ids, corners=labelled, from_behind=behind)


def detect_board(image: np.ndarray, spec: BoardSpec) -> Detection | None:
    """Find the board's inner corners in one image.

    Parameters
    ----------
    image : (H, W, 3) float32 linear RGB (any exposure), (H, W) float gray, or uint8.
    spec : the board.

    Returns
    -------
    :class:`Detection` with sub-pixel corners, or None when the board is not found.
    ChArUco boards may be partially visible; plain chessboards must be complete (a few
    corners may then be dropped by :func:`consistent_corners`). A chessboard grid that
    is part of a larger board comes back with ``larger_board`` set and is not usable.
    """
    grayf = to_gray(image)
    gray = np.round(grayf).astype(np.uint8)
    det = _detect_charuco(gray, spec) if spec.type == "charuco" else _detect_chessboard(gray, grayf, spec)
    if det is None or det.larger_board is not None:
        return det
    keep = consistent_corners(det.ids, det.corners, spec)
    if not keep.all():
        log.debug("dropped %d corner(s) inconsistent with their neighbours", int((~keep).sum()))
    if not keep.any():
        return None
    return Detection(ids=det.ids[keep], corners=det.corners[keep], from_behind=det.from_behind)
