"""Light-stage simulator: simulated subjects rendered into valid sessions with ground truth.

A subject (index ``i`` under seed ``s``) is a head -- one of the face model's heads
(identity weights drawn per subject, :mod:`~id2reflectance.capture.simulator.face_model_subjects`,
with eyebrows, hair, beard, lips and irises, :mod:`~id2reflectance.capture.simulator.appearance`)
when the face model is found, else a procedural head
(:mod:`~id2reflectance.capture.geometry.template_mesh`), both in template topology -- a biophysical skin
(:mod:`~id2reflectance.capture.simulator.skin`) and its UV maps, rendered under the spherical
gradient patterns through cross and parallel polarisers by several calibrated cameras
(:mod:`~id2reflectance.capture.simulator.render`). Output, one folder per subject::

    OUT/S0000/
      session.json                  the session format, version 1
      frames/<camera>/<pattern>_<pol>.exr
      masks/<camera>.png            pixels on the head
      mesh/scan.obj                 the subject's geometry, a different topology (in the face-model layout
                                    without the mouth socket and teeth inside the head: scanned_surface)
      truth/mesh.obj                the subject in template topology with UVs (world frame)
      truth/uv/{diffuse_albedo,specular_albedo,roughness,normal_object}.exr, params.json
      truth/uv/eye.exr              face-model heads only: 1 on the eyeballs (not skin)
      truth/uv/hair.exr             face-model heads only: hair covering the skin (brows, scalp, beard;
                                    kept in the reflectance maps, :mod:`~id2reflectance.capture.simulator.appearance`)
      truth/uv/valid.exr            template "face_model" only: the template's chart (the subject is then
                                    rendered in the face-model template's topology and layout, truth_layout.py;
                                    mesh.obj is its skin, eye.exr marks the eyeballs' texels outside the chart)
      truth/<camera>/{diffuse_albedo,specular_albedo,normal,roughness,mask,visibility,uv}.exr
      truth/<camera>/skin.exr       face-model heads only: 1 on skin, 0 on the eyes
      truth/motion.json, truth/<camera>/motion/<pattern>_<pol>.exr   only with head motion

With head motion (``motion_px``, ``motion_deg``, ``motion_tilt_deg``, ``expression_mm``)
every frame but the reference (``full``, ``cross``) is rendered from the moved head
(:mod:`~id2reflectance.capture.simulator.motion_render`); the truth stays in the
reference frame, and ``truth/<camera>/motion/*.exr`` holds each frame's true
displacement of every reference pixel (dx, dy in pixels, defined).

Stored frame values are radiance divided by the session's exposure ``scale`` (the
frames' ``scale`` field restores radiance). Everything is deterministic for a seed; a
folder appears only when complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from id2reflectance._shared.atomic import atomic_folder, atomic_write_json
from id2reflectance._shared.cielab import fitzpatrick_from_ita
from id2reflectance._shared.imageio import read_exr, write_exr, write_png, write_tiff16
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.face_photos import Donor, photo_credit
from id2reflectance.capture.geometry.mesh import FaceMesh, raycasting_scene, write_obj
from id2reflectance.capture.geometry.regions import face_texel_size, mesh_uv_raster, uv_raster
from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME, HeadParams, head_mesh, is_template_topology
from id2reflectance.capture.geometry.templates import TEMPLATE_KINDS, Template, resolve_template
from id2reflectance.capture.illumination import LIT_PATTERNS
from id2reflectance.capture.session import Frame, session_json, write_session_json
from id2reflectance.capture.simulator.appearance import Appearance
from id2reflectance.capture.simulator.face_model_subjects import (
    FaceModelHead,
    HeadModel,
    face_model_geometry,
    resolve_face_model,
)
from id2reflectance.capture.simulator.motion_render import MovedFrames, render_moved_frames
from id2reflectance.capture.simulator.photo_subjects import (
    pick_donor,
    resolve_face_photos,
    subject_photo_layer,
    with_donor,
    with_donor_eyes,
)
from id2reflectance.capture.simulator.render import CameraRender, DiffuseTextures, diffuse_textures, render_camera
from id2reflectance.capture.simulator.skin import (
    SkinParams,
    SubjectMaps,
    face_ita_deg,
    ita_deg,
    skin_albedo,
    subject_maps,
)
from id2reflectance.capture.simulator.truth_layout import (
    LayoutTruth,
    layout_geometry,
    layout_truth,
    scanned_surface,
)
from id2reflectance.capture.simulator.visibility import vertex_visibility
from id2reflectance.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)


# name, yaw (deg, + toward the subject's left = +x), elevation (deg), roll (deg), k1, k2
CAMERA_LAYOUT: tuple[tuple[str, float, float, float, float, float], ...] = (
    ("front", 0.0, 6.0, 0.8, -0.06, 0.09),
    ("left", 40.0, 3.5, -1.3, -0.05, 0.07),
    ("right", -40.0, 4.5, 1.1, -0.07, 0.10),
    ("above", 10.0, 30.0, -0.6, -0.05, 0.08),
    ("below", -10.0, -18.0, 0.7, -0.06, 0.06),
    ("far_left", 75.0, 2.0, 0.5, -0.04, 0.05),
    ("far_right", -75.0, 2.5, -0.9, -0.05, 0.07),
)
CAMERA_TARGET = (0.0, -0.012, 0.012)  # metres: the point every camera looks at
FRAME_SUFFIX = {"exr32": ".exr", "exr16": ".exr", "tiff16": ".tif"}
TRUTH_CHANNELS = {
    "diffuse_albedo": 3,
    "specular_albedo": 1,
    "normal": 3,
    "roughness": 1,
    "mask": 1,
    "visibility": 1,
    "uv": 3,
}


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that defines a simulated session (all defaults here)."""

    image_size: int = 512  # pixels per side (square frames)
    uv_size: int = 512  # texels per side of the UV maps
    cameras: int = 3  # first N of CAMERA_LAYOUT: front, left, right, above, below, far_left, far_right
    camera_distance: float = 1.0  # metres from the camera target
    fov_deg: float = 19.0  # full field of view of the square image
    distortion: bool = True  # small radial k1/k2 per camera (else none)
    inverses: bool = True  # also render inverse_x/y/z
    noise: float = 0.0  # Poisson gain: sigma^2 = noise * x + read_noise^2 (x in stored units)
    read_noise: float = 0.0  # Gaussian read-noise sigma, stored units
    dark_offset: float = 0.0  # added to every frame; > 0 also writes dark frames
    saturation: float | None = None  # clip stored values at this level (None: no clipping)
    ambient: float = 0.0  # uniform room light on the face, fraction of the full-on pattern, in every frame
    backdrop: float = 0.0  # lit backdrop behind the head, stored value (smooth ramp about it), in every frame
    # stored value of the brightest noise-free pixel; above 1 (over-exposed, as a technician exposing a dark face
    # for its skin would) only with ``saturation`` set, where those pixels clip (docs/solve.md section 1c)
    exposure_peak: float = 0.8
    motion_px: float = 0.0  # largest head translation between exposures, pixels of the front camera at its distance
    motion_deg: float = 0.0  # largest head roll (about the front camera's axis) between exposures, degrees
    motion_tilt_deg: float = 0.0  # largest head yaw and pitch between exposures, degrees each
    expression_mm: float = 0.0  # largest expression change (smooth non-rigid displacement), millimetres
    visibility_directions: int = 768  # self-shadowing direction set (fibonacci sphere)
    specular_samples: tuple[int, int] = (16, 16)  # GGX VNDF quadrature grid
    pixel_samples: int = 3  # sub-pixel rays per pixel side, odd: each pixel integrates over its area (footprint.py)
    lens_blur_px: float = 0.25  # Gaussian lens blur sigma, pixels, convolved with the pixel's box (0: none)
    diffuse_samples: tuple[int, int] = (8, 16)  # cosine-lobe quadrature grid (occluded texels)
    sss_mm: tuple[float, float, float] = (1.0, 0.5, 0.25)  # subsurface blur sigma R, G, B, millimetres
    detail: float = 1.0  # pore and wrinkle relief scale (0 = smooth skin)
    frame_format: Literal["exr32", "exr16", "tiff16"] = "exr32"
    scan_decimation: float = 0.6  # fraction of triangles kept in mesh/scan.obj
    scan_noise_mm: float = 0.1  # Gaussian noise on the scan's vertices, millimetres
    head_model: HeadModel = "auto"  # auto: the face model when found, else procedural heads
    face_model: str | None = None  # face model folder (None: $ID2R_FACE_MODEL or ../shared/face-models/...)
    identity_modes: int = 100  # face-model identity modes drawn per subject (the rest 0)
    expression: float = 0.0  # 0: neutral; up to 1: a random expression of this strength per subject
    appearance: bool = True  # face-model subjects: per-subject eyebrows, hair, beard, lips, irises (else bald heads)
    hair_volume: bool = False  # face-model subjects: scalp hair as geometry (off: docs/face-model.md)
    template: str = "auto"  # layout rendered and of truth/ (auto | face_model | procedural), see truth_layout.py
    appearance_source: str = (
        "auto"  # auto | photo | procedural: face shape and albedo detail from real photos (auto: where found)
    )
    face_photos: str | None = None  # the photo set's folder (None: ../shared/face-photos/london), photo_subjects.py
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"SimulatorConfig.{name} must be {expected}, got {getattr(self, name)!r}")

        if not (16 <= self.image_size <= 8192):
            raise bad("image_size", "in [16, 8192]")
        if not (16 <= self.uv_size <= 8192):
            raise bad("uv_size", "in [16, 8192]")
        if not (1 <= self.cameras <= len(CAMERA_LAYOUT)):
            raise bad("cameras", f"in [1, {len(CAMERA_LAYOUT)}]")
        if not (0.3 <= self.camera_distance <= 10.0):
            raise bad("camera_distance", "in [0.3, 10] metres")
        if not (2.0 <= self.fov_deg <= 90.0):
            raise bad("fov_deg", "in [2, 90]")
        for name in (
            "noise",
            "read_noise",
            "dark_offset",
            "detail",
            "ambient",
            "backdrop",
            "motion_px",
            "motion_deg",
            "motion_tilt_deg",
        ):
            if not getattr(self, name) >= 0:
                raise bad(name, ">= 0")
        if self.saturation is not None and not self.saturation > 0:
            raise bad("saturation", "> 0 or None")
        if not (0 < self.exposure_peak <= 1.0 or (self.saturation is not None and self.exposure_peak > 1.0)):
            raise bad("exposure_peak", "in (0, 1], or above 1 with saturation set (the brightest pixels clip)")
        if self.pixel_samples not in (1, 3, 5, 7):
            raise bad("pixel_samples", "1, 3, 5 or 7")
        if not (0 <= self.lens_blur_px <= 3):
            raise bad("lens_blur_px", "in [0, 3] pixels")
        if not (16 <= self.visibility_directions <= 65536):
            raise bad("visibility_directions", "in [16, 65536]")
        for name in ("specular_samples", "diffuse_samples"):
            v = getattr(self, name)
            if len(v) != 2 or min(v) < 1:
                raise bad(name, "two positive integers")
        if len(self.sss_mm) != 3 or min(self.sss_mm) < 0:
            raise bad("sss_mm", "three values >= 0")
        if self.frame_format not in FRAME_SUFFIX:
            raise bad("frame_format", f"one of {sorted(FRAME_SUFFIX)}")
        if not (0.1 <= self.scan_decimation <= 1.0):
            raise bad("scan_decimation", "in [0.1, 1]")
        if self.scan_noise_mm < 0:
            raise bad("scan_noise_mm", ">= 0")
        if self.head_model not in ("auto", "face_model", "procedural"):
            raise bad("head_model", "'auto', 'face_model' or 'procedural'")
        if not (1 <= self.identity_modes <= 100):
            raise bad("identity_modes", "in [1, 100]")
        if not (0.0 <= self.expression <= 1.0):
            raise bad("expression", "in [0, 1]")
        if not (0 <= self.expression_mm <= 20):
            raise bad("expression_mm", "in [0, 20] millimetres")
        if self.template not in TEMPLATE_KINDS:
            raise bad("template", "'procedural', 'face_model' or 'auto'")
        if self.appearance_source not in ("procedural", "photo", "auto"):
            raise bad("appearance_source", "'procedural', 'photo' or 'auto'")

    @property
    def moves(self) -> bool:
        """True when the head moves between exposures (motion or expression options set)."""
        return max(self.motion_px, self.motion_deg, self.motion_tilt_deg, self.expression_mm) > 0

    @property
    def patterns(self) -> tuple[str, ...]:
        """Lit patterns rendered, in the session format's order."""
        return LIT_PATTERNS if self.inverses else LIT_PATTERNS[:4]


