"""Procedural human head: the template mesh (fixed topology, UVs, landmarks) and subject shapes.

Every head is a structured grid of rays from the origin: ring ``i`` (polar angle
``theta_i`` from +y) times column ``j`` (azimuth ``phi_j`` around +y, ``phi = 0`` facing
+z). Along each ray the vertex is the outermost crossing of an implicit head surface
(skull superellipsoid, face and jaw mass, neck, nose, brow ridge, eye sockets with closed
lids, cheekbones, lips, chin and ears, blended with smooth unions). Subjects change the
implicit surface, never the grid, so vertex order, triangles, UVs and landmark indices are
the same for every subject.

Frame: metres, right-handed, y up, the face looks toward +z, the subject's left is +x.
The neutral head is about 0.235 m from the crown to the underside of the chin (0.230 m to
the chin landmark), with its eyes near y = 0.01; a neck stub, open at the bottom,
continues below the chin.

UV layout: one cylindrical chart, ``u`` from azimuth (``u = 0.5`` at the front, seam at the
back, ``u = 0`` and ``u = 1`` duplicated) and ``v`` from polar angle (``v = 1`` at the crown),
both warped so that the face gets most of the texture (see ``docs/template.md``).

Regenerate the shipped file with ``python -m id2reflectance.capture.geometry.template_mesh OUT.obj``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh, read_obj, write_obj
from id2reflectance.errors import ConfigError

log = logging.getLogger(__name__)

GRID_RINGS = 150  # vertex rings below the crown
GRID_COLUMNS = 184  # columns around the head (the seam column is stored twice)
THETA_MAX_DEG = 162.0  # polar angle of the open bottom ring of the neck stub
PHI_WARP = 0.6  # u -> azimuth warp: phi = pi * ((1 - a) x + a x^3), x = 2u - 1
TEMPLATE_FILE = "template_head.obj"
TEMPLATE_NAME = "id2r-procedural-head-v1"

# Landmark targets: points (neutral head, metres) whose ray from the origin picks the vertex.
LANDMARK_TARGETS: dict[str, tuple[float, float, float]] = {
    "eye_outer_left": (0.0465, 0.0095, 0.080),
    "eye_inner_left": (0.0165, 0.0095, 0.085),
    "eye_inner_right": (-0.0165, 0.0095, 0.085),
    "eye_outer_right": (-0.0465, 0.0095, 0.080),
    "nasion": (0.0, 0.018, 0.092),
    "nose_tip": (0.0, -0.0175, 0.118),
    "mouth_left": (0.0235, -0.0502, 0.090),
    "mouth_right": (-0.0235, -0.0502, 0.090),
    "chin": (0.0, -0.103, 0.080),
}

_NEUTRAL = {"width": 0.148, "height": 0.235, "depth": 0.196}
_FACTOR_RANGE = (0.6, 1.4)


@dataclass(frozen=True)
class HeadParams:
    """Shape of one head. Sizes in metres; the other fields are unitless factors (1 = neutral).

    The three sizes scale the whole head (x, y, z); the factors change one feature each.
    """

    width: float = 0.148  # head breadth without ears (x), metres
    height: float = 0.235  # crown to chin (y), metres
    depth: float = 0.196  # brow to back of the skull (z), metres
    jaw_width: float = 1.0  # width of the lower face at the jaw angle
    chin: float = 1.0  # chin prominence
    nose_length: float = 1.0  # nasion to tip
    nose_width: float = 1.0  # width of the alae and the tip
    nose_projection: float = 1.0  # how far the tip stands out of the face
    brow_ridge: float = 1.0  # brow ridge prominence
    eye_socket_depth: float = 1.0  # depth of the orbits
    cheekbones: float = 1.0  # zygomatic prominence
    lip_fullness: float = 1.0  # lip thickness and projection
    ear_size: float = 1.0  # size of the (simplified) ears

    def __post_init__(self) -> None:
        for name, neutral in _NEUTRAL.items():
            value = getattr(self, name)
            if not (0.75 * neutral <= value <= 1.25 * neutral):
                raise ConfigError(f"HeadParams.{name} must be within 25% of {neutral} m, got {value!r}")
        for f in fields(self):
            if f.name in _NEUTRAL:
                continue
            value = getattr(self, f.name)
            if not (_FACTOR_RANGE[0] <= value <= _FACTOR_RANGE[1]):
                raise ConfigError(f"HeadParams.{f.name} must be in {list(_FACTOR_RANGE)}, got {value!r}")

    @classmethod
    def random(cls, rng: np.random.Generator, *, sex: Literal["female", "male"] | None = None) -> HeadParams:
        """A plausible random head (truncated normal variation around the neutral shape).

        ``sex`` shifts the means (male: larger head, wider jaw, stronger brow and chin).
        """
        m = {"female": -1.0, "male": 1.0, None: 0.0}[sex]

        def size(neutral: float, rel_sd: float, shift: float) -> float:
            return float(neutral * (1 + shift * m + rel_sd * np.clip(rng.normal(), -2.0, 2.0)))

        def factor(sd: float, shift: float = 0.0) -> float:
            return float(np.clip(1 + shift * m + sd * np.clip(rng.normal(), -2.0, 2.0), 0.65, 1.35))

        return cls(
            width=size(0.148, 0.035, 0.02),
            height=size(0.235, 0.03, 0.02),
            depth=size(0.196, 0.03, 0.02),
            jaw_width=factor(0.07, 0.05),
            chin=factor(0.12, 0.06),
            nose_length=factor(0.08, 0.03),
            nose_width=factor(0.09, 0.04),
            nose_projection=factor(0.1, 0.03),
            brow_ridge=factor(0.12, 0.12),
            eye_socket_depth=factor(0.1),
            cheekbones=factor(0.1),
            lip_fullness=factor(0.12, -0.05),
            ear_size=factor(0.08, 0.03),
        )

    def to_json(self) -> dict[str, float]:
        """Plain dict of the fields (JSON-able)."""
        return {k: float(v) for k, v in asdict(self).items()}


# ------------------------------------------------------------------ implicit surface


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (blend width k metres)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _smax(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    return -_smin(-a, -b, k)


_Vec = tuple[float, float, float]


def _ellipsoid(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: _Vec, r: _Vec) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (exact on the surface)."""
    px, py, pz = (x - c[0]) / r[0], (y - c[1]) / r[1], (z - c[2]) / r[2]
    k0 = np.sqrt(px * px + py * py + pz * pz)
    k1 = np.sqrt((px / r[0]) ** 2 + (py / r[1]) ** 2 + (pz / r[2]) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _superellipsoid(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: _Vec, r: _Vec, e: float) -> np.ndarray:
    f = np.abs((x - c[0]) / r[0]) ** e + np.abs((y - c[1]) / r[1]) ** e + np.abs((z - c[2]) / r[2]) ** e
    return (f ** (1.0 / e) - 1.0) * min(r)


def _sphere(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: _Vec, radius: float) -> np.ndarray:
    return np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) - radius


