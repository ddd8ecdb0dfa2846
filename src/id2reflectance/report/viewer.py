"""The interactive WebGL2 asset viewer of the HTML report (data + markup; the script is
``viewer.js`` beside this module, inlined into the page).

The page shades the asset as ``id2r relight`` does for an image environment
(:func:`id2reflectance.processing.relight.ibl.shade_fast`, default ``hybrid`` specular: split
sum where n.v >= 0.5, filtered importance sampling with 4 x 8 GGX visible-normal samples
below): the same irradiance table, the same GGX-prefiltered levels (19 roughness levels,
linear in roughness between them), the same directional albedo table ``A(n.v, r)`` and GGX
scale ``k = specular_albedo / A(1, r)``, the shading normal ``normal_object`` in the mesh
frame, then the same tone curve (:func:`id2reflectance._shared.imageio.tone_map`). What the page
changes for size: the maps are area-downsampled to ``map_size`` texels and stored as half
floats, the prefiltered levels are resampled to ``env_rows`` x ``2 env_rows`` (the rough
ones to half that), and the background (the environment itself) to ``2 env_rows`` rows.

Every array travels as base64 of its little-endian bytes, zlib-deflated (the page inflates
with the browser's ``DecompressionStream``): nothing is fetched, the page works from
``file://``.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from id2reflectance.errors import ConfigError
from id2reflectance.processing.asset import Asset
from id2reflectance.processing.brdf_table import directional_albedo, specular_scale, table_grid
from id2reflectance.processing.relight.envmap import (
    LUMA,
    bilinear_latlong,
    builtin_environments,
    downsample_latlong,
    latlong_directions,
    load_environment,
)
from id2reflectance.processing.relight.ibl import prefilter
from id2reflectance.processing.relight.render import orbit_cameras
from id2reflectance.report import html as H

HALF_MAX = 65000.0  # half floats saturate at 65504


@dataclass(frozen=True)
class ViewerConfig:
    """Size of the viewer's data in the page.

    map_size : texels per side of the maps in the page (area-downsampled; larger assets only).
    env_rows : rows of each prefiltered environment level (columns = 2 rows).
    environments : built-in environment names to include; None = every installed one.
    fov_deg : vertical field of view of the viewer camera (the relight orbit camera's).
    """

    map_size: int = 512
    env_rows: int = 64
    environments: tuple[str, ...] | None = None
    fov_deg: float = 20.0

    def __post_init__(self) -> None:
        if self.map_size < 16 or self.map_size & (self.map_size - 1):
            raise ConfigError(f"viewer map_size must be a power of two >= 16, got {self.map_size}")
        if self.env_rows < 8 or self.env_rows & (self.env_rows - 1):
            raise ConfigError(f"viewer env_rows must be a power of two >= 8, got {self.env_rows}")


def _blob(a: np.ndarray, dtype: str) -> dict:
    """Array -> {"dtype", "deflate", "shuffle", "data"}: the little-endian bytes regrouped by
    byte position (all first bytes, then all second bytes, ...: the exponent bytes of floats
    compress far better together), zlib-deflated, base64."""
    np_type = {"f16": "<f2", "f32": "<f4", "u16": "<u2", "u32": "<u4"}[dtype]
    arr = np.asarray(a)
    if dtype == "f16":
        arr = np.clip(np.nan_to_num(arr), -HALF_MAX, HALF_MAX)
    flat = np.ascontiguousarray(arr.astype(np_type)).reshape(-1)
    raw = flat.view(np.uint8).reshape(-1, flat.itemsize).T.tobytes()
    data = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    return {"dtype": dtype, "deflate": True, "shuffle": int(flat.itemsize), "data": data}


def resample_latlong(img: np.ndarray, rows: int) -> np.ndarray:
    """(h, w, C) lat-long image -> (rows, 2 rows, C) float32: solid-angle-weighted halving
    while the image is at least twice as large, then a bilinear lookup at the target's
    texel centres (wrapping in azimuth)."""
    a = np.asarray(img, np.float32)
    while a.shape[0] >= 2 * rows and a.shape[1] >= 4 * rows and a.shape[0] % 2 == 0 and a.shape[1] % 2 == 0:
        a = downsample_latlong(a)
    if a.shape[:2] == (rows, 2 * rows):
        return a
    d = latlong_directions(rows).reshape(-1, 3)
    return bilinear_latlong(a, d).reshape(rows, 2 * rows, -1).astype(np.float32)


@lru_cache(maxsize=16)
def environment_tables(
    name: str, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, ...]]:
    """Tables of one built-in environment for the page (cached per process).

    Returns
    -------
    irradiance : (64, 256, 3) float32, the relight irradiance table (unchanged).
    background : (2 rows, 4 rows, 3) float32, the environment itself (what is seen past the head).
    sharp : (Ls, rows, 2 rows, 3) float32 GGX-prefiltered radiance of the first Ls levels.
    rough : (Lr, rows / 2, rows, 3) float32 the remaining levels, whose relight tables have
        at most rows / 2 rows (so nothing is lost at the smaller size).
    roughness : the Ls + Lr roughness levels.
    """
    env = load_environment(name)
    pre = prefilter(env)
    background = resample_latlong(env.radiance, 2 * rows)
    n_sharp = sum(1 for lv in pre.levels if lv.shape[0] > rows // 2)
    n_sharp = max(1, min(n_sharp, len(pre.levels) - 1))
    sharp = np.stack([resample_latlong(lv, rows) for lv in pre.levels[:n_sharp]])
    rough = np.stack([resample_latlong(lv, rows // 2) for lv in pre.levels[n_sharp:]])
    return pre.irradiance, background, sharp, rough, tuple(float(r) for r in pre.roughness)


def _downsample(a: np.ndarray, size: int) -> np.ndarray:
    if a.shape[0] <= size:
        return np.asarray(a, np.float32)
    out = cv2.resize(np.asarray(a, np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return out.reshape(size, size, *a.shape[2:])


def _auto_exposure(albedo: np.ndarray, normals: np.ndarray, seen: np.ndarray, irradiance: np.ndarray) -> float:
    """Exposure (stops) putting the median diffuse luminance of the texels facing the
    default camera (n.z > 0.5) at 0.25, the key of relight's auto exposure."""
    sel = seen & (normals[..., 2] > 0.5)
    if not sel.any():
        sel = seen if seen.any() else np.ones(seen.shape, bool)
    e = bilinear_latlong(irradiance, normals[sel].astype(np.float64))
    lum = (albedo[sel].astype(np.float64) * e / np.pi) @ LUMA
    key = float(np.median(lum)) if lum.size else 0.0
    return float(np.log2(0.25 / key)) if key > 0 else 0.0


def viewer_data(asset: Asset, *, config: ViewerConfig = ViewerConfig(), confidence: np.ndarray | None = None) -> dict:
    """Everything the page's viewer needs, as a JSON-serialisable dict.

    Parameters
    ----------
    asset : a read asset (mesh frame = viewer world frame).
    confidence : optional (S, S) float map in [0, 1] (the solver's confidence), shown as a view.

    Returns
    -------
    dict with ``mesh`` (positions (V, 3) float32 metres, uvs (V, 2) float32, indices),
    ``maps`` (size and three RGBA half-float textures: diffuse albedo + GGX scale k, unit
    normal + roughness, specular albedo + coverage + confidence), ``dfg`` (the 64 x 64
    directional albedo table), ``levels`` (roughness of each prefiltered level),
    ``environments`` (irradiance table, prefiltered levels and a default exposure each) and
    ``camera`` (centre, distance and field of view of relight's frontal orbit camera).
    """
    names = config.environments if config.environments is not None else tuple(builtin_environments())
    if not names:
        raise ConfigError("the viewer needs at least one environment: install Debian's blender-data")
    m = asset.maps
    s = min(config.map_size, m.size)
    k = specular_scale(m.specular_albedo, m.roughness).astype(np.float32)
    albedo = _downsample(m.diffuse_albedo, s)
    normals = _downsample(m.normal_object, s)
    normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
    rough = _downsample(m.roughness, s)
    spec = _downsample(m.specular_albedo, s)
    cov = _downsample(m.coverage, s)
    conf = _downsample(confidence, s) if confidence is not None else np.zeros((s, s), np.float32)
    tex_a = np.concatenate([albedo, _downsample(k, s)[..., None]], -1)
    tex_b = np.concatenate([normals, rough[..., None]], -1)
    tex_c = np.stack([spec, cov, conf, np.ones_like(spec)], -1)
    mesh = asset.mesh
    nv = len(mesh.vertices)
    idx_type = "u16" if nv < 65536 else "u32"
    theta, rough_grid = table_grid()
    table = directional_albedo(np.cos(theta)[:, None], rough_grid[None, :])  # the shipped table at its nodes
    envs = []
    levels: tuple[float, ...] = ()
    seen = cov > 0
    for name in names:
        irr, background, sharp, rough_lv, levels = environment_tables(name, config.env_rows)
        envs.append(
            {
                "name": name,
                "irr_rows": int(irr.shape[0]),
                "irr_cols": int(irr.shape[1]),
                "irradiance": _blob(irr, "f16"),
                "rows": config.env_rows,
                "background": _blob(background, "f16"),
                "sharp_levels": int(sharp.shape[0]),
                "sharp": _blob(sharp, "f16"),
                "rough": _blob(rough_lv, "f16"),
                "exposure_stops": round(_auto_exposure(albedo, normals, seen, irr), 3),
            }
        )
    cam = orbit_cameras(mesh, 1, size=8, fov_deg=config.fov_deg)[0]
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    centre = 0.5 * (lo + hi)
    finite_spec = spec[seen] if seen.any() else spec.ravel()
    return {
        "mesh": {
            "positions": _blob(mesh.vertices, "f32"),
            "uvs": _blob(mesh.uvs, "f32"),
            "indices": _blob(mesh.faces.ravel(), idx_type),
            "count": int(mesh.faces.size),
        },
        "maps": {
            "size": s,
            "a": _blob(tex_a, "f16"),
            "b": _blob(tex_b, "f16"),
            "c": _blob(tex_c, "f16"),
            "specular_hi": float(max(np.percentile(finite_spec, 99), 1e-6)) if finite_spec.size else 1.0,
            "has_confidence": confidence is not None,
        },
        "dfg": {
            "n": int(table.shape[0]),
            "theta_max": float(theta[-1]),
            "r_min": float(rough_grid[0]),
            "table": _blob(table, "f16"),
        },
        "levels": list(levels),
        "environments": envs,
        "camera": {
            "centre": [float(x) for x in centre],
            "distance": float(np.linalg.norm(cam.center - centre)),
            "fov_deg": config.fov_deg,
            "elevation_deg": 0.0,
        },
    }


VIEW_LABELS = (
    ("lit", "lit (diffuse + specular)"),
    ("diffuse", "lit diffuse only"),
    ("specular", "lit specular only"),
    ("diffuse_albedo", "diffuse albedo"),
    ("specular_albedo", "specular albedo"),
    ("roughness", "roughness"),
    ("normals", "normals (object)"),
    ("coverage", "coverage"),
    ("confidence", "confidence"),
)

VIEWER_CSS = """
.viewer{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}
#id2r-canvas{width:512px;height:512px;background:#222;border-radius:4px;touch-action:none;cursor:grab}
.controls{display:grid;grid-template-columns:auto auto;gap:6px 10px;align-items:center;font-size:13px}
.controls button{padding:3px 10px}
"""


def viewer_script() -> str:
    """The viewer's JavaScript source (viewer.js), to inline into the page."""
    return resources.files("id2reflectance.report").joinpath("viewer.js").read_text(encoding="utf-8")


def viewer_section(asset: Asset, *, config: ViewerConfig = ViewerConfig(), confidence: np.ndarray | None = None) -> str:
    """HTML of the viewer: canvas, controls, the JSON data and the inlined script."""
    data = viewer_data(asset, config=config, confidence=confidence)
    env_opts = "".join(f'<option value="{H.esc(e["name"])}">{H.esc(e["name"])}</option>' for e in data["environments"])
    views = [(v, label) for v, label in VIEW_LABELS if v != "confidence" or confidence is not None]
    view_opts = "".join(f'<option value="{v}">{H.esc(label)}</option>' for v, label in views)
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        f"<style>{VIEWER_CSS}</style>"
        "<h3>Viewer</h3>"
        "<p>Drag to orbit, wheel to zoom. Shading as <code>id2r relight</code>: "
        "diffuse albedo under the irradiance of the environment, GGX specular from prefiltered "
        f"levels; maps at {data['maps']['size']} texels, environments at {config.env_rows} rows.</p>"
        '<div class="viewer"><canvas id="id2r-canvas" width="512" height="512"></canvas>'
        '<div class="controls">'
        f'<label for="id2r-env">environment</label><select id="id2r-env">{env_opts}</select>'
        '<label for="id2r-rot">rotation <span id="id2r-rot-value">0</span> deg</label>'
        '<input id="id2r-rot" type="range" min="-180" max="180" step="1" value="0">'
        '<label for="id2r-exposure">exposure <span id="id2r-exposure-value">0</span> stops</label>'
        '<input id="id2r-exposure" type="range" min="-8" max="8" step="0.1" value="0">'
        f'<label for="id2r-view">show</label><select id="id2r-view">{view_opts}</select>'
        '<button id="id2r-lit" type="button">lit / unlit</button>'
        '<button id="id2r-reset" type="button">reset camera</button>'
        "</div></div>"
        f'<script type="application/json" id="id2r-viewer-data">{payload}</script>'
        f"<script>{viewer_script()}</script>"
    )
