"""Registration and UV baking figures: accuracy against the simulator's truth, seams,
and speed next to Open3D's own ``project_images_to_albedo``.

Usage::

    .venv/bin/python benchmarks/bench_bake.py [--quick] [--subjects N] [--workdir DIR]
        [--head-model auto|face_model|procedural] [--prior auto|face_model|none]
        [--template procedural|face_model|resampled|both] [--hair-volume default|on|off]
        [--bake-surface default|template|scan-normal|scan-radial] [--bake-last-resort default|off|sample|guide]
        [--bake-surface-folds] [--bake-surface-outward-mm MM] [--bake-last-resort-silhouette default|off|guide]
        [--bake-cos-fallback C]
        [--exact-maps [--exact-ao both|ao|none] [--exact-lookup spline|bilinear|cubic]
                      [--exact-heads bald|appearance|both] [--exact-extra-camera far_left ...]
                      [--exact-side-yaw DEG ... [--exact-subject N]]
                      [--exact-shading consistent|true-mesh]]

``--head-model`` picks the simulated heads (default ``auto``: the face model when found);
``--prior`` the registration's shape prior (``RegistrationConfig.prior``, default ``auto``);
``--bake-surface`` where the solved-map bakes and the ``--exact-side-yaw`` sweep project their
texels from (``BakeConfig.surface`` / ``surface_direction``: the template's points, or the
scan's crossing of each texel's normal or radial line, "cage" baking; default BakeConfig's);
``--bake-last-resort`` whether the same bakes take last-resort samples
(``BakeConfig.last_resort``, docs/bake.md; default BakeConfig's); ``--bake-surface-folds`` and
``--bake-surface-outward-mm`` set ``BakeConfig.surface_folds`` and ``surface_outward_m`` there,
``--bake-last-resort-silhouette`` ``BakeConfig.last_resort_silhouette``, ``--bake-cos-fallback``
``BakeConfig.cos_fallback``;
``--template`` the shared UV space baked into (default ``procedural``): ``face_model`` simulates
the subject rendered in the face-model template's layout (``SimulatorConfig.template``: its
truth painted there, :mod:`~id2reflectance.capture.simulator.truth_layout`) and bakes into
that template; ``resampled`` bakes the procedurally rendered session into the face-model
template and scores it against the truth moved into that layout
(:func:`~id2reflectance.capture.simulator.truth_layout.truth_in_template`, the route before
the truth was rendered there); ``both``: procedural, resampled and face_model rows for the
same subject. Scores count the texels where the truth is defined (``truth/uv/valid.exr``).
``--hair-volume on|off`` simulates the face-model heads with or without the scalp hair's
volume (``SimulatorConfig.hair_volume``; ``default``: the simulator's default), in their
own folders of ``--workdir``.

Each row: figure | value | reference measured in the same run | ratio (value / reference).

1. Accuracy, per simulated subject (3 cameras front and +-40 degrees, 1024 x 1024 pixels,
   UV truth 512 x 512, default solver; ``--quick``: 1 subject, 384 px, UV 256): ``id2r
   solve`` then ``bake_session`` at the truth's size, compared with ``truth/uv`` in the
   texels seen by a camera -- diffuse albedo PSNR, median normal error, median roughness
   error, and the seam ratio (99th percentile of the albedo gradient on view boundaries,
   bake / truth). Reference: Open3D ``TriangleMesh.project_images_to_albedo`` on the same
   registered mesh and the same solved maps (undistorted to a pinhole camera, since
   Open3D has no lens model; normals and roughness projected as images, 8-bit output),
   scored on the same texels. Also the registration: fitting residual (mm, both
   directions pooled) and the distance of the fitted vertices to the truth mesh's (face).
2. Speed: bake a 1024 x 1024 UV map from three 2048 x 2048 views (``--quick``: 512 from
   1024) with :func:`bake_maps` (albedos, roughness, normals, occlusion, fill, tangent
   space), next to ``project_images_to_albedo`` (albedo only) on the same mesh and images
   in the same run. The views are rendered from the truth maps through the registered
   mesh (ray cast per pixel), without distortion, so both bakers get identical input.

3. ``--exact-maps`` (issue 22 item 2; this section only): an independent scan (the face
   model's own mesh, or the procedural head with every triangle split in four), the truth
   UV maps rendered exactly into the rig's three cameras (2048 px, ``--quick``
   1024 px; UV 256), the registration as the pipeline does it and the true mesh, the default bake and
   a straightforward reference bake (best n.v camera, bilinear, no blending / occlusion
   correction / filling), scored per camera region (the scored texels each camera sees
   best, the camera the reference bake picks on the true mesh, whose truth is in an image:
   ``bake_exact.unobservable``), over the texels whose truth is in no image (``truth in no
   image``: what the fill gives them) and per face region; each camera region's PSNR over
   all its texels (the definition before 2026-12-08) is printed beside; then a table of the
   dB each stage costs (one switched off or replaced at a time). The cameras see the albedo
   times the subject's blurred ambient visibility (what a perfect solve returns, ``ao``),
   cast against a head whose surface is the scan's (``--exact-shading consistent``, the
   default: the true mesh with its neck, which blends into the template's stub off the
   scan, moved onto the scan; ``true-mesh``: the true mesh itself, the case before
   2026-12-08), and the albedo alone (``none``),
   looked up by the interpolating cubic B-spline (``--exact-lookup spline``, default: the
   truth sampled once, exactly at the texel centres, and smooth there, so the image's
   resampling is the bake's and not the benchmark's), bilinearly (``bilinear``: the
   simulator's lookup, whose kinks at the texel centres bound even the reference bake on
   the true mesh to 47-49 dB) or by OpenCV's bicubic convolution (``cubic``). The heads are
   bald (``--exact-heads bald``, the case of the figures before the simulator painted
   eyebrows, hair and beards) and/or with their appearance (``appearance``, the
   simulator's default now); ``both`` (default) runs each. After each table, where each
   camera region's squared error lies: filled texels, texels filled guided by their
   grazing samples, grazing seen ones (n.v < 0.3), texels one camera sees, blended ones;
   each camera region's PSNR over the texels the bake sees (a camera above n.v 0.1) beside
   the whole region's; with ``--exact-extra-camera NAME`` the bake with that camera of the
   simulator's layout added to the rig, scored on the same regions.
   ``--exact-side-yaw 40 48 ...`` instead sweeps the rig: the side cameras at yaw +-DEG
   (symmetric; elevation, roll and lens as in the layout), ``ao`` maps, each rig's camera
   regions defined as above; per yaw and camera region the whole region's PSNR, over its
   seen / unseen texels, the normal median, the same bake through the true mesh, the
   PSNR over the first yaw's regions and over the region with its texels in no image (as
   before 2026-12-08), the same bake with its occlusion rays tested against the fitted mesh
   with its vertices > 1 mm off the scan moved onto it and against the images' shading
   geometry, a row for the texels in no image, and the PSNR over the union of every swept
   rig's regions (the same texels for every rig); ``--exact-subject N`` picks subject N of
   seed 0.
   The case is the procedural template's layout with painted appearance (bald: the
   procedural head's brows and stubble; ``appearance``: eyebrows, hair, beard).
   Helpers: ``benchmarks/bake_exact.py``.

The issue's targets: PSNR > 35 dB, normal < 2 deg, roughness < 0.05, seam ratio < 1.5;
exact maps: PSNR > 45 dB in every camera's region (its texels whose truth is in an image), normal < 1 deg.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from id2reflectance.capture.camera import Camera, look_at  # noqa: E402
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, raycasting_scene, read_obj  # noqa: E402
from id2reflectance.capture.session import load_session  # noqa: E402
from id2reflectance.processing.bake.baker import BakeConfig, BakedMaps, bake_maps, bake_session  # noqa: E402
from id2reflectance.processing.bake.metrics import bake_accuracy, read_truth_uv, read_truth_valid  # noqa: E402
from id2reflectance.processing.bake.views import SolvedView, load_solved_view  # noqa: E402
from id2reflectance.processing.registration.register import RegistrationConfig  # noqa: E402

ROWS: list[tuple[str, str, str, str]] = []
OPTIONS = {
    "head_model": "auto",
    "prior": "auto",
    "template": "procedural",
    "hair_volume": "default",
    "appearance": "auto",
    "exact_subject": 0,
    "exact_shading": "consistent",
    "surface": "default",
    "last_resort": "default",
    "surface_folds": False,
    "surface_outward_mm": 0.0,
    "last_resort_silhouette": "default",
    "cos_fallback": None,
}

SURFACES = {  # --bake-surface: BakeConfig fields (docs/bake.md, "cage" baking)
    "default": {},
    "template": {"surface": "template"},
    "scan-normal": {"surface": "scan", "surface_direction": "normal"},
    "scan-radial": {"surface": "scan", "surface_direction": "radial"},
}


def surface_fields() -> dict:
    """The BakeConfig fields ``--bake-surface``, ``--bake-last-resort``, ``--bake-surface-folds``
    and ``--bake-surface-outward-mm`` set."""
    fields = dict(SURFACES[OPTIONS["surface"]])
    if OPTIONS["last_resort"] != "default":
        fields["last_resort"] = OPTIONS["last_resort"]
    if OPTIONS["surface_folds"]:
        fields["surface_folds"] = True
    if OPTIONS["surface_outward_mm"] > 0:
        fields["surface_outward_m"] = OPTIONS["surface_outward_mm"] * 1e-3
    if OPTIONS["last_resort_silhouette"] != "default":
        fields["last_resort_silhouette"] = OPTIONS["last_resort_silhouette"]
    if OPTIONS["cos_fallback"] is not None:
        fields["cos_fallback"] = OPTIONS["cos_fallback"]
    return fields


def row(figure: str, value: float, reference: float | None, fmt: str = "{:.3f}") -> None:
    ref = "-" if reference is None else fmt.format(reference)
    ratio = "-" if reference in (None, 0) else f"{value / reference:.3f}"
    ROWS.append((figure, fmt.format(value), ref, ratio))


def print_aligned(lines: list) -> None:
    """Rows of strings as left-aligned columns joined by `` | ``."""
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    for r in lines:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))


def print_table() -> None:
    head = ("figure", "value", "reference", "ratio")
    widths = [max(len(r[i]) for r in [head, *ROWS]) for i in range(4)]
    print_aligned([head, tuple("-" * w for w in widths), *ROWS])


# ------------------------------------------------------------------ simulation


def simulated(workdir: Path, index: int, image: int, uv: int, layout: str = "procedural") -> tuple[Path, Path]:
    """Session and solver output of subject ``index`` rendered in ``layout`` (reused when
    already in ``workdir``)."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
    from id2reflectance.processing.solve.solver import solve_session

    volume = {} if OPTIONS["hair_volume"] == "default" else {"hair_volume": OPTIONS["hair_volume"] == "on"}
    tag = "" if not volume else f"_hair{OPTIONS['hair_volume']}"
    tag += "" if OPTIONS["appearance"] == "procedural" else f"_{OPTIONS['appearance']}"
    root = workdir / (
        f"sim_{image}_{uv}_{OPTIONS['head_model']}{tag}" + ("" if layout == "procedural" else f"_{layout}")
    )
    session = root / f"S{index:04d}"
    solved = root / f"S{index:04d}_solved"
    if not (session / "session.json").is_file():
        t = time.perf_counter()
        simulate_subject(
            root,
            subject_index=index,
            config=SimulatorConfig(
                image_size=image,
                uv_size=uv,
                cameras=3,
                head_model=OPTIONS["head_model"],
                template=layout,
                appearance_source=OPTIONS["appearance"],
                **volume,
            ),
        )
        print(f"# simulated S{index:04d} ({image} px, UV {uv}) in {time.perf_counter() - t:.0f} s", flush=True)
    if not (solved / "solve.json").is_file():
        solve_session(session, solved)
    return session, solved


