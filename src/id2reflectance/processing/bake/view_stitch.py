"""Stitch aligned per-view reflectance maps (predicted or rendered) into the shared UV space.

The dataset's aligned views (``docs/dataset-format.md``) and the inference swapper's
outputs are images of one mesh (a template subject's registered head, template topology)
seen by the cameras of :func:`~id2reflectance.dataset.views.aligned_cameras`. This module
turns such views back into asset-format UV maps (``shared/asset-format.md``) with the
baking machinery of :mod:`~id2reflectance.processing.bake.baker` and
:mod:`~id2reflectance.processing.bake.views`, not a second implementation of it:

1. every view becomes a :class:`~id2reflectance.processing.bake.views.SolvedView`: its
   camera-space normals (OpenGL axes: x right, y up, z towards the camera) are rotated to
   the mesh's frame, ``n_world = R^T (n_gl * (1, -1, -1))``; the view's mask is the
   validity mask;
2. :func:`~id2reflectance.processing.bake.baker.bake_maps` does the rest: per texel its 3-D point
   and normal on the mesh, projection into each camera, visibility by ray casting against
   the mesh, bilinear samples, weights from the viewing angle (``cos_min``,
   ``angle_power``), the mask border (feathered in image space) and occlusion boundaries
   (feathered in UV space), the weighted blend, coverage ``1 - prod(1 - w)``, gutter
   padding, push-pull hole filling across seams, normals filled as offsets from the mesh
   normal, and ``normal_tangent`` from :mod:`~id2reflectance.processing.tangents`;
3. the template's chart is closed in u (seam at the back of the head), so the unseen
   texels of the albedos and roughness are filled once more by
   :func:`~id2reflectance.processing.bake.fill.push_pull` on the map wrapped around in u
   (``wrap_u``): the two sides of the seam then agree. Normals already agree there (far
   from seen texels they are the mesh normal).

Two differences from baking a capture, both set here: the views' specular albedo is
already the asset's quantity (the full-sphere response at normal incidence, as
:func:`~id2reflectance.dataset.views.render_training_views` writes it), so the
solver-to-asset conversion of :func:`~id2reflectance.processing.bake.views.sample_view`
(``S A(1, r) / A(n.v, r)``) is made the identity by giving it the direction towards the
camera as the "specular normal" of every pixel (``n.v = 1``); and the views' diffuse albedo
is already free of ambient occlusion, so the occlusion compensation is off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.errors import ConfigError, ShapeError
from id2reflectance.processing.bake.baker import BakeConfig, BakedMaps, bake_maps
from id2reflectance.processing.bake.fill import push_pull
from id2reflectance.processing.bake.prepared_mesh import PreparedMesh
from id2reflectance.processing.bake.views import SolvedView

# OpenCV camera axes (x right, y down, z forward) <-> OpenGL (x right, y up, z backward)
_CV_TO_GL = np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class StitchConfig:
    """Options of :func:`stitch_views` (the weights are those of ``id2r bake``).

    Attributes
    ----------
    size : UV map size in texels (power of two, 256..8192).
    cos_min : a view whose n.v at a texel is below this gives it no weight.
    angle_power : exponent of the viewing-angle weight ``((n.v - cos_min)/(1 - cos_min))^p``.
    mask_feather : image-space ramp of the weight away from the view mask's border, as a
        fraction of the view's width (aligned views come at many sizes).
    feather : UV-space ramp away from occlusion boundaries, as a fraction of ``size``.
    visibility_tolerance_m : ray-cast hit distance tolerance, metres.
    padding_texels : gutter padding by nearest-texel copy, texels.
    normal_fill_decay : filled normals fade to the mesh normal as
        ``exp(-d / (normal_fill_decay * size))``, d the distance to a seen texel.
    fill_sweeps : membrane relaxation sweeps per pyramid level of the hole filling.
    wrap_u : the UV chart is closed in u (the template's cylindrical chart: u = 0 and
        u = 1 are the same seam at the back of the head): unseen texels of the albedos and
        the roughness are filled again with the map wrapped around in u, so both sides of
        the seam agree (the capture bake fills each side from its own neighbours).
    """

    size: int = 512
    cos_min: float = 0.1
    angle_power: float = 2.0
    mask_feather: float = 0.01
    feather: float = 0.008
    visibility_tolerance_m: float = 0.001
    padding_texels: int = 4
    normal_fill_decay: float = 0.02
    fill_sweeps: int = 8
    wrap_u: bool = True

    def __post_init__(self) -> None:
        if not (0.0 <= self.mask_feather <= 0.5):
            raise ConfigError(f"mask_feather must be in [0, 0.5] (fraction of the view width), got {self.mask_feather}")
        self.bake_config(64)  # validates the rest with BakeConfig's checks

    def bake_config(self, view_width: int) -> BakeConfig:
        """The :class:`BakeConfig` these options mean for views ``view_width`` pixels wide."""
        return BakeConfig(
            size=self.size,
            cos_min=self.cos_min,
            cos_fallback=self.cos_min,  # no grazing fallback
            angle_power=self.angle_power,
            mask_feather_px=self.mask_feather * view_width,
            feather=self.feather,
            visibility_tolerance_m=self.visibility_tolerance_m,
            occlusion_directions=0,
            padding_texels=self.padding_texels,
            normal_fill_decay=self.normal_fill_decay,
            fill_sweeps=self.fill_sweeps,
            previews=False,
        )


@dataclass(frozen=True, eq=False)
class ViewMaps:
    """Reflectance maps of one aligned view, in that view's image (H, W).

    camera : the view's camera (world = the mesh's frame, metres; H x W pixels).
    diffuse_albedo : (H, W, 3) float32, linear Rec.709 albedo in [0, 1].
    specular_albedo : (H, W) float32, the asset's specular albedo (full-sphere response at
        normal incidence), typically 0..0.25.
    roughness : (H, W) float32, GGX perceptual roughness in [0, 1].
    normal : (H, W, 3) float32, unit normal in the view's camera frame, OpenGL axes
        (x right, y up, z towards the camera).
    mask : (H, W) float32 in [0, 1] (or bool), 1 on the face: where the maps are valid.
    """

    camera: Camera
    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    roughness: np.ndarray
    normal: np.ndarray
    mask: np.ndarray


def camera_normals_to_world(normal_gl: np.ndarray, camera: Camera) -> np.ndarray:
    """Rotate camera-space normals (OpenGL axes) to the world (mesh) frame.

    Parameters
    ----------
    normal_gl : (..., 3) float, unit normals in the camera frame, OpenGL axes.
    camera : its rotation ``R`` maps world to (OpenCV) camera coordinates.

    Returns
    -------
    (..., 3) float32 unit world normals (zero vectors stay zero).
    """
    n = np.asarray(normal_gl, np.float64) * _CV_TO_GL
    w = n @ np.asarray(camera.R, np.float64)  # R^T n for row vectors
    norm = np.linalg.norm(w, axis=-1, keepdims=True)
    return np.where(norm > 1e-12, w / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def world_normals_to_camera(normal_world: np.ndarray, camera: Camera) -> np.ndarray:
    """Inverse of :func:`camera_normals_to_world`: (..., 3) world -> camera (OpenGL), float32."""
    n = np.asarray(normal_world, np.float64) @ np.asarray(camera.R, np.float64).T
    return (n * _CV_TO_GL).astype(np.float32)


def _check_view(view: ViewMaps, k: int) -> None:
    cam = view.camera
    hw = (cam.height, cam.width)
    for name, channels in (
        ("diffuse_albedo", 3),
        ("specular_albedo", 1),
        ("roughness", 1),
        ("normal", 3),
        ("mask", 1),
    ):
        a = np.asarray(getattr(view, name))
        ok = a.shape == (*hw, 3) if channels == 3 else a.shape in (hw, (*hw, 1))
        if not ok:
            want = f"({hw[0]}, {hw[1]}{', 3' if channels == 3 else ''})"
            raise ShapeError(f"view {k} ({cam.name}): {name} must be {want} for its camera, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ShapeError(f"view {k} ({cam.name}): {name} contains NaN or Inf")


def _grey(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a[..., 0] if a.ndim == 3 else a


def to_solved_view(view: ViewMaps) -> SolvedView:
    """The :class:`SolvedView` that makes :func:`bake_maps` stitch ``view`` unchanged.

    Normals go to the world frame; the "specular normal" of each pixel is the unit vector
    from the surface towards the camera centre, so the solver-to-asset conversion of the
    specular albedo (``A(1, r) / A(n.v, r)``) is 1 and the view's value is kept.
    """
    cam = view.camera
    mask = np.clip(_grey(view.mask).astype(np.float32), 0.0, 1.0)
    _, dirs = cam.pixel_rays()
    towards = (-dirs).reshape(cam.height, cam.width, 3).astype(np.float32)
    normal = camera_normals_to_world(view.normal, cam)
    valid = np.linalg.norm(normal, axis=-1) > 0.5
    mask = np.where(valid, mask, 0.0).astype(np.float32)  # a zero normal is not a prediction
    return SolvedView(
        camera=cam,
        diffuse_albedo=np.clip(np.asarray(view.diffuse_albedo, np.float32), 0.0, 1.0),
        specular_albedo=np.maximum(_grey(view.specular_albedo), 0.0),
        normal=np.where(valid[..., None], normal, towards),
        normal_specular=towards,
        roughness=np.clip(_grey(view.roughness), 0.0, 1.0),
        mask=mask,
    )


def stitch_views(
    mesh: FaceMesh,
    views: Sequence[ViewMaps],
    *,
    config: StitchConfig = StitchConfig(),
    progress: ProgressFn | None = None,
    prepared: PreparedMesh | None = None,
) -> BakedMaps:
    """Blend aligned views of ``mesh`` into UV maps, seams handled and holes filled.

    Parameters
    ----------
    mesh : the mesh the views show (template topology with UVs, metres; its frame is the
        frame of the views' cameras and of the returned ``normal_object``).
    views : one or more :class:`ViewMaps` (any sizes).
    config : StitchConfig.
    progress : optional ``progress(stage, done, total)`` (stages ``bake``, ``fill``).
    prepared : ``mesh``'s baking geometry at ``config.size``
        (:func:`~.bake_mesh.prepare_mesh`), kept by a caller that stitches onto the same
        mesh again; computed when None.

    Returns
    -------
    BakedMaps: ``diffuse_albedo`` (S, S, 3) linear [0, 1], ``specular_albedo`` (S, S),
    ``roughness`` (S, S), ``normal_object`` (S, S, 3) unit in the mesh's frame,
    ``normal_tangent`` (S, S, 3) unit (OpenGL, +Y up), ``coverage`` (S, S) in [0, 1]
    (0 where filled), ``covered``/``seen`` (S, S) bool and ``view_weights`` per camera name.

    Raises
    ------
    ShapeError
        No views, a map whose size differs from its camera's, NaN/Inf, a mesh without UVs.
    CaptureError
        A view that sees nothing of the mesh (wrong camera or empty mask).
    """
    if mesh.uvs is None:
        raise ShapeError("stitch_views: the mesh has no UVs")
    if not views:
        raise ShapeError("stitch_views: no views to stitch")
    names = [v.camera.name for v in views]
    if len(set(names)) != len(names):
        raise ShapeError(f"stitch_views: camera names must be distinct, got {names}")
    for k, v in enumerate(views):
        _check_view(v, k)
    width = max(v.camera.width for v in views)
    solved = [to_solved_view(v) for v in views]
    baked = bake_maps(
        mesh, solved, config=config.bake_config(width), progress=progress, total_views=len(solved), prepared=prepared
    )
    if not config.wrap_u or baked.seen.all():
        return baked
    stack = np.concatenate(
        [baked.diffuse_albedo, baked.specular_albedo[..., None], baked.roughness[..., None]], axis=-1
    )
    filled = fill_wrapped_u(stack, baked.seen, sweeps=config.fill_sweeps)
    return dataclasses.replace(
        baked,
        diffuse_albedo=np.clip(filled[..., :3], 0.0, 1.0),
        specular_albedo=np.maximum(filled[..., 3], 0.0),
        roughness=np.clip(filled[..., 4], 0.0, 1.0),
    )


def fill_wrapped_u(values: np.ndarray, known: np.ndarray, *, sweeps: int = 8) -> np.ndarray:
    """Push-pull fill of the unknown texels of a map whose u (columns) wraps around.

    Parameters
    ----------
    values : (S, S, C) float map; known texels are kept exactly.
    known : (S, S) bool.
    sweeps : membrane relaxation sweeps per pyramid level.

    Returns
    -------
    (S, S, C) float32: the map padded by half its width from the opposite side,
    filled by :func:`~id2reflectance.processing.bake.fill.push_pull`, and cropped back.
    """
    s = values.shape[1]
    pad = max(1, s // 2)
    ext = np.concatenate([values[:, -pad:], values, values[:, :pad]], axis=1)
    kext = np.concatenate([known[:, -pad:], known, known[:, :pad]], axis=1)
    return push_pull(ext, kext, sweeps=sweeps)[:, pad : pad + s]
