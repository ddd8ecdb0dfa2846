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


def _local_homographies(grid: np.ndarray, xy: np.ndarray, *, span: int = 3) -> list[np.ndarray]:
    """For each board point ``xy`` (N, 2) (squares), the homography of the ``span`` x ``span`` corners nearest it.

    A whole-grid homography ignores lens distortion, which bends a board's edge rows by
    a fair part of a square on short lenses (k1 -0.3 at 640 x 480); extrapolating from the
    nearest corners stays within a few hundredths of a square one square beyond the grid.
    """
    ny, nx = grid.shape[:2]
    sx, sy = min(span, nx), min(span, ny)
    cache: dict[tuple[int, int], np.ndarray] = {}
    out = []
    for x, y in xy:
        c0 = int(np.clip(round(x - 1 - (sx - 1) / 2), 0, nx - sx))
        r0 = int(np.clip(round(y - 1 - (sy - 1) / 2), 0, ny - sy))
        if (r0, c0) not in cache:
            cache[(r0, c0)] = _homography_of(grid[r0 : r0 + sy, c0 : c0 + sx], c0, r0)
        out.append(cache[(r0, c0)])
    return out


def _homography_of(block: np.ndarray, c0: int, r0: int) -> np.ndarray:
    """Board (squares) -> image from a block of the grid whose first corner is (row r0, column c0)."""
    ny, nx = block.shape[:2]
    jj, ii = np.meshgrid(np.arange(nx) + 1.0 + c0, np.arange(ny) + 1.0 + r0)
    H, _ = cv2.findHomography(np.stack([jj.ravel(), ii.ravel()], 1), block.reshape(-1, 2), 0)
    return H if H is not None else np.eye(3)