def asset_dir(workdir: Path, image: int, uv: int, index: int, template: str = "procedural") -> Path:
    tail = "" if template == "procedural" else f"_{template}"
    tail += "" if OPTIONS["hair_volume"] == "default" else f"_hair{OPTIONS['hair_volume']}"
    tail += "" if OPTIONS["appearance"] == "procedural" else f"_{OPTIONS['appearance']}"
    return workdir / f"asset_{image}_{uv}_{OPTIONS['head_model']}_{OPTIONS['prior']}{tail}_S{index:04d}"


def truth_for(session_dir: Path, template: str, uv: int) -> tuple[dict[str, np.ndarray], np.ndarray, FaceMesh]:
    """The simulator's truth maps, the texels where it is defined, and the true mesh, in
    ``template``'s layout and topology."""
    truth = read_truth_uv(session_dir, uv)
    tm = read_obj(session_dir / "truth" / "mesh.obj")
    if template != "resampled":  # the truth as rendered, in the layout the session was rendered in
        return truth, read_truth_valid(session_dir, uv), tm
    from id2reflectance._shared.jsonfile import read_json
    from id2reflectance.capture.geometry.face_model import load_face_model
    from id2reflectance.capture.geometry.templates import resolve_template
    from id2reflectance.capture.simulator.truth_layout import face_model_head_of, truth_in_template

    head = face_model_head_of(read_json(session_dir / "truth" / "uv" / "params.json"))
    lt = truth_in_template(resolve_template("face_model"), load_face_model(), head, tm, truth)
    return {k: v for k, v in lt.maps.items() if k != "valid"}, lt.maps["valid"] > 0.5, lt.mesh