@dataclass(frozen=True)
class Subject:
    """The random draw of one subject: identity, shape and skin.

    ``head`` is the procedural head's parameters; ``face_head`` the face-model head
    (identity and expression weights) when the subject comes from the face model, and
    ``appearance`` its eyebrows, hair, beard, lips and irises; ``photo`` the real person
    whose photo gives its face shape and albedo detail (:mod:`~id2reflectance.capture.simulator.photo_subjects`).
    """

    subject_id: str
    index: int
    head: HeadParams
    skin: SkinParams
    face_head: FaceModelHead | None = None
    appearance: Appearance | None = None
    photo: Donor | None = None


def make_subject(
    seed: int, index: int, *, face_model_modes: int | None = None, expression: float = 0.0, appearance: bool = True
) -> Subject:
    """Subject ``index`` of ``seed`` (independent streams per subject).

    With ``face_model_modes`` (a count of identity modes) the subject also gets face-model
    identity weights and an appearance (eyebrows, hair, beard, lips, irises), each drawn
    from its own stream, so the skin is the same either way (``appearance=False``: none, the
    bald heads of before).
    """
    if index < 0 or index > 9999:
        raise ConfigError(f"subject index must be in [0, 9999], got {index}")
    rng = np.random.default_rng([int(seed), int(index)])
    sex = _draw_sex(rng)
    head = HeadParams.random(rng, sex=sex)
    skin = SkinParams.random(rng, sex=sex)
    face_head = None
    if face_model_modes is not None:
        id_rng = np.random.default_rng([int(seed), int(index), 3])
        face_head = FaceModelHead.random(id_rng, modes=face_model_modes, expression=expression)
        if not appearance:
            return Subject(f"S{index:04d}", index, head, skin, face_head)
        look_rng = np.random.default_rng([int(seed), int(index), 4])
        ita = float(ita_deg(skin_albedo(skin.melanin, skin.haemoglobin)))
        look = Appearance.random(look_rng, sex=skin.sex, age=skin.age, ita_deg=ita)
        return Subject(f"S{index:04d}", index, head, skin, face_head, look)
    return Subject(f"S{index:04d}", index, head, skin, face_head)


