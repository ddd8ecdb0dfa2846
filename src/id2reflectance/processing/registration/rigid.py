"""Global initialisation, similarity ICP and per-axis scaling of the template onto a scan.

The capture convention puts the face toward +z with y up, in metres, so the template (in
its canonical frame, the same convention) and a scan differ by a similarity transform
close to a translation. The initialisation anchors the template's ``nose_tip`` landmark
(or the most +z point of its face region) on the scan's nose tip, found geometrically as
the most +z point of the forward-facing surface near the scan's vertical centre line, and
tries several small rotations about it (multi-start): every start runs point-to-point
ICP with scale (Open3D ``TransformationEstimationPointToPoint(with_scaling=True)``) at the
widest correspondence distance, the best (inlier RMS / fitness) continues on shrinking
distances, then rigid point-to-plane ICP (``TransformationEstimationPointToPlane``).
:func:`align_scaled` then adds one scale per template axis (robust Gauss-Newton
point-to-plane ICP).

Correspondences run from template samples to the scan and are trimmed by distance, so a
scan that covers less than the template (only the face) or more (neck, shoulders) still
aligns on the overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.errors import CaptureError

if TYPE_CHECKING:
    import open3d as o3d

# distances below are in metres
_FRONT_COS = 0.5  # forward-facing: normal . +z above this


@dataclass(frozen=True)
class RigidResult:
    """Outcome of :func:`align_similarity`.

    transform : (4, 4) float64, template -> scan: ``x_scan = s R x + t`` (scale in the
        upper-left 3x3 block).
    scale : the similarity scale s (unitless).
    rms_m : trimmed RMS point-to-surface distance after alignment, metres.
    fitness : fraction of template samples with a scan point within the final
        correspondence distance.
    """

    transform: np.ndarray
    scale: float
    rms_m: float
    fitness: float


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) similarity to (N, 3) points; returns (N, 3) float64."""
    p = np.asarray(points, np.float64)
    return p @ transform[:3, :3].T + transform[:3, 3]


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def nose_tip(mesh: FaceMesh) -> np.ndarray:
    """Geometric nose tip: the most +z vertex of the forward-facing surface near the centre line.

    Parameters
    ----------
    mesh : a head or face mesh in the capture convention (face toward +z, y up), metres.

    Returns
    -------
    (3,) float64 position, metres. Uses ``mesh.landmarks["nose_tip"]`` when present.
    """
    if "nose_tip" in mesh.landmarks:
        return np.asarray(mesh.vertices[mesh.landmarks["nose_tip"]], np.float64)
    v = mesh.vertices
    n = mesh.vertex_normals()
    front = n[:, 2] > _FRONT_COS
    if not front.any():
        raise CaptureError("scan has no surface facing +z (the capture convention's face direction)")
    pts = v[front]
    x_mid = np.median(pts[:, 0])
    width = np.percentile(pts[:, 0], 95) - np.percentile(pts[:, 0], 5)
    band = np.abs(pts[:, 0] - x_mid) < 0.2 * max(width, 1e-6)
    cand = pts[band] if band.any() else pts
    return cand[np.argmax(cand[:, 2])]


def _surface_samples(mesh: FaceMesh, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform random points on a mesh and their face normals, (count, 3) each."""
    v, f = mesh.vertices, mesh.faces
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    total = area.sum()
    if total <= 0:
        raise CaptureError("mesh has zero surface area")
    rng = np.random.default_rng(seed)
    fi = rng.choice(len(f), size=count, p=area / total)
    r1 = np.sqrt(rng.random(count))
    r2 = rng.random(count)
    b = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], axis=1)
    pts = np.einsum("nk,nkc->nc", b, v[f[fi]])
    nrm = cross[fi] / np.maximum(2 * area[fi, None], 1e-30)
    return pts, nrm


def surface_samples(mesh: FaceMesh, count: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic area-uniform samples on ``mesh``.

    Returns
    -------
    points : (count, 3) float64 metres; normals : (count, 3) float64 unit face normals.
    """
    return _surface_samples(mesh, count, seed)


def _pcd(points: np.ndarray, normals: np.ndarray | None = None) -> o3d.geometry.PointCloud:
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points, np.float64)))
    if normals is not None:
        pc.normals = o3d.utility.Vector3dVector(np.ascontiguousarray(normals, np.float64))
    return pc