# ------------------------------------------------------------------ Open3D reference


def _o3d_mesh(mesh: FaceMesh):
    import open3d as o3d

    m = mesh.to_open3d()
    m.triangle.texture_uvs = o3d.core.Tensor(mesh.uvs[mesh.faces].astype(np.float32))
    return m


def _pinhole(view: SolvedView, images: list[np.ndarray]) -> list[np.ndarray]:
    """Images of a distorted camera resampled to the same camera without distortion."""
    import cv2

    cam = view.camera
    if len(cam.dist) == 0 or not np.any(cam.dist):
        return images
    mx, my = cv2.initUndistortRectifyMap(cam.K, cam.dist, None, cam.K, (cam.width, cam.height), cv2.CV_32FC1)
    return [cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) for img in images]


def open3d_project(mesh: FaceMesh, views: list[SolvedView], size: int, what: str) -> tuple[np.ndarray, float]:
    """Open3D's ``project_images_to_albedo`` of one solved map: (S, S, 3) float in [0, 1], seconds."""
    import open3d as o3d

    m = _o3d_mesh(mesh)
    imgs, ks, es = [], [], []
    for v in views:
        if what == "albedo":
            img = v.diffuse_albedo
        elif what == "normal":
            img = np.where(v.mask[..., None] > 0.5, 0.5 * (v.normal + 1.0), 0.0)
        else:
            img = np.repeat(v.roughness[..., None], 3, axis=2)
        (img,) = _pinhole(v, [np.clip(img, 0, 1).astype(np.float32)])
        imgs.append(o3d.t.geometry.Image(o3d.core.Tensor(np.ascontiguousarray(img))))
        ks.append(o3d.core.Tensor(v.camera.K))
        e = np.eye(4)
        e[:3, :3] = v.camera.R
        e[:3, 3] = v.camera.t
        es.append(o3d.core.Tensor(e))
    t = time.perf_counter()
    out = m.project_images_to_albedo(imgs, ks, es, tex_size=size, update_material=False)
    dt = time.perf_counter() - t
    return out.as_tensor().numpy().astype(np.float32) / 255.0, dt


# ------------------------------------------------------------------ section 1