def _draw_sex(rng: np.random.Generator) -> Literal["female", "male"]:
    return "female" if rng.random() < 0.5 else "male"


def subject_sex(seed: int, index: int) -> Literal["female", "male"]:
    """The sex of subject ``index`` of ``seed`` (the first draw of :func:`make_subject`)."""
    return _draw_sex(np.random.default_rng([int(seed), int(index)]))


def layout_template(subject: Subject, config: SimulatorConfig) -> Template | None:
    """The face-model template when ``config.template`` renders the subject in it (a
    face-model head and template ``face_model``, or ``auto`` with the face model found),
    else None (the procedural layout; also ``auto`` with ``hair_volume``: the hair's volume
    is rendered only there)."""
    if config.template == "procedural" or (config.template == "auto" and config.hair_volume):
        return None
    tpl = resolve_template(config.template, config.face_model)
    if tpl.kind != "face_model" or (subject.face_head is None and config.template == "auto"):
        return None  # auto: procedural heads keep the procedural layout
    if subject.face_head is None:
        raise ConfigError(
            "SimulatorConfig.template 'face_model' needs face-model heads (head_model 'auto' or 'face_model')"
        )
    return tpl


def subject_geometry(subject: Subject, config: SimulatorConfig) -> tuple[FaceMesh, SubjectMaps, float]:
    """The subject's head (metres), its UV maps and its face ITA (degrees): in the
    procedural template's topology and layout, or, with the face-model template
    (:func:`layout_template`), the rendered head of
    :func:`~id2reflectance.capture.simulator.truth_layout.layout_geometry` painted in that layout."""
    model = resolve_face_model(config.head_model, config.face_model)
    if model is None or subject.face_head is None:
        mesh = head_mesh(subject.head)
        maps = subject_maps(mesh, subject.skin, size=config.uv_size, detail=config.detail)
        return mesh, maps, face_ita_deg(maps)
    if layout_template(subject, config) is not None:  # rendered in the face model's own layout
        geo = layout_geometry(model, subject.face_head, size=config.uv_size)
        raster = geo.raster
    else:
        volume = subject.appearance if config.hair_volume else None
        geo = face_model_geometry(model, subject.face_head, uv_size=config.uv_size, appearance=volume)
        raster = None
    photo = None
    if subject.photo is not None:
        chart = raster if raster is not None else uv_raster(config.uv_size)
        photo = subject_photo_layer(model, subject.photo.photo, geo.mesh, chart, geo.eyes, donor=subject.photo.id)
    maps = subject_maps(
        geo.mesh,
        subject.skin,
        size=config.uv_size,
        detail=config.detail,
        eyes=geo.eyes,
        regions=geo.regions,
        appearance=subject.appearance,
        points=geo.points,
        raster=raster,
        photo=photo,
    )
    return geo.mesh, maps, face_ita_deg(maps, geo.regions)


