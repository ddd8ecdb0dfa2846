"""glTF 2.0 binary (.glb) export of a reflectance asset, and a small .glb reader.

Written with the standard library (JSON chunk + BIN chunk) and PNG textures embedded in
the BIN chunk:

- mesh: ``POSITION`` (metres, the asset's frame: y up, the face looks toward +z, as glTF),
  ``NORMAL`` (:meth:`FaceMesh.vertex_normals`), ``TANGENT`` (xyz + w = bitangent sign, from
  :func:`~id2reflectance.processing.tangents.vertex_tangents`, the frame the asset's
  ``normal_tangent`` map was made with), ``TEXCOORD_0`` = (u, 1 - v) (glTF's UV origin is
  the top-left), ``uint32``/``uint16`` indices;
- ``baseColorTexture``: diffuse albedo, sRGB-encoded 8-bit RGB (metallic 0, so glTF's
  diffuse is exactly Lambert with this albedo);
- ``metallicRoughnessTexture``: roughness r in G (glTF's roughness is the same perceptual
  r, alpha = r^2), metallic 0 in B (``metallicFactor`` 0), R unused (0);
- ``normalTexture``: ``normal_tangent`` (OpenGL convention, +Y up, as glTF) encoded
  ``(n + 1) / 2`` in 8-bit RGB;
- ``KHR_materials_specular`` from the measured specular albedo. glTF's dielectric
  specular lobe is ``weight * F(f0) * D * V`` with the same GGX D and height-correlated
  Smith V as this toolkit, ``weight = specularFactor * specularTexture.a`` and
  ``f0 = min(0.04 * specularColorFactor * specularColorTexture.rgb, 1)`` (ior 1.5). The
  model here is ``k * F(0.028) * D * V`` with ``k = specular_albedo / A(1, r)``
  (:mod:`~id2reflectance.processing.brdf_table`). So the export writes, per texel,
  ``weight = min(k, 1)`` (specularTexture alpha, linear) and
  ``f0 = 0.028 * max(k, 1)``, i.e. specularColorTexture RGB = sRGB(max(k, 1) / k_max)
  (grey) with ``specularColorFactor = 0.7 * k_max`` and ``k_max = max(1, max k)``. Where
  k <= 1 this is the model exactly; where k > 1 the extra scale goes into F0 (exact at
  normal incidence, less at grazing Fresnel). Viewers also dim the diffuse by
  ``1 - weight * max(F)`` (energy conservation the capture model does not have).
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_write_bytes
from id2reflectance._shared.imageio import decode_image, linear_to_srgb
from id2reflectance.errors import InputFileError, ShapeError
from id2reflectance.processing.asset import Asset
from id2reflectance.processing.brdf_table import specular_scale
from id2reflectance.processing.tangents import vertex_tangents

log = logging.getLogger(__name__)

GLB_MAGIC = 0x46546C67
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
F0_MODEL = 0.028
F0_GLTF = 0.04
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963


def _png(img: np.ndarray) -> bytes:
    """8-bit PNG bytes of (H, W, C) values in [0, 1] (RGB or RGBA order)."""
    q = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    if q.shape[2] == 3:
        q = q[..., ::-1]
    elif q.shape[2] == 4:
        q = q[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(q))
    if not ok:
        raise ShapeError("PNG encoding failed")
    return buf.tobytes()


def _resize(a: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size == a.shape[0]:
        return a
    out = cv2.resize(a.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return out.reshape(size, size, *a.shape[2:])


@dataclass(frozen=True, eq=False)
class MaterialTextures:
    """The four glTF textures of an asset, (S, S, C) float32 in [0, 1] as stored.

    base_color : RGB, sRGB-encoded albedo. metallic_roughness : RGB (0, r, 0).
    normal : RGB, (n_tangent + 1) / 2. specular : RGBA, RGB = sRGB(max(k,1) / k_max),
    A = min(k, 1). specular_color_factor : 0.7 * k_max.
    """

    base_color: np.ndarray
    metallic_roughness: np.ndarray
    normal: np.ndarray
    specular: np.ndarray
    specular_color_factor: float


def material_textures(asset: Asset, *, texture_size: int | None = None) -> MaterialTextures:
    """Derive the glTF material textures from the asset's maps (see the module docstring)."""
    m = asset.maps
    rough = np.clip(m.roughness, 0.0, 1.0)
    k = specular_scale(m.specular_albedo, rough)
    k_max = max(1.0, float(k.max()))
    col = linear_to_srgb(np.maximum(k, 1.0) / k_max)
    spec = np.stack([col, col, col, np.minimum(k, 1.0)], -1).astype(np.float32)
    nt = m.normal_tangent
    zeros = np.zeros_like(rough)
    return MaterialTextures(
        base_color=_resize(linear_to_srgb(np.clip(m.diffuse_albedo, 0, 1)), texture_size),
        metallic_roughness=_resize(np.stack([zeros, rough, zeros], -1), texture_size),
        normal=_resize(np.clip(nt * 0.5 + 0.5, 0, 1), texture_size),
        specular=_resize(spec, texture_size),
        specular_color_factor=F0_MODEL / F0_GLTF * k_max,
    )