def accuracy_section(workdir: Path, subjects: list[int], image: int, uv: int) -> None:
    worst: dict[str, list[float]] = {}
    both = ("procedural", "resampled", "face_model")
    templates = both if OPTIONS["template"] == "both" else (OPTIONS["template"],)
    for index, template in ((i, t) for i in subjects for t in templates):
        layout = "face_model" if template == "face_model" else "procedural"
        session_dir, solved = simulated(workdir, index, image, uv, layout)
        cfg = BakeConfig(
            size=uv,
            previews=False,
            template="procedural" if template == "procedural" else "face_model",
            registration=RegistrationConfig(prior=OPTIONS["prior"]),
            **surface_fields(),
        )
        res = bake_session(session_dir, solved, asset_dir(workdir, image, uv, index, template), config=cfg)
        m: BakedMaps = res.maps
        truth, valid, tm = truth_for(session_dir, template, uv)
        seen = m.seen & valid
        ours = {
            "diffuse_albedo": m.diffuse_albedo,
            "specular_albedo": m.specular_albedo,
            "roughness": m.roughness,
            "normal_object": m.normal_object,
        }
        acc = bake_accuracy(ours, truth, seen=seen, covered=m.covered, view_weights=m.view_weights)
        session = load_session(session_dir)
        views = [load_solved_view(solved, cam) for cam in session.cameras.values()]
        o3d_alb, _ = open3d_project(res.registration.mesh, views, uv, "albedo")
        o3d_nrm, _ = open3d_project(res.registration.mesh, views, uv, "normal")
        o3d_rough, _ = open3d_project(res.registration.mesh, views, uv, "roughness")
        ref = {
            "diffuse_albedo": o3d_alb,
            "specular_albedo": m.specular_albedo,
            "roughness": o3d_rough[..., 0],
            "normal_object": o3d_nrm * 2.0 - 1.0,
        }
        racc = bake_accuracy(ref, truth, seen=seen, covered=m.covered, view_weights=m.view_weights)
        sid = f"S{index:04d}" + ("" if len(templates) == 1 and template == "procedural" else f" {template}")
        row(f"{sid} diffuse albedo PSNR, dB (target > 35)", acc.diffuse_psnr_db, racc.diffuse_psnr_db, "{:.2f}")
        row(f"{sid} normal median error, deg (< 2)", acc.normal_median_deg, racc.normal_median_deg)
        row(f"{sid} roughness median abs error (< 0.05)", acc.roughness_median_abs, racc.roughness_median_abs, "{:.4f}")
        row(f"{sid} seam ratio p99 grad bake/truth (< 1.5)", acc.seam_ratio, racc.seam_ratio)
        row(f"{sid} specular albedo median rel error", acc.specular_median_rel, None, "{:.4f}")
        row(f"{sid} UV chart seen by a camera, fraction", m.coverage_seen(), None)
        row(f"{sid} seen texels scored (truth defined), fraction", float(seen.sum() / max(m.seen.sum(), 1)), None)
        r = res.registration.residual
        row(f"{sid} fit residual mean, mm (scan<->fit pooled)", r.mean, None, "{:.4f}")
        row(f"{sid} fit residual p95, mm", r.p95, None, "{:.4f}")
        fit = res.registration.mesh
        face = (tm.vertices[:, 2] > 0.02) & (tm.vertices[:, 1] > -0.12)
        err = np.linalg.norm(fit.vertices - tm.vertices, axis=1)[face] * 1000
        row(f"{sid} fitted - true vertex distance (face) median, mm", float(np.median(err)), None)
        row(f"{sid} fitted - true vertex distance (face) p95, mm", float(np.percentile(err, 95)), None)
        if template != "procedural":  # the face model's skin also has surfaces no scan sees (inside lips, nostrils)
            import open3d as o3d

            from id2reflectance.capture.geometry.mesh import raycasting_scene
            from id2reflectance.processing.registration.register import load_scan

            scan = raycasting_scene(load_scan(session))
            on = np.abs(scan.compute_distance(o3d.core.Tensor(tm.vertices.astype(np.float32))).numpy()) < 5e-4
            err_on = np.linalg.norm(fit.vertices - tm.vertices, axis=1)[face & on] * 1000
            row(f"{sid} fitted - true vertex distance (face, on the scan) median, mm", float(np.median(err_on)), None)
            row(
                f"{sid} fitted - true vertex distance (face, on the scan) p95, mm",
                float(np.percentile(err_on, 95)),
                None,
            )
        row(
            f"{sid} registration prior: face model (1) / none (0)",
            float(res.registration.prior == "face_model"),
            None,
            "{:.0f}",
        )
        row(f"{sid} bake_session total time, s", res.report["timings_s"]["total"], None, "{:.1f}")
        for k, v in (
            ("psnr", acc.diffuse_psnr_db),
            ("normal", acc.normal_median_deg),
            ("rough", acc.roughness_median_abs),
            ("seam", acc.seam_ratio),
        ):
            worst.setdefault(k, []).append(v)
    if len(subjects) > 1:
        row("all subjects: worst diffuse PSNR, dB (target 35)", min(worst["psnr"]), 35.0, "{:.2f}")
        row("all subjects: worst normal median error, deg (target 2)", max(worst["normal"]), 2.0)
        row("all subjects: worst roughness median error (target 0.05)", max(worst["rough"]), 0.05, "{:.4f}")
        row("all subjects: worst seam ratio (target 1.5)", max(worst["seam"]), 1.5)


# ------------------------------------------------------------------ section 2


def render_views(mesh: FaceMesh, truth: dict[str, np.ndarray], size: int) -> list[SolvedView]:
    """Perfect 'solved' maps of three pinhole cameras (front, +-40 deg) from the truth maps."""
    from bake_exact import solved_view_at  # benchmarks/ is the script's folder

    scene = raycasting_scene(mesh)
    f = 0.5 * size / np.tan(np.radians(9.5))
    views = []
    for name, yaw in (("front", 0.0), ("left", 40.0), ("right", -40.0)):
        a = np.radians(yaw)
        target = np.array([0.0, -0.012, 0.012])
        R, t = look_at(target + np.array([np.sin(a), 0.06, np.cos(a)]), target)
        K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
        cam = Camera(name, size, size, K, np.zeros(5), R, t)
        o, d = cam.pixel_rays()
        _, fid, bary = cast_rays(scene, o[None, :], d)
        hit = fid >= 0
        uv = interpolate(mesh.uvs, mesh.faces, fid[hit], bary[hit])
        views.append(solved_view_at(cam, hit, uv, d[hit], truth, truth["diffuse_albedo"]))
    return views


def speed_section(workdir: Path, subject: int, image: int, uv: int, views_px: int, size: int) -> None:
    session_dir, _ = simulated(workdir, subject, image, uv)
    mesh = read_obj(asset_dir(workdir, image, uv, subject) / "mesh.obj")
    truth = read_truth_uv(session_dir, uv)
    t = time.perf_counter()
    views = render_views(mesh, truth, views_px)
    print(f"# rendered 3 views of {views_px} px in {time.perf_counter() - t:.0f} s", flush=True)
    cfg = BakeConfig(size=size)
    bake_maps(mesh, views[:1], config=BakeConfig(size=256))  # warm-up: imports, BRDF tables
    times = []
    for _ in range(2):  # best of two: the machine is shared
        t = time.perf_counter()
        baked = bake_maps(mesh, views, config=cfg)
        times.append(time.perf_counter() - t)
    ours = min(times)
    o3d_alb, o3d_time = open3d_project(mesh, views, size, "albedo")
    t2 = time.perf_counter()
    open3d_project(mesh, views, size, "albedo")
    o3d_time = min(o3d_time, time.perf_counter() - t2)
    row(f"bake {size}^2 from 3 x {views_px}^2 views, s (ours all maps / Open3D albedo)", ours, o3d_time, "{:.2f}")
    # accuracy on the same inputs: the rendered views carry no ambient occlusion, so the
    # occlusion compensation is switched off for this comparison
    plain = bake_maps(mesh, views, config=BakeConfig(size=size, occlusion_directions=0))
    truth_s = read_truth_uv(session_dir, size)
    seen = baked.seen
    e_ours = plain.diffuse_albedo[seen] - truth_s["diffuse_albedo"][seen]
    e_o3d = o3d_alb[seen] - truth_s["diffuse_albedo"][seen]
    row(
        "  same inputs: albedo PSNR vs truth, dB (ours, no AO step / Open3D)",
        10 * np.log10(1 / np.mean(e_ours**2)),
        10 * np.log10(1 / np.mean(e_o3d**2)),
        "{:.2f}",
    )