def _score(ev) -> float:
    """Lower is better: RMS of inliers penalised by a small overlap."""
    return float(ev.inlier_rmse) / max(float(ev.fitness), 1e-6) if ev.fitness > 0 else np.inf


def align_similarity(
    template: FaceMesh,
    scan: FaceMesh,
    *,
    samples: int = 5000,
    yaw_deg: tuple[float, ...] = (-20.0, 0.0, 20.0),
    pitch_deg: tuple[float, ...] = (-15.0, 0.0, 15.0),
    distances_m: tuple[float, ...] = (0.03, 0.015, 0.008, 0.004),
    iterations: int = 30,
    seed: int = 0,
) -> RigidResult:
    """Similarity transform taking the template onto the scan (multi-start ICP).

    Every start (a rotation about the nose tip) runs the first, widest ICP stage; the best
    start by inlier RMS / fitness runs the remaining stages and the point-to-plane
    refinement.

    Parameters
    ----------
    template : template mesh in its canonical frame (face toward +z, y up), metres.
    scan : scanned mesh in the capture's world frame, metres.
    samples : surface points drawn on the template (twice as many on the scan).
    yaw_deg, pitch_deg : rotations about the nose tip tried as starts, degrees.
    distances_m : shrinking maximum correspondence distances of the ICP stages, metres.
    iterations : ICP iterations per stage.
    seed : seed of the surface sampling (the result is deterministic for a seed).

    Returns
    -------
    RigidResult with the template -> scan similarity.

    Raises
    ------
    CaptureError
        When less than 20 % of the template (and of the scan) lies within the final
        correspondence distance of the other: the scan is not a face in the capture frame.
    """
    import open3d as o3d

    reg = o3d.pipelines.registration
    src_pts, src_nrm = _surface_samples(template, samples, seed)
    dst_pts, dst_nrm = _surface_samples(scan, samples * 2, seed + 1)
    src = _pcd(src_pts, src_nrm)
    dst = _pcd(dst_pts, dst_nrm)
    anchor_t = nose_tip(template)
    anchor_s = nose_tip(scan)
    criteria = reg.ICPConvergenceCriteria(max_iteration=iterations, relative_fitness=1e-7, relative_rmse=1e-7)
    p2p = reg.TransformationEstimationPointToPoint(with_scaling=True)
    best_t, best_score = np.eye(4), np.inf
    for yaw in yaw_deg:
        for pitch in pitch_deg:
            R = _rotation(np.radians(yaw), np.radians(pitch), 0.0)
            T = np.eye(4)
            T[:3, :3] = R
            T[:3, 3] = anchor_s - R @ anchor_t
            T = reg.registration_icp(src, dst, distances_m[0], T, p2p, criteria).transformation
            score = _score(reg.evaluate_registration(src, dst, distances_m[0], T))
            if score < best_score:
                best_t, best_score = np.asarray(T), score
    T = best_t
    for d in distances_m[1:]:
        T = reg.registration_icp(src, dst, d, T, p2p, criteria).transformation
    # rigid point-to-plane refinement at the final distance, scale kept
    s = float(np.cbrt(np.linalg.det(T[:3, :3])))
    S = np.diag([s, s, s, 1.0])
    T_r = reg.registration_icp(
        _pcd(src_pts * s, src_nrm),
        dst,
        distances_m[-1],
        T @ np.linalg.inv(S),
        reg.TransformationEstimationPointToPlane(),
        criteria,
    ).transformation
    T = np.asarray(T_r) @ S
    ev = reg.evaluate_registration(src, dst, distances_m[-1], T)
    back = reg.evaluate_registration(dst, src, distances_m[-1], np.linalg.inv(T))
    fitness = max(float(ev.fitness), float(back.fitness))
    if fitness < 0.2:
        raise CaptureError(
            f"could not align the template to the scan: after ICP only {fitness:.0%} of the surfaces lie within "
            f"{distances_m[-1] * 1000:.0f} mm of each other (is the scan a face, in metres, facing +z?)"
        )
    rms = float(ev.inlier_rmse) if ev.fitness > 0 else float("inf")
    return RigidResult(transform=T, scale=s, rms_m=rms, fitness=float(ev.fitness))