def config_subject(config: SimulatorConfig, index: int) -> Subject:
    """Subject ``index`` as ``config`` draws it (face-model weights when the model is used)."""
    model = resolve_face_model(config.head_model, config.face_model)
    modes = None if model is None else min(config.identity_modes, model.identity_modes)
    subject = make_subject(
        config.seed, index, face_model_modes=modes, expression=config.expression, appearance=config.appearance
    )
    if model is None or subject.face_head is None or subject.appearance is None:
        return subject
    root = resolve_face_photos(config.appearance_source, config.face_photos)
    if root is None:
        return subject
    sex = subject.skin.sex
    rank = sum(subject_sex(config.seed, j) == sex for j in range(index))  # earlier subjects of its sex
    donor = pick_donor(root, seed=config.seed, rank=rank, sex=sex)
    look = with_donor_eyes(subject.appearance, subject.skin.hair_darkness, donor)
    return replace(subject, face_head=with_donor(subject.face_head, model, donor), appearance=look, photo=donor)


def rig_cameras(
    config: SimulatorConfig, layout: tuple[tuple[str, float, float, float, float, float], ...] = CAMERA_LAYOUT
) -> dict[str, Camera]:
    """The first ``config.cameras`` cameras of ``layout`` (default ``CAMERA_LAYOUT``; rows
    name, yaw, elevation, roll in degrees, k1, k2), framing the head."""
    size = config.image_size
    f = 0.5 * size / np.tan(np.radians(config.fov_deg) / 2)
    target = np.asarray(CAMERA_TARGET)
    out = {}
    for k, (name, yaw, elev, roll, k1, k2) in enumerate(layout[: config.cameras]):
        a, e = np.radians(yaw), np.radians(elev)
        eye = target + config.camera_distance * np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])
        R, _ = look_at(eye, target)
        c, s = np.cos(np.radians(roll)), np.sin(np.radians(roll))
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R
        t = -R @ eye
        shift = 0.004 * size * np.array([np.sin(1.7 * k + 0.3), np.cos(2.3 * k + 0.1)])
        K = np.array(
            [[f, 0.0, (size - 1) / 2 + shift[0]], [0.0, f * 1.0005, (size - 1) / 2 + shift[1]], [0.0, 0.0, 1.0]]
        )
        dist = np.array([k1, k2, 0.0, 0.0, 0.0]) if config.distortion else np.zeros(5)
        out[name] = Camera(name, size, size, K, dist, R, t)
    return out


