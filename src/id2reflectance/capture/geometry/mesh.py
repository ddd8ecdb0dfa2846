"""Triangle meshes with per-vertex UVs: OBJ/PLY IO, normals and UV-space rasterisation.

UVs follow the OBJ convention, (0, 0) at the bottom-left of the texture. Texel centre
(i, j) (row i from the top, column j) is ``u = (j + 0.5) / W``, ``v = 1 - (i + 0.5) / H``.
Vertices on a UV seam are duplicated so that every vertex has exactly one UV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import atomic_write
from id2reflectance.errors import InputFileError, ShapeError


@dataclass(frozen=True, eq=False)
class FaceMesh:
    """A triangle mesh.

    vertices : (V, 3) float64, metres.
    faces : (F, 3) int64 vertex indices, counter-clockwise seen from outside.
    uvs : (V, 2) float64 in [0, 1] (OBJ convention) or None.
    landmarks : name -> vertex index (e.g. ``nose_tip``).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None = None
    landmarks: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ShapeError(f"FaceMesh.vertices must be (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ShapeError(f"FaceMesh.faces must be (F, 3), got {self.faces.shape}")
        if self.uvs is not None and self.uvs.shape != (len(self.vertices), 2):
            raise ShapeError(f"FaceMesh.uvs must be ({len(self.vertices)}, 2), got {self.uvs.shape}")

    def with_vertices(self, vertices: np.ndarray) -> FaceMesh:
        """Same topology, UVs and landmarks with new vertex positions."""
        return FaceMesh(np.asarray(vertices, np.float64), self.faces, self.uvs, dict(self.landmarks))

    def face_normals(self) -> np.ndarray:
        """(F, 3) float64 unit face normals."""
        v = self.vertices
        f = self.faces
        n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)

    def vertex_normals(self) -> np.ndarray:
        """(V, 3) float64 unit area-weighted vertex normals; seam duplicates are merged
        by position so shading is continuous across UV seams."""
        v = self.vertices
        f = self.faces
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        # merge coincident vertices (UV seams) so both sides get the same normal
        _, inverse = np.unique(np.round(v / 1e-9).astype(np.int64), axis=0, return_inverse=True)
        inverse = inverse.ravel()
        acc = np.zeros((inverse.max() + 1, 3))
        for k in range(3):
            np.add.at(acc, inverse[f[:, k]], fn)
        n = acc[inverse]
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)

    def to_open3d(self):  # -> o3d.t.geometry.TriangleMesh
        """Tensor-API Open3D mesh (float32 positions, int32 triangles)."""
        import open3d as o3d

        m = o3d.t.geometry.TriangleMesh()
        m.vertex.positions = o3d.core.Tensor(self.vertices.astype(np.float32))
        m.triangle.indices = o3d.core.Tensor(self.faces.astype(np.int32))
        return m


def raycasting_scene(mesh: FaceMesh):  # -> o3d.t.geometry.RaycastingScene
    """An Open3D RaycastingScene holding ``mesh`` (geometry id 0)."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(mesh.to_open3d())
    return scene


def cast_rays(scene, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest hits of rays: returns t_hit (N,) float32 (inf on miss), face id (N,) int64
    (-1 on miss) and barycentrics (N, 3) float32 (weights of the face's 3 vertices)."""
    import open3d as o3d

    o = np.broadcast_to(np.asarray(origins, np.float32), directions.shape)
    rays = o3d.core.Tensor(np.concatenate([o, np.asarray(directions, np.float32)], axis=1))
    ans = scene.cast_rays(rays)
    t = ans["t_hit"].numpy()
    fid = ans["primitive_ids"].numpy().astype(np.int64)
    uv = ans["primitive_uvs"].numpy()
    miss = ~np.isfinite(t)
    fid[miss] = -1
    bary = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1).astype(np.float32)
    return t, fid, bary


def texel_uv_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """UV coordinates of texel centres of a size x size map: u, v each (size, size) float64."""
    c = (np.arange(size) + 0.5) / size
    u, vv = np.meshgrid(c, 1.0 - c)
    return u, vv