def _sample_local(gray: np.ndarray, grid: np.ndarray, xy: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean of ``gray`` over board points ``xy`` (N, 2) + ``offsets`` (K, 2) (squares), each through
    the homography of its nearest corners; NaN where a point falls outside the image."""
    h, w = gray.shape
    out = np.full(len(xy), np.nan)
    for k, (pt, H) in enumerate(zip(xy, _local_homographies(grid, xy), strict=True)):
        q = cv2.perspectiveTransform((pt + offsets).reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
        if not ((q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)).all():
            continue
        v = cv2.remap(
            gray.astype(np.float32), q[:, 0].astype(np.float32)[:, None], q[:, 1].astype(np.float32)[:, None], 1
        )
        out[k] = float(v.mean())
    return out


def _grow(gray: np.ndarray, grid: np.ndarray, side: int) -> np.ndarray:
    """The grid with one more corner line on ``side`` (0 left, 1 right, 2 top, 3 bottom).

    The new corners are predicted through the nearest corners' homography and refined
    with ``cornerSubPix`` (a refinement that moves more than a fifth of a square is not
    taken), so that the next line out is predicted from measured corners again.
    """
    ny, nx = grid.shape[:2]
    if side < 2:
        x = 0.0 if side == 0 else nx + 1.0
        xy = np.stack([np.full(ny, x), np.arange(ny) + 1.0], 1)
    else:
        y = 0.0 if side == 2 else ny + 1.0
        xy = np.stack([np.arange(nx) + 1.0, np.full(nx, y)], 1)
    pred = np.concatenate(
        [
            cv2.perspectiveTransform(p.reshape(1, 1, 2), H).reshape(2)[None]
            for p, H in zip(xy, _local_homographies(grid, xy), strict=True)
        ]
    )
    spacing = float(np.median(np.linalg.norm(np.diff(grid, axis=1), axis=2))) if nx > 1 else 10.0
    half = int(np.clip(round(0.3 * spacing), 2, 15))
    h, w = gray.shape
    inside = (pred[:, 0] > half) & (pred[:, 0] < w - 1 - half) & (pred[:, 1] > half) & (pred[:, 1] < h - 1 - half)
    new = pred.copy()
    if inside.any():
        pts = pred[inside].astype(np.float32).reshape(-1, 1, 2).copy()
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3)
        cv2.cornerSubPix(gray.astype(np.float32), pts, (half, half), (-1, -1), crit)
        moved = pts.reshape(-1, 2).astype(np.float64)
        ok = np.linalg.norm(moved - pred[inside], axis=1) <= 0.2 * spacing
        idx = np.flatnonzero(inside)[ok]
        new[idx] = moved[ok]
    if side == 0:
        return np.concatenate([new[:, None], grid], axis=1)
    if side == 1:
        return np.concatenate([grid, new[:, None]], axis=1)
    if side == 2:
        return np.concatenate([new[None], grid], axis=0)
    return np.concatenate([grid, new[None]], axis=0)


def larger_grid(gray: np.ndarray, corners: np.ndarray, nx: int, ny: int, *, max_extra: int = 30) -> tuple[int, int]:
    """Inner corners (x, y) of the chessboard the labelled grid is part of.

    Just beyond each corner line that bounds the grid (a fifth of a square out), the
    board continues with squares alternating in step with the grid when the grid is part
    of a larger board, and shows the margin when it is the whole board. Printed boards
    often cut their outermost squares short, so only that narrow strip is sampled, through
    the homography of the nearest corners (lens distortion). Where the strip continues the
    pattern, the board has one more corner line there: it is added to the grid
    (:func:`_grow`) and the search goes on outward. Returns ``(nx, ny)`` when the grid is
    the whole board.

    Parameters
    ----------
    gray : (H, W) float32.  corners : (ny * nx, 2) labelled corners (:func:`label_grid`).
    """
    g = corners.reshape(ny, nx, 2)
    # The levels of the squares fully inside the grid (the border squares may be cut short).
    centres, colour = _squares(nx + 1, ny + 1)
    inside = (centres[:, 0] > 1) & (centres[:, 0] < nx) & (centres[:, 1] > 1) & (centres[:, 1] < ny)
    if inside.sum() < 2:
        inside = np.ones(len(centres), bool)
    patch = np.array([(dx, dy) for dx in (-0.2, 0.0, 0.2) for dy in (-0.2, 0.0, 0.2)])
    v = _sample_local(gray, g, centres[inside], patch)
    c = colour[inside]
    white = np.nanmean(np.where(c > 0, v, np.nan)) if np.isfinite(v[c > 0]).any() else np.nan
    black = np.nanmean(np.where(c < 0, v, np.nan)) if np.isfinite(v[c < 0]).any() else np.nan
    if not abs(white - black) > 1e-6:
        return nx, ny
    # half < 0 for a sub-grid whose top-left square is white: the prediction flips with it
    mid, half = (white + black) / 2, (white - black) / 2
    along = np.array([-0.25, 0.0, 0.25])
    across = np.array([-0.08, 0.0, 0.08])

    def continues(grid: np.ndarray, side: int, ox: int, oy: int) -> bool:
        """Does the strip just beyond ``side`` of ``grid`` (``ox``, ``oy`` lines added left, top) continue the pattern?"""
        gy, gx = grid.shape[:2]
        if side < 2:
            ii = np.arange(gy + 1)
            jj = np.full(gy + 1, -1 if side == 0 else gx + 1)
            xy = np.stack([np.full(gy + 1, -0.2 if side == 0 else gx + 1.2), ii + 0.5], 1)
            offs = np.array([(b, a) for a in along for b in across])
        else:
            jj = np.arange(gx + 1)
            ii = np.full(gx + 1, -1 if side == 2 else gy + 1)
            xy = np.stack([jj + 0.5, np.full(gx + 1, -0.2 if side == 2 else gy + 1.2)], 1)
            offs = np.array([(a, b) for a in along for b in across])
        s = _sample_local(gray, grid, xy, offs)
        pred = np.where((ii - oy + jj - ox) % 2 == 0, -1.0, 1.0)
        # The strip's two end squares lie in the grid's border rows: cut short on a printed
        # board (and its corners often rounded), they are left out.
        good = np.isfinite(s) & (np.arange(len(s)) > 0) & (np.arange(len(s)) < len(s) - 1)
        if good.sum() < 3:
            return False
        # Most squares, not all: a finger or a glare on a square or two does not hide the
        # pattern (a plain strip agrees with half of the squares).
        return float(np.mean((s[good] - mid) / half * pred[good] > 0.5)) >= 0.75

    extra = [0, 0, 0, 0]
    for side in range(4):  # left, right, top, bottom
        while extra[side] < max_extra and continues(g, side, extra[0], extra[2]):
            g = _grow(gray, g, side)
            extra[side] += 1
    return nx + extra[0] + extra[1], ny + extra[2] + extra[3]