def _capsule(x: np.ndarray, y: np.ndarray, z: np.ndarray, a: _Vec, b: _Vec, ra: float, rb: float) -> np.ndarray:
    """Distance to a capsule whose radius goes linearly from ra (at a) to rb (at b)."""
    ab = np.subtract(b, a)
    px, py, pz = x - a[0], y - a[1], z - a[2]
    h = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / float(ab @ ab), 0.0, 1.0)
    dx, dy, dz = px - h * ab[0], py - h * ab[1], pz - h * ab[2]
    return np.sqrt(dx * dx + dy * dy + dz * dz) - (ra + (rb - ra) * h)


def head_sdf(q: np.ndarray, params: HeadParams) -> np.ndarray:
    """Implicit head in neutral-size coordinates: < 0 inside, ~ signed distance (metres).

    Parameters
    ----------
    q : (N, 3) float64 points, metres, in the frame of a neutral-size head (the head's
        width, height and depth are applied afterwards by scaling).
    params : the shape factors (sizes are ignored here).

    Returns
    -------
    (N,) float64.
    """
    p = params
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    ax = np.abs(x)  # mirror-symmetric features

    d = _superellipsoid(x, y, z, (0.0, 0.022, -0.006), (0.074, 0.103, 0.097), 2.3)
    # face and jaw mass, narrowing smoothly toward the chin
    yf = (y + 0.04) / 0.075
    taper = 0.94 + 0.12 * np.tanh(1.5 * yf) + 0.15 * (p.jaw_width - 1.0) * (1.0 - np.tanh(yf))
    d = _smin(d, _superellipsoid(x / taper, y, z, (0.0, -0.04, 0.025), (0.064, 0.075, 0.07), 2.6), 0.02)
    # neck stub: elliptic cylinder leaning forward below the head, open at the bottom
    neck_z = -0.015 - 0.15 * (y + 0.05)
    neck = (np.sqrt((x / 0.051) ** 2 + ((z - neck_z) / 0.05) ** 2) - 1.0) * 0.05
    d = _smin(d, np.maximum(_smax(neck, y + 0.03, 0.03), -0.26 - y), 0.03)
    # chin
    d = _smin(d, _ellipsoid(x, y, z, (0.0, -0.097, 0.066), (0.02, 0.014, 0.016 * p.chin)), 0.014)
    # cheekbones
    d = _smin(d, _ellipsoid(ax, y, z, (0.046, -0.008, 0.058), (0.026, 0.018, 0.018 * p.cheekbones)), 0.02)
    # brow ridge
    d = _smin(d, _ellipsoid(x, y, z, (0.0, 0.031, 0.073), (0.052, 0.011, 0.0205 * p.brow_ridge)), 0.012)
    # eye sockets, then closed lids over the eyeballs
    sock = _ellipsoid(ax, y, z, (0.033, 0.012, 0.098), (0.021, 0.015, 0.018 * p.eye_socket_depth))
    d = _smax(d, -sock, 0.006)
    d = _smin(d, _sphere(ax, y, z, (0.033, 0.009, 0.070), 0.0135), 0.005)
    # nose: bridge, tip and alae
    tip_y = 0.016 - 0.034 * p.nose_length
    tip_z = 0.088 + 0.026 * p.nose_projection
    nw = p.nose_width
    nose = _capsule(x, y, z, (0.0, 0.018, 0.088), (0.0, tip_y + 0.003, tip_z - 0.006), 0.005, 0.0075 * nw)
    nose = _smin(nose, _ellipsoid(x, y, z, (0.0, tip_y - 0.001, tip_z - 0.0095), (0.0105 * nw, 0.0095, 0.0095)), 0.006)
    nose = _smin(nose, _sphere(ax, y, z, (0.0135 * nw, tip_y - 0.006, 0.0925), 0.0085), 0.006)
    d = _smin(d, nose, 0.008)
    # lips and the mouth line
    lf = p.lip_fullness
    d = _smin(d, _ellipsoid(x, y, z, (0.0, -0.0435, 0.094), (0.026, 0.0065 * lf, 0.009 * lf)), 0.008)
    d = _smin(d, _ellipsoid(x, y, z, (0.0, -0.057, 0.0915), (0.023, 0.007 * lf, 0.0095 * lf)), 0.008)
    d = _smax(d, -_ellipsoid(x, y, z, (0.0, -0.0502, 0.104), (0.025, 0.0011, 0.016)), 0.0015)
    # ears
    es = p.ear_size
    d = _smin(d, _ellipsoid(ax, y, z, (0.0735, 0.002, -0.010), (0.010 * es, 0.030 * es, 0.019 * es)), 0.006)
    return d


