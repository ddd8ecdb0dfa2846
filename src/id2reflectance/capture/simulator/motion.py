"""Subject motion between exposures: rigid head motion and a small expression change.

A sequential light stage takes its exposures one after another, so the head moves between
them. Each frame but the reference (``full``, ``cross``) gets a :class:`HeadMotion` drawn
from a seed: a rotation about the head's centre, a translation, and a fraction of a fixed
smooth non-rigid displacement of the vertices (an expression change). The simulator
renders the moved head (:func:`~id2reflectance.capture.simulator.render.render_camera`
with ``motion``), not a warped image; the ground truth stays in the reference frame.

World frame: y up, the face toward +z, metres; the front camera looks along -z, so a
roll about the world z axis is an in-plane rotation of its image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, interpolate

REFERENCE_FRAME = ("full", "cross")
"""The frame the motion is measured against (and the ground truth is rendered in)."""


def rotation_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """(3, 3) float64 rotation of the axis-angle vector ``axis_angle`` (3,) (radians)."""
    v = np.asarray(axis_angle, np.float64)
    a = float(np.linalg.norm(v))
    if a < 1e-15:
        return np.eye(3)
    k = v / a
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(a) * K + (1.0 - np.cos(a)) * K @ K


@dataclass(frozen=True, eq=False)
class HeadMotion:
    """One frame's head pose relative to the reference frame.

    A rest-frame point ``X`` (metres, world axes) is at
    ``rotation @ (X + expression * field(X) - pivot) + pivot + translation``.

    Attributes
    ----------
    axis_angle : (3,) float64 rotation vector, radians (world axes).
    translation : (3,) float64 metres.
    pivot : (3,) float64 centre of rotation, metres.
    expression : fraction of the expression field applied (0 = neutral).
    """

    axis_angle: np.ndarray
    translation: np.ndarray
    pivot: np.ndarray
    expression: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) float64 rotation matrix."""
        return rotation_matrix(self.axis_angle)

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) rest-frame points (expression already applied) -> moved world points."""
        return (np.asarray(points, np.float64) - self.pivot) @ self.rotation.T + self.pivot + self.translation

    def rays_to_rest(self, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (origin (3,), directions (N, 3)) expressed in the head's rest frame."""
        R = self.rotation
        o = R.T @ (np.asarray(origin, np.float64) - self.pivot - self.translation) + self.pivot
        return o, np.asarray(dirs, np.float64) @ R

    def to_json(self) -> dict:
        return {
            "rotation_deg": np.degrees(self.axis_angle).round(8).tolist(),
            "translation_m": np.asarray(self.translation).round(10).tolist(),
            "pivot_m": np.asarray(self.pivot).round(8).tolist(),
            "expression": round(float(self.expression), 8),
        }


def draw_motions(
    keys: list[tuple[str, str]],
    *,
    rng: np.random.Generator,
    pivot: np.ndarray,
    shift_m: float,
    roll_deg: float,
    tilt_deg: float,
    expression: bool,
) -> dict[tuple[str, str], HeadMotion]:
    """A motion per frame key; the reference frame ``("full", "cross")`` does not move.

    Parameters
    ----------
    keys : ``(pattern, polarization)`` of every lit frame, in capture order.
    rng : the random stream (the result is deterministic for it).
    pivot : (3,) metres, centre of rotation.
    shift_m : largest translation in the image plane of the front camera (world x, y), metres
        (drawn uniformly in the disc).
    roll_deg : largest rotation about the world z axis (uniform in [-roll, roll]).
    tilt_deg : largest rotation about the world x and y axes each (uniform).
    expression : draw a fraction in [0, 1] of the expression field per frame (else 0).
    """
    out = {}
    for key in keys:
        r, phi = shift_m * np.sqrt(rng.random()), 2 * np.pi * rng.random()
        shift = np.array([r * np.cos(phi), r * np.sin(phi), 0.0])
        roll = np.radians(roll_deg) * rng.uniform(-1.0, 1.0)
        tilt = np.radians(tilt_deg) * rng.uniform(-1.0, 1.0, 2)
        frac = float(rng.random()) if expression else 0.0
        if key == REFERENCE_FRAME:
            out[key] = HeadMotion(np.zeros(3), np.zeros(3), np.asarray(pivot, np.float64), 0.0)
        else:
            out[key] = HeadMotion(np.array([tilt[0], tilt[1], roll]), shift, np.asarray(pivot, np.float64), frac)
    return out


