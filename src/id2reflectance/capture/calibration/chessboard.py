"""Plain chessboards: which corner is which, and whether the grid found is the whole board.

A plain chessboard's corners carry no ids; OpenCV returns the grid in an order of its own.
The labelling is read from the image:

- the square colours: the board frame puts a black square at the top-left (row 0,
  column 0; square ``(i, j)`` is black when ``i + j`` is even). Each way of laying the
  board's grid onto the detected one predicts a colour for every square; the labellings
  whose prediction disagrees with the image are refused. This tells a 180 degree turn
  apart whenever ``squares_x + squares_y`` is odd, and a mirror image (a board seen from
  behind) whenever the pattern is not mirror-symmetric;
- the orientation: a board seen from the front maps the board's x, y axes onto the
  image's with positive orientation; of the labellings the colours allow, a front view is
  preferred, a view from behind taken only when the colours leave no front view;
- what remains are the pattern's own rotations (180 degrees when ``squares_x + squares_y``
  is even, 90 degrees too for square boards with an odd number of squares), which no
  single image can tell apart: the labelling whose first row points most nearly along
  image +x is taken, and the rig calibration makes the cameras agree
  (:mod:`capture.calibration.labels`).

A grid that is part of a larger chessboard (a board specification smaller than the
printed board) is recognised by the squares beyond its edges, which continue the colour
alternation instead of showing the board's border.
"""

from __future__ import annotations

import cv2
import numpy as np