# ------------------------------------------------------------------ section 3


def exact_section(
    image: int, uv: int, variants: tuple[str, ...], lookup: str, heads: tuple[str, ...], extra: tuple[str, ...] = ()
) -> None:
    from bake_exact import (  # benchmarks/ is the script's folder
        HIDDEN,
        build_case,
        camera_regions,
        case_origins,
        error_shares,
        exact_views,
        layout_cameras,
        off_scan_mm,
        region_scores,
        scored_regions,
        stage_table,
        unobservable,
    )
    from id2reflectance.processing.bake.inputs import load_template
    from id2reflectance.processing.bake.mirror import texel_mirror
    from id2reflectance.processing.registration.register import register_template

    for head, variant in [(h, v) for h in heads for v in variants]:
        t = time.perf_counter()
        case = build_case(
            image,
            uv,
            OPTIONS["head_model"],
            ao=variant == "ao",
            subject=OPTIONS["exact_subject"],
            appearance=head == "appearance",
            shading=OPTIONS["exact_shading"],
        )
        views = exact_views(case, lookup=lookup)
        template = load_template("procedural")[0]  # the case's layout (build_case)
        mirror = texel_mirror(template, uv)
        reg = register_template(template, case.scan, config=RegistrationConfig(prior=OPTIONS["prior"]))
        cams = camera_regions(case, views)
        regions = scored_regions(case, cams)
        print(
            f"# exact maps ({variant}, {head} head, {lookup} lookup, shading {OPTIONS['exact_shading']}): scan {len(case.scan.vertices)} vertices / {len(case.scan.faces)} triangles "
            f"(template {len(case.truth_mesh.vertices)} / {len(case.truth_mesh.faces)}), {image} px, UV {uv}, "
            f"prior {reg.prior}, texels per region "
            + ", ".join(f"{k} {int(m.sum())}" for k, m in regions.items())
            + f"; setup {time.perf_counter() - t:.0f} s",
            flush=True,
        )
        origins = case_origins(reg)
        rows = stage_table(
            case, views, {"fitted": reg.mesh, "true": case.truth_mesh}, regions, {}, mirror, origins=origins
        )
        names = list(regions)
        title = ["stage (maps: " + variant + ", " + head + ")", *names]
        lines = [title]
        ref = rows[0][1]
        for label, sc in rows:
            cells = [
                f"{sc[k][0]:.1f}" + ("" if label == rows[0][0] else f" ({sc[k][0] - ref[k][0]:+.1f})") for k in names
            ]
            lines.append([label, *cells])
        lines.append(["normal median, deg (default bake)", *[f"{ref[k][1]:.2f}" for k in names]])
        print_aligned(lines)
        print(flush=True)

        default_bake = partial(  # the pipeline's bake of the fitted mesh, given the views
            bake_maps,
            reg.mesh,
            config=BakeConfig(size=uv, previews=False),
            mirror=mirror,
            occluder=case.scan,
            surface_origin=origins["fitted"],
        )
        baked = default_bake(views)
        for cam in case.cameras:
            shares = error_shares(
                case, baked.diffuse_albedo, baked.seen, baked.view_weights, regions[cam], baked.guided
            )
            print(
                f"# {cam} region, default bake: where the squared error lies (texels, share, dB): "
                + "; ".join(f"{k} {n}, {sh:.2f}, {db:.1f}" for k, (n, sh, db) in shares.items()),
                flush=True,
            )
        # texels whose true-mesh point is off the scan: the template's chord of a fold (the
        # upper lid margin); their truth is not what the cameras see along their rays
        off = off_scan_mm(case)
        e2 = np.mean((baked.diffuse_albedo.astype(np.float64) - case.truth["diffuse_albedo"]) ** 2, axis=-1)
        for cam in case.cameras:
            m = regions[cam]
            for limit in (0.5, 0.25):
                far = m & (off > limit)
                print(
                    f"# {cam} region, default bake: {int(far.sum())} texels > {limit} mm off the scan carry "
                    f"{e2[far].sum() / max(e2[m].sum(), 1e-30):.2f} of the squared error; without them "
                    f"{10 * np.log10(1 / max(float(e2[m & ~far].mean()), 1e-20)):.1f} dB",
                    flush=True,
                )
        # texels whose truth is in no image (folded under the truth's radial chart, or the
        # scan's crossing of their radial line > 1 mm away): a bake can only fill them
        hidden = unobservable(case)
        anyhow = hidden["folded"] | hidden["off the scan"]
        for cam in case.cameras:
            m = cams.every[cam]  # the region over every scored texel (before 2026-12-08)
            print(
                f"# {cam} region over all its texels, default bake: texels whose truth is in no image: "
                + ", ".join(
                    f"{k} {int((m & h).sum())} ({e2[m & h].sum() / max(e2[m].sum(), 1e-30):.2f} of the squared error)"
                    for k, h in hidden.items()
                )
                + f"; PSNR over the others {10 * np.log10(1 / max(float(e2[m & ~anyhow].mean()), 1e-20)):.2f} dB",
                flush=True,
            )
        # the same regions over the texels the bake sees (a camera above n.v = cos_min) and over all of them
        maps = {"diffuse_albedo": baked.diffuse_albedo, "normal_object": baked.normal_object}
        on_seen = region_scores(maps, case.truth, {k: regions[k] & baked.seen for k in case.cameras})
        mirrored = np.zeros_like(baked.seen) if baked.mirrored is None else baked.mirrored > 0
        on_unseen = region_scores(maps, case.truth, {k: regions[k] & ~baked.seen for k in case.cameras})
        for cam in case.cameras:
            row(
                f"exact maps ({variant}, {head}) {cam} region PSNR, dB: texels the bake sees "
                f"({int((regions[cam] & baked.seen).sum())} of {int(regions[cam].sum())}) / all",
                on_seen[cam][0],
                ref[cam][0],
            )
            row(
                f"exact maps ({variant}, {head}) {cam} region PSNR, dB: texels it does not see "
                f"({int((regions[cam] & ~baked.seen).sum())}, {int((regions[cam] & mirrored).sum())} "
                "of them mirror-filled) / all",
                on_unseen[cam][0],
                ref[cam][0],
            )
        off = dict(rows)["mirror fill off (before 2026-12-07 evening)"]
        for cam in case.cameras:
            row(
                f"exact maps ({variant}, {head}) {cam} region PSNR, dB (default / mirror fill off)",
                ref[cam][0],
                off[cam][0],
            )
        for name in extra:  # a camera more than the rig: the same regions (the 3 cameras' texels)
            more = views + exact_views(case, lookup=lookup, cameras=layout_cameras((name,), image))
            b = default_bake(more)
            sc = region_scores(
                {"diffuse_albedo": b.diffuse_albedo, "normal_object": b.normal_object}, case.truth, regions
            )
            for cam in case.cameras:
                row(
                    f"exact maps ({variant}, {head}) {cam} region PSNR, dB: rig + {name} / rig", sc[cam][0], ref[cam][0]
                )
        by = dict(rows)
        for cam in case.cameras:
            if variant == "ao":  # what a solve sees: the default bake, against grazing texels filled (same run)
                before = by["grazing texels filled from their surroundings (before 2026-12-07)"]
                row(
                    f"exact maps (ao, {head}) {cam} region PSNR, dB (default bake / grazing texels filled; > 45)",
                    ref[cam][0],
                    before[cam][0],
                )
            else:  # maps without occlusion: the bake without its occlusion correction, against the references
                off = by["occlusion correction off"]
                for mesh in ("fitted", "true"):
                    r = by[f"reference bake ({mesh} mesh)"]
                    row(
                        f"exact maps (none, {head}) {cam} region PSNR, dB (bake, occlusion off / reference, {mesh} mesh)",
                        off[cam][0],
                        r[cam][0],
                    )
            row(
                f"exact maps ({variant}, {head}) {cam} region normal median, deg (< 1; reference)",
                ref[cam][1],
                by["reference bake (fitted mesh)"][cam][1],
            )
        # the headline (camera regions over the texels whose truth is in an image) beside the
        # regions over every scored texel (the definition before 2026-12-08), and the texels in
        # no image apart: what the bake's fill gives them
        every = region_scores(maps, case.truth, cams.every)
        for cam in case.cameras:
            row(
                f"exact maps ({variant}, {head}) {cam} region PSNR, dB (> 45, truth in an image, "
                f"{int(regions[cam].sum())} texels / all {int(cams.every[cam].sum())}, as before 2026-12-08)",
                ref[cam][0],
                every[cam][0],
                "{:.2f}",
            )
        row(
            f"exact maps ({variant}, {head}) {HIDDEN} ({int(cams.hidden.sum())} texels): PSNR, dB (the fill's)",
            ref[HIDDEN][0],
            None,
            "{:.2f}",
        )


