"""The exact-map bake case of ``bench_bake.py --exact-maps`` (issue 22 item 2).

An independent scan (the face model's own mesh: its own tessellation and vertex order,
not the template's; without the face model, the procedural head with every triangle
split in four), the subject's truth UV maps rendered exactly into each camera of the
simulator's rig (per pixel: ray -> scan surface -> the template UV of that point -> the
truth maps by the interpolating cubic B-spline, so the truth is sampled once and exactly
at the texel centres; no solve, no noise), the registration as the pipeline does it and
with the true correspondence, the bake, and a straightforward reference bake, scored per
camera region and per face region.

The template UV of a scan point is its radial correspondence: the template's vertices are
the outermost crossings of the head with fixed rays from the origin
(:func:`~id2reflectance.capture.geometry.template_mesh.template_rays`), so a point of the
scan takes the UV where the ray from the origin through it crosses the true head in
template topology (outermost crossing).

The diffuse map rendered into the cameras is what a perfect solve returns under the full
pattern: the truth albedo times the subject's ambient visibility blurred by subsurface
scattering (the simulator's full-pattern diffuse texture, ``--exact-ao none``: the albedo
alone). Scores always compare with the truth albedo. The ambient visibility is cast against
the case's shading geometry (:data:`SHADINGS`): by default (``"consistent"``) the head in
template topology whose vertices all lie on the scan (the true mesh with the vertices of its
blend into the template's neck stub moved onto the scan, :func:`shading_head`), so the
surface that shades the images is the surface the scan holds; ``"true-mesh"`` (before 2026-12-08) the true mesh
itself, whose neck below the jaw blends into the template's stub 3-30 mm off the scan.

Camera regions (:func:`camera_regions`) hold the scored texels a camera sees best whose
truth is in an image; the scored texels whose truth is in no image (:func:`unobservable`)
are scored apart (:data:`HIDDEN`, what a fill gives them), and the regions over every
scored texel (the definition before 2026-12-08) are kept beside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, raycasting_scene, sample_bilinear
from id2reflectance.processing.bake.occlusion import mesh_on_scan
from id2reflectance.processing.bake.views import SolvedView, texel_geometry
from id2reflectance.processing.brdf_table import directional_albedo, normal_incidence_albedo

if TYPE_CHECKING:
    from id2reflectance.processing.registration.register import Registration

RAY_START = 0.45  # metres: radial correspondence rays start this far out (outside any head)
FACE_REGIONS = ("forehead", "cheeks", "nose", "lips", "chin")
SHADINGS = ("consistent", "true-mesh")  # the geometry the images' ambient visibility is cast against
HIDDEN = "truth in no image"  # the region of the scored texels no camera pixel holds (a fill's)
SNAP_M = 1e-3  # metres: the stage table's fitted vertices farther than this from the scan are moved onto it


@dataclass(frozen=True, eq=False)
class ExactCase:
    """One subject for the exact-map bake.

    truth_mesh : the head in template topology (template UVs), metres.
    scan : the independent scan (no UVs).
    shading_mesh : the head the images' ambient visibility was cast against (template
        topology, metres): ``truth_mesh``, or :func:`shading_head` (:data:`SHADINGS`).
    truth : {diffuse_albedo (S,S,3), specular_albedo, roughness (S,S), normal_object (S,S,3)}.
    shown_diffuse : (S, S, 3) the diffuse map the cameras see (albedo x blurred m0, or albedo).
    cameras : the simulator's rig.
    scored : (S, S) bool texels that lie on the scan (not the template's neck stub).
    regions : {name: (S, S) bool} face regions.
    """

    truth_mesh: FaceMesh
    scan: FaceMesh
    shading_mesh: FaceMesh
    truth: dict[str, np.ndarray]
    shown_diffuse: np.ndarray
    cameras: dict[str, Camera]
    scored: np.ndarray
    regions: dict[str, np.ndarray]


def _subdivided(mesh: FaceMesh) -> FaceMesh:
    """Every triangle split in four at its edge midpoints (seams welded; no UVs)."""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices), o3d.utility.Vector3iVector(mesh.faces))
    m.merge_close_vertices(1e-9)
    m = m.subdivide_midpoint(number_of_iterations=1)
    return FaceMesh(np.asarray(m.vertices, np.float64), np.asarray(m.triangles, np.int64))


def shading_head(truth_mesh: FaceMesh, scan: FaceMesh, off_scan: np.ndarray) -> FaceMesh:
    """The true mesh with its vertices ``off_scan`` moved to the closest point of ``scan``:
    the surface the scan holds, in template topology (faces and UVs of ``truth_mesh``).

    For a face-model head ``off_scan`` is the blend into the template's neck stub (blend
    weight > 0, or the vertex's template ray missed the face model, :func:`build_case`):
    there the true mesh lies 3-30 mm off the scan below the jaw (median per 20 mm band of
    height); moved, its triangles' centroids lie within 0.06-0.33 mm (median; p90 < 1.4 mm)
    of the scan, and every other vertex is the true mesh's (on the scan by construction).

    truth_mesh : (V, 3) vertices, metres; scan : metres; off_scan : (V,) bool.
    Returns a FaceMesh; vertices (V, 3) float64 metres."""
    import open3d as o3d

    v = np.array(truth_mesh.vertices, np.float64)
    if off_scan.any():
        query = o3d.core.Tensor(v[off_scan].astype(np.float32))
        closest = raycasting_scene(scan).compute_closest_points(query)["points"].numpy()
        v[off_scan] = closest.astype(np.float64)
    return truth_mesh.with_vertices(v)


def build_case(
    image: int,
    uv: int,
    head_model: str,
    ao: bool,
    subject: int = 0,
    appearance: bool = False,
    shading: str = "consistent",
) -> ExactCase:
    """Subject ``subject`` of seed 0 with its independent scan, truth and the rig's cameras
    (``appearance``: with its eyebrows, hair and beard, the simulator's default; else bald).
    ``shading`` (:data:`SHADINGS`): the geometry the images' ambient visibility (``ao``) is
    cast against, ``"consistent"`` (:func:`shading_head`: the true mesh with its blended
    neck moved onto the scan, so the surface that shades the images is the one the scan holds) or
    ``"true-mesh"`` (the true mesh, whose neck blends into the template's stub off the scan;
    the case before 2026-12-08). Without the face model the true mesh is the scan's surface
    and both are the same."""
    from id2reflectance.capture.geometry.face_model_heads import CAST_PARTS, NECK_CUT_Y, template_embedding
    from id2reflectance.capture.geometry.regions import face_texel_size, region_masks, uv_raster
    from id2reflectance.capture.simulator.face_model_subjects import resolve_face_model
    from id2reflectance.capture.simulator.render import diffuse_textures
    from id2reflectance.capture.simulator.sessions import (
        SimulatorConfig,
        config_subject,
        rig_cameras,
        subject_geometry,
    )
    from id2reflectance.capture.simulator.visibility import vertex_visibility

    if shading not in SHADINGS:
        raise ValueError(f"shading must be one of {SHADINGS}, got {shading!r}")
    # the case of the figures: the procedural template's layout and topology (27 934 vertices; the
    # simulator's default became the face model's layout) and painted appearance (not a donor's photo)
    config = SimulatorConfig(
        image_size=image,
        uv_size=uv,
        cameras=3,
        head_model=head_model,
        appearance=appearance,
        template="procedural",
        appearance_source="procedural",
    )
    subj = config_subject(config, subject)
    mesh, maps, _ = subject_geometry(subj, config)
    truth = {
        "diffuse_albedo": maps.diffuse_albedo.astype(np.float32),
        "specular_albedo": maps.specular_albedo.astype(np.float32),
        "roughness": maps.roughness.astype(np.float32),
        "normal_object": maps.normal_object.astype(np.float32),
    }
    model = resolve_face_model(config.head_model, config.face_model)
    geom = texel_geometry(mesh, uv)
    shading_mesh = mesh
    if model is not None and subj.face_head is not None:
        from id2reflectance.capture.geometry.face_model_heads import face_model_regions

        emb = template_embedding(model)
        verts = model.vertices(np.asarray(subj.face_head.identity), dict(subj.face_head.expression)) + emb.offset
        tris = model.part_triangles(CAST_PARTS)
        tris = tris[verts[tris, 1].max(axis=1) > NECK_CUT_Y]
        used = np.unique(tris)
        remap = np.full(len(verts), -1)
        remap[used] = np.arange(len(used))
        scan = FaceMesh(verts[used], remap[tris])
        on_scan = emb.hit & (emb.neck == 0.0)
        regions = face_model_regions(model, uv)
        if shading == "consistent":
            shading_mesh = shading_head(mesh, scan, (emb.neck > 0.0) | ~emb.hit)
    else:
        scan = _subdivided(mesh)
        on_scan = np.ones(len(mesh.vertices), bool)
        regions = region_masks(uv)
    shown = truth["diffuse_albedo"]
    if ao:
        vis = vertex_visibility(shading_mesh, directions=config.visibility_directions)
        dt = diffuse_textures(
            maps,
            uv_raster(uv),
            vis,
            patterns=("full",),
            sss_mm=config.sss_mm,
            texel_size=face_texel_size(mesh, uv),
            samples=config.diffuse_samples,
        )
        shown = dt.radiance["full"]
    fid = np.where(geom.covered, geom.face_id, 0)
    scored = geom.covered & np.all(on_scan[mesh.faces[fid]], axis=-1)
    return ExactCase(
        truth_mesh=mesh,
        scan=scan,
        shading_mesh=shading_mesh,
        truth=truth,
        shown_diffuse=np.asarray(shown, np.float32),
        cameras=rig_cameras(config),
        scored=scored,
        regions={k: (regions[k] > 0.5) & scored for k in FACE_REGIONS},
    )


def radial_uv(truth_mesh: FaceMesh, points: np.ndarray, tolerance_m: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Template UVs (N, 2) of surface points (N, 3) by the radial correspondence, and a
    (N,) bool for the points whose ray's outermost crossing of the true head lies within
    ``tolerance_m`` of the point (elsewhere the point is on a fold the template's chart
    does not hold: under the chin, inside the nostrils and ears)."""
    scene = raycasting_scene(truth_mesh)
    r = np.linalg.norm(points, axis=1)
    d = points / r[:, None]
    t, fid, bary = cast_rays(scene, RAY_START * d, -d)
    ok = (fid >= 0) & (np.abs(RAY_START - t - r) < tolerance_m)
    uv = np.zeros((len(points), 2))
    uv[ok] = interpolate(truth_mesh.uvs, truth_mesh.faces, fid[ok], bary[ok])
    return uv, ok


def sample_cubic(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Like :func:`sample_bilinear` (OBJ UVs, columns wrap, rows clamp) with OpenCV's
    bicubic convolution (interpolating: exact at texel centres, smooth across them).

    texture : (S, S) or (S, S, C); uv : (N, 2). Returns (N,) or (N, C) float64."""
    import cv2

    s = texture.shape[0]
    t = np.asarray(texture, np.float32)
    t = np.concatenate([t[:, -3:], t, t[:, :3]], axis=1)
    t = np.concatenate([t[:1].repeat(3, axis=0), t, t[-1:].repeat(3, axis=0)], axis=0)
    x = (uv[:, 0] * s - 0.5) % s + 3.0
    y = np.clip((1.0 - uv[:, 1]) * s - 0.5, -0.5, s - 0.5) + 3.0
    n = len(uv)
    cols = 4096
    rows = -(-n // cols)
    xs = np.pad(x.astype(np.float32), (0, rows * cols - n)).reshape(rows, cols)
    ys = np.pad(y.astype(np.float32), (0, rows * cols - n)).reshape(rows, cols)
    out = cv2.remap(t, xs, ys, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, *t.shape[2:])[:n].astype(np.float64)


def sample_spline(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Like :func:`sample_bilinear` (OBJ UVs, columns wrap, rows clamp) with the cubic
    B-spline that interpolates the texels: exact at the texel centres and twice
    continuously differentiable across them, so an image of it resamples without the
    kinks a bilinear texture has at the centres (where the bake samples).

    texture : (S, S) or (S, S, C); uv : (N, 2). Returns (N,) or (N, C) float64."""
    from scipy.ndimage import map_coordinates, spline_filter

    pad = 16  # the prefilter's reach decays as 0.27^k: 16 texels leave < 1e-9
    s = texture.shape[0]
    t = np.asarray(texture, np.float64)
    t = t if t.ndim == 3 else t[..., None]
    t = np.concatenate([t[:, -pad:], t, t[:, :pad]], axis=1)
    t = np.concatenate([t[:1].repeat(pad, axis=0), t, t[-1:].repeat(pad, axis=0)], axis=0)
    x = (uv[:, 0] * s - 0.5) % s + pad
    y = np.clip((1.0 - uv[:, 1]) * s - 0.5, 0.0, s - 1.0) + pad
    out = np.stack(
        [
            map_coordinates(spline_filter(t[..., c], order=3, mode="nearest"), [y, x], order=3, prefilter=False)
            for c in range(t.shape[-1])
        ],
        axis=-1,
    )
    return out if texture.ndim == 3 else out[:, 0]


def solved_view_at(
    cam: Camera,
    hit: np.ndarray,
    uv: np.ndarray,
    d: np.ndarray,
    truth: dict[str, np.ndarray],
    diffuse: np.ndarray,
    sample=sample_bilinear,
) -> SolvedView:
    """The 'solved' maps of one camera whose pixels ``hit`` (H*W,) bool see the texture
    at ``uv`` (hit.sum(), 2) along the unit view rays ``d`` (hit.sum(), 3), sampled
    with ``sample`` (one of :data:`LOOKUPS`)."""
    h, w = cam.height, cam.width
    rough = sample(truth["roughness"], uv)
    n = sample(truth["normal_object"], uv)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    k = sample(truth["specular_albedo"], uv) / normal_incidence_albedo(rough)
    spec = k * directional_albedo(np.clip(-np.sum(n * d, 1), 1e-3, 1), rough)

    def img(values: np.ndarray, channels: int) -> np.ndarray:
        out = np.zeros((h * w, channels), np.float32)
        out[hit] = values.reshape(int(hit.sum()), channels)
        return out.reshape(h, w, channels) if channels > 1 else out.reshape(h, w)

    return SolvedView(
        camera=cam,
        diffuse_albedo=img(sample(diffuse, uv), 3),
        specular_albedo=img(spec, 1),
        normal=img(n, 3),
        normal_specular=img(n, 3),
        roughness=img(rough, 1),
        mask=img(np.ones(int(hit.sum())), 1),
    )


LOOKUPS = {"spline": sample_spline, "bilinear": sample_bilinear, "cubic": sample_cubic}


def exact_views(
    case: ExactCase, *, lookup: str = "spline", cameras: dict[str, Camera] | None = None
) -> list[SolvedView]:
    """Every camera's exact maps: pixel ray -> first front-facing hit on the scan -> UV ->
    the truth maps, looked up by ``lookup`` (:data:`LOOKUPS`): ``"spline"`` (default: the
    interpolating cubic B-spline, so the truth is sampled once, exactly, at the texel
    centres, and the image is smooth there), ``"bilinear"`` (the simulator's lookup: kinks
    at the texel centres, which any bake then resamples: the benchmark's own ceiling of
    47-49 dB at 2048 px) or ``"cubic"`` (OpenCV's bicubic convolution, C1). ``cameras``:
    other cameras than the case's rig (:func:`layout_cameras`)."""
    scene = raycasting_scene(case.scan)
    fn = case.scan.face_normals()
    views = []
    for cam in (case.cameras if cameras is None else cameras).values():
        o, d = cam.pixel_rays()
        t, fid, _ = cast_rays(scene, o[None, :], d)
        hit = (fid >= 0) & (np.sum(fn[np.maximum(fid, 0)] * d, axis=1) < 0)
        p = o + t[hit, None].astype(np.float64) * d[hit]
        uv, ok = radial_uv(case.truth_mesh, p)
        hit[np.flatnonzero(hit)[~ok]] = False
        views.append(solved_view_at(cam, hit, uv[ok], d[hit], case.truth, case.shown_diffuse, LOOKUPS[lookup]))
    return views


def layout_cameras(names: tuple[str, ...], image: int) -> dict[str, Camera]:
    """Cameras of the simulator's layout (``CAMERA_LAYOUT``: ``above``, ``below``,
    ``far_left``, ``far_right``...) built as the rig builds its first three, at ``image`` px."""
    from id2reflectance.capture.simulator.sessions import CAMERA_LAYOUT, SimulatorConfig, rig_cameras

    known = [c[0] for c in CAMERA_LAYOUT]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown camera(s) {unknown}: the layout has {known}")
    rig = rig_cameras(SimulatorConfig(image_size=image, uv_size=256, cameras=len(CAMERA_LAYOUT)))
    return {n: rig[n] for n in names}


def side_yaw_cameras(image: int, yaw_deg: float) -> dict[str, Camera]:
    """The rig's three cameras (``front``, ``left``, ``right``) at ``image`` px with the side
    cameras turned to yaw +-``yaw_deg`` degrees (symmetric about the front camera; their
    elevation, roll, lens distortion and principal-point shift as in ``CAMERA_LAYOUT``)."""
    from id2reflectance.capture.simulator.sessions import CAMERA_LAYOUT, SimulatorConfig, rig_cameras

    sides = {"left": abs(yaw_deg), "right": -abs(yaw_deg)}
    layout = tuple((n, sides.get(n, yaw), *rest) for n, yaw, *rest in CAMERA_LAYOUT)
    return rig_cameras(SimulatorConfig(image_size=image, uv_size=256, cameras=3), layout)


@dataclass(frozen=True, eq=False)
class CameraRegions:
    """The camera regions of a rig, (S, S) bool masks.

    observable : {camera: the scored texels that camera sees best (the camera the
        reference bake, :func:`reference_bake`, picks on the true mesh) whose truth is in
        an image (not :func:`unobservable`)}: the figures' regions since 2026-12-08.
    every : {camera: the same texels, those whose truth is in no image included}: the
        regions before 2026-12-08.
    hidden : the texels of ``every`` whose truth is in no image (the union of ``every``
        less the union of ``observable``): no camera pixel holds them, a bake can only
        fill them (scored as :data:`HIDDEN`).
    """

    observable: dict[str, np.ndarray]
    every: dict[str, np.ndarray]
    hidden: np.ndarray


def in_image(case: ExactCase) -> np.ndarray:
    """(S, S) bool, the texels whose truth is in some camera image: neither folded nor off
    the scan (:func:`unobservable`)."""
    hidden = unobservable(case)
    return ~(hidden["folded"] | hidden["off the scan"])


def camera_regions(case: ExactCase, views: list[SolvedView], observable: np.ndarray | None = None) -> CameraRegions:
    """The camera regions of ``case``'s rig (:class:`CameraRegions`). ``observable``:
    (S, S) bool :func:`in_image` of the case when already computed (it does not depend on
    the cameras)."""
    who = reference_bake(case.truth_mesh, views, case.scored.shape[0])["camera"]
    every = {name: case.scored & (who == k) for k, name in enumerate(case.cameras)}
    keep = in_image(case) if observable is None else observable
    seen = np.logical_or.reduce(list(every.values()))
    return CameraRegions(
        observable={name: m & keep for name, m in every.items()},
        every=every,
        hidden=seen & ~keep,
    )


def scored_regions(case: ExactCase, regions: CameraRegions) -> dict[str, np.ndarray]:
    """The camera regions (``regions.observable``), the texels in no image (:data:`HIDDEN`)
    and the face regions, each limited to the camera regions' texels whose truth is in an
    image."""
    seen = np.logical_or.reduce(list(regions.observable.values()))
    return {**regions.observable, HIDDEN: regions.hidden, **{k: m & seen for k, m in case.regions.items()}}


def bilinear_exact(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of (H, W[, C]) at float pixel positions, in float64 (no
    fixed-point weights), zero outside the image."""
    h, w = img.shape[:2]
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    a = np.asarray(img, np.float64)
    if a.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]

    def at(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        ok = (i >= 0) & (i < h) & (j >= 0) & (j < w)
        v = a[np.clip(i, 0, h - 1), np.clip(j, 0, w - 1)]
        return v * (ok[:, None] if a.ndim == 3 else ok)

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def reference_bake(
    mesh: FaceMesh, views: list[SolvedView], size: int, *, sampler: str = "float"
) -> dict[str, np.ndarray]:
    """Straightforward bake: per texel its point on ``mesh``, every camera that sees it
    (in the image, facing it, first ray hit within 1 mm, all four pixels of the bilinear
    sample inside its mask), the one with the largest n.v,
    a bilinear sample (float64) of its maps. No blending, no occlusion correction, no
    filling (unseen texels are 0). ``sampler="cv2"``: the bilinear samples of
    ``cv2.remap`` (the pipeline's: weights in steps of 1/32 pixel) instead of float64.
    Returns diffuse_albedo and normal_object (S, S, 3), and camera (S, S) int: the
    index of the view each texel was sampled from (-1: none)."""
    from id2reflectance.processing.bake.views import _remap

    def sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return bilinear_exact(img, x, y) if sampler == "float" else _remap(img, x, y).astype(np.float64)

    geom = texel_geometry(mesh, size)
    scene = raycasting_scene(mesh)
    idx = np.flatnonzero(geom.covered.ravel())
    p = geom.points.reshape(-1, 3)[idx]
    n = geom.normals.reshape(-1, 3)[idx]
    best = np.zeros(len(idx))
    who = np.full(len(idx), -1)
    alb = np.zeros((len(idx), 3))
    nrm = np.zeros((len(idx), 3))
    for k, view in enumerate(views):
        cam = view.camera
        v = cam.center - p
        dist = np.linalg.norm(v, axis=1)
        v /= dist[:, None]
        cos = np.sum(n * v, axis=1)
        pix, depth = cam.project(p)
        ok = (cos > best) & (depth > 0) & np.all((pix >= 0) & (pix <= [cam.width - 1, cam.height - 1]), axis=1)
        sel = np.flatnonzero(ok)
        t, _, _ = cast_rays(scene, cam.center[None, :], -v[sel])
        ok[sel] = t >= dist[sel] - 1e-3
        sel = np.flatnonzero(ok)
        sel = sel[bilinear_exact(view.mask, pix[sel, 0], pix[sel, 1]) > 0.999]  # valid pixels only
        best[sel] = cos[sel]
        who[sel] = k
        alb[sel] = sample(view.diffuse_albedo, pix[sel, 0], pix[sel, 1])
        nrm[sel] = sample(view.normal, pix[sel, 0], pix[sel, 1])
    out_w = np.full(size * size, -1)
    out_w[idx] = who
    out_a = np.zeros((size * size, 3), np.float32)
    out_n = np.zeros((size * size, 3), np.float32)
    out_a[idx] = alb
    out_n[idx] = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    return {
        "diffuse_albedo": out_a.reshape(size, size, 3),
        "normal_object": out_n.reshape(size, size, 3),
        "camera": out_w.reshape(size, size),
    }


def region_scores(
    maps: dict[str, np.ndarray], truth: dict[str, np.ndarray], regions: dict[str, np.ndarray]
) -> dict[str, tuple[float, float]]:
    """{region: (diffuse albedo PSNR dB, median normal error deg)}, peak 1."""
    out = {}
    for name, m in regions.items():
        if not m.any():
            out[name] = (float("nan"), float("nan"))
            continue
        e = maps["diffuse_albedo"][m].astype(np.float64) - truth["diffuse_albedo"][m]
        psnr = 10 * np.log10(1.0 / max(float(np.mean(e**2)), 1e-20))
        a = np.asarray(maps["normal_object"][m], np.float64)
        b = np.asarray(truth["normal_object"][m], np.float64)
        cos = np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
        out[name] = (float(psnr), float(np.median(np.degrees(np.arccos(np.clip(cos, -1, 1))))))
    return out


def supersampled(
    case: ExactCase,
    views: list[SolvedView],
    mesh: FaceMesh,
    regions: dict[str, np.ndarray],
    origin: np.ndarray,
) -> dict[str, tuple[float, float]]:
    """Region scores of a per-texel area-weighted lookup: the default bake at twice the
    size, each texel the mean of its 2 x 2 sub-texels (a box over the texel's footprint
    instead of one bilinear sample at its centre). ``origin``: (3,) the template origin's
    image under the registration, metres (``bake_maps``' ``surface_origin``)."""
    import cv2

    from id2reflectance.processing.bake.baker import BakeConfig, bake_maps

    size = case.scored.shape[0]
    config = BakeConfig(size=2 * size, previews=False)
    b = bake_maps(mesh, views, config=config, occluder=case.scan, surface_origin=origin)
    maps = {
        "diffuse_albedo": cv2.resize(b.diffuse_albedo, (size, size), interpolation=cv2.INTER_AREA),
        "normal_object": cv2.resize(b.normal_object, (size, size), interpolation=cv2.INTER_AREA),
    }
    return region_scores(maps, case.truth, regions)


def off_scan_mm(case: ExactCase) -> np.ndarray:
    """(S, S) float64 millimetres from each covered texel's point on the true mesh (template
    topology) to the scan's surface (0 outside the chart). Where it is large the template
    cannot hold the scan's surface (the chord of the upper lid margin, up to 1.4 mm) and
    the truth, defined through the radial correspondence, differs from what a camera sees
    along its ray: no bake through the template can read it there."""
    import open3d as o3d

    size = case.scored.shape[0]
    geom = texel_geometry(case.truth_mesh, size)
    cov = geom.covered.ravel()
    out = np.zeros(size * size)
    pts = o3d.core.Tensor(geom.points.reshape(-1, 3)[cov].astype(np.float32))
    out[cov] = raycasting_scene(case.scan).compute_distance(pts).numpy() * 1e3
    return out.reshape(size, size)


def unobservable(case: ExactCase, fold_m: float = 1e-5, tolerance_m: float = 1e-3) -> dict[str, np.ndarray]:
    """Scored or not, the covered texels whose truth is in no camera's image, by the
    benchmark's own construction (every pixel's UV is the outermost crossing of the true
    mesh on the ray from the origin through its scan point, within ``tolerance_m``,
    :func:`radial_uv`), as (S, S) bool masks:

    * ``"folded"``: the texel's point on the true mesh (template topology) is not the
      outermost crossing of its own radial line: the true mesh is crossed more than
      ``fold_m`` further out (the template folds over there: subject 1's upper lid
      margin, row 106 under row 105, 0.6-0.9 mm); no ray's outermost crossing is it.
    * ``"off the scan"``: not folded, but the scan crosses that line nowhere within
      ``tolerance_m`` of the point: no scan point a camera could see maps to it (the
      pixels on that line are outside the views' masks).

    A bake can only fill these texels."""
    size = case.scored.shape[0]
    geom = texel_geometry(case.truth_mesh, size)
    idx = np.flatnonzero(geom.covered.ravel())
    p = geom.points.reshape(-1, 3)[idx]
    r = np.linalg.norm(p, axis=1)
    d = p / r[:, None]
    t, fid, _ = cast_rays(raycasting_scene(case.truth_mesh), RAY_START * d, -d)
    folded = (np.asarray(fid) >= 0) & (RAY_START - np.asarray(t, np.float64) - r > fold_m)
    # any crossing of the scan within tolerance_m of the point, from tolerance_m outside it inwards
    # (not only the outermost: a camera beside an ear sees the cheek the radial line meets behind it)
    t, fid, _ = cast_rays(raycasting_scene(case.scan), p + tolerance_m * d, -d)
    off = ~folded & ((np.asarray(fid) < 0) | (np.asarray(t, np.float64) > 2.0 * tolerance_m))
    out = {}
    for name, m in (("folded", folded), ("off the scan", off)):
        full = np.zeros(size * size, bool)
        full[idx] = m
        out[name] = full.reshape(size, size)
    return out


def error_shares(
    case: ExactCase,
    baked_diffuse: np.ndarray,
    seen: np.ndarray,
    weights: dict[str, np.ndarray],
    region: np.ndarray,
    guided: np.ndarray | None = None,
) -> dict[str, tuple[int, float, float]]:
    """Where a camera region's diffuse error lies: {class: (texels, share of the region's
    squared error, PSNR dB of the class)} for the texels the bake filled (unseen or
    creases), those it filled guided by their grazing samples (``guided``,
    ``BakedMaps.guided``), those seen by one camera only and those blended from two or
    more, with the seen ones split at n.v 0.3 to their best camera (grazing)."""
    from id2reflectance.processing.bake.views import texel_geometry

    e2 = np.mean((np.asarray(baked_diffuse, np.float64) - case.truth["diffuse_albedo"]) ** 2, axis=-1)
    geom = texel_geometry(case.truth_mesh, region.shape[0])
    cos = np.zeros(region.shape)
    for cam in case.cameras.values():
        v = cam.center - geom.points
        v /= np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
        cos = np.maximum(cos, np.sum(geom.normals * v, axis=-1))
    views = sum((w > 0).astype(int) for w in weights.values())
    guided = np.zeros_like(seen) if guided is None else guided
    classes = {
        "filled": region & ~seen & ~guided,
        "filled, guided by grazing samples": region & guided,
        "seen, grazing (n.v < 0.3)": region & seen & (cos < 0.3),
        "seen, one camera": region & seen & (cos >= 0.3) & (views <= 1),
        "seen, blended": region & seen & (cos >= 0.3) & (views >= 2),
    }
    total = max(float(e2[region].sum()), 1e-30)
    return {
        k: (int(m.sum()), float(e2[m].sum() / total), float(10 * np.log10(1 / max(float(e2[m].mean()), 1e-20))))
        if m.any()
        else (0, 0.0, float("nan"))
        for k, m in classes.items()
    }


# (label, BakeConfig changes): one stage switched off or replaced at a time
STAGES: tuple[tuple[str, dict], ...] = (
    (
        "the bake before (occlusion per vertex, 128 directions, creases m0 < 0.6, grazing texels filled)",
        {
            "occlusion_normal": "vertex",
            "occlusion_directions": 128,
            "occlusion_min": 0.6,
            "grazing": "fill",
            "mirror_trust": 0.0,
        },
    ),
    ("mirror fill off (before 2026-12-07 evening)", {"mirror_trust": 0.0}),
    ("visibility against the registered mesh only, not the scan (before 2026-12-07 late)", {"scan_occlusion": False}),
    ("blending -> best view only", {"blend": "best"}),
    ("occlusion correction off", {"occlusion_directions": 0}),
    ("occlusion per vertex, 128 directions (before)", {"occlusion_normal": "vertex", "occlusion_directions": 128}),
    ("occlusion per texel with the baked normal", {"occlusion_normal": "baked"}),
    ("creases (m0 < 0.3) kept, not filled", {"occlusion_min": 0.0}),
    ("crease threshold m0 < 0.6 (before)", {"occlusion_min": 0.6}),
    ("grazing texels filled from their surroundings (before 2026-12-07)", {"grazing": "fill"}),
    ("grazing texels: their own sample (down to n.v 0.02)", {"grazing": "sample"}),
    ("grazing texels: guided fill from seen texels only (trust 0)", {"grazing_trust": 0.0}),
    ("grazing texels: guided fill, grazing trust 1", {"grazing_trust": 1.0}),
    ("mask/occlusion margins off", {"mask_feather_px": 0.0, "feather": 0.0}),
    ("visibility tolerance 0.2 mm", {"visibility_tolerance_m": 2e-4}),
    ("texels projected from the template, not the scan (before 2026-12-07 night)", {"surface": "template"}),
    ("texels projected from the scan along their normal", {"surface_direction": "normal"}),
)


def case_origins(reg: Registration) -> dict[str, np.ndarray]:
    """``{"fitted": ..., "true": ...}`` (3,) the template origin's image under the
    registration, and under none (the true mesh is in the case's template frame), metres:
    ``bake_maps``' ``surface_origin`` for a bake of either mesh."""
    return {"fitted": np.asarray(reg.scaled[:3, 3], np.float64), "true": np.zeros(3)}


def stage_table(
    case: ExactCase,
    views: list[SolvedView],
    meshes: dict[str, FaceMesh],
    regions: dict[str, np.ndarray],
    base: dict,
    mirror: object = None,
    *,
    origins: dict[str, np.ndarray],
) -> list[tuple[str, dict[str, tuple[float, float]]]]:
    """Region scores of the bake with ``base`` BakeConfig options, of each stage of
    :data:`STAGES` changed alone, of the registration replaced by the true mesh, of the
    occlusion term's rays tested against the images' shading geometry (``case.shading_mesh``,
    ``bake_maps``' ``occlusion_mesh``), against the scan, and against the fitted mesh with its
    vertices farther than :data:`SNAP_M` from the scan moved onto it (:func:`mesh_on_scan`), and of
    the reference bake (float bilinear, and with OpenCV's fixed-point bilinear).
    ``mirror``: the layout's :class:`~id2reflectance.processing.bake.mirror.TexelMirror`
    (the mirror fill; None: off). ``origins``: per mesh of ``meshes``, (3,) the template
    origin's image, metres (``bake_maps``' ``surface_origin``: the radial surface points).

    Returns [(label, {region: (PSNR dB, normal deg)})]."""
    from id2reflectance.processing.bake.baker import BakeConfig, bake_maps

    size = case.scored.shape[0]

    def bake(name: str, occlusion_mesh: FaceMesh | None = None, **kw: object) -> dict[str, tuple[float, float]]:
        config = BakeConfig(size=size, previews=False, **{**base, **kw})
        occluder = case.scan if config.scan_occlusion else None  # as bake_session does
        b = bake_maps(
            meshes[name],
            views,
            config=config,
            mirror=mirror,
            occluder=occluder,
            surface_origin=origins[name],
            occlusion_mesh=occlusion_mesh,
        )
        return region_scores(
            {"diffuse_albedo": b.diffuse_albedo, "normal_object": b.normal_object}, case.truth, regions
        )

    fitted = meshes["fitted"]
    rows = [("bake (default)", bake("fitted"))]
    rows += [(label, bake("fitted", **kw)) for label, kw in STAGES]
    footprint = supersampled(case, views, fitted, regions, origins["fitted"])
    rows.append(("texel footprint: bake at 2x, area-averaged (supersampled lookup)", footprint))
    rows.append(("registration -> true mesh", bake("true")))
    # the fitted mesh's occlusion term against the geometry the images' ambient visibility was cast
    # on (the case's shading mesh: the true mesh's neck on the scan, or with --exact-shading
    # true-mesh the true mesh, whose neck blends into the template's stub off the scan)
    rows.append(("occlusion rays against the images' shading geometry", bake("fitted", case.shading_mesh)))
    # occluders a bake of a capture has: the scan, and the fitted mesh with its vertices off the scan
    # (the template's neck below the jaw) moved onto it
    rows.append(("occlusion rays against the scan", bake("fitted", case.scan)))
    rows.append(
        (
            f"occlusion rays against the fitted mesh, its vertices > {SNAP_M * 1e3:g} mm off the scan moved onto it",
            bake("fitted", mesh_on_scan(fitted, case.scan, SNAP_M)),
        )
    )
    rows.append(
        ("reference bake (fitted mesh)", region_scores(reference_bake(fitted, views, size), case.truth, regions))
    )
    rows.append(
        ("reference bake (true mesh)", region_scores(reference_bake(meshes["true"], views, size), case.truth, regions))
    )
    ref_cv2 = reference_bake(fitted, views, size, sampler="cv2")
    rows.append(("reference bake, OpenCV bilinear (fitted)", region_scores(ref_cv2, case.truth, regions)))
    return rows