def _scan_mesh(mesh: FaceMesh, config: SimulatorConfig, rng: np.random.Generator) -> FaceMesh:
    return scan_mesh(mesh, decimation=config.scan_decimation, noise_mm=config.scan_noise_mm, rng=rng)


def scan_mesh(mesh: FaceMesh, *, decimation: float, noise_mm: float, rng: np.random.Generator) -> FaceMesh:
    """A 'scanned' version of a head: seams welded, decimated to ``decimation`` of its
    triangles, Gaussian noise of ``noise_mm`` millimetres along the normals, no UVs."""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices), o3d.utility.Vector3iVector(mesh.faces))
    m.merge_close_vertices(1e-7)
    m.remove_degenerate_triangles()
    m.remove_unreferenced_vertices()
    target = max(100, int(round(decimation * len(mesh.faces))))
    if target < len(m.triangles):
        m = m.simplify_quadric_decimation(target_number_of_triangles=target)
    m.compute_vertex_normals()
    v = np.asarray(m.vertices, np.float64)
    n = np.asarray(m.vertex_normals, np.float64)
    v = v + n * rng.normal(0.0, noise_mm * 1e-3, (len(v), 1))
    return FaceMesh(v, np.asarray(m.triangles, np.int64))


def _sensor(x: np.ndarray, config: SimulatorConfig, rng: np.random.Generator) -> np.ndarray:
    """Stored values from noise-free stored signal ``x`` (..., float): noise, offset, clip."""
    out = x.astype(np.float64)
    if config.noise > 0 or config.read_noise > 0:
        sigma = np.sqrt(config.noise * np.maximum(out, 0.0) + config.read_noise**2)
        out = out + sigma * rng.standard_normal(out.shape)
    out = out + config.dark_offset
    if config.saturation is not None:
        out = np.minimum(out, config.saturation)
    return out.astype(np.float32)


def _write_frame(path: Path, img: np.ndarray, fmt: str) -> None:
    if fmt == "tiff16":
        write_tiff16(path, np.clip(img, 0.0, 1.0))
    else:
        write_exr(path, img, half=fmt == "exr16")


def _write_truth(
    root: Path,
    mesh: FaceMesh,
    maps: SubjectMaps,
    renders: dict[str, CameraRender],
    params: dict,
    layout: LayoutTruth | None = None,
) -> None:
    uv = root / "truth" / "uv"
    if layout is not None:  # the face-model template's topology and layout
        write_obj(root / "truth" / "mesh.obj", layout.mesh)
        for name, img in layout.maps.items():
            write_exr(uv / f"{name}.exr", img)
    else:
        write_obj(root / "truth" / "mesh.obj", mesh)
        write_exr(uv / "diffuse_albedo.exr", maps.diffuse_albedo)
        write_exr(uv / "specular_albedo.exr", maps.specular_albedo)
        write_exr(uv / "roughness.exr", maps.roughness)
        write_exr(uv / "normal_object.exr", maps.normal_object)
        if maps.eye is not None:
            write_exr(uv / "eye.exr", maps.eye)  # 1 on the eyeballs (not skin)
        if maps.hair is not None:
            write_exr(uv / "hair.exr", maps.hair)  # hair covering the skin (kept in the skin maps)
    atomic_write_json(uv / "params.json", params)
    for name, r in renders.items():
        for key, img in r.truth.items():
            write_exr(root / "truth" / name / f"{key}.exr", img)


