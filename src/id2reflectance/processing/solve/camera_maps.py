"""The solved maps of one camera and their pixel counts (what ``solve_camera_frames`` returns).

Three-component maps are stored ``(H, W, 3)``, interleaved as the decoded frames: the
solve can write them into the memory of frames it no longer needs (``solve_session``
does: fresh memory costs a page fault per 4 KiB on first write), and OpenEXR writes an
interleaved ``R, G, B`` array without copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from id2reflectance._shared.exr_plain import mapped_lines
from id2reflectance._shared.pages import mapped_empty
from id2reflectance.errors import ShapeError

MAP_FILES = (
    "diffuse_albedo",
    "specular_albedo",
    "normal_diffuse",
    "normal_diffuse_r",
    "normal_diffuse_g",
    "normal_diffuse_b",
    "normal_specular",
    "roughness",
    "mask",
    "confidence",
)
"""Every map the solve can write, as ``OUT/<camera>/<name>.exr`` (keys of :meth:`CameraMaps.images`)."""

KERNEL_MAPS = MAP_FILES[:-1]
"""The maps the solve kernel writes, in its output order (every map but the confidence, computed afterwards)."""
VECTOR_MAPS = MAP_FILES[:1] + MAP_FILES[2:7]
"""The three-component maps, ``(H, W, 3)`` float32 each (the fields of :class:`CameraMaps` of these names)."""


@dataclass
class PixelCounts:
    """Pixel counts of one camera (foreground = inside the mask file, or every pixel)."""

    pixels: int = 0
    foreground: int = 0
    saturated: int = 0  # foreground pixels saturated in some frame
    low_signal: int = 0  # unsaturated foreground pixels with too little diffuse signal
    valid: int = 0  # pixels in the output mask
    specular_fallback: int = 0  # valid pixels whose specular normal/roughness fell back
    negative_specular: int = 0  # valid pixels with S_full < 0 (clamped to 0)

    def __iadd__(self, other: PixelCounts) -> PixelCounts:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def to_json(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


@dataclass
class CameraMaps:
    """The solved maps of one camera, in its image space.

    Attributes
    ----------
    diffuse_albedo : (H, W, 3) float32, R, G, B, linear Rec.709, >= 0.
    specular_albedo : (H, W) float32, luminance of the full-sphere specular response, >= 0.
    normal_diffuse : (H, W, 3) float32, x, y, z of the unit world-space normal.
    normal_diffuse_r, normal_diffuse_g, normal_diffuse_b : (H, W, 3) float32, x, y, z of
        the per-channel (R, G, B) unit normals (zero where that channel has no signal).
    normal_specular : (H, W, 3) float32, x, y, z of the unit world-space normal.
    roughness : (H, W) float32, GGX perceptual roughness.
    mask : (H, W) bool, True where the maps are valid (every map is 0 elsewhere).
    confidence : (H, W) float32 in [0, 1] or None, per-pixel confidence from the noise
        and the signal (set by ``solve_session``; 0 outside the mask).
    counts : pixel counts; inverses : whether inverse patterns were used.

    Every array is C-contiguous (the fused kernel and the EXR writer take them as they are),
    except maps made by :meth:`in_files`: views of their mapped files (rows of planes).
    """

    camera: str
    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    normal_diffuse: np.ndarray
    normal_diffuse_r: np.ndarray
    normal_diffuse_g: np.ndarray
    normal_diffuse_b: np.ndarray
    normal_specular: np.ndarray
    roughness: np.ndarray
    mask: np.ndarray
    counts: PixelCounts = field(default_factory=PixelCounts)
    inverses: bool = False
    confidence: np.ndarray | None = None

    @classmethod
    def empty(
        cls,
        camera: str,
        height: int,
        width: int,
        *,
        reuse: Sequence[np.ndarray] = (),
        planes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> CameraMaps:
        """Uninitialised maps of the given size (the solver writes every pixel).

        ``reuse``: (H, W, 3) float32 C-contiguous writable arrays whose memory the
        three-component maps take, in the order of :data:`VECTOR_MAPS` (the rest are new);
        ``planes``: ``(specular_albedo, roughness, mask)`` to take instead of new ones.
        New arrays are mapped up front (:func:`mapped_empty`).

        Raises
        ------
        ShapeError
            An array of ``reuse`` or ``planes`` of another shape, dtype or layout.
        """
        z = mapped_empty
        vec = list(reuse)[: len(VECTOR_MAPS)]
        for a in vec:
            _check_buffer(a, (height, width, 3), np.float32)
        vec += [z((height, width, 3), np.float32) for _ in range(len(VECTOR_MAPS) - len(vec))]
        planes = new_planes(height, width) if planes is None else planes
        for a, dtype in zip(planes, (np.float32, np.float32, bool), strict=True):
            _check_buffer(a, (height, width), dtype)
        spec, rough, mask = planes
        return cls(camera, specular_albedo=spec, roughness=rough, mask=mask, **dict(zip(VECTOR_MAPS, vec, strict=True)))

    @classmethod
    def in_files(
        cls, camera: str, folder: Path, height: int, width: int, names: Sequence[str], *, mask: np.ndarray | None = None
    ) -> CameraMaps:
        """Maps whose pixels are their files: each of :data:`KERNEL_MAPS` but the mask that is
        in ``names`` is created as ``folder/<name>.exr`` (uncompressed) and mapped
        (:func:`~id2reflectance._shared.exr_plain.mapped_lines`: what the solve writes is the
        file, no copy, no write afterwards); the others in the same layout in anonymous
        memory, and the mask (bool) as :func:`new_planes` (or ``mask`` when of the size).
        Three-component maps are then (H, W, 3) views of rows of ``B, G, R`` planes, the
        one-channel maps (H, W) views of rows (not C-contiguous)."""
        folder.mkdir(parents=True, exist_ok=True)

        def lines(name: str, channels: str) -> np.ndarray:
            return mapped_lines(folder / f"{name}.exr" if name in names else None, height, width, channels)

        if mask is None or mask.shape != (height, width):
            mask = mapped_empty((height, width), bool)
        return cls(
            camera,
            specular_albedo=lines("specular_albedo", "Y"),
            roughness=lines("roughness", "Y"),
            mask=mask,
            **{name: lines(name, "RGB") for name in VECTOR_MAPS},
        )

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(specular_albedo, roughness, mask)``: what a later camera of the same size can reuse."""
        return self.specular_albedo, self.roughness, self.mask

    def images(self, names: tuple[str, ...] = MAP_FILES) -> dict[str, np.ndarray]:
        """Output maps as ``(H, W)`` or ``(H, W, 3)`` float32 arrays (the maps themselves,
        no copies; the mask converted), keyed by file stem: those of ``names`` that these
        maps hold (``confidence`` only once set)."""
        out = {k: getattr(self, k) for k in (*VECTOR_MAPS, "specular_albedo", "roughness")}
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if "mask" in names:
            out["mask"] = self.mask.astype(np.float32)
        return {k: out[k] for k in MAP_FILES if k in names and k in out}


