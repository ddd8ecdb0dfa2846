"""Per-camera sampling for UV baking: solved maps, texel geometry, visibility and weights.

For every texel of the registered mesh's UV layout (:class:`TexelGeometry`: its 3-D point
and geometric normal), each camera contributes a sample of its solved maps (bilinear, at
the point's distorted projection, :meth:`Camera.project`; the diffuse albedo and the baked
normal bicubic where all 16 taps are valid pixels, :func:`sharp_samples`) with a weight
that is the product of

* the viewing angle: ``((n.v - cos_min) / (1 - cos_min))^angle_power`` for the geometric
  normal ``n`` and the unit vector ``v`` to the camera, 0 below ``cos_min`` (between
  ``cos_fallback`` and ``cos_min`` the camera gives a separate fallback weight,
  ``((n.v - cos_fallback) / (1 - cos_fallback))^angle_power``, used by the bake only for
  texels that no camera sees above ``cos_min``);
* visibility: a ray from the camera centre must first hit the mesh within
  ``visibility_tolerance_m`` of the texel's point (Open3D ``RaycastingScene``);
* the distance to the border of the solver's mask in image space (a distance transform,
  pixels; the image border counts as mask border): 0 within 1.5 px, rising smoothly
  (smoothstep) to 1 at ``1.5 + mask_feather_px``. Bilinear samples never mix in invalid
  pixels;
* a smooth ramp in UV space away from texels this camera cannot use (occlusion
  boundaries), ``feather_texels`` wide, so that views blend without seams;
* the solver's per-pixel confidence (``confidence.exr``, in [0, 1], from the estimated
  noise and the signal) when the solve output has it, so that noisy pixels of one camera
  give way to cleaner views of the same texel.

With ``ViewWeights.last_resort`` a camera also offers a *last-resort* sample of the texels
it sees (in the image, unoccluded, n.v above ``min(cos_min, cos_fallback)``) but gives
neither a weight nor a grazing sample, because their projection lies within 1.5 px of the
mask border: the bilinear sample, taken only where at least ``last_resort_footprint`` of
its footprint (the pixels a bilinear lookup mixes, by weight) is valid, and then
mask-normalised (the valid pixels' weights renormalised) so that it never mixes a masked
pixel; only where the texel's point moved at most ``last_resort_max_offset_m`` onto the
scan (``offset``); and only at least ``last_resort_silhouette_px`` from the mask's *silhouette* (the invalid pixels connected to
the image border, :func:`silhouette_distance`): next to a silhouette a real capture's pixels
mix the background; next to an interior hole of the mask (a session mask file's, or the
exact-map benchmark's folds) they do not. The solver's own mask has its enclosed holes
filled, so on a solve without a mask file only the silhouette rule applies.

The specular albedo sample is converted to the asset's convention (full-sphere response
at normal incidence, :mod:`~id2reflectance.processing.brdf_table`):
``S * A(1, r) / A(n_s.v, r)`` with the solver's specular normal ``n_s`` and roughness ``r``
at that pixel.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
import OpenEXR

from id2reflectance._shared.imageio import read_exr
from id2reflectance._shared.jsonfile import read_json
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, rasterize_uv
from id2reflectance.errors import InputFileError
from id2reflectance.processing.brdf_table import directional_albedo, normal_incidence_albedo
from id2reflectance.processing.solve.outputs import SOLVE_JSON

if TYPE_CHECKING:
    import open3d as o3d

NormalSource = Literal["specular", "diffuse"]
_MASK_MIN_PX = 1.5  # bilinear samples at >= 1.5 px from the mask border only use valid pixels

# solved map name -> channel count
SOLVED_MAPS: dict[str, int] = {
    "diffuse_albedo": 3,
    "specular_albedo": 1,
    "normal_diffuse": 3,
    "normal_specular": 3,
    "roughness": 1,
    "mask": 1,
}
CONFIDENCE_MAP = "confidence"  # optional solved map (1 channel): multiplies the blending weight
BAKE_INPUT_MAPS = (*SOLVED_MAPS, CONFIDENCE_MAP)
"""Every solved map the bake reads (``id2r solve --maps`` for a solve made only to be baked)."""


@dataclass(frozen=True, eq=False)
class TexelGeometry:
    """Where each texel of an S x S map lies on a mesh.

    covered : (S, S) bool, texel centre inside a UV triangle.
    face_id : (S, S) int64, triangle of each covered texel (-1 elsewhere).
    bary : (S, S, 3) float32 barycentric weights in that triangle.
    points : (S, S, 3) float64 surface points, metres (0 where not covered).
    normals : (S, S, 3) float64 unit interpolated vertex normals (0 where not covered).
    """

    covered: np.ndarray
    face_id: np.ndarray
    bary: np.ndarray
    points: np.ndarray
    normals: np.ndarray

    @property
    def size(self) -> int:
        return int(self.covered.shape[0])


def texel_geometry(mesh: FaceMesh, size: int) -> TexelGeometry:
    """Rasterise ``mesh``'s UV layout at ``size`` and interpolate positions and normals.

    Parameters
    ----------
    mesh : FaceMesh with UVs (OBJ convention), metres.
    size : map size S in texels.
    """
    fid, bary = rasterize_uv(mesh, size)
    covered = fid >= 0
    pts = interpolate(mesh.vertices, mesh.faces, fid, bary)
    nrm = interpolate(mesh.vertex_normals(), mesh.faces, fid, bary)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-30)
    nrm[~covered] = 0.0
    return TexelGeometry(covered=covered, face_id=fid, bary=bary, points=pts, normals=nrm)


@dataclass(frozen=True, eq=False)
class SolvedView:
    """The solver's maps of one camera, in that camera's image (H, W).

    diffuse_albedo : (H, W, 3) float32 linear Rec.709.
    specular_albedo : (H, W) float32, S under the full pattern (at this view).
    normal : (H, W, 3) float32 unit world normals (the chosen source).
    normal_specular : (H, W, 3) float32 unit world specular normals.
    roughness : (H, W) float32 GGX perceptual roughness.
    mask : (H, W) float32, 1 where valid.
    confidence : (H, W) float32 in [0, 1] (the solver's ``confidence.exr``: noise and
        signal per pixel), or None when the solve output has none (weight 1).
    """

    camera: Camera
    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    normal: np.ndarray
    normal_specular: np.ndarray
    roughness: np.ndarray
    mask: np.ndarray
    confidence: np.ndarray | None = None


def missing_map_message(solved_dir: Path, camera: str, name: str) -> str:
    """Why ``SOLVED/<camera>/<name>.exr`` is missing: skipped on purpose by the solve's
    ``--maps`` (its ``solve.json`` config lists the maps it wrote), or not there."""
    written = None
    try:
        written = read_json(solved_dir / SOLVE_JSON).get("config", {}).get("maps")
    except (InputFileError, AttributeError):  # no or unreadable solve.json: say only that it is missing
        pass
    if isinstance(written, list) and name not in written:
        return (
            f"missing: the bake needs {name}.exr, which the solve skipped (it wrote only the maps "
            f"{', '.join(written)}: `id2r solve --maps`); solve again with {name} among --maps or without --maps"
        )
    return f"missing: the solver output for camera '{camera}' has no {name}.exr"


def _read_map(folder: Path, shown: str, name: str, camera: Camera) -> np.ndarray:
    path = folder / f"{name}.exr"
    rel = f"{shown}/{name}.exr"
    if not path.is_file():
        raise InputFileError(rel, None, missing_map_message(folder.parent, camera.name, name))
    try:
        img, names = read_exr(path)
    except InputFileError as err:
        raise InputFileError(rel, None, err.message) from err
    want = SOLVED_MAPS.get(name, 1)
    if img.shape[2] != want:
        raise InputFileError(rel, "channels", f"expected {want} channel(s), got {img.shape[2]} ({','.join(names)})")
    if img.shape[:2] != (camera.height, camera.width):
        raise InputFileError(
            rel,
            None,
            f"is {img.shape[1]}x{img.shape[0]} but camera '{camera.name}' in session.json is "
            f"{camera.width}x{camera.height} (solver output of another session?)",
        )
    if not np.all(np.isfinite(img)):
        raise InputFileError(rel, None, "contains NaN or Inf")
    return img[..., 0] if want == 1 else img


def _exr_header(path: Path, shown: str) -> tuple[int, int, int]:
    """(width, height, channel count) of an OpenEXR file, from its header only."""
    try:
        with OpenEXR.File(str(path), header_only=True) as f:
            header = f.header()  # a view: read it before the file closes
            lo, hi = header["dataWindow"]
            return int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1), len(header["channels"])
    except Exception as err:  # OpenEXR raises RuntimeError for unreadable files
        raise InputFileError(shown, None, f"not a readable OpenEXR file ({err})") from err


def check_solved_dir(solved_dir: str | Path, cameras: dict[str, Camera]) -> None:
    """Check ``solved_dir`` against the session before any heavy work (headers only).

    Every session camera needs a folder with every map, of the camera's size and with
    the right channel count.

    Raises
    ------
    InputFileError
        Naming the missing folder or file, or the map whose size or channels differ.
    """
    solved_dir = Path(solved_dir)
    if not solved_dir.is_dir():
        raise InputFileError(solved_dir, None, "solver output folder not found")
    for name, cam in cameras.items():
        folder = solved_dir / name
        if not folder.is_dir():
            raise InputFileError(
                f"{solved_dir.name}/{name}",
                None,
                f"missing: the session has camera '{name}' but the solver output has no folder for it "
                "(solved from another session?)",
            )
        for m, channels in SOLVED_MAPS.items():
            shown = f"{solved_dir.name}/{name}/{m}.exr"
            if not (folder / f"{m}.exr").is_file():
                raise InputFileError(shown, None, missing_map_message(solved_dir, name, m))
            w, h, c = _exr_header(folder / f"{m}.exr", shown)
            if (w, h) != (cam.width, cam.height):
                raise InputFileError(
                    shown,
                    None,
                    f"is {w}x{h} but camera '{name}' in session.json is {cam.width}x{cam.height} "
                    "(solver output of another session?)",
                )
            if c != channels:
                raise InputFileError(shown, "channels", f"expected {channels} channel(s), got {c}")


def load_solved_view(
    solved_dir: str | Path, camera: Camera, *, normal_source: NormalSource = "specular", workers: int = 0
) -> SolvedView:
    """Read and check ``SOLVED/<camera>/*.exr`` against the session's camera.

    The maps are read by ``workers`` threads (0: one per CPU; the EXR decoder releases the
    GIL); on several bad maps the error names the first in :data:`SOLVED_MAPS` order.
    Raises InputFileError naming the file for a missing folder or map, wrong channel
    count, a size that differs from the camera's, or NaN/Inf.
    """
    solved_dir = Path(solved_dir)
    folder = solved_dir / camera.name
    shown = f"{solved_dir.name}/{camera.name}"
    if not folder.is_dir():
        raise InputFileError(shown, None, f"missing: no solver output folder for camera '{camera.name}'")
    names = list(SOLVED_MAPS) + ([CONFIDENCE_MAP] if (folder / f"{CONFIDENCE_MAP}.exr").is_file() else [])
    threads = min(len(names), workers if workers > 0 else os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(_read_map, folder, shown, name, camera) for name in names]
        maps = {name: f.result() for name, f in zip(names, futures, strict=True)}
    confidence = np.clip(maps[CONFIDENCE_MAP], 0.0, 1.0) if CONFIDENCE_MAP in maps else None
    return SolvedView(
        camera=camera,
        diffuse_albedo=maps["diffuse_albedo"],
        specular_albedo=maps["specular_albedo"],
        normal=maps["normal_specular" if normal_source == "specular" else "normal_diffuse"],
        normal_specular=maps["normal_specular"],
        roughness=maps["roughness"],
        mask=maps["mask"],
        confidence=confidence,
    )


@dataclass(frozen=True)
class ViewWeights:
    """Options of :func:`sample_view` (see the module docstring)."""

    cos_min: float = 0.1  # texels seen more obliquely than acos(cos_min) get no weight
    cos_fallback: float = 0.1  # ... but a fallback weight down to acos(cos_fallback)
    angle_power: float = 2.0
    mask_feather_px: float = 6.0  # image-space ramp from the solver-mask border, pixels
    feather_texels: float = 8.0  # UV-space ramp from occlusion boundaries, texels
    visibility_tolerance_m: float = 0.001
    occluder_tolerance_m: float = 0.002  # the scan may lie this far before the texel along the ray
    occluder_last_resort_m: float = 0.0  # ... and this far (n.v > cos_min): a last-resort sample only
    last_resort: bool = False  # offer last-resort samples (module docstring)
    last_resort_silhouette_px: float = 3.0  # ... only this far from the mask's silhouette, pixels
    last_resort_footprint: float = 1.0  # ... with at least this valid share of the bilinear footprint
    last_resort_max_offset_m: float = 0.0005  # ... at texels moved at most this far onto the scan (offset)
    last_resort_silhouette: bool = False  # ... and, apart, the same samples nearer the silhouette (``silhouette``)


@dataclass(frozen=True, eq=False)
class ViewSamples:
    """One camera's contribution to the covered texels of an S x S map.

    weight : (S, S) float32 in [0, 1], 0 where this camera does not contribute.
    fallback : (S, S) float32 in [0, 1], the weight of the samples seen between
        ``cos_fallback`` and ``cos_min`` (0 elsewhere).
    last_resort : (S, S) float32, n.v of the texels with a last-resort sample (no weight, no
        fallback weight, enough of a bilinear footprint on valid pixels, away from the
        silhouette; ``ViewWeights.last_resort``), 0 elsewhere; None when not asked for.
    silhouette : (S, S) float32, n.v of the texels that would have a last-resort sample but
        lie nearer than ``last_resort_silhouette_px`` to the mask's silhouette (values
        looked up the same way), 0 elsewhere; None unless
        ``ViewWeights.last_resort_silhouette``.
    facing : (S, S) bool, texels this camera sees (unoccluded, in the image) above
        ``cos_min``, whatever their weight.
    diffuse_albedo : (S, S, 3) float32; specular_albedo : (S, S) float32 at normal
    incidence; roughness : (S, S) float32; normal : (S, S, 3) float32 unit world normal.
    Values are 0 where the weight, the fallback weight and ``last_resort`` are 0.
    """

    weight: np.ndarray
    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    roughness: np.ndarray
    normal: np.ndarray
    fallback: np.ndarray | None = None
    facing: np.ndarray | None = None
    last_resort: np.ndarray | None = None
    silhouette: np.ndarray | None = None


def _smoothstep(x: np.ndarray) -> np.ndarray:
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _remap(img: np.ndarray, mx: np.ndarray, my: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Bilinear (or ``interpolation``) samples of (H, W[, C]) ``img`` at float pixel coords (N,): (N[, C]) float32."""
    n = mx.size
    if n == 0:
        return np.zeros((0, *img.shape[2:]), np.float32)
    cols = 4096  # cv2.remap needs maps smaller than 32767 in each dimension
    rows = -(-n // cols)
    pad = rows * cols - n
    xs = np.pad(np.asarray(mx, np.float32), (0, pad)).reshape(rows, cols)
    ys = np.pad(np.asarray(my, np.float32), (0, pad)).reshape(rows, cols)
    out = cv2.remap(
        np.ascontiguousarray(img, np.float32),
        xs,
        ys,
        interpolation=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.reshape(rows * cols, *img.shape[2:])[:n]


def sharp_samples(img: np.ndarray, valid: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bicubic samples of (H, W[, C]) ``img`` at float pixel coords (N,) whose 4 x 4 taps are
    all ``valid`` (H, W) pixels (inside the image), bilinear samples elsewhere: (N[, C]) float32.

    A camera image is already band-limited by its pixels' footprint (and lens); a bilinear
    lookup at a texel's projection blurs it once more (a triangle of variance 1/6 px^2 on
    average over sub-pixel positions), which a bake compared with texel-sharp truth pays for.
    The cubic convolution (``cv2.INTER_CUBIC``) keeps more of the band; it can overshoot at a
    sharp edge, so the caller bounds what must stay in range.
    """
    if mx.size == 0:
        return _remap(img, mx, my)
    h, w = valid.shape
    ok4 = cv2.erode(
        valid.astype(np.uint8),
        np.ones((4, 4), np.uint8),
        anchor=(1, 1),  # pixel (i, j) <- window rows i-1..i+2, columns j-1..j+2: the taps at floor(x), floor(y)
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).astype(bool)
    # cv2.remap takes float32 coordinates rounded to 1/32 pixel: the taps start there
    ix = np.clip(np.floor(np.round(np.asarray(mx, np.float32) * 32.0) / 32.0).astype(np.int64), 0, w - 1)
    iy = np.clip(np.floor(np.round(np.asarray(my, np.float32) * 32.0) / 32.0).astype(np.int64), 0, h - 1)
    sharp = ok4[iy, ix]
    out = np.empty((mx.size, *img.shape[2:]), np.float32)
    out[~sharp] = _remap(img, mx[~sharp], my[~sharp])
    out[sharp] = _remap(img, mx[sharp], my[sharp], cv2.INTER_CUBIC)
    return out


def mask_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 distance in pixels to the nearest invalid pixel or the image border."""
    valid = (np.asarray(mask) > 0.5).astype(np.uint8)
    valid[0, :] = valid[-1, :] = 0
    valid[:, 0] = valid[:, -1] = 0
    return cv2.distanceTransform(valid, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def silhouette_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 distance in pixels to the mask's silhouette: the invalid pixels
    (``mask <= 0.5``) 4-connected to the image border, or the image border itself.
    Invalid pixels enclosed by valid ones (holes) do not count."""
    invalid = (np.asarray(mask) <= 0.5).astype(np.uint8)
    outside = np.zeros(invalid.shape, bool)
    if invalid.any():
        n, labels = cv2.connectedComponents(invalid, connectivity=4)
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        at_border = np.zeros(n, bool)
        at_border[border[border > 0]] = True
        outside = at_border[labels]
    keep = (~outside).astype(np.uint8)
    keep[0, :] = keep[-1, :] = 0
    keep[:, 0] = keep[:, -1] = 0
    return cv2.distanceTransform(keep, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def uv_feather(usable: np.ndarray, covered: np.ndarray, width_texels: float) -> np.ndarray:
    """(S, S) float32 smooth ramp 0 -> 1 over ``width_texels`` away from covered texels
    that are not ``usable`` (texels outside the UV chart do not count as boundaries)."""
    if width_texels <= 0:
        return usable.astype(np.float32)
    blocked = covered & ~usable
    if not blocked.any():
        return usable.astype(np.float32)
    dist = cv2.distanceTransform((~blocked).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (_smoothstep(dist / width_texels) * usable).astype(np.float32)


@dataclass(frozen=True, eq=False)
class ViewVisibility:
    """The covered texels a camera sees, unoccluded and facing it (:func:`view_visibility`).

    texels : (M,) int64 flat indices into the S x S map.
    pix : (M, 2) float64 their image positions (x, y), pixels.
    cos : (M,) float64 cosine between the texel normal and the direction to the camera.
    to_camera : (M, 3) float64 unit directions from the texels to the camera centre.
    relaxed : (M,) bool, texels the scan hides by more than ``occluder_tolerance_m`` but
        at most ``occluder_last_resort_m`` (a last-resort sample only), or None.
    """

    texels: np.ndarray
    pix: np.ndarray
    cos: np.ndarray
    to_camera: np.ndarray
    relaxed: np.ndarray | None = None


def view_visibility(
    geometry: TexelGeometry,
    camera: Camera,
    scene: o3d.t.geometry.RaycastingScene,
    options: ViewWeights,
    occluder: o3d.t.geometry.RaycastingScene | None = None,
    offset: np.ndarray | None = None,
) -> ViewVisibility:
    """What :func:`sample_view` needs from the geometry and the camera alone: the texels
    inside the image, facing the camera more than ``min(options.cos_min,
    options.cos_fallback)`` and unoccluded (the
    first hit from the camera is the texel's own surface point, within
    ``options.visibility_tolerance_m``; with ``occluder``, a scene of the scan, the scan
    is not hit more than ``options.occluder_tolerance_m`` before it either: ears and
    folds the template's surface does not hold still hide what lies behind them).
    ``offset``: (S*S,) float64 metres, how far each texel's point was moved off the mesh
    onto the scan (the length of ``PreparedMesh.surface_offset``): the mesh test then
    allows the mesh in front of the point by that much more along the ray (``offset / n.v``,
    n.v at least 0.1)."""
    idx = np.flatnonzero(geometry.covered.ravel())
    p = geometry.points.reshape(-1, 3)[idx]
    n = geometry.normals.reshape(-1, 3)[idx]
    centre = camera.center
    to_cam = centre - p
    dist = np.linalg.norm(to_cam, axis=1)
    v = to_cam / np.maximum(dist[:, None], 1e-12)
    cos = np.sum(n * v, axis=1)
    pix, depth = camera.project(p)
    ok = (cos > min(options.cos_min, options.cos_fallback)) & (depth > 0)
    ok &= (pix[:, 0] >= 0) & (pix[:, 0] <= camera.width - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= camera.height - 1)
    sel = np.flatnonzero(ok)
    if sel.size:
        t_hit, _, _ = cast_rays(scene, centre[None, :], -v[sel])
        tol = options.visibility_tolerance_m
        if offset is not None:
            tol = tol + np.abs(offset[idx[sel]]) / np.maximum(cos[sel], 0.1)
        ok[sel] = t_hit >= dist[sel] - tol
    relaxed = None
    if occluder is not None:
        sel = np.flatnonzero(ok)
        if sel.size:
            t_hit, _, _ = cast_rays(occluder, centre[None, :], -v[sel])
            before = dist[sel] - t_hit  # how far before the point the scan is hit (-inf: not hit)
            strict = before <= options.occluder_tolerance_m
            ok[sel] = strict
            if options.occluder_last_resort_m > options.occluder_tolerance_m:
                relaxed = np.zeros(ok.size, bool)
                relaxed[sel] = ~strict & (before <= options.occluder_last_resort_m) & (cos[sel] > options.cos_min)
                ok |= relaxed
    sel = np.flatnonzero(ok)
    return ViewVisibility(
        texels=idx[sel], pix=pix[sel], cos=cos[sel], to_camera=v[sel], relaxed=None if relaxed is None else relaxed[sel]
    )


def sample_view(
    geometry: TexelGeometry,
    view: SolvedView,
    scene: o3d.t.geometry.RaycastingScene,
    options: ViewWeights,
    visibility: ViewVisibility | None = None,
    occluder: o3d.t.geometry.RaycastingScene | None = None,
    offset: np.ndarray | None = None,
) -> ViewSamples:
    """Weights and bilinear samples of one camera's solved maps at the covered texels.

    Parameters
    ----------
    geometry : texel points and normals of the registered mesh (world, metres).
    view : the camera and its solved maps.
    scene : Open3D ``RaycastingScene`` holding the registered mesh (occlusion test).
    options : ViewWeights.
    visibility : :func:`view_visibility` of this geometry, camera and options, when the
        caller keeps it (computed when None).
    occluder : Open3D ``RaycastingScene`` of the scan, or None (:func:`view_visibility`).
    offset : (S*S,) the texel points' offsets from the mesh, or None (:func:`view_visibility`).
    """
    s = geometry.size
    if visibility is None:
        vis = view_visibility(geometry, view.camera, scene, options, occluder, offset)
    else:
        vis = visibility
    mx, my = vis.pix[:, 0], vis.pix[:, 1]
    dmask = _remap(mask_distance(view.mask), mx, my)
    w_mask = _smoothstep((dmask - _MASK_MIN_PX) / max(options.mask_feather_px, 1e-6)) * (dmask >= _MASK_MIN_PX)
    mask_val = np.clip(_remap(view.mask, mx, my), 0.0, 1.0)
    main = vis.cos > options.cos_min
    w_angle = np.clip((vis.cos - options.cos_min) / (1.0 - options.cos_min), 0.0, None) ** options.angle_power
    fb = min(options.cos_fallback, options.cos_min)
    w_fb = np.where(main, 0.0, ((vis.cos - fb) / (1.0 - fb)) ** options.angle_power)
    w_px = w_mask * mask_val
    if view.confidence is not None:  # noisy pixels (low solver confidence) contribute less
        w_px = w_px * np.clip(_remap(view.confidence, mx, my), 0.0, 1.0)
    if vis.relaxed is not None:  # hidden by the scan within occluder_last_resort_m: last resort only
        main = main & ~vis.relaxed
        w_fb = np.where(vis.relaxed, 0.0, w_fb)
    w = (w_angle * w_px * main).astype(np.float32)

    weight = np.zeros(s * s, np.float32)
    weight[vis.texels] = w
    weight = weight.reshape(s, s)
    weight *= uv_feather(weight > 0, geometry.covered, options.feather_texels)
    fallback = np.zeros(s * s, np.float32)
    fallback[vis.texels] = (w_fb * w_px).astype(np.float32)
    fallback = fallback.reshape(s, s)
    facing = np.zeros(s * s, bool)
    facing[vis.texels[main]] = True

    valid = np.asarray(view.mask) > 0.5
    sampled = (weight.ravel()[vis.texels] > 0) | (fallback.ravel()[vis.texels] > 0)
    partial = np.zeros(vis.texels.size, bool)  # last-resort samples of a partly valid footprint
    last = edge = None
    if options.last_resort:
        border = dmask < _MASK_MIN_PX
        if vis.relaxed is not None:
            border = border | vis.relaxed
        cand = np.flatnonzero(~sampled & border)  # declined by the mask border's distance (or the scan's margin) only
        if view.confidence is not None:
            cand = cand[_remap(view.confidence, mx[cand], my[cand]) >= 0.5]
        # the valid share of the bilinear footprint (the same sampler as the values: a pixel
        # of zero weight is not mixed), and far enough from the silhouette
        share = _remap(valid.astype(np.float32), mx[cand], my[cand])
        keep = share >= options.last_resort_footprint - 1e-6
        far = _remap(silhouette_distance(view.mask), mx[cand], my[cand]) >= options.last_resort_silhouette_px
        if offset is not None:  # the point moved far onto the scan: its position is not sub-pixel sure
            keep &= np.abs(offset[vis.texels[cand]]) <= options.last_resort_max_offset_m
        if options.last_resort_silhouette:  # beside the silhouette: kept apart (only a guide)
            near = cand[keep & ~far]
            partial[near[share[keep & ~far] < 1.0 - 1e-6]] = True
            edge = np.zeros(s * s, np.float32)
            edge[vis.texels[near]] = np.maximum(vis.cos[near], 1e-6).astype(np.float32)
            sampled[near] = True
            edge = edge.reshape(s, s)
        keep &= far
        partial[cand[keep & (share < 1.0 - 1e-6)]] = True
        cand = cand[keep]
        last = np.zeros(s * s, np.float32)
        last[vis.texels[cand]] = np.maximum(vis.cos[cand], 1e-6).astype(np.float32)
        sampled[cand] = True
        last = last.reshape(s, s)
    use = np.flatnonzero(sampled)
    tex = vis.texels[use]
    mx, my = mx[use], my[use]
    part = partial[use]
    valid_f = valid.astype(np.float32)

    def lookup(img: np.ndarray, sharp: bool = False) -> np.ndarray:
        out = sharp_samples(img, valid, mx, my) if sharp else _remap(img, mx, my)
        if part.any():  # mask-normalised: the valid pixels of the footprint only
            masked = img * (valid_f[..., None] if img.ndim == 3 else valid_f)
            den = _remap(valid_f, mx[part], my[part])
            out[part] = _remap(masked, mx[part], my[part]) / np.maximum(den, 1e-6).reshape(-1, *([1] * (img.ndim - 2)))
        return out

    alb = np.zeros((s * s, 3), np.float32)
    alb[tex] = np.maximum(lookup(view.diffuse_albedo, sharp=True), 0.0)
    rough_s = lookup(view.roughness)
    nspec = lookup(view.normal_specular)
    nspec /= np.maximum(np.linalg.norm(nspec, axis=1, keepdims=True), 1e-12)
    mu = np.clip(np.sum(nspec * vis.to_camera[use], axis=1), options.cos_min, 1.0)  # grazing: bounded k
    spec_s = lookup(view.specular_albedo) * normal_incidence_albedo(rough_s) / directional_albedo(mu, rough_s)
    spec = np.zeros(s * s, np.float32)
    spec[tex] = spec_s
    rough = np.zeros(s * s, np.float32)
    rough[tex] = rough_s
    nrm = np.zeros((s * s, 3), np.float32)
    ns = lookup(view.normal, sharp=True)
    nrm[tex] = ns / np.maximum(np.linalg.norm(ns, axis=1, keepdims=True), 1e-12)
    return ViewSamples(
        weight=weight,
        diffuse_albedo=alb.reshape(s, s, 3),
        specular_albedo=spec.reshape(s, s),
        roughness=rough.reshape(s, s),
        normal=nrm.reshape(s, s, 3),
        fallback=fallback,
        facing=facing.reshape(s, s),
        last_resort=last,
        silhouette=edge,
    )