def side_yaw_section(image: int, uv: int, lookup: str, heads: tuple[str, ...], yaws: tuple[float, ...]) -> None:
    """``--exact-side-yaw``: the exact-map case (``ao`` maps) with the rig's side cameras
    turned to each yaw (+-, symmetric), the camera regions defined per rig as the section
    defines them (the scored texels whose truth is in an image that camera sees best: the
    camera the reference bake picks on the true mesh). Per head, one table row per yaw and
    camera region: texels (of them unseen: no camera above n.v ``cos_min``), the default
    bake's PSNR over the whole region (the target's figure), over its seen / unseen texels,
    the normal median, the same bake through the true mesh (the registration's share), the
    PSNR over the first yaw's region of that name (the same texels for every yaw), over
    the region with its texels in no image (the definition before 2026-12-08), and of the
    same bake with its occlusion rays tested against the fitted mesh whose vertices farther
    than ``SNAP_M`` from the scan are moved onto it, and against the images' shading
    geometry (``bake_maps``' ``occlusion_mesh``); and a row for the texels in no image (what
    the fill gives them). Then per yaw the PSNR over the union of every swept rig's regions
    (the same texels for every rig, so a rig that sees less of the head is not scored on
    fewer texels), whole and per side. Case, scan and registration are built once per head
    (they do not depend on the cameras)."""
    from dataclasses import replace

    from bake_exact import (
        HIDDEN,
        SNAP_M,
        build_case,
        camera_regions,
        case_origins,
        exact_views,
        in_image,
        region_scores,
        side_yaw_cameras,
    )
    from id2reflectance.processing.bake.inputs import load_template
    from id2reflectance.processing.bake.mirror import texel_mirror
    from id2reflectance.processing.bake.occlusion import mesh_on_scan
    from id2reflectance.processing.bake.views import texel_geometry
    from id2reflectance.processing.registration.register import register_template

    template = load_template("procedural")[0]  # the case's layout (build_case)
    mirror = texel_mirror(template, uv)
    config = BakeConfig(size=uv, previews=False, **surface_fields())
    for head in heads:
        t = time.perf_counter()
        base = build_case(
            image,
            uv,
            OPTIONS["head_model"],
            ao=True,
            subject=OPTIONS["exact_subject"],
            appearance=head == "appearance",
            shading=OPTIONS["exact_shading"],
        )
        reg = register_template(template, base.scan, config=RegistrationConfig(prior=OPTIONS["prior"]))
        occluders = {  # the occlusion term's geometry besides the fitted mesh (bake_maps' occlusion_mesh)
            "fit on scan": mesh_on_scan(reg.mesh, base.scan, SNAP_M),
            "shading": base.shading_mesh,
        }
        texel_points = texel_geometry(base.truth_mesh, uv).points
        observable = in_image(base)  # texels whose truth is in an image (the same for every rig)
        print(
            f"# side-camera yaw sweep (subject {OPTIONS['exact_subject']}, {head} head, ao maps, shading "
            f"{OPTIONS['exact_shading']}, {lookup} lookup, {image} px, UV {uv}); "
            f"setup {time.perf_counter() - t:.0f} s",
            flush=True,
        )
        head_cells = [
            "whole",
            "seen",
            "unseen",
            "normal, deg",
            "true mesh",
            f"on yaw {yaws[0]:g} region",
            "all texels (before 2026-12-08)",
            f"occlusion: fit, > {SNAP_M * 1e3:g} mm on scan",
            "occlusion: shading geometry",
        ]
        lines = [["side yaw", "region", "texels (unseen; all texels)", *head_cells]]
        first: dict[str, np.ndarray] = {}
        rigs = []
        for yaw in yaws:  # the views and regions of every rig first: the union of their texels is scored too
            case = replace(base, cameras=side_yaw_cameras(image, yaw))
            views = exact_views(case, lookup=lookup)
            rigs.append((yaw, case, views, camera_regions(case, views, observable)))
        every = np.logical_or.reduce([m for *_, r in rigs for m in r.observable.values()])
        halves = {
            "all": every,
            "x > 0": every & (texel_points[..., 0] > 0),
            "x < 0": every & (texel_points[..., 0] < 0),
        }
        union_lines = [["side yaw", *[f"{k} ({int(m.sum())})" for k, m in halves.items()]]]
        for yaw, case, views, regions in rigs:
            t = time.perf_counter()
            cams = {**regions.observable, HIDDEN: regions.hidden}
            first = first or cams
            scores = {}
            origins = case_origins(reg)
            for mesh_name, mesh in (("fitted", reg.mesh), ("true", case.truth_mesh)):
                b = bake_maps(
                    mesh, views, config=config, mirror=mirror, occluder=case.scan, surface_origin=origins[mesh_name]
                )
                maps = {"diffuse_albedo": b.diffuse_albedo, "normal_object": b.normal_object}
                scores[mesh_name] = region_scores(maps, case.truth, cams)
                if mesh_name == "fitted":
                    fitted = b
                    seen = region_scores(maps, case.truth, {k: m & b.seen for k, m in cams.items()})
                    unseen = region_scores(maps, case.truth, {k: m & ~b.seen for k, m in cams.items()})
                    same = region_scores(maps, case.truth, first)
                    on_every = region_scores(maps, case.truth, halves)
                    before = region_scores(maps, case.truth, regions.every)
                    occluded = {}
                    for name, occ in occluders.items():
                        o = bake_maps(
                            mesh,
                            views,
                            config=config,
                            mirror=mirror,
                            occluder=case.scan,
                            surface_origin=origins[mesh_name],
                            occlusion_mesh=occ,
                        )
                        occluded[name] = region_scores(
                            {"diffuse_albedo": o.diffuse_albedo, "normal_object": o.normal_object}, case.truth, cams
                        )
            whole = scores["fitted"]
            for k, m in cams.items():
                old = regions.every.get(k)
                cells = [
                    whole[k][0],
                    seen[k][0],
                    unseen[k][0],
                    whole[k][1],
                    scores["true"][k][0],
                    same[k][0],
                    float("nan") if old is None else before[k][0],
                    occluded["fit on scan"][k][0],
                    occluded["shading"][k][0],
                ]
                count = "-" if old is None else str(int(old.sum()))
                lines.append(
                    [
                        f"{yaw:g}",
                        k,
                        f"{int(m.sum())} ({int((m & ~fitted.seen).sum())}; {count})",
                        *[f"{c:.3f}" if n == 3 else f"{c:.2f}" for n, c in enumerate(cells)],
                    ]
                )
                if old is None:
                    row(
                        f"exact maps (ao, {head}) side yaw {yaw:g}: {k} ({int(m.sum())} texels) PSNR, dB "
                        "(the fill's; same bake, true mesh)",
                        whole[k][0],
                        scores["true"][k][0],
                        "{:.2f}",
                    )
                    continue
                row(
                    f"exact maps (ao, {head}) side yaw {yaw:g}: {k} region PSNR, dB (> 45, truth in an image; "
                    "all texels, as before 2026-12-08)",
                    whole[k][0],
                    before[k][0],
                    "{:.2f}",
                )
                row(
                    f"exact maps (ao, {head}) side yaw {yaw:g}: {k} region normal median, deg (< 1; same bake, true mesh)",
                    whole[k][1],
                    scores["true"][k][1],
                )
            union = int(np.logical_or.reduce(list(regions.observable.values())).sum())
            union_lines.append([f"{yaw:g}", *[f"{on_every[k][0]:.2f}" for k in halves]])
            print(
                f"# yaw {yaw:g}: worst camera region {min(whole[k][0] for k in regions.observable):.2f} dB, "
                f"scored texels {union} (+ {int(regions.hidden.sum())} in no image), {time.perf_counter() - t:.0f} s",
                flush=True,
            )
        print(f"# {head} head: camera region PSNR, dB ({', '.join(head_cells)})")
        print_aligned(lines)
        print(
            f"# {head} head: PSNR, dB, over the texels any of these rigs scores (the union of their camera "
            "regions; x > 0: the subject's left)"
        )
        print_aligned(union_lines)
        print(flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 small subject, smaller speed case")
    ap.add_argument("--subjects", type=int, default=3, help="simulated subjects in section 1 (default 3)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) simulations here")
    ap.add_argument("--head-model", choices=("auto", "face_model", "procedural"), default="auto")
    ap.add_argument("--prior", choices=("auto", "face_model", "none"), default="auto")
    ap.add_argument("--template", choices=("procedural", "face_model", "resampled", "both"), default="procedural")
    ap.add_argument(
        "--hair-volume",
        choices=("default", "on", "off"),
        default="default",
        help="scalp hair as geometry on face-model heads (SimulatorConfig.hair_volume; default: its default)",
    )
    ap.add_argument(
        "--appearance",
        choices=("auto", "procedural", "photo"),
        default="auto",
        help="face-model heads' shape and albedo detail from real photos (SimulatorConfig.appearance_source)",
    )
    ap.add_argument("--no-speed", action="store_true", help="skip section 2 (speed)")
    ap.add_argument("--exact-maps", action="store_true", help="only section 3: the exact-map case")
    ap.add_argument("--exact-ao", choices=("both", "ao", "none"), default="both", help="section 3's diffuse maps")
    ap.add_argument(
        "--exact-lookup", choices=("spline", "bilinear", "cubic"), default="spline", help="section 3: truth lookup"
    )
    ap.add_argument("--exact-heads", choices=("bald", "appearance", "both"), default="both", help="section 3's heads")
    ap.add_argument(
        "--exact-extra-camera",
        action="append",
        default=[],
        choices=("above", "below", "far_left", "far_right"),
        help="section 3: also bake with this camera of the layout added to the rig (repeatable; scored on the same regions)",
    )
    ap.add_argument(
        "--exact-side-yaw",
        type=float,
        nargs="+",
        default=None,
        metavar="DEG",
        help="section 3 as a sweep: the side cameras at yaw +-DEG (each value; ao maps), per camera region",
    )
    ap.add_argument(
        "--exact-shading",
        choices=("consistent", "true-mesh"),
        default="consistent",
        help="section 3: the geometry the images' ambient visibility is cast against: the true mesh with its "
        "neck on the scan (consistent, default) or the true mesh, whose neck leaves the scan (before 2026-12-08)",
    )
    ap.add_argument(
        "--exact-subject",
        type=int,
        default=0,
        metavar="N",
        help="section 3 (and its --exact-side-yaw sweep): subject N of seed 0 (default 0, the subject of its figures)",
    )
    ap.add_argument(
        "--bake-surface",
        choices=tuple(SURFACES),
        default="default",
        help="where texels are projected from (BakeConfig.surface / surface_direction): the solved-map bakes and "
        "the --exact-side-yaw sweep (default: BakeConfig's)",
    )
    ap.add_argument(
        "--bake-last-resort",
        choices=("default", "off", "sample", "guide"),
        default="default",
        help="last-resort samples (BakeConfig.last_resort) in the solved-map bakes and the --exact-side-yaw sweep "
        "(default: BakeConfig's)",
    )
    ap.add_argument(
        "--bake-surface-folds",
        action="store_true",
        help="BakeConfig.surface_folds in the solved-map bakes and the --exact-side-yaw sweep",
    )
    ap.add_argument(
        "--bake-surface-outward-mm",
        type=float,
        default=0.0,
        metavar="MM",
        help="BakeConfig.surface_outward_m (millimetres) in the same bakes (default 0: off)",
    )
    ap.add_argument(
        "--bake-last-resort-silhouette",
        choices=("default", "off", "guide"),
        default="default",
        help="BakeConfig.last_resort_silhouette in the same bakes (default: BakeConfig's)",
    )
    ap.add_argument(
        "--bake-cos-fallback",
        type=float,
        default=None,
        metavar="C",
        help="BakeConfig.cos_fallback in the same bakes (default: BakeConfig's)",
    )
    args = ap.parse_args()
    if args.bake_cos_fallback is not None and not (0.0 <= args.bake_cos_fallback < 1.0):
        ap.error(f"--bake-cos-fallback: a cosine in [0, 1), got {args.bake_cos_fallback}")
    if not args.bake_surface_outward_mm >= 0:
        ap.error(f"--bake-surface-outward-mm: millimetres >= 0, got {args.bake_surface_outward_mm}")
    OPTIONS.update(
        head_model=args.head_model,
        prior=args.prior,
        template=args.template,
        hair_volume=args.hair_volume,
        appearance=args.appearance,
        exact_subject=args.exact_subject,
        exact_shading=args.exact_shading,
        surface=args.bake_surface,
        last_resort=args.bake_last_resort,
        surface_folds=args.bake_surface_folds,
        surface_outward_mm=args.bake_surface_outward_mm,
        last_resort_silhouette=args.bake_last_resort_silhouette,
        cos_fallback=args.bake_cos_fallback,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_bake_"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.exact_maps:
        t0 = time.perf_counter()
        variants = ("ao", "none") if args.exact_ao == "both" else (args.exact_ao,)
        heads = ("bald", "appearance") if args.exact_heads == "both" else (args.exact_heads,)
        if args.exact_subject < 0:
            ap.error(f"--exact-subject: a subject index >= 0, got {args.exact_subject}")
        if args.exact_side_yaw:
            bad = [y for y in args.exact_side_yaw if not 0.0 < y < 90.0]
            if bad:
                ap.error(f"--exact-side-yaw: yaw must lie in (0, 90) degrees, got {bad}")
            side_yaw_section(1024 if args.quick else 2048, 256, args.exact_lookup, heads, tuple(args.exact_side_yaw))
            print_table()
            print(f"# total {time.perf_counter() - t0:.0f} s")
            return
        exact_section(
            1024 if args.quick else 2048, 256, variants, args.exact_lookup, heads, tuple(args.exact_extra_camera)
        )
        print_table()
        print(f"# total {time.perf_counter() - t0:.0f} s")
        return
    if args.quick:
        image, uv, subjects, views_px, size = 384, 256, [0], 1024, 512
    else:
        image, uv, subjects, views_px, size = 1024, 512, list(range(args.subjects)), 2048, 1024
    t0 = time.perf_counter()
    accuracy_section(workdir, subjects, image, uv)
    if not args.no_speed and args.template in ("procedural", "both"):  # the speed case uses the procedural asset
        speed_section(workdir, subjects[0], image, uv, views_px, size)
    print_table()
    print(f"# total {time.perf_counter() - t0:.0f} s, workdir {workdir}")
    (workdir / "bench_bake.json").write_text(json.dumps(ROWS, indent=1))


if __name__ == "__main__":
    main()