def _sample(gray: np.ndarray, H: np.ndarray, xy: np.ndarray, *, half: float = 0.2) -> np.ndarray:
    """Mean of ``gray`` over a small patch around board points ``xy`` (N, 2) (squares); NaN outside."""
    offs = np.array([(dx, dy) for dx in (-half, 0.0, half) for dy in (-half, 0.0, half)])
    pts = (xy[:, None, :] + offs[None]).reshape(-1, 2)
    q = cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    h, w = gray.shape
    inside = (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    v = cv2.remap(
        gray.astype(np.float32),
        q[:, 0].astype(np.float32).reshape(-1, 1),
        q[:, 1].astype(np.float32).reshape(-1, 1),
        cv2.INTER_LINEAR,
    ).reshape(-1)
    v = np.where(inside, v, np.nan).reshape(len(xy), len(offs))
    out = np.full(len(xy), np.nan)
    ok = np.isfinite(v).all(axis=1)
    out[ok] = v[ok].mean(axis=1)
    return out


def _homography(grid: np.ndarray) -> np.ndarray:
    """Board (squares, inner corner (r, c) at (c + 1, r + 1)) -> image, from a (ny, nx, 2) grid."""
    ny, nx = grid.shape[:2]
    jj, ii = np.meshgrid(np.arange(nx) + 1.0, np.arange(ny) + 1.0)
    H, _ = cv2.findHomography(np.stack([jj.ravel(), ii.ravel()], 1), grid.reshape(-1, 2), 0)
    return H if H is not None else np.eye(3)


def _squares(sx: int, sy: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (sx*sy, 2) of every square of the board (squares) and their colour (+1 white, -1 black)."""
    jj, ii = np.meshgrid(np.arange(sx), np.arange(sy))
    centres = np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5], 1).astype(np.float64)
    return centres, np.where((ii + jj).ravel() % 2 == 0, -1.0, 1.0)


def _colour_agreement(gray: np.ndarray, grid: np.ndarray) -> float:
    """Correlation of the square colours the labelling predicts with the image, in [-1, 1]."""
    ny, nx = grid.shape[:2]
    centres, colour = _squares(nx + 1, ny + 1)
    v = _sample(gray, _homography(grid), centres)
    ok = np.isfinite(v)
    if ok.sum() < 4 or np.std(v[ok]) < 1e-6:
        return 0.0
    return float(np.corrcoef(v[ok], colour[ok])[0, 1])


def _orientation(grid: np.ndarray) -> float:
    """> 0 when the board's x, y axes map to the image with positive orientation (front view)."""
    du = (grid[:, -1] - grid[:, 0]).mean(axis=0)
    dv = (grid[-1, :] - grid[0, :]).mean(axis=0)
    return float(du[0] * dv[1] - du[1] * dv[0])


def _axis_score(grid: np.ndarray) -> float:
    du = (grid[:, -1] - grid[:, 0]).mean(axis=0)
    dv = (grid[-1, :] - grid[0, :]).mean(axis=0)
    return float(du[0] / (np.linalg.norm(du) + 1e-12) + dv[1] / (np.linalg.norm(dv) + 1e-12))


def label_grid(gray: np.ndarray, corners: np.ndarray, nx: int, ny: int) -> tuple[np.ndarray, bool]:
    """Order a complete chessboard grid by the board's corner ids.

    Parameters
    ----------
    gray : (H, W) float32 display-referred gray (dark squares dark).
    corners : (ny * nx, 2) float64 pixels, in rows of ``nx`` as OpenCV returns them.
    nx, ny : inner corners along the board's x and y.

    Returns
    -------
    corners : (ny * nx, 2) float64, row ``id = row * nx + col``.
    from_behind : True when only a mirror image fits the square colours (a transparent
        board seen from its back).
    """
    g = corners.reshape(ny, nx, 2)
    candidates = [g, g[::-1, ::-1], g[:, ::-1], g[::-1, :]]
    if nx == ny:
        t = g.transpose(1, 0, 2)
        candidates += [t, t[::-1, ::-1], t[:, ::-1], t[::-1, :]]
    agree = np.array([_colour_agreement(gray, c) for c in candidates])
    best = float(agree.max())
    fits = [c for c, a in zip(candidates, agree, strict=True) if best < 0.2 or a > 0.5 * best]
    front = [c for c in fits if _orientation(c) > 0]
    chosen = front or fits
    return max(chosen, key=_axis_score).reshape(-1, 2), not front


def larger_grid(gray: np.ndarray, corners: np.ndarray, nx: int, ny: int, *, max_extra: int = 30) -> tuple[int, int]:
    """Inner corners (x, y) of the chessboard the labelled grid is part of.

    The squares one row or column beyond the board's border are sampled (through the
    grid's homography); where they continue the colour alternation in step with the board,
    the board is larger and the search goes on outward. Returns ``(nx, ny)`` when the grid
    is the whole board.

    Parameters
    ----------
    gray : (H, W) float32.  corners : (ny * nx, 2) labelled corners (:func:`label_grid`).
    """
    g = corners.reshape(ny, nx, 2)
    H = _homography(g)
    sx, sy = nx + 1, ny + 1
    centres, colour = _squares(sx, sy)
    v = _sample(gray, H, centres)
    ok = np.isfinite(v)
    white = np.nanmean(np.where(ok & (colour > 0), v, np.nan))
    black = np.nanmean(np.where(ok & (colour < 0), v, np.nan))
    if not abs(white - black) > 1e-6:
        return nx, ny
    # half < 0 for a sub-grid whose top-left square is white: the prediction flips with it
    mid, half = (white + black) / 2, (white - black) / 2

    def continues(ii: np.ndarray, jj: np.ndarray) -> bool:
        xy = np.stack([jj + 0.5, ii + 0.5], 1).astype(np.float64)
        s = _sample(gray, H, xy)
        pred = np.where((ii + jj) % 2 == 0, -1.0, 1.0)
        good = np.isfinite(s)
        if good.sum() < 3:
            return False
        return float(np.mean((s[good] - mid) / half * pred[good])) > 0.6

    extra = []
    for axis, sign in ((0, -1), (0, 1), (1, -1), (1, 1)):  # left, right, top, bottom
        k = 0
        while k < max_extra:
            line = (-1 - k) if sign < 0 else ((sx if axis == 0 else sy) + k)
            if axis == 0:
                ii = np.arange(sy)
                jj = np.full(sy, line)
            else:
                jj = np.arange(sx)
                ii = np.full(sx, line)
            if not continues(ii, jj):
                break
            k += 1
        extra.append(k)
    return nx + extra[0] + extra[1], ny + extra[2] + extra[3]
