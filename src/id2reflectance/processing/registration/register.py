"""Register the face template to a subject's scan: global alignment, then non-rigid fitting.

The result is the template's topology and UV layout with vertices on the scan, in the
capture's world frame, so texel (i, j) of every subject's maps is the same place on the
face. Steps:

1. :func:`~id2reflectance.processing.registration.rigid.align_similarity`: nose-tip
   anchored multi-start ICP with scale, then rigid point-to-plane ICP (Open3D);
2. :func:`~id2reflectance.processing.registration.rigid.align_scaled`: robust
   point-to-plane ICP adding a scale per template axis (heads differ in width, height and
   depth; a similarity leaves millimetres of tangential error that closest-point fitting
   cannot see);
3. :func:`~id2reflectance.processing.registration.nonrigid.fit_nonrigid`:
   Laplacian-regularised non-rigid ICP for the features (nose, chin, brow, ...), ending
   with *radial* correspondences (``correspondence="radial"``): the template is a grid of
   rays from its origin (:mod:`~id2reflectance.capture.geometry.template_mesh`), so a template vertex
   corresponds to the outermost crossing of the scan along its ray, cast from the image
   of the template origin under step 2. ``"closest"`` keeps closest-point targets
   throughout (templates not built from rays, such as the face-model template, always
   use closest points).

With a shape prior (``RegistrationConfig.prior``: ``"auto"`` uses the face model when it
is found and the template is the project's or the face model's own
(:mod:`~id2reflectance.capture.geometry.templates`), ``"face_model"`` requires it, ``"none"`` is
the path above), step 2 is replaced by
:func:`~id2reflectance.processing.registration.morphable.fit_morphable`: the face model's
identity weights and a similarity fitted to the scan (coarse to fine in the number of
modes), and step 3 starts from that head. Closest points alone let the template slide
along the surface by millimetres; the face model's span fixes where on the surface each
vertex belongs.

:func:`fit_residual` measures the result with Open3D's
``RaycastingScene.compute_distance`` in both directions.

A session without a scanned mesh cannot be registered: :func:`load_scan` says so instead
of inventing geometry.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.geometry.face_model import FaceModel, default_face_model_dir, load_face_model
from id2reflectance.capture.geometry.face_model_heads import HeadBasis, face_model_head_basis, face_model_skin_basis
from id2reflectance.capture.geometry.mesh import FaceMesh, read_mesh
from id2reflectance.capture.geometry.template_mesh import is_template_topology
from id2reflectance.capture.session import Session
from id2reflectance.errors import CaptureError, ConfigError, InputFileError
from id2reflectance.processing.registration.morphable import MorphableFit, fit_morphable, refine_normal
from id2reflectance.processing.registration.nonrigid import fit_nonrigid, open_edges, vertex_normals_welded, weld
from id2reflectance.processing.registration.rigid import (
    align_scaled,
    align_similarity,
    apply_transform,
    surface_samples,
)

log = logging.getLogger(__name__)
BORDER_BARY = 1e-4  # a closest point this near (barycentric) an open edge or vertex lies on the border


@dataclass(frozen=True)
class RegistrationConfig:
    """Options of :func:`register_template`.

    Distances in metres, angles in degrees.
    """

    icp_samples: int = 5000  # template surface points for the similarity ICP
    icp_yaw_deg: tuple[float, ...] = (-20.0, 0.0, 20.0)  # multi-start rotations about the nose tip
    icp_pitch_deg: tuple[float, ...] = (-15.0, 0.0, 15.0)
    icp_distances_m: tuple[float, ...] = (0.03, 0.015, 0.008, 0.004)  # shrinking correspondence distances
    scale_iterations: int = 20  # per-axis scale ICP iterations (0 skips the stage)
    scale_max_distance_m: float = 0.006
    stiffness: tuple[float, ...] = (10.0, 1.0)  # Laplacian weights, stiff to soft
    iterations_per_stage: int = 3
    max_distance_m: float = 0.01  # non-rigid correspondences farther than this are ignored
    max_normal_angle_deg: float = 60.0
    correspondence: Literal["radial", "closest"] = "radial"  # last step: template rays, or closest points
    residual_samples: int = 100_000  # surface samples per direction for the residual
    prior: Literal["auto", "face_model", "none"] = "auto"  # shape prior before the non-rigid fit
    face_model: str | None = None  # the face model's folder (None: $ID2R_FACE_MODEL or ../shared/...)
    prior_modes: tuple[int, ...] = (5, 20, 50, 100)  # identity modes fitted per stage, coarse to fine
    prior_iterations: int = 5  # Gauss-Newton steps per stage
    prior_refine: Literal["normal", "nonrigid", "none"] = "normal"  # after the prior: see register_template
    prior_sigma_m: float = 0.001  # per-vertex noise against the N(0, 1) weights (larger: stronger prior)
    prior_gate_m: float | None = 0.001  # off the bare face, scan farther outside the fit is not fitted (hair)
    prior_outward_m: float | None = 0.03  # refinement after the prior: reach a scan this far outside (hair)
    prior_max_rms_mm: float = 0.5  # "auto", procedural template: a head fitted worse than this gets no prior

    def __post_init__(self) -> None:
        if not self.stiffness or any(s <= 0 for s in self.stiffness):
            raise ConfigError(f"stiffness must be a non-empty list of positive numbers, got {self.stiffness}")
        if self.max_distance_m <= 0 or self.residual_samples < 100 or self.icp_samples < 100:
            raise ConfigError("max_distance_m must be > 0 and icp_samples, residual_samples >= 100")
        if self.correspondence not in ("radial", "closest"):
            raise ConfigError(f"correspondence must be 'radial' or 'closest', got {self.correspondence!r}")
        if not self.icp_yaw_deg or not self.icp_pitch_deg or not self.icp_distances_m:
            raise ConfigError("icp_yaw_deg, icp_pitch_deg and icp_distances_m must not be empty")
        if self.prior not in ("auto", "face_model", "none"):
            raise ConfigError(f"prior must be 'auto', 'face_model' or 'none', got {self.prior!r}")
        if not self.prior_modes or any(k < 1 for k in self.prior_modes) or self.prior_iterations < 1:
            raise ConfigError("prior_modes must be positive mode counts and prior_iterations >= 1")
        if self.prior_refine not in ("normal", "nonrigid", "none"):
            raise ConfigError(f"prior_refine must be 'normal', 'nonrigid' or 'none', got {self.prior_refine!r}")
        if self.prior_sigma_m <= 0 or self.prior_max_rms_mm <= 0:
            raise ConfigError(
                f"prior_sigma_m and prior_max_rms_mm must be > 0, got {self.prior_sigma_m}, {self.prior_max_rms_mm}"
            )


@dataclass(frozen=True)
class FitResidual:
    """Distances between the fitted template and the scan, millimetres.

    ``scan_to_fit``: from points sampled on the scan to the fitted mesh; ``fit_to_scan``:
    from points sampled on the fitted mesh to the scan. ``mean`` and ``p95`` pool both.
    """

    mean: float
    p95: float
    scan_to_fit_mean: float
    scan_to_fit_p95: float
    fit_to_scan_mean: float
    fit_to_scan_p95: float

    def to_json(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Registration:
    """The template fitted to one scan.

    mesh : template topology, UVs and landmarks, vertices on the scan (world, metres).
    similarity : (4, 4) float64 template -> world similarity found first.
    scaled : (4, 4) float64 template -> world ``R diag(k) x + t`` (step 2) the non-rigid
        fit started from.
    scale : the similarity's scale factor.
    residual : fitting residual.
    matched_fraction : fraction of template vertices with a scan correspondence at the end.
    extras : diagnostics (``rigid_rms_mm``, ``rigid_fitness`` of the similarity ICP; with
        the prior ``prior_rms_mm``, ``prior_matched_fraction``, ``prior_weight_norm``, and
        ``prior_rejected`` = 1 when ``"auto"`` dropped it).
    prior : the shape prior used, ``"face_model"`` or ``"none"``.
    weights : (K,) float64 fitted identity weights with the prior, else None.
    """

    mesh: FaceMesh
    similarity: np.ndarray
    scaled: np.ndarray
    scale: float
    residual: FitResidual
    matched_fraction: float
    extras: dict[str, float] = field(default_factory=dict)
    prior: str = "none"
    weights: np.ndarray | None = None


def resolve_prior(config: RegistrationConfig, template: FaceMesh) -> FaceModel | None:
    """The face model the registration fits as a shape prior, or None.

    ``"none"``: None. ``"auto"``: the face model when it is found (``config.face_model``,
    else :func:`~id2reflectance.capture.geometry.face_model.default_face_model_dir`) and
    ``template`` is the project's template (the model is embedded in its topology), else
    None; :func:`register_template` then still drops the prior when the fitted face-model
    head is farther from the scan than ``prior_max_rms_mm`` (a head outside the model's
    span, such as the simulator's procedural heads). ``"face_model"``: the model, or ConfigError naming what is missing.
    """
    if config.prior == "none":
        return None
    if config.prior == "auto" and config.face_model is None and default_face_model_dir() is None:
        log.info("registration: no face model found, no shape prior")
        return None
    try:
        model = load_face_model(config.face_model)
    except InputFileError as err:
        if config.prior == "auto":
            raise
        raise ConfigError(
            f"registration prior 'face_model': the face model does not load ({err}); "
            "set prior 'none' or install it (docs/face-model.md)"
        ) from err
    if prior_basis(model, template) is None:
        if config.prior == "auto":
            log.info("registration: template has %d vertices, no face-model topology: no prior", len(template.vertices))
            return None
        raise ConfigError(
            "registration prior 'face_model' needs the project's template or the face-model template "
            f"(or {len(face_model_skin_basis(model, 1).mean)} vertices), "
            f"the template has {len(template.vertices)}"
        )
    return model


def prior_basis(model: FaceModel, template: FaceMesh, count: int | None = None) -> HeadBasis | None:
    """The face model's identity space in ``template``'s topology: the procedural
    template's (the face model embedded by rays) or the face-model template's (its own
    vertices); None for any other topology (told apart by the vertex count)."""
    if is_template_topology(template):
        return face_model_head_basis(model, count)
    if len(template.vertices) == len(face_model_skin_basis(model, 1).mean):
        return face_model_skin_basis(model, count)
    return None


def load_scan(session: Session) -> FaceMesh:
    """The session's scanned mesh (``session.json`` field ``mesh``), validated.

    Raises
    ------
    CaptureError
        The session has no mesh (nothing is invented in its place).
    InputFileError
        The mesh file does not load, has no faces, or is degenerate; names the file.
    """
    if session.mesh is None:
        raise CaptureError(
            f"{session.root / 'session.json'}: field 'mesh' is absent: this session has no scanned mesh, and "
            "registration and baking need the subject's geometry (it is not invented); add the scan "
            "(mesh/<file>.obj or .ply, world frame, metres) and name it in session.json"
        )
    path = session.path(session.mesh)
    try:
        scan = read_mesh(path)
    except InputFileError as err:
        raise InputFileError(session.mesh, "mesh", err.message) from err
    if len(scan.faces) == 0:
        raise InputFileError(session.mesh, "mesh", "mesh has no faces")
    f = scan.faces
    if f.min() < 0 or f.max() >= len(scan.vertices):
        raise InputFileError(session.mesh, "mesh", "face index out of range")
    v = scan.vertices
    area = 0.5 * float(np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum())
    if not np.isfinite(area) or area <= 1e-8:
        raise InputFileError(session.mesh, "mesh", f"mesh has no surface area ({area:.3g} m^2)")
    extent = np.ptp(scan.vertices, axis=0).max()
    if extent > 10.0:
        raise InputFileError(
            session.mesh, "mesh", f"mesh is {extent:.1f} units across; the format wants metres (a head is ~0.25 m)"
        )
    return scan


def _borders(mesh: FaceMesh) -> tuple[np.ndarray, np.ndarray]:
    """(F, 3) bool: the edge of each triangle opposite its vertex k lies on the surface's
    border (used by one triangle once vertices at one position are welded: UV seams are not
    borders); (V,) bool: the vertex lies on the border."""
    open_edge = open_edges(weld(mesh)[1])
    border = np.zeros(len(mesh.vertices), bool)
    for k in range(3):
        border[mesh.faces[open_edge[:, k]][:, [(k + 1) % 3, (k + 2) % 3]].reshape(-1)] = True
    return open_edge, border


def _covered_distances(scene_mesh: FaceMesh, points: np.ndarray) -> np.ndarray:
    """Distances (metres) from ``points`` (N, 3) to ``scene_mesh`` for the points it covers:
    those whose closest point is not on its border (a point beyond the surface's edge, such
    as a template's neck below where a scan ends, or a scan's mouth interior behind the
    template's lips, has its closest point on the border and is left out)."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(scene_mesh.to_open3d())
    pts = np.ascontiguousarray(points, np.float32)
    ans = scene.compute_closest_points(o3d.core.Tensor(pts))
    d = np.linalg.norm(ans["points"].numpy().astype(np.float64) - pts, axis=1)
    fid = ans["primitive_ids"].numpy().astype(np.int64)
    uv = ans["primitive_uvs"].numpy().astype(np.float64)
    bary = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
    open_edge, border = _borders(scene_mesh)
    on_border = np.zeros(len(pts), bool)
    for k in range(3):
        on_border |= (bary[:, k] < BORDER_BARY) & open_edge[fid, k]
        on_border |= (bary[:, k] > 1.0 - BORDER_BARY) & border[scene_mesh.faces[fid, k]]
    return d[~on_border]


def fit_residual(fit: FaceMesh, scan: FaceMesh, *, samples: int = 100_000, seed: int = 0) -> FitResidual:
    """Mean and 95th-percentile surface distances between a fit and its scan, in mm, over
    the parts each surface covers of the other: a sample whose closest point on the other
    surface lies on that surface's border is left out (the template's neck below the end
    of a scan, the scan's mouth interior and eyeballs behind the template's openings).

    Parameters
    ----------
    fit, scan : meshes in the same frame, metres.
    samples : area-uniform points drawn on each surface (deterministic for ``seed``).
    """
    p_scan, _ = surface_samples(scan, samples, seed=seed)
    p_fit, _ = surface_samples(fit, samples, seed=seed + 1)
    d_sf = _covered_distances(fit, p_scan) * 1000.0
    d_fs = _covered_distances(scan, p_fit) * 1000.0
    both = np.concatenate([d_sf, d_fs])
    return FitResidual(
        mean=float(both.mean()),
        p95=float(np.percentile(both, 95)),
        scan_to_fit_mean=float(d_sf.mean()),
        scan_to_fit_p95=float(np.percentile(d_sf, 95)),
        fit_to_scan_mean=float(d_fs.mean()),
        fit_to_scan_p95=float(np.percentile(d_fs, 95)),
    )


def register_template(
    template: FaceMesh,
    scan: FaceMesh,
    *,
    config: RegistrationConfig = RegistrationConfig(),
    progress: ProgressFn | None = None,
) -> Registration:
    """Fit ``template`` to ``scan``: similarity ICP, per-axis scale or the face-model prior
    (``config.prior``, see the module docstring), non-rigid ICP or normal-only refinement, residual.

    Parameters
    ----------
    template : FaceMesh with UVs in its canonical frame (face toward +z, y up), metres.
    scan : the subject's scanned mesh, world frame, metres.
    config : RegistrationConfig.
    progress : optional ``progress(stage, done, total)`` callback.

    Returns
    -------
    Registration whose ``mesh`` has the template's vertex order, faces, UVs and landmarks.
    """
    if template.uvs is None:
        raise CaptureError("the face template has no UVs; it cannot define the shared UV layout")
    model = resolve_prior(config, template)
    steps = 2 + len(config.stiffness) * config.iterations_per_stage + (config.correspondence == "radial")

    def tick(done: int) -> None:
        if progress is not None:
            progress("register", done, steps)

    tick(0)
    rigid = align_similarity(
        template,
        scan,
        samples=config.icp_samples,
        yaw_deg=config.icp_yaw_deg,
        pitch_deg=config.icp_pitch_deg,
        distances_m=config.icp_distances_m,
    )
    log.info("similarity ICP: scale %.4f, rms %.2f mm, fitness %.2f", rigid.scale, rigid.rms_m * 1e3, rigid.fitness)
    tick(1)
    transform = rigid.transform
    morph: MorphableFit | None = None
    extras = {"rigid_rms_mm": rigid.rms_m * 1e3, "rigid_fitness": rigid.fitness}
    basis = None if model is None else prior_basis(model, template)
    if basis is not None:
        morph = fit_morphable(
            basis,
            template,
            scan,
            transform,
            modes=config.prior_modes,
            iterations_per_stage=config.prior_iterations,
            max_distance_m=config.max_distance_m,
            max_normal_angle_deg=config.max_normal_angle_deg,
            sigma_m=config.prior_sigma_m,
            gate_m=config.prior_gate_m,
        )
        log.info("face-model prior: rms %.3f mm, |w| %.2f", morph.rms_mm, float(np.linalg.norm(morph.weights)))
        extras.update(_prior_extras(morph))
        # on the face-model template the prior stays: the template is the model's own mean,
        # and simulated scans (ray-cut heads) leave undercuts that raise its RMS (docs/template.md)
        keep = not is_template_topology(template)
        if config.prior == "auto" and not keep and not morph.rms_mm <= config.prior_max_rms_mm:
            log.info("face-model prior rejected: rms %.3f mm > %.3f mm", morph.rms_mm, config.prior_max_rms_mm)
            extras["prior_rejected"] = 1.0
            morph = None
        else:
            transform = morph.transform
            aligned = template.with_vertices(morph.vertices)
    if morph is None and config.scale_iterations > 0:
        xw, fw, _ = weld(template)
        transform = align_scaled(
            xw,
            vertex_normals_welded(xw, fw),
            scan,
            transform,
            iterations=config.scale_iterations,
            max_distance_m=config.scale_max_distance_m,
            max_normal_angle_deg=config.max_normal_angle_deg,
        )
    tick(2)
    if morph is None:
        aligned = template.with_vertices(apply_transform(template.vertices, transform))
    if morph is not None and config.prior_refine == "none":
        fitted, matched = aligned, morph.matched_fraction
    elif morph is not None and config.prior_refine == "normal":
        fitted, moved = refine_normal(
            aligned,
            scan,
            max_distance_m=config.max_distance_m,
            max_normal_angle_deg=config.max_normal_angle_deg,
            max_outward_m=config.prior_outward_m,
        )
        matched = float(moved.mean())
    else:
        nonrigid = fit_nonrigid(
            aligned,
            scan,
            stiffness=config.stiffness,
            iterations_per_stage=config.iterations_per_stage,
            max_distance_m=config.max_distance_m,
            max_normal_angle_deg=config.max_normal_angle_deg,
            ray_origin=transform[:3, 3]
            if config.correspondence == "radial" and is_template_topology(template)
            else None,
            progress=None if progress is None else lambda _s, done, _t: tick(2 + done),
        )
        fitted, matched = nonrigid.mesh, float(nonrigid.matched.mean())
    residual = fit_residual(fitted, scan, samples=config.residual_samples)
    log.info("registration: residual mean %.3f mm, p95 %.3f mm", residual.mean, residual.p95)
    return Registration(
        mesh=fitted,
        similarity=rigid.transform,
        scaled=transform,
        scale=rigid.scale,
        residual=residual,
        matched_fraction=matched,
        extras=extras,
        prior="none" if morph is None else "face_model",
        weights=None if morph is None else morph.weights,
    )


def _prior_extras(morph: MorphableFit) -> dict[str, float]:
    return {
        "prior_rms_mm": morph.rms_mm,
        "prior_matched_fraction": morph.matched_fraction,
        "prior_weight_norm": float(np.linalg.norm(morph.weights)),
    }


def register_session_scan(
    session: Session,
    template: FaceMesh,
    *,
    config: RegistrationConfig = RegistrationConfig(),
    progress: ProgressFn | None = None,
) -> Registration:
    """Load the session's scan (:func:`load_scan`) and register ``template`` to it."""
    scan = load_scan(session)
    return register_template(template, scan, config=config, progress=progress)