# ------------------------------------------------------------------ grid and UVs


def _theta_of_t(t: np.ndarray) -> np.ndarray:
    """Polar angle (radians) of rings at parameter t in (0, 1]; denser over the face."""
    th = np.linspace(0.0, np.radians(THETA_MAX_DEG), 4001)
    deg = np.degrees(th)
    plateau = 1.0 / (1.0 + np.exp(-(deg - 38.0) / 5.0)) / (1.0 + np.exp((deg - 150.0) / 5.0))
    density = 0.45 + plateau
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(th))])
    return np.interp(t, cum / cum[-1], th)


def _phi_of_u(u: np.ndarray) -> np.ndarray:
    """Azimuth (radians, 0 = front, +pi/2 = subject's left) of column parameter u in [0, 1]."""
    x = 2.0 * u - 1.0
    return np.pi * ((1.0 - PHI_WARP) * x + PHI_WARP * x**3)


@dataclass(frozen=True, eq=False)
class _Grid:
    dirs: np.ndarray  # (V, 3) unit ray directions (pole copies share +y)
    uvs: np.ndarray  # (V, 2)
    faces: np.ndarray  # (F, 3) int64
    ring_index: np.ndarray  # (rings, columns + 1) vertex index of ring vertices


@lru_cache(maxsize=1)
def _grid() -> _Grid:
    nr, nc = GRID_RINGS, GRID_COLUMNS
    t = np.arange(1, nr + 1) / nr
    theta = _theta_of_t(t)
    u = np.arange(nc + 1) / nc
    phi = _phi_of_u(u)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    ring_dirs = np.stack([np.sin(th) * np.sin(ph), np.cos(th), np.sin(th) * np.cos(ph)], axis=-1)
    ring_uv = np.stack(np.broadcast_arrays(u[None, :], 1.0 - t[:, None]), axis=-1)
    # crown: one copy of the pole per column (one UV each), fan triangles to ring 0
    pole_dirs = np.tile([0.0, 1.0, 0.0], (nc, 1))
    pole_uv = np.stack([(np.arange(nc) + 0.5) / nc, np.ones(nc)], axis=1)
    dirs = np.concatenate([pole_dirs, ring_dirs.reshape(-1, 3)])
    uvs = np.concatenate([pole_uv, ring_uv.reshape(-1, 2)])
    ring = nc + np.arange(nr * (nc + 1)).reshape(nr, nc + 1)
    j = np.arange(nc)
    fan = np.stack([j, ring[0, j], ring[0, j + 1]], axis=1)
    a, b = ring[:-1, :-1], ring[:-1, 1:]
    c, d = ring[1:, 1:], ring[1:, :-1]
    quads1 = np.stack([a, d, c], axis=-1).reshape(-1, 3)
    quads2 = np.stack([a, c, b], axis=-1).reshape(-1, 3)
    faces = np.concatenate([fan, np.stack([quads1, quads2], axis=1).reshape(-1, 3)]).astype(np.int64)
    return _Grid(dirs=dirs, uvs=uvs, faces=faces, ring_index=ring)


