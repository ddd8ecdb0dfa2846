"""Fit the face model's identity space to a scan: the shape prior of the registration.

A standard morphable-model fit in the template's topology. The head is

    x_i(w, T) = T(mean_i + B_i w),   T(p) = s R p + t,

with ``mean`` and ``B`` from
:func:`~id2reflectance.capture.geometry.face_model_heads.face_model_head_basis` and the
identity weights ``w ~ N(0, 1)``. Starting from a similarity ``T`` (the rigid alignment),
each Gauss-Newton step

1. takes for every skin vertex its closest point ``c_i`` on the scan and that face's
   normal ``n_i``; a correspondence is kept when it is nearer than ``max_distance_m``, the
   normals agree within ``max_normal_angle_deg`` and it is not on the scan's open boundary;
   outside the bare face (:func:`bare_face`: the front of the face below the forehead,
   which no hair style covers) it is kept only while the scan lies less than ``gate_m``
   outside the fitted head (``n_i . (c_i - x_i) < gate_m``): hair standing off the scalp
   is a surface the face model does not have, and a fit that followed it would grow the
   skull and shift the face (issue 22: a short crop of 14 mm moved the fitted face 4 mm);
   a bald scalp, within ``gate_m`` of the fit, still constrains the skull; from the
   third stage on, the scan farther out (up to ``hair_reach_m``) counts again, with
   weight ``hair_weight``, as the skull plus a hair thickness ``h(y) = a + b y + c y^2``
   (template height; ``a, b, c`` fitted with the rest): a shell of smoothly varying
   thickness still tells the skull's shape, which the face alone leaves to the prior
   (a held-out identity under 15 mm of hair: vertices under the hair 0.5 mm median
   from the truth instead of 2-4 mm);
2. minimises, linearised in ``w`` and in a small update of ``T`` (log-scale, rotation
   and translation about the points' centroid),

       sum_i rho_i (n_i . (c_i - x_i))^2 / sigma^2 + |w|^2

   (point-to-plane, so correspondences may slide along the surface without pulling the
   head; ``rho_i`` Geman-McClure weights of width ``robust_m`` (wider in the first
   stages: ``robust_start_m``, halved per stage); ``sigma`` the assumed
   per-vertex noise), with only the first ``k`` modes free, ``k`` growing over the
   stages (coarse to fine).

The fitted head then starts the non-rigid refinement of
:mod:`~id2reflectance.processing.registration.register`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.geometry.face_model_heads import HeadBasis
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.processing.registration.nonrigid import ScanQuery, vertex_normals_welded, weld

BARE_FACE_MAX_Y_M = 0.04  # template frame: no hair style reaches below this on the front of the face
BARE_FACE_MAX_AZIMUTH_DEG = 50.0  # ... within this azimuth of the midline (beyond it: sideburns, long hair)


def bare_face(points: np.ndarray) -> np.ndarray:
    """(N,) bool: points (N, 3) metres of a head in the template's frame (face toward +z,
    y up) on the front of the face below the forehead (azimuth within
    :data:`BARE_FACE_MAX_AZIMUTH_DEG` of the midline, y below :data:`BARE_FACE_MAX_Y_M`: under
    the lowest hairline, a fringe's, and in front of the sideburns): skin that scalp hair
    does not cover, on every subject."""
    p = np.asarray(points, np.float64)
    azimuth = np.degrees(np.abs(np.arctan2(p[:, 0], p[:, 2])))
    return (azimuth < BARE_FACE_MAX_AZIMUTH_DEG) & (p[:, 1] < BARE_FACE_MAX_Y_M)


@dataclass(frozen=True)
class MorphableFit:
    """Outcome of :func:`fit_morphable`.

    vertices : (V, 3) float64 world metres, the fitted head in template topology.
    weights : (K,) float64 identity weights (the modes not fitted are 0).
    transform : (4, 4) float64 similarity, template frame -> world.
    scale : its scale factor.
    rms_mm : point-to-plane RMS of the kept correspondences at the end, millimetres.
    matched_fraction : fraction of the skin vertices with a kept correspondence at the end.
    """

    vertices: np.ndarray
    weights: np.ndarray
    transform: np.ndarray
    scale: float
    rms_mm: float
    matched_fraction: float


def _rotation(omega: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of the axis-angle vector ``omega`` (Rodrigues)."""
    angle = float(np.linalg.norm(omega))
    if angle < 1e-15:
        return np.eye(3)
    k = omega / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def fit_morphable(
    basis: HeadBasis,
    template: FaceMesh,
    scan: FaceMesh,
    transform: np.ndarray,
    *,
    modes: tuple[int, ...] = (10, 40, 100),
    iterations_per_stage: int = 4,
    max_distance_m: float = 0.01,
    max_normal_angle_deg: float = 60.0,
    sigma_m: float = 0.002,
    robust_m: float = 0.002,
    robust_start_m: float = 0.008,
    gate_m: float | None = 0.002,
    hair_weight: float = 0.1,
    hair_reach_m: float = 0.03,
    hair_from_stage: int = 2,
    progress: ProgressFn | None = None,
) -> MorphableFit:
    """Fit identity weights and a similarity to ``scan``.

    Parameters
    ----------
    basis : the face model in template topology (mean (V, 3), modes (V, 3, K), skin (V,)).
    template : the template whose faces the basis's vertices use (for the normals).
    scan : the scanned mesh, world frame, metres.
    transform : (4, 4) initial similarity template -> world (the rigid alignment).
    modes : free modes per stage, coarse to fine (each capped at K).
    iterations_per_stage : Gauss-Newton steps per stage.
    max_distance_m, max_normal_angle_deg : correspondence limits, metres and degrees.
    sigma_m : per-vertex noise against the N(0, 1) prior, metres (larger: a stronger prior).
    robust_m : width of the Geman-McClure weights, metres.
    robust_start_m : their width in the first stage, halved at each stage down to
        ``robust_m`` (a start far from the scan, e.g. an alignment pulled by hair, still
        converges).
    gate_m : off the bare face, a correspondence counts only while the scan is less than
        this far outside the fitted head, metres (None: every skin vertex counts alike).
    hair_weight, hair_reach_m, hair_from_stage : the scan beyond the gate (up to
        ``hair_reach_m`` outside, metres) fitted as skull plus a smooth thickness, with this
        weight, from this stage on (0-based; ``hair_weight`` 0: not fitted).
    progress : optional ``progress(stage, done, total)`` callback.

    Returns
    -------
    MorphableFit.
    """
    count = basis.modes.shape[2]
    _, faces_w, inverse = weld(template)
    first = np.zeros(int(inverse.max()) + 1, np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]  # one template vertex per welded vertex
    skin = basis.skin[first]
    mean = basis.mean[first]
    b_all = basis.modes[first]
    b_skin = np.ascontiguousarray(b_all[skin])
    gated = ~bare_face(mean[skin]) if gate_m is not None else np.zeros(int(skin.sum()), bool)
    query = ScanQuery(scan)
    cos_max = np.cos(np.radians(max_normal_angle_deg))
    m = np.asarray(transform, np.float64)[:3]
    scale = float(np.cbrt(np.linalg.det(m[:, :3])))
    rot, t = m[:, :3] / scale, m[:, 3].copy()
    w = np.zeros(count)
    stages = [min(k, count) for k in modes]
    total, done = len(stages) * iterations_per_stage, 0
    rms, matched = float("nan"), 0.0
    y = mean[skin][:, 1] / 0.1
    thick_basis = np.stack([np.ones_like(y), y, y * y], axis=1)  # h(y), template height in 0.1 m
    thick = np.zeros(3)
    for stage, k in enumerate(stages):
        width = max(robust_m, robust_start_m * 0.5**stage)
        b_k = np.ascontiguousarray(b_skin[:, :, :k])
        for _ in range(iterations_per_stage):
            p = mean + b_all[:, :, :k] @ w[:k]
            x = scale * p @ rot.T + t
            c, cn, on_border = query.closest(x[skin])
            nrm = vertex_normals_welded(x, faces_w)[skin]
            r = np.sum(cn * (c - x[skin]), axis=1)
            dist = np.linalg.norm(c - x[skin], axis=1)
            facing = np.sum(nrm * cn, axis=1) > cos_max
            ok = (dist < max_distance_m) & facing & ~on_border
            hair = np.zeros(len(r), bool)
            if gate_m is not None:
                ok &= ~gated | (r < gate_m)
                if hair_weight > 0 and stage >= hair_from_stage:
                    hair = gated & ~ok & ~on_border & (r > 0) & (dist < hair_reach_m) & facing
            r = np.where(hair, r - thick_basis @ thick, r)
            rho = np.where(ok | hair, 1.0 / (1.0 + (r / width) ** 2) ** 2, 0.0) * np.where(hair, hair_weight, 1.0)
            q = x[skin] - x[skin][ok].mean(axis=0)
            # Jacobian of n . x: log-scale, rotation, translation, the k free weights
            jac = np.concatenate(
                [
                    np.sum(cn * q, axis=1)[:, None],
                    np.cross(q, cn),
                    cn,
                    np.einsum("nc,ncj->nj", cn @ rot * scale, b_k),
                    thick_basis * hair[:, None],
                ],
                axis=1,
            )
            jw = jac * (rho / sigma_m**2)[:, None]
            a = jw.T @ jac
            g = jw.T @ r
            a[7 : 7 + k, 7 : 7 + k] += np.eye(k)
            g[7 : 7 + k] -= w[:k]
            a[:7, :7] += 1e-9 * np.eye(7)
            a[7 + k :, 7 + k :] += 1e-3 * np.eye(3)  # thickness: free where there is hair, 0 where none
            step = np.linalg.solve(a, g)
            w[:k] += step[7 : 7 + k]
            thick += step[7 + k :]
            centre = x[skin][ok].mean(axis=0)
            d_rot = _rotation(step[1:4])
            d_scale = float(np.exp(step[0]))
            # x' = d_scale d_rot (x - centre) + centre + dt
            rot = d_rot @ rot
            t = d_scale * d_rot @ (t - centre) + centre + step[4:7]
            scale *= d_scale
            rms = float(np.sqrt(np.mean(r[ok] ** 2)) * 1000.0) if ok.any() else float("nan")
            matched = float(ok.mean())
            done += 1
            if progress is not None:
                progress("register", done, total)
    verts = scale * (basis.mean + basis.modes @ w) @ rot.T + t
    out = np.eye(4)
    out[:3, :3] = scale * rot
    out[:3, 3] = t
    return MorphableFit(verts, w, out, scale, rms, matched)


def refine_normal(
    head: FaceMesh,
    scan: FaceMesh,
    *,
    iterations: int = 2,
    max_distance_m: float = 0.01,
    max_normal_angle_deg: float = 60.0,
    max_outward_m: float | None = None,
) -> tuple[FaceMesh, np.ndarray]:
    """Move each vertex of a fitted head along its normal onto the scan's tangent plane.

    Each iteration takes the closest scan point ``c_i`` and its face normal ``m_i`` and
    moves the vertex by ``(m_i . (c_i - x_i)) / (m_i . n_i)`` along its own normal ``n_i``
    (kept under the same limits as :func:`fit_morphable`): no tangential motion, so the
    correspondence of the model fit is kept while the surface meets the scan's.
    ``max_outward_m`` (larger than ``max_distance_m``) lets a vertex reach a scan that lies
    farther outside it, up to that distance: the hair that stands off a skull the
    model fitted under it (:func:`fit_morphable`'s gate).

    Returns
    -------
    (the head with moved vertices (template topology), (V,) bool moved at the last step).
    """
    x, faces, inverse = weld(head)
    query = ScanQuery(scan)
    cos_max = np.cos(np.radians(max_normal_angle_deg))
    ok = np.zeros(len(x), bool)
    for _ in range(iterations):
        n = vertex_normals_welded(x, faces)
        c, cn, on_border = query.closest(x)
        cos = np.sum(n * cn, axis=1)
        dist = np.linalg.norm(c - x, axis=1)
        step = np.sum(cn * (c - x), axis=1) / np.maximum(cos, 1e-6)
        near = dist < max_distance_m
        if max_outward_m is not None:
            near |= (dist < max_outward_m) & (step > 0.0)
        ok = near & (cos > cos_max) & ~on_border
        x = x + np.where(ok, step, 0.0)[:, None] * n
    return head.with_vertices(x[inverse]), ok[inverse]