@dataclass(frozen=True, eq=False)
class _RenderParts:
    """What rendering one subject computed besides the frames (reused for moved frames)."""

    vis: np.ndarray  # (V, D) vertex visibility
    diffuse: DiffuseTextures
    scene: object  # open3d.t.geometry.RaycastingScene of the mesh


def _render_parts(
    subject: Subject, config: SimulatorConfig, *, tick: Callable[[int], None] | None = None
) -> tuple[FaceMesh, SubjectMaps, float, dict[str, Camera], dict[str, CameraRender], _RenderParts]:
    """:func:`render_subject` plus the visibility, diffuse textures and ray scene it used."""

    def step(k: int) -> None:
        if tick is not None:
            tick(k)

    mesh, maps, ita = subject_geometry(subject, config)
    step(1)
    vis = vertex_visibility(mesh, directions=config.visibility_directions)
    step(2)
    procedural = is_template_topology(mesh)  # else rendered in the face-model layout (truth_layout.py)
    raster = uv_raster(config.uv_size) if procedural else mesh_uv_raster(mesh, config.uv_size)
    diffuse = diffuse_textures(
        maps,
        raster,
        vis,
        patterns=config.patterns,
        sss_mm=config.sss_mm,
        texel_size=face_texel_size(mesh, config.uv_size),
        samples=config.diffuse_samples,
        wrap_u=procedural,
    )
    step(3)
    cameras = rig_cameras(config)
    scene = raycasting_scene(mesh)
    renders: dict[str, CameraRender] = {}
    for k, (name, cam) in enumerate(cameras.items()):
        renders[name] = render_camera(
            cam,
            mesh,
            scene,
            maps,
            diffuse,
            vis,
            patterns=config.patterns,
            samples=config.specular_samples,
            pixel_samples=config.pixel_samples,
            blur_px=config.lens_blur_px,
        )
        step(4 + k)
    return mesh, maps, ita, cameras, renders, _RenderParts(vis, diffuse, scene)


def render_subject(
    subject: Subject, config: SimulatorConfig, *, tick: Callable[[int], None] | None = None
) -> tuple[FaceMesh, SubjectMaps, float, dict[str, Camera], dict[str, CameraRender]]:
    """Render one subject with the rig of ``config`` (noise-free radiance, no files).

    Returns
    -------
    mesh : the head in template topology (metres); maps : its UV maps; ita : the face's
    ITA (degrees); cameras : {name: Camera}; renders : {name: CameraRender} with the
    cross and parallel radiance of every pattern of ``config.patterns`` (the reference
    pose: no head motion) and the truth.
    ``tick(k)`` is called after each of the ``4 + config.cameras`` steps.
    """
    mesh, maps, ita, cameras, renders, _ = _render_parts(subject, config, tick=tick)
    return mesh, maps, ita, cameras, renders