def _outermost_crossing(
    sdf: Callable[[np.ndarray], np.ndarray], dirs: np.ndarray, *, r_max: float = 0.32
) -> np.ndarray:
    """Radius of the outermost zero crossing of ``sdf`` along each ray from the origin.

    Conservative sphere tracing from ``r_max`` inward brackets the crossing, then the
    Illinois variant of regula falsi refines it to well below a micrometre.
    """
    n = len(dirs)
    r = np.full(n, r_max)
    f_r = sdf(r[:, None] * dirs)
    prev, f_prev = r.copy(), f_r.copy()
    active = f_r >= 0
    for _ in range(400):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        prev[idx], f_prev[idx] = r[idx], f_r[idx]
        r[idx] = r[idx] - np.maximum(0.6 * f_r[idx], 2e-4)
        f_r[idx] = sdf(r[idx, None] * dirs[idx])
        active[idx[f_r[idx] < 0]] = False
    if np.any(active) or np.any(f_prev < 0):
        raise ConfigError("head shape: some grid rays do not cross the surface (parameters out of range?)")
    lo, f_lo, hi, f_hi = r, f_r, prev, f_prev  # f_lo < 0 <= f_hi
    side = np.zeros(n)
    for _ in range(12):
        mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        f_mid = sdf(mid[:, None] * dirs)
        neg = f_mid < 0
        lo, f_lo = np.where(neg, mid, lo), np.where(neg, f_mid, f_lo)
        hi, f_hi = np.where(neg, hi, mid), np.where(neg, f_hi, f_mid)
        # Illinois: halve the stale end's value when the same side moves twice
        f_hi = np.where(neg & (side < 0), 0.5 * f_hi, f_hi)
        f_lo = np.where(~neg & (side > 0), 0.5 * f_lo, f_lo)
        side = np.where(neg, -1.0, 1.0)
    return (lo * f_hi - hi * f_lo) / (f_hi - f_lo)


