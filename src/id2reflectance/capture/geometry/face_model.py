"""The ICT Face Model Light: a linear morphable head built from light-stage scans of real people.

The data (MIT licence) comes from the public repository ICT-VGL/ICT-FaceKit (folder
``FaceXModel``), converted to the files this module reads (see ``docs/face-model.md``)::

    generic_neutral_mesh.obj   the neutral head: 26,719 vertices, 28,911 UVs, quads, centimetres
    identity_modes.npz         deltas (100, 26719, 3) float16 centimetres, decreasing variance
    expression_shapes.npz      deltas (53, 26719, 3) float16 centimetres; names (53,)

A head is ``neutral + sum_k w_k identity[k] + sum_j e_j expression[j]`` with identity
weights ``w_k ~ N(0, 1)`` and expression weights ``e_j`` in [0, 1]. The data is never part
of this repository: it is loaded from ``../shared/face-models/ict-facekit-light/`` beside the
repository, from the folder named by the environment variable ``ID2R_FACE_MODEL``, or from
a path the caller gives.

Frame: this module converts centimetres to metres and keeps the file's axes (y up, the face
looks toward +z, the subject's left is +x), so the project's frame differs only by a
translation (:mod:`~id2reflectance.capture.geometry.face_model_heads` places it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh, read_obj_with_sources
from id2reflectance.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

FACE_MODEL_NAME = "ict-facekit-light"
FACE_MODEL_ENV = "ID2R_FACE_MODEL"
MESH_FILE = "generic_neutral_mesh.obj"
IDENTITY_FILE = "identity_modes.npz"
EXPRESSION_FILE = "expression_shapes.npz"
CM = 0.01  # metres per centimetre

# Vertex index ranges of the parts, 0-based, end exclusive (the data's README).
PART_RANGES: dict[str, tuple[int, int]] = {
    "face": (0, 9409),
    "head_neck": (9409, 11248),
    "mouth_socket": (11248, 13294),
    "eye_socket_left": (13294, 13678),
    "eye_socket_right": (13678, 14062),
    "gums_tongue": (14062, 17039),
    "teeth": (17039, 21451),
    "eyeball_a": (21451, 23021),
    "eyeball_b": (23021, 24591),
    "eye_extras": (24591, 26719),
}
SKIN_END = 11248  # vertices [0, SKIN_END) are the skin-only head: face, head and neck
NEUTRAL_VERTICES = 26719

# The 68 Multi-PIE landmarks in dlib's order: vertex indices of the data's README.
LANDMARKS_68 = (
    1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088,
    3443, 268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140,
    2075, 1147, 4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732,
    5708, 5695, 2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216,
    6207, 6470, 5517, 5966,
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class FaceModel:
    """The loaded face model, in metres, in the file's vertex order ("model vertices").

    neutral : (N, 3) float64 metres, the mean head (N = 26,719 model vertices).
    identity : (K, N, 3) float32 metres per unit weight, K identity modes (100).
    expression : (E, N, 3) float32 metres per unit weight, E expression shapes (53).
    expression_names : E names (ARKit style, ``_L`` / ``_R`` = the subject's left / right).
    triangles : (T, 3) int64 model-vertex indices, quads split in two, counter-clockwise
        seen from outside.
    uv_mesh : the neutral as a :class:`FaceMesh` with UVs: vertices on UV seams are split
        (28,911 UVs for 26,719 vertices), so ``uv_mesh`` has one vertex per (vertex, UV) pair.
    uv_source : (V,) int64, the model vertex of each ``uv_mesh`` vertex.
    landmarks68 : (68,) int64 model-vertex indices of the 68 landmarks in dlib's order.
    path : the folder it was read from.
    """

    neutral: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    expression_names: tuple[str, ...]
    triangles: np.ndarray
    uv_mesh: FaceMesh
    uv_source: np.ndarray
    landmarks68: np.ndarray
    path: Path

    @property
    def identity_modes(self) -> int:
        """K, the number of identity modes."""
        return int(self.identity.shape[0])

    def vertices(self, identity: np.ndarray | None = None, expression: dict[str, float] | None = None) -> np.ndarray:
        """Model vertices of one head.

        Parameters
        ----------
        identity : (k,) float weights of the first k <= K identity modes (N(0, 1) each);
            None: the neutral.
        expression : {name: weight in [0, 1]} (names from ``expression_names``); None: none.

        Returns
        -------
        (N, 3) float64 metres, the file's frame.
        """
        v = self.neutral.copy()
        if identity is not None:
            w = np.asarray(identity, np.float64).reshape(-1)
            if len(w) > self.identity_modes or not np.all(np.isfinite(w)):
                raise ConfigError(f"face model: identity needs <= {self.identity_modes} finite weights, got {len(w)}")
            v += np.tensordot(w, self.identity[: len(w)], axes=1)
        for name, weight in (expression or {}).items():
            if name not in self.expression_names:
                raise ConfigError(
                    f"face model: unknown expression '{name}' (known: {', '.join(self.expression_names)})"
                )
            if not 0.0 <= float(weight) <= 1.0:
                raise ConfigError(f"face model: expression weight of '{name}' must be in [0, 1], got {weight!r}")
            v += float(weight) * self.expression[self.expression_names.index(name)]
        return v

    def part_triangles(self, parts: tuple[str, ...]) -> np.ndarray:
        """(T', 3) int64 triangles whose three vertices all lie in the named ``PART_RANGES``."""
        inside = np.zeros(len(self.neutral), bool)
        for name in parts:
            if name not in PART_RANGES:
                raise ConfigError(f"face model: unknown part '{name}' (known: {', '.join(PART_RANGES)})")
            a, b = PART_RANGES[name]
            inside[a:b] = True
        return self.triangles[np.all(inside[self.triangles], axis=1)]


def default_face_model_dir() -> Path | None:
    """Where the face model is looked for when no path is given, or None if it is absent.

    ``$ID2R_FACE_MODEL`` if set (it must then exist), else
    ``<repository>/../shared/face-models/ict-facekit-light`` (the folder beside the
    repository that holds this package's source).
    """
    env = os.environ.get(FACE_MODEL_ENV)
    if env:
        path = Path(env)
        if not (path / MESH_FILE).is_file():
            raise InputFileError(path, FACE_MODEL_ENV, f"${FACE_MODEL_ENV} names no face model folder ({MESH_FILE})")
        return path
    repo = Path(__file__).resolve().parents[4]
    path = repo.parent / "shared" / "face-models" / FACE_MODEL_NAME
    return path if (path / MESH_FILE).is_file() else None


def _deltas(path: Path, n: int, *, names: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    """(K, n, 3) float32 metres from an npz of centimetre ``deltas`` (and ``names``)."""
    if not path.is_file():
        raise InputFileError(path, None, "face model file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "deltas" not in z.files:
                raise InputFileError(path, "deltas", "missing array")
            d = z["deltas"]
            labels = tuple(str(x) for x in z["names"]) if names and "names" in z.files else ()
    except (OSError, ValueError) as err:
        raise InputFileError(path, None, f"not a readable npz file ({err})") from err
    if d.ndim != 3 or d.shape[1:] != (n, 3) or d.shape[0] < 1:
        raise InputFileError(path, "deltas", f"expected shape (K, {n}, 3), got {d.shape}")
    out = d.astype(np.float32) * np.float32(CM)
    if not np.all(np.isfinite(out)):
        raise InputFileError(path, "deltas", "contains NaN or Inf")
    if names and len(labels) != d.shape[0]:
        raise InputFileError(path, "names", f"expected {d.shape[0]} names, got {len(labels)}")
    return out, labels


@lru_cache(maxsize=2)
def _load(folder: str) -> FaceModel:
    root = Path(folder)
    if not root.is_dir():
        raise InputFileError(root, None, "face model folder not found")
    mesh_cm, source = read_obj_with_sources(root / MESH_FILE)
    n = int(source.max()) + 1
    if n != NEUTRAL_VERTICES or mesh_cm.uvs is None:
        raise InputFileError(
            root / MESH_FILE,
            "v",
            f"expected {NEUTRAL_VERTICES} vertices with UVs, got {n} (uvs: {mesh_cm.uvs is not None})",
        )
    neutral = np.zeros((n, 3))
    neutral[source] = mesh_cm.vertices * CM
    uv_mesh = FaceMesh(mesh_cm.vertices * CM, mesh_cm.faces, mesh_cm.uvs)
    identity, _ = _deltas(root / IDENTITY_FILE, n, names=False)
    expression, names = _deltas(root / EXPRESSION_FILE, n, names=True)
    model = FaceModel(
        neutral=neutral,
        identity=identity,
        expression=expression,
        expression_names=names,
        triangles=source[mesh_cm.faces],
        uv_mesh=uv_mesh,
        uv_source=source,
        landmarks68=np.asarray(LANDMARKS_68, np.int64),
        path=root,
    )
    log.info("face model %s: %d vertices, %d identity modes, %d expressions", root, n, len(identity), len(names))
    return model


def load_face_model(path: str | Path | None = None) -> FaceModel:
    """Read and validate the face model (cached per folder).

    Parameters
    ----------
    path : the folder holding the files above; None: :func:`default_face_model_dir`.

    Raises
    ------
    InputFileError : a missing folder or file, or a file of the wrong shape (naming it).
    """
    if path is None:
        found = default_face_model_dir()
        if found is None:
            raise InputFileError(
                Path("../shared/face-models") / FACE_MODEL_NAME,
                None,
                f"face model not found (set ${FACE_MODEL_ENV} or pass its folder; see docs/face-model.md)",
            )
        path = found
    return _load(str(Path(path).resolve()))