class _Bin:
    """Accumulates buffer views in one BIN buffer (4-byte aligned)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []

    def add(self, payload: bytes, target: int | None = None) -> int:
        while len(self.data) % 4:
            self.data.append(0)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(payload)}
        if target is not None:
            view["target"] = target
        self.data.extend(payload)
        self.views.append(view)
        return len(self.views) - 1


def glb_bytes(asset: Asset, *, texture_size: int | None = None) -> bytes:
    """The .glb file of ``asset`` as bytes (see the module docstring for the mapping)."""
    mesh = asset.mesh
    if mesh.uvs is None:
        raise InputFileError(asset.root / "mesh.obj", "vt", "mesh has no UVs")
    normals = mesh.vertex_normals()
    tangents = vertex_tangents(mesh, normals=normals)
    pos = mesh.vertices.astype(np.float32)
    nrm = normals.astype(np.float32)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    tan = tangents.astype(np.float32)
    tan[:, :3] /= np.linalg.norm(tan[:, :3], axis=1, keepdims=True)
    uv = np.stack([mesh.uvs[:, 0], 1.0 - mesh.uvs[:, 1]], 1).astype(np.float32)
    nv = len(pos)
    idx_type, idx_dtype = (5123, np.uint16) if nv < 65535 else (5125, np.uint32)
    indices = mesh.faces.astype(idx_dtype).ravel()

    b = _Bin()
    accessors = []

    def accessor(arr: np.ndarray, kind: str, comp: int, target: int, minmax: bool = False) -> int:
        view = b.add(np.ascontiguousarray(arr).tobytes(), target)
        acc = {"bufferView": view, "componentType": comp, "count": int(arr.shape[0]), "type": kind}
        if minmax:
            acc["min"] = [float(x) for x in arr.min(0)]
            acc["max"] = [float(x) for x in arr.max(0)]
        accessors.append(acc)
        return len(accessors) - 1

    a_pos = accessor(pos, "VEC3", 5126, ARRAY_BUFFER, minmax=True)
    a_nrm = accessor(nrm, "VEC3", 5126, ARRAY_BUFFER)
    a_tan = accessor(tan, "VEC4", 5126, ARRAY_BUFFER)
    a_uv = accessor(uv, "VEC2", 5126, ARRAY_BUFFER)
    a_idx = accessor(indices, "SCALAR", idx_type, ELEMENT_ARRAY_BUFFER)

    tex = material_textures(asset, texture_size=texture_size)
    names = ("base_color", "metallic_roughness", "normal", "specular")
    images = []
    for name in names:
        view = b.add(_png(getattr(tex, name)))
        images.append({"bufferView": view, "mimeType": "image/png", "name": name})
    textures = [{"sampler": 0, "source": i, "name": n} for i, n in enumerate(names)]
    cf = float(tex.specular_color_factor)
    material = {
        "name": f"{asset.subject_id}_skin",
        "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0},
            "metallicRoughnessTexture": {"index": 1},
            "metallicFactor": 0.0,
            "roughnessFactor": 1.0,
        },
        "normalTexture": {"index": 2, "scale": 1.0},
        "extensions": {
            "KHR_materials_specular": {
                "specularFactor": 1.0,
                "specularTexture": {"index": 3},
                "specularColorFactor": [cf, cf, cf],
                "specularColorTexture": {"index": 3},
            }
        },
    }
    while len(b.data) % 4:
        b.data.append(0)
    gltf = {
        "asset": {"version": "2.0", "generator": f"id2reflectance {__version__}"},
        "extensionsUsed": ["KHR_materials_specular"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": asset.subject_id}],
        "meshes": [
            {
                "name": asset.subject_id,
                "primitives": [
                    {
                        "attributes": {"POSITION": a_pos, "NORMAL": a_nrm, "TANGENT": a_tan, "TEXCOORD_0": a_uv},
                        "indices": a_idx,
                        "material": 0,
                        "mode": 4,
                    }
                ],
            }
        ],
        "materials": [material],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 33071}],
        "textures": textures,
        "images": images,
        "accessors": accessors,
        "bufferViews": b.views,
        "buffers": [{"byteLength": len(b.data)}],
    }
    js = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode("utf-8")
    js += b" " * ((4 - len(js) % 4) % 4)
    total = 12 + 8 + len(js) + 8 + len(b.data)
    out = bytearray(struct.pack("<III", GLB_MAGIC, 2, total))
    out += struct.pack("<II", len(js), CHUNK_JSON) + js
    out += struct.pack("<II", len(b.data), CHUNK_BIN) + bytes(b.data)
    return bytes(out)


def export_glb(asset: Asset, path: str | Path, *, texture_size: int | None = None) -> Path:
    """Write ``asset`` as a glTF 2.0 binary file, atomically.

    Parameters
    ----------
    asset : a read asset.
    path : output ``.glb`` path.
    texture_size : texture size in pixels (default: the maps' size).

    Returns the path.
    """
    data = glb_bytes(asset, texture_size=texture_size)
    log.info("glb %s: %d vertices, %.1f MB", path, len(asset.mesh.vertices), len(data) / 1e6)
    return atomic_write_bytes(path, data)


# ------------------------------------------------------------------------ reading


@dataclass(frozen=True, eq=False)
class Glb:
    """A parsed .glb: the glTF JSON and the BIN chunk."""

    gltf: dict
    bin: bytes

    def buffer_view(self, index: int) -> bytes:
        v = self.gltf["bufferViews"][index]
        off = v.get("byteOffset", 0)
        return self.bin[off : off + v["byteLength"]]

    def accessor(self, index: int) -> np.ndarray:
        """Accessor data as (count, components) or (count,) array (tightly packed views)."""
        a = self.gltf["accessors"][index]
        dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}[a["componentType"]]
        comps = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[a["type"]]
        raw = self.buffer_view(a["bufferView"])
        off = a.get("byteOffset", 0)
        arr = np.frombuffer(raw, dtype=dtype, count=a["count"] * comps, offset=off)
        return arr.reshape(a["count"], comps) if comps > 1 else arr

    def image(self, index: int) -> np.ndarray:
        """Decoded image ``index``: (H, W, C) uint8 in RGB(A) order."""
        raw = np.frombuffer(self.buffer_view(self.gltf["images"][index]["bufferView"]), np.uint8)
        img = decode_image(raw, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ShapeError(f"glb image {index} is not decodable")
        if img.ndim == 2:
            return img[..., None]
        return img[..., [2, 1, 0, 3]] if img.shape[2] == 4 else img[..., ::-1]


def read_glb(path: str | Path) -> Glb:
    """Parse a .glb file (header, JSON chunk, optional BIN chunk), checking lengths."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 20:
        raise InputFileError(path, None, "too short for a glTF binary file")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2:
        raise InputFileError(path, "header", f"not a glTF 2.0 binary (magic {magic:#x}, version {version})")
    if length != len(data):
        raise InputFileError(path, "header.length", f"says {length} bytes, file has {len(data)}")
    clen, ctype = struct.unpack_from("<II", data, 12)
    if ctype != CHUNK_JSON:
        raise InputFileError(path, "chunk 0", "first chunk is not JSON")
    gltf = json.loads(data[20 : 20 + clen].decode("utf-8"))
    pos = 20 + clen
    binary = b""
    if pos < len(data):
        blen, btype = struct.unpack_from("<II", data, pos)
        if btype != CHUNK_BIN:
            raise InputFileError(path, "chunk 1", "second chunk is not BIN")
        binary = data[pos + 8 : pos + 8 + blen]
    return Glb(gltf=gltf, bin=binary)