def align_scaled(
    template_points: np.ndarray,
    template_normals: np.ndarray,
    scan: FaceMesh,
    initial: np.ndarray,
    *,
    iterations: int = 20,
    max_distance_m: float = 0.006,
    max_normal_angle_deg: float = 60.0,
    robust_m: float = 1e-4,
) -> np.ndarray:
    """Refine a similarity into ``x -> R diag(k) x + t``: per-axis scale in the template frame.

    Heads differ in width, height and depth (the template's x, y and z); a similarity
    leaves millimetres of tangential error that closest-point fitting cannot see, while a
    general affine also absorbs feature differences (a longer nose shears the fit). The
    model keeps rotation, translation and the three axis scales, fitted by Gauss-Newton
    point-to-plane ICP: residuals ``m_i . (R diag(k) p_i + t - c_i)`` with ``c_i``, ``m_i``
    the closest scan point and its face normal, for correspondences closer than
    ``max_distance_m`` whose normals agree within ``max_normal_angle_deg``, weighted by a
    Cauchy kernel whose scale is the residuals' robust spread (at least ``robust_m``), so
    that the parts of the head that only differ in proportion dominate.

    Parameters
    ----------
    template_points : (N, 3) float64 template points in the template frame, metres.
    template_normals : (N, 3) float64 their unit normals (template frame).
    scan : the scanned mesh, metres.
    initial : (4, 4) float64 similarity template -> scan to start from.

    Returns
    -------
    (4, 4) float64 transform template -> scan (``R diag(k)`` in the upper-left block).
    """
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(scan.to_open3d())
    face_n = scan.face_normals()
    cos_max = np.cos(np.radians(max_normal_angle_deg))
    p = np.asarray(template_points, np.float64)
    pn = np.asarray(template_normals, np.float64)
    k0 = float(np.cbrt(np.linalg.det(initial[:3, :3])))
    R = initial[:3, :3] / k0
    k = np.full(3, k0)
    t = initial[:3, 3].copy()
    for _ in range(iterations):
        u = p * k
        q = u @ R.T + t
        nq = (pn / k) @ R.T  # normals transform by the inverse transpose
        nq /= np.maximum(np.linalg.norm(nq, axis=1, keepdims=True), 1e-30)
        ans = scene.compute_closest_points(o3d.core.Tensor(np.ascontiguousarray(q, np.float32)))
        c = ans["points"].numpy().astype(np.float64)
        m = face_n[ans["primitive_ids"].numpy().astype(np.int64)]
        ok = (np.linalg.norm(c - q, axis=1) < max_distance_m) & (np.sum(m * nq, axis=1) > cos_max)
        if ok.sum() < 100:
            break
        mr = m[ok] @ R  # scan normals in the rotated template frame (R^T m)
        uo = u[ok]
        rows = np.concatenate([np.cross(uo, mr), mr * uo, m[ok]], axis=1)
        rhs = -np.sum(m[ok] * (q[ok] - c[ok]), axis=1)
        # robust (Cauchy) weights: local shape differences (nose, chin, lips) must not bias
        # the global proportions; the scale follows the residuals' spread, >= robust_m
        sigma_r = max(1.4826 * float(np.median(np.abs(rhs))), robust_m)
        wr = np.sqrt(1.0 / (1.0 + (rhs / sigma_r) ** 2))
        sol, *_ = np.linalg.lstsq(rows * wr[:, None], rhs * wr, rcond=None)
        w, sigma, tau = sol[:3], sol[3:6], sol[6:]
        angle = np.linalg.norm(w)
        if angle > 0:
            kx = w / angle
            kk = np.array([[0, -kx[2], kx[1]], [kx[2], 0, -kx[0]], [-kx[1], kx[0], 0]])
            R = R @ (np.eye(3) + np.sin(angle) * kk + (1 - np.cos(angle)) * kk @ kk)
        k = k * (1.0 + sigma)
        t = t + tau
        if max(angle, np.abs(sigma).max()) < 1e-6 and np.abs(tau).max() < 1e-7:
            break
    out = np.eye(4)
    out[:3, :3] = R * k
    out[:3, 3] = t
    return out