def expression_field(mesh: FaceMesh, amplitude_m: float) -> np.ndarray:
    """A smooth displacement of the vertices: cheeks and mouth raised, jaw dropped a little.

    Parameters
    ----------
    mesh : the head at rest (y up, face toward +z, metres).
    amplitude_m : largest displacement, metres.

    Returns
    -------
    (V, 3) float64 displacement per vertex, metres; smooth (Gaussian falloff over about
    3 cm) and zero on the back of the head.
    """
    v = mesh.vertices
    lo, hi = v.min(axis=0), v.max(axis=0)
    size = hi - lo
    front = np.clip((v[:, 2] - (lo[2] + 0.5 * size[2])) / (0.5 * size[2]), 0.0, 1.0)
    mouth = np.array([0.0, lo[1] + 0.3 * size[1], hi[2]])
    d2 = np.sum(((v - mouth) / np.array([0.035, 0.03, 0.06])) ** 2, axis=1)
    w = np.exp(-0.5 * d2) * front
    cheeks = np.sign(v[:, 0]) * np.exp(-0.5 * np.sum(((np.abs(v[:, :2]) - [0.035, mouth[1] + 0.03]) / 0.025) ** 2, 1))
    disp = np.stack([0.3 * cheeks * front, 0.6 * w * np.sign(v[:, 1] - mouth[1]), 0.2 * w], axis=1)
    m = np.max(np.linalg.norm(disp, axis=1))
    return disp * (amplitude_m / m) if m > 0 else disp


def moved_rest_mesh(mesh: FaceMesh, field: np.ndarray, motion: HeadMotion) -> FaceMesh:
    """The head of ``motion`` in its rest frame: the expression applied, no rigid motion."""
    if motion.expression == 0.0:
        return mesh
    return mesh.with_vertices(mesh.vertices + motion.expression * field)


def true_flow(
    camera: Camera,
    mesh: FaceMesh,
    field: np.ndarray,
    hit: np.ndarray,
    fid: np.ndarray,
    bary: np.ndarray,
    motion: HeadMotion,
) -> np.ndarray:
    """Where each reference pixel's surface point appears in the frame of ``motion``.

    Parameters
    ----------
    camera : the camera (projection with distortion).
    mesh, field : the head at rest and its expression field (V, 3).
    hit : (H, W) bool pixels on the head in the reference frame.
    fid, bary : (N,) int64 face and (N, 3) barycentrics of the hit pixels (row-major order).

    Returns
    -------
    (H, W, 3) float32: displacement (dx, dy) in pixels from the reference pixel to its
    position in the moved frame, and 1 where defined (0 off the head).
    """
    h, w = hit.shape
    verts = mesh.vertices + motion.expression * field
    X = motion.to_world(interpolate(verts, mesh.faces, fid, bary.astype(np.float64)))
    px, _ = camera.project(X)
    idx = np.flatnonzero(hit.reshape(-1))
    grid = np.stack([idx % w, idx // w], axis=1).astype(np.float64)
    out = np.zeros((h * w, 3), np.float32)
    out[idx, :2] = px - grid
    out[idx, 2] = 1.0
    return out.reshape(h, w, 3)


def similarity_fit(flow: np.ndarray) -> dict[str, float]:
    """Least-squares image similarity of a displacement field (about the image centre).

    Parameters
    ----------
    flow : (H, W, 3) float, (dx, dy, defined) as :func:`true_flow`.

    Returns
    -------
    ``{"tx", "ty"}`` pixels (displacement of the image centre), ``"rotation_deg"``
    (counter-clockwise in the image, y down) and ``"scale"``, fitted over defined pixels.
    """
    h, w = flow.shape[:2]
    ok = flow[..., 2] > 0
    yy, xx = np.nonzero(ok)
    x = xx - (w - 1) / 2
    y = yy - (h - 1) / 2
    dx, dy = flow[ok, 0].astype(np.float64), flow[ok, 1].astype(np.float64)
    # x' = a x - b y + tx, y' = b x + a y + ty
    A = np.zeros((2 * len(x), 4))
    A[0::2] = np.stack([x, -y, np.ones_like(x), np.zeros_like(x)], 1)
    A[1::2] = np.stack([y, x, np.zeros_like(x), np.ones_like(x)], 1)
    rhs = np.empty(2 * len(x))
    rhs[0::2] = x + dx
    rhs[1::2] = y + dy
    a, b, tx, ty = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return {
        "tx": float(tx),
        "ty": float(ty),
        "rotation_deg": float(np.degrees(np.arctan2(b, a))),
        "scale": float(np.hypot(a, b)),
    }
