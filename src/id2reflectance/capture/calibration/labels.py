"""Corner labels the cameras agree on, for boards whose pattern looks the same turned.

A plain chessboard with ``squares_x + squares_y`` even looks the same turned by 180
degrees about its centre (a square one with an odd number of squares by 90 degrees too),
so one image cannot tell which of those labellings is right (:mod:`capture.calibration.
chessboard` picks one by the image axes). For one camera the choice does not matter (it
only turns that view's board pose); between cameras it does: two cameras labelling the
same pose differently see the board in poses 180 degrees apart, and the rig they imply is
wrong.

The cameras are made to agree by geometry: the relative pose of two cameras is the same
for every board pose they share, so for each shared pose the labelling (of the pattern's
rotations) that agrees with the consensus of the other shared poses is kept
(:func:`relative_pose`); once the rig is placed, each pose's labels in every camera are
turned to agree with the pose in the world seen by the first camera
(:func:`agree_labels`).

Board-frame symmetry ``g``: corner ``k`` relabelled as ``perm[k]``, with
``P[perm[k]] = M P[k] + c`` (``P`` the corners' board coordinates, metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from id2reflectance.capture.calibration.boards import BoardSpec, Detection, object_points

Pose = tuple[np.ndarray, np.ndarray]  # (R (3, 3), t (3,)), board -> camera or board -> world


@dataclass(frozen=True)
class Symmetry:
    """An in-plane rotation of the board that maps its printed pattern onto itself.

    perm : (N,) int64 corner id -> id after the rotation.
    M : (3, 3) rotation in the board frame.  c : (3,) offset, metres.
    """

    perm: np.ndarray
    M: np.ndarray
    c: np.ndarray


def pattern_symmetries(spec: BoardSpec) -> list[Symmetry]:
    """The rotations (other than the identity) that leave a board's print unchanged.

    Empty for ChArUco boards (every corner has its own id) and for chessboards whose
    square colours fix the orientation (``squares_x + squares_y`` odd).
    """
    if spec.type != "chessboard":
        return []
    s = spec.square_size
    W, Hh = spec.squares_x * s, spec.squares_y * s
    P = object_points(spec)
    jj, ii = np.meshgrid(np.arange(spec.squares_x), np.arange(spec.squares_y))
    centres = np.stack([(jj.ravel() + 0.5) * s, (ii.ravel() + 0.5) * s], 1)
    colour = (ii + jj).ravel() % 2
    rotations = [(np.diag([-1.0, -1.0, 1.0]), np.array([W, Hh, 0.0]))]
    if spec.squares_x == spec.squares_y:
        r90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        rotations += [(r90, np.array([W, 0.0, 0.0])), (r90.T, np.array([0.0, Hh, 0.0]))]
    out = []
    for M, c in rotations:
        moved = centres @ M[:2, :2].T + c[:2]
        idx = np.round(moved / s - 0.5).astype(int)
        if colour[idx[:, 1] * spec.squares_x + idx[:, 0]].tolist() != colour.tolist():
            continue
        q = P @ M.T + c
        ids = np.round(q[:, 1] / s - 1).astype(np.int64) * (spec.squares_x - 1) + np.round(q[:, 0] / s - 1).astype(
            np.int64
        )
        out.append(Symmetry(ids, M, c))
    return out


def relabel(det: Detection, g: Symmetry) -> Detection:
    """The same corners under the labelling turned by ``g`` (ids increasing again)."""
    ids = g.perm[det.ids]
    order = np.argsort(ids)
    return Detection(ids=ids[order], corners=det.corners[order], from_behind=det.from_behind)


def relabel_pose(pose: Pose, g: Symmetry) -> Pose:
    """Board -> camera pose of a view after its labels are turned by ``g``."""
    R, t = pose
    R2 = R @ g.M.T
    return R2, t - R2 @ g.c


def _candidates(pose: Pose, syms: list[Symmetry]) -> list[Pose]:
    return [pose] + [relabel_pose(pose, g) for g in syms]


def _distance(a: Pose, b: Pose, scale: float) -> float:
    """Rotation angle (radians) plus translation difference relative to ``scale``."""
    ang = Rotation.from_matrix(a[0] @ b[0].T).magnitude()
    return float(ang + np.linalg.norm(a[1] - b[1]) / scale)


def relative_pose(
    a: dict[str, Pose], b: dict[str, Pose], shared: list[str], syms: list[Symmetry]
) -> tuple[list[Pose], dict[str, int]]:
    """Camera a -> b transforms from the shared board poses, b's labels agreeing with a's.

    Parameters
    ----------
    a, b : {pose: board -> camera (R, t)} of each camera.
    shared : the board poses both see.
    syms : :func:`pattern_symmetries` of the board.

    Returns
    -------
    transforms : one (R, t) per shared pose, ``x_b = R x_a + t``.
    choice : {pose: 0 (labels kept) or 1 + index of the symmetry turning b's labels}.
    """

    def rel(pa: Pose, pb: Pose) -> Pose:
        R = pb[0] @ pa[0].T
        return R, pb[1] - R @ pa[1]

    cands = {p: [rel(a[p], cb) for cb in _candidates(b[p], syms)] for p in shared}
    if not syms:
        return [cands[p][0] for p in shared], dict.fromkeys(shared, 0)

    def support(anchor: Pose, p: str) -> tuple[int, float]:
        """How many other shared poses agree with ``anchor`` (ties: closer, then the smaller turn)."""
        scale = max(float(np.linalg.norm(anchor[1])), 1e-3)
        d = [min(_distance(anchor, c, scale) for c in cands[q]) for q in shared if q != p]
        return sum(x < 0.1 for x in d), -float(sum(d)) - float(Rotation.from_matrix(anchor[0]).magnitude())

    anchor = max(((a, p) for p in shared for a in cands[p]), key=lambda ap: support(*ap))[0]
    scale = max(float(np.linalg.norm(anchor[1])), 1e-3)
    choice = {p: int(np.argmin([_distance(anchor, c, scale) for c in cands[p]])) for p in shared}
    return [cands[p][choice[p]] for p in shared], choice


def agree_labels(
    detections: dict[str, dict[str, Detection]],
    poses: dict[str, dict[str, Pose]],
    extrinsics: dict[str, Pose],
    syms: list[Symmetry],
    *,
    order: list[str],
) -> tuple[dict[str, dict[str, Detection]], dict[str, dict[str, Pose]], list[str]]:
    """Turn every view's labels so that all cameras see each board pose alike in the world.

    Parameters
    ----------
    detections : {camera: {pose: Detection}}.
    poses : {camera: {pose: board -> camera (R, t)}} of those detections.
    extrinsics : {camera: world -> camera (R, t)}.
    order : cameras by priority; a pose keeps the labels of the first camera that sees it.

    Returns
    -------
    The detections and poses with turned labels where needed (new objects; the inputs
    are not changed), and ``"camera/pose"`` of every view turned.
    """
    dets = {n: dict(d) for n, d in detections.items()}
    out_poses = {n: dict(p) for n, p in poses.items()}
    turned: list[str] = []
    if not syms:
        return dets, out_poses, turned
    names = sorted({p for d in detections.values() for p in d})
    for p in names:
        seen = [n for n in order if p in poses[n]]
        if len(seen) < 2:
            continue

        def world(n: str, pose: Pose) -> Pose:
            Rc, tc = extrinsics[n]
            return Rc.T @ pose[0], Rc.T @ (pose[1] - tc)

        ref = world(seen[0], poses[seen[0]][p])
        scale = max(float(np.linalg.norm(ref[1])), 1e-3)
        for n in seen[1:]:
            cands = _candidates(poses[n][p], syms)
            k = int(np.argmin([_distance(ref, world(n, c), scale) for c in cands]))
            if k:
                dets[n][p] = relabel(detections[n][p], syms[k - 1])
                out_poses[n][p] = cands[k]
                turned.append(f"{n}/{p}")
    return dets, out_poses, turned