def rasterize_uv(mesh: FaceMesh, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which triangle covers each texel centre, and where.

    Returns
    -------
    face_id : (size, size) int64, -1 where no triangle covers the texel centre.
    bary : (size, size, 3) float32 barycentric weights of the face's vertices.
    """
    if mesh.uvs is None:
        raise ShapeError("rasterize_uv: mesh has no UVs")
    flat = FaceMesh(np.concatenate([mesh.uvs, np.zeros((len(mesh.uvs), 1))], axis=1), mesh.faces)
    scene = raycasting_scene(flat)
    u, v = texel_uv_grid(size)
    origins = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    dirs = np.tile(np.array([[0.0, 0.0, -1.0]]), (u.size, 1))
    _, fid, bary = cast_rays(scene, origins, dirs)
    return fid.reshape(size, size), bary.reshape(size, size, 3)


def interpolate(values: np.ndarray, faces: np.ndarray, face_id: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Barycentric interpolation of per-vertex ``values`` (V, C) at hits.

    face_id (...,) int (-1 = miss, gives 0), bary (..., 3). Returns (..., C) float64.
    """
    fid = np.where(face_id >= 0, face_id, 0)
    tri = faces[fid]  # (..., 3)
    out = np.einsum("...k,...kc->...c", bary.astype(np.float64), values[tri])
    out[face_id < 0] = 0
    return out


# -------------------------------------------------------------------------- IO


def _rows(fmt: str, a: np.ndarray) -> str:
    """The rows of ``a`` (N, K) formatted by ``fmt`` (K printf fields), one line each,
    without the last newline ("" for no rows): one formatting call for the whole array."""
    a = np.asarray(a)
    if len(a) == 0:
        return ""
    return (("\n" + fmt) * len(a))[1:] % tuple(a.ravel().tolist())


def write_obj(path: str | Path, mesh: FaceMesh, *, mtl: str | None = None, material: str | None = None) -> Path:
    """Write an OBJ (v, vt, vn, f v/vt/vn, 1-based), atomically; landmarks as comments."""
    lines = ["# id2reflectance mesh: metres, right-handed, OBJ UV convention"]
    for name, idx in sorted(mesh.landmarks.items()):
        lines.append(f"# landmark {name} {idx}")
    if mtl:
        lines.append(f"mtllib {mtl}")
    lines.append(_rows("v %.9g %.9g %.9g", mesh.vertices))
    if mesh.uvs is not None:
        lines.append(_rows("vt %.9g %.9g", mesh.uvs))
    lines.append(_rows("vn %.7g %.7g %.7g", mesh.vertex_normals()))
    if material:
        lines.append(f"usemtl {material}")
    f1 = np.repeat(mesh.faces + 1, 3, axis=1)  # (a, a, a, b, b, b, c, c, c)
    if mesh.uvs is not None:
        lines.append(_rows("f %d/%d/%d %d/%d/%d %d/%d/%d", f1))
    else:
        lines.append(_rows("f %d//%d %d//%d %d//%d", f1[:, [0, 2, 3, 5, 6, 8]]))
    text = "\n".join(line for line in lines if line) + "\n"
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_obj(path: str | Path) -> FaceMesh:
    """Read an OBJ with optional UVs; polygons are fan-triangulated.

    Vertices used with several UVs are split so each vertex has one UV. Landmark comments
    written by :func:`write_obj` are restored (for split vertices, the first copy).
    """
    return read_obj_with_sources(path)[0]


def read_obj_with_sources(path: str | Path) -> tuple[FaceMesh, np.ndarray]:
    """:func:`read_obj`, plus where each mesh vertex comes from.

    Returns
    -------
    mesh : the :class:`FaceMesh` of :func:`read_obj`.
    source : (V,) int64, the file's (0-based) ``v`` index of each mesh vertex (UV seams
        split one file vertex into several mesh vertices).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "mesh file not found")
    verts: list[list[float]] = []
    tex: list[list[float]] = []
    corners: list[tuple[int, int]] = []
    tris: list[tuple[int, int, int]] = []
    landmarks: dict[str, int] = {}
    key_index: dict[tuple[int, int], int] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                tag = parts[0]
                if tag == "v":
                    verts.append([float(x) for x in parts[1:4]])
                elif tag == "vt":
                    tex.append([float(x) for x in parts[1:3]])
                elif tag == "f":
                    ids = []
                    for p in parts[1:]:
                        s = p.split("/")
                        vi = int(s[0])
                        vi = vi - 1 if vi > 0 else len(verts) + vi
                        ti = -1
                        if len(s) > 1 and s[1]:
                            ti = int(s[1])
                            ti = ti - 1 if ti > 0 else len(tex) + ti
                        if not (0 <= vi < len(verts)) or (ti != -1 and not (0 <= ti < len(tex))):
                            raise InputFileError(path, f"line {lineno}", "face index out of range")
                        k = (vi, ti)
                        if k not in key_index:
                            key_index[k] = len(corners)
                            corners.append(k)
                        ids.append(key_index[k])
                    if len(ids) < 3:
                        raise InputFileError(path, f"line {lineno}", "face with fewer than 3 vertices")
                    tris.extend((ids[0], ids[i], ids[i + 1]) for i in range(1, len(ids) - 1))
                elif tag == "#" and len(parts) == 4 and parts[1] == "landmark":
                    landmarks[parts[2]] = int(parts[3])
    except (ValueError, IndexError, UnicodeDecodeError) as err:
        raise InputFileError(path, None, f"not a valid OBJ file ({err})") from err
    if not verts:
        raise InputFileError(path, None, "mesh has no vertices")
    if not tris:
        raise InputFileError(path, None, "mesh has no faces")
    v = np.asarray(verts, np.float64)
    if v.shape[1] != 3 or not np.all(np.isfinite(v)):
        raise InputFileError(path, "v", "vertices must be 3 finite numbers")
    vi = np.array([c[0] for c in corners])
    ti = np.array([c[1] for c in corners])
    tri_arr = np.asarray(tris, np.int64)
    if len(vi) == len(v) and np.array_equal(np.sort(vi), np.arange(len(v))):
        # no vertex needed splitting: keep the file's vertex order (template topologies)
        order = np.argsort(vi)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        vi, ti, tri_arr = vi[order], ti[order], rank[tri_arr]
    uvs = None
    if tex and np.all(ti >= 0):
        uvs = np.asarray(tex, np.float64)[ti]
    # remap landmarks (original vertex index -> first corner using it)
    first: dict[int, int] = {}
    for ci, ov in enumerate(vi):
        first.setdefault(int(ov), ci)
    lm = {k: first[i] for k, i in landmarks.items() if i in first}
    return FaceMesh(v[vi], tri_arr, uvs, lm), vi.astype(np.int64)


def read_mesh(path: str | Path) -> FaceMesh:
    """Read an OBJ (:func:`read_obj`) or PLY (via Open3D, no UVs) mesh."""
    path = Path(path)
    if path.suffix.lower() == ".obj":
        return read_obj(path)
    if path.suffix.lower() == ".ply":
        import open3d as o3d

        if not path.is_file():
            raise InputFileError(path, None, "mesh file not found")
        m = o3d.io.read_triangle_mesh(str(path))
        v = np.asarray(m.vertices, np.float64)
        f = np.asarray(m.triangles, np.int64)
        if len(v) == 0:
            raise InputFileError(path, None, "mesh has no vertices (unreadable PLY?)")
        if len(f) == 0:
            raise InputFileError(path, None, "mesh has no faces")
        return FaceMesh(v, f)
    raise InputFileError(path, None, f"unsupported mesh type '{path.suffix}' (expected .obj or .ply)")


def wraps_in_u(mesh: FaceMesh, *, tol: float = 1e-7) -> bool:
    """Whether ``mesh``'s UV chart is closed in u, so that texture columns wrap around: a
    vertex at u = 0 has a twin at the same position (within ``tol`` metres) at u = 1 (the
    procedural template's cylindrical chart, seam at the back of the head; a lat-long
    sphere). A layout of separate charts (the face model's atlas) has none. False
    without UVs."""
    if mesh.uvs is None:
        return False
    u = mesh.uvs[:, 0]
    lo, hi = np.flatnonzero(u <= 1e-6), np.flatnonzero(u >= 1.0 - 1e-6)
    if lo.size == 0 or hi.size == 0:
        return False
    key = np.round(mesh.vertices / tol).astype(np.int64)
    return bool(set(map(tuple, key[lo])) & set(map(tuple, key[hi])))


def sample_bilinear(texture: np.ndarray, uv: np.ndarray, *, wrap_u: bool = True) -> np.ndarray:
    """Bilinear lookup in a square texture at OBJ-convention UVs.

    Parameters
    ----------
    texture : (S, S) or (S, S, C) array; texel (i, j) centre at u = (j + 0.5) / S,
        v = 1 - (i + 0.5) / S. Rows clamp; columns wrap with ``wrap_u`` (the procedural
        template's chart, closed in u at the back of the head), else clamp (a layout of
        separate charts, e.g. the face model's: the first and last columns are unrelated).
    uv : (N, 2) float.
    wrap_u : columns wrap around (True) or clamp (False).

    Returns
    -------
    (N,) or (N, C) float64.
    """
    s = texture.shape[0]
    x = uv[:, 0] * s - 0.5
    y = (1.0 - uv[:, 1]) * s - 0.5
    j0 = np.floor(x).astype(np.int64)
    i0 = np.floor(y).astype(np.int64)
    fx, fy = x - j0, y - i0
    if wrap_u:
        j1 = (j0 + 1) % s
        j0 = j0 % s
    else:
        j1 = np.clip(j0 + 1, 0, s - 1)
        j0 = np.clip(j0, 0, s - 1)
    i1 = np.clip(i0 + 1, 0, s - 1)
    i0 = np.clip(i0, 0, s - 1)
    t = texture.astype(np.float64, copy=False)
    if t.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    top = t[i0, j0] * (1 - fx) + t[i0, j1] * fx
    bottom = t[i1, j0] * (1 - fx) + t[i1, j1] * fx
    return top * (1 - fy) + bottom * fy