def new_planes(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New ``(specular_albedo, roughness, mask)`` arrays, (H, W) float32, float32 and bool,
    uninitialised (mapped up front: :func:`mapped_empty`)."""
    z = mapped_empty
    return z((height, width), np.float32), z((height, width), np.float32), z((height, width), bool)


def _check_buffer(a: np.ndarray, shape: tuple[int, ...], dtype: type) -> None:
    """Raise ShapeError unless ``a`` is a writable C-contiguous array of ``shape`` and ``dtype``."""
    if a.shape != shape or a.dtype != dtype or not (a.flags.c_contiguous and a.flags.writeable):
        raise ShapeError(
            f"map buffer must be a writable C-contiguous {np.dtype(dtype).name} array of shape {shape}, "
            f"got {a.dtype.name} {a.shape}"
        )


@contextmanager
def small_pages() -> Iterator[None]:
    """Within: numpy's large arrays without transparent huge pages (restored after).

    numpy asks Linux for 2 MiB pages (``madvise(MADV_HUGEPAGE)``) on every array of
    4 MiB or more. On this virtual machine the kernel's zeroing of huge pages on first
    touch costs more than the 4 KiB page faults it saves, and varies: filling 1.6 GB of
    fresh arrays took 0.3-4.4 s (mostly system time) with huge pages, 0.6 s without.
    The solve's decoded frames and temporaries are such arrays. Process-wide while
    inside (numpy has one switch); a numpy without the switch is left as it is.
    """
    try:
        from numpy._core import multiarray  # the switch behind NUMPY_MADVISE_HUGEPAGE
    except ImportError:  # numpy < 2 keeps it in numpy.core
        multiarray = None
    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    if switch is None:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)