def simulate_subject(
    out_dir: str | Path,
    *,
    subject_index: int,
    config: SimulatorConfig | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Simulate one subject and write its session folder ``out_dir/S{index:04d}``.

    Parameters
    ----------
    out_dir : parent folder (created if needed).
    subject_index : 0-9999; with ``config.seed`` it fixes the subject.
    config : simulator settings (defaults: ``SimulatorConfig()``).
    progress : optional ``progress(stage, done, total)`` callback.

    Returns
    -------
    Path of the session folder (replaced atomically if it existed).
    """
    config = config or SimulatorConfig()
    subject = config_subject(config, subject_index)
    tpl = layout_template(subject, config)
    sid = subject.subject_id
    stage = f"{sid} render"
    steps = 4 + config.cameras
    t0 = time.perf_counter()

    def tick(done: int) -> None:
        if progress is not None:
            progress(stage, done, steps)

    tick(0)
    mesh, maps, ita, cameras, renders, parts = _render_parts(subject, config, tick=tick)
    moved = None
    if config.moves:
        f_px = 0.5 * config.image_size / np.tan(np.radians(config.fov_deg) / 2)
        moved = render_moved_frames(
            cameras,
            renders,
            mesh,
            parts.scene,
            maps,
            parts.diffuse,
            parts.vis,
            keys=[(p, pol) for p in config.patterns for pol in ("cross", "parallel")],
            rng=np.random.default_rng([int(config.seed), int(subject_index), 3]),
            shift_m=config.motion_px * config.camera_distance / f_px,
            roll_deg=config.motion_deg,
            tilt_deg=config.motion_tilt_deg,
            expression_m=config.expression_mm * 1e-3,
            samples=config.specular_samples,
            pixel_samples=config.pixel_samples,
            blur_px=config.lens_blur_px,
        )
    peak = max(float(r.parallel["full"].max()) for r in renders.values())  # the reference pose
    scale = float(f"{max(peak, 1e-6) / config.exposure_peak:.6g}")
    attributes = {
        "ita_deg": round(ita, 3),
        "fitzpatrick": int(fitzpatrick_from_ita(ita)),
        "melanin": round(subject.skin.melanin, 6),
        "haemoglobin": round(subject.skin.haemoglobin, 6),
        "sex": subject.skin.sex,
        "age": round(subject.skin.age, 1),
        "simulated": True,
        "seed": int(config.seed),
        "index": int(subject_index),
        **({} if subject.photo is None else {"photo_credit": photo_credit(subject.photo.id)}),
    }
    layout, scanned = None, mesh
    if tpl is not None:  # rendered in the face-model layout: the truth is the painted maps
        model = resolve_face_model(config.head_model, config.face_model)
        geo = layout_geometry(model, subject.face_head, size=config.uv_size)
        layout, scanned = layout_truth(geo, maps), scanned_surface(geo)
    params = {
        "subject": sid,
        "template": TEMPLATE_NAME if tpl is None else tpl.name,
        "head": subject.head.to_json() if subject.face_head is None else subject.face_head.to_json(),
        "skin": subject.skin.to_json(),
        **({} if subject.appearance is None else {"appearance": subject.appearance.to_json()}),
        **({} if subject.photo is None else {"photo": {"set": "london", "id": subject.photo.id}}),
        "attributes": attributes,
        "exposure_scale": scale,
        "config": _config_json(config),
    }
    out = Path(out_dir) / sid
    with atomic_folder(out) as tmp:
        frames = _write_frames(tmp, renders, config, scale, subject_index, moved)
        for name, r in renders.items():
            write_png(tmp / "masks" / f"{name}.png", r.hit.astype(np.float32))
        scan_rng = np.random.default_rng([int(config.seed), int(subject_index), 2])
        write_obj(tmp / "mesh" / "scan.obj", _scan_mesh(scanned, config, scan_rng))
        _write_truth(tmp, mesh, maps, renders, params, layout)
        if moved is not None:
            _write_motion_truth(tmp, moved)
        manifest = session_json(
            subject_id=sid,
            cameras=cameras,
            frames=frames,
            rig_name="id2r-simulated-light-stage",
            attributes=attributes,
            mesh="mesh/scan.obj",
        )
        write_session_json(tmp, manifest)
    tick(steps)
    log.info("simulated %s in %.1f s (exposure scale %.4g)", sid, time.perf_counter() - t0, scale)
    return out


def _write_motion_truth(root: Path, moved: MovedFrames) -> None:
    atomic_write_json(root / "truth" / "motion.json", moved.truth_json())
    for name, per in moved.flows.items():
        for (p, pol), flow in per.items():
            write_exr(root / "truth" / name / "motion" / f"{p}_{pol}.exr", flow)


def _write_frames(
    root: Path,
    renders: dict[str, CameraRender],
    config: SimulatorConfig,
    scale: float,
    index: int,
    moved: MovedFrames | None = None,
) -> list[Frame]:
    frames: list[Frame] = []
    suffix = FRAME_SUFFIX[config.frame_format]
    for c, (name, r) in enumerate(renders.items()):
        rng = np.random.default_rng([int(config.seed), int(index), 1, c])
        other = {} if moved is None else moved.images[name]
        items = [
            (p, pol, other.get((p, pol), img))
            for p in config.patterns
            for pol, img in (("cross", r.cross[p]), ("parallel", r.parallel[p]))
        ]
        if config.dark_offset > 0:
            zero = np.zeros_like(r.cross["full"])
            items += [("dark", "cross", zero), ("dark", "parallel", zero)]
        room = _room_light(r, config, scale)
        for pattern, pol, img in items:
            rel = f"frames/{name}/{pattern}_{pol}{suffix}"
            _write_frame(root / rel, _sensor(img / scale + room, config, rng), config.frame_format)
            frames.append(Frame(name, pattern, pol, rel, "linear", scale))
    return frames


def _room_light(r: CameraRender, config: SimulatorConfig, scale: float) -> np.ndarray | float:
    """Stored room light of one camera's render (:func:`room_light`), 0 when there is none."""
    if config.ambient <= 0 and config.backdrop <= 0:
        return 0.0
    return room_light(r.cross["full"] / scale, r.parallel["full"] / scale, r.hit, config)


def room_light(
    cross_full: np.ndarray, parallel_full: np.ndarray, hit: np.ndarray, config: SimulatorConfig
) -> np.ndarray:
    """Light that does not come from the stage, in every frame (dark frames included).

    Ambient room light is unpolarised and uniform: the face reflects ``config.ambient``
    times its full-on response (diffuse and specular), and an analyser passes half of it
    whatever its orientation, so both polarisations receive ``ambient * (cross +
    parallel) / 2`` of the full pattern. The backdrop (pixels off the head) is a lit wall:
    ``config.backdrop`` with a smooth +-25 % ramp across the image, slightly warm. The
    ground truth is unchanged.

    Parameters
    ----------
    cross_full, parallel_full : (H, W, 3) float, the noise-free full-on frames (stored units).
    hit : (H, W) bool, pixels on the head.

    Returns
    -------
    (H, W, 3) float32, stored units.
    """
    face = config.ambient * 0.5 * (cross_full + parallel_full)
    h, w = face.shape[:2]
    ramp = 1.0 + 0.25 * np.linspace(-1.0, 1.0, w)[None, :] * np.linspace(0.6, 1.0, h)[:, None]
    wall = (config.backdrop * ramp)[..., None] * np.array([1.0, 0.95, 0.85]) * (~hit)[..., None]
    return (face + wall).astype(np.float32)


def sensor(x: np.ndarray, config: SimulatorConfig, rng: np.random.Generator) -> np.ndarray:
    """Stored values from noise-free stored signal ``x`` (..., float): the sensor model.

    Noise ``sigma^2 = config.noise * x + config.read_noise^2`` (Poisson-Gaussian, stored
    units), then ``dark_offset`` and clipping at ``saturation``; float32.
    """
    return _sensor(x, config, rng)


def _config_json(config: SimulatorConfig) -> dict:
    d = asdict(config)
    if d["template"] == "procedural":  # params.json as before the layouts (params["template"] names it)
        del d["template"]
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def simulate_sessions(
    out_dir: str | Path,
    *,
    subjects: int | Iterable[int],
    config: SimulatorConfig | None = None,
    progress: ProgressFn | None = None,
) -> list[Path]:
    """Simulate several subjects: ``out_dir/S0000``, ``out_dir/S0001``, ...

    Parameters
    ----------
    subjects : a count N (indices 0..N-1) or explicit subject indices.
    config, progress : as for :func:`simulate_subject`; progress also reports the
        stage ``"subjects"``.
    """
    indices = list(range(subjects)) if isinstance(subjects, int) else [int(i) for i in subjects]
    if not indices:
        raise ConfigError("simulate_sessions: no subjects requested")
    paths = []
    for k, i in enumerate(indices):
        if progress is not None:
            progress("subjects", k, len(indices))
        paths.append(simulate_subject(out_dir, subject_index=i, config=config, progress=progress))
    if progress is not None:
        progress("subjects", len(indices), len(indices))
    return paths


def load_truth(session_dir: str | Path, camera: str) -> dict[str, np.ndarray]:
    """Ground truth of one camera of a simulated session.

    Returns
    -------
    {name: array}: ``diffuse_albedo`` (H, W, 3) linear Rec.709; ``specular_albedo``
    (H, W) unoccluded full-sphere specular response; ``normal`` (H, W, 3) unit world
    shading normal; ``roughness`` (H, W) GGX perceptual; ``mask`` (H, W) 1 on the head;
    ``visibility`` (H, W) unoccluded fraction of the diffuse lobe; ``uv`` (H, W, 3) u, v,
    hit; for face-model heads also ``skin`` (H, W) 1 on skin, 0 on the eyes and the
    background. All float32.
    """
    folder = Path(session_dir) / "truth" / camera
    if not folder.is_dir():
        raise InputFileError(folder, None, f"no ground truth for camera '{camera}' (not a simulated session?)")
    out = {}
    optional = {"skin": 1} if (folder / "skin.exr").is_file() else {}
    for name, channels in {**TRUTH_CHANNELS, **optional}.items():
        img, _ = read_exr(folder / f"{name}.exr")
        if img.shape[2] != channels:
            raise InputFileError(folder / f"{name}.exr", None, f"expected {channels} channel(s), got {img.shape[2]}")
        out[name] = img[..., 0] if channels == 1 else img
    return out