@lru_cache(maxsize=1)
def _landmark_indices() -> dict[str, int]:
    g = _grid()
    nc = GRID_COLUMNS
    ring = g.dirs[nc:]
    out = {}
    for name, target in LANDMARK_TARGETS.items():
        d = np.asarray(target) / np.linalg.norm(target)
        out[name] = int(nc + np.argmax(ring @ d))
    return out


def head_mesh(params: HeadParams) -> FaceMesh:
    """The head of ``params`` in template topology (vertex order, faces, UVs, landmarks).

    Returns a :class:`FaceMesh` with vertices (V, 3) float64 metres (y up, face toward +z,
    head near the origin), faces (F, 3) int64 counter-clockwise seen from outside, UVs
    (V, 2) float64 in [0, 1] and the landmark vertex indices.
    """
    g = _grid()
    radius = _outermost_crossing(lambda q: head_sdf(q, params), g.dirs)
    scale = np.array([params.width / 0.148, params.height / 0.235, params.depth / 0.196])
    vertices = radius[:, None] * g.dirs * scale
    return FaceMesh(vertices, g.faces.copy(), g.uvs.copy(), dict(_landmark_indices()))


def template_rays() -> tuple[np.ndarray, np.ndarray]:
    """The template's vertex rays: every template vertex lies on the ray from the origin
    along its direction.

    Returns
    -------
    directions : (V, 3) float64 unit vectors, one per template vertex (crown copies share +y).
    ring_index : (GRID_RINGS, GRID_COLUMNS + 1) int64 vertex index of ring ``i``, column ``j``
        (ring 0 next to the crown, the last ring the bottom of the neck stub).
    """
    g = _grid()
    return g.dirs.copy(), g.ring_index.copy()


def is_template_topology(mesh: FaceMesh) -> bool:
    """Whether ``mesh`` has the template's vertex count and triangles."""
    g = _grid()
    return len(mesh.vertices) == len(g.dirs) and np.array_equal(mesh.faces, g.faces)


def template_mesh() -> FaceMesh:
    """The neutral head (``HeadParams()``): the project's template."""
    return head_mesh(HeadParams())


def write_template(path: str | Path) -> Path:
    """Generate the template and write it as OBJ (landmarks as comments), atomically."""
    mesh = template_mesh()
    log.info("template: %d vertices, %d triangles -> %s", len(mesh.vertices), len(mesh.faces), path)
    return write_obj(path, mesh)


def shipped_template_path() -> Path:
    """Path of the template OBJ shipped with the package (``id2reflectance/data``)."""
    return Path(str(resources.files("id2reflectance") / "data" / TEMPLATE_FILE))


def load_shipped_template() -> FaceMesh:
    """Read the shipped template OBJ."""
    return read_obj(shipped_template_path())


def main(argv: list[str] | None = None) -> int:
    """``python -m id2reflectance.capture.geometry.template_mesh OUT.obj``: write the template."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m id2reflectance.capture.geometry.template_mesh OUT.obj\n")
        return 2
    path = write_template(args[0])
    sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
