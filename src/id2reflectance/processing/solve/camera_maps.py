"""The solved maps of one camera and their pixel counts (what ``solve_camera_frames`` returns).

Maps are stored channel-first (planar): every per-pixel operation of the solver runs on
contiguous planes, and OpenEXR stores channels separately, so no transposes are needed.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

import numpy as np

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
    """The solved maps of one camera, in its image space, stored channel-first (planar).

    Attributes
    ----------
    diffuse_albedo : (3, H, W) float32, R, G, B planes, linear Rec.709, >= 0.
    specular_albedo : (H, W) float32, luminance of the full-sphere specular response, >= 0.
    normal_diffuse : (3, H, W) float32, x, y, z planes of the unit world-space normal.
    normal_diffuse_rgb : (3, 3, H, W) float32, ``[channel (R, G, B), axis (x, y, z)]``
        per-channel unit normals (zero where that channel has no signal).
    normal_specular : (3, H, W) float32, x, y, z planes of the unit world-space normal.
    roughness : (H, W) float32, GGX perceptual roughness.
    mask : (H, W) bool, True where the maps are valid (every map is 0 elsewhere).
    confidence : (H, W) float32 in [0, 1] or None, per-pixel confidence from the noise
        and the signal (set by ``solve_session``; 0 outside the mask).
    counts : pixel counts; inverses : whether inverse patterns were used.
    """

    camera: str
    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    normal_diffuse: np.ndarray
    normal_diffuse_rgb: np.ndarray
    normal_specular: np.ndarray
    roughness: np.ndarray
    mask: np.ndarray
    counts: PixelCounts = field(default_factory=PixelCounts)
    inverses: bool = False
    confidence: np.ndarray | None = None

    @classmethod
    def empty(cls, camera: str, height: int, width: int) -> CameraMaps:
        """Uninitialised maps of the given size (the solver writes every pixel)."""
        z = mapped_empty
        return cls(
            camera=camera,
            diffuse_albedo=z((3, height, width), np.float32),
            specular_albedo=z((height, width), np.float32),
            normal_diffuse=z((3, height, width), np.float32),
            normal_diffuse_rgb=z((3, 3, height, width), np.float32),
            normal_specular=z((3, height, width), np.float32),
            roughness=z((height, width), np.float32),
            mask=z((height, width), bool),
        )

    def images(self, names: tuple[str, ...] = MAP_FILES) -> dict[str, np.ndarray]:
        """Output maps as ``(H, W)`` or ``(H, W, 3)`` float32 views (planar memory:
        transposes, not copies; the mask is converted), keyed by file stem: those of
        ``names`` that these maps hold (``confidence`` only once set)."""
        hwc = {
            "diffuse_albedo": self.diffuse_albedo,
            "normal_diffuse": self.normal_diffuse,
            "normal_specular": self.normal_specular,
            "normal_diffuse_r": self.normal_diffuse_rgb[0],
            "normal_diffuse_g": self.normal_diffuse_rgb[1],
            "normal_diffuse_b": self.normal_diffuse_rgb[2],
        }
        out = {k: v.transpose(1, 2, 0) for k, v in hwc.items()}
        out["specular_albedo"] = self.specular_albedo
        out["roughness"] = self.roughness
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if "mask" in names:
            out["mask"] = self.mask.astype(np.float32)
        return {k: out[k] for k in MAP_FILES if k in names and k in out}


def mapped_empty(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """``np.empty`` whose memory is mapped up front when large (Linux ``MAP_POPULATE``).

    One kernel call maps every page instead of a page fault per 4 KiB on first write;
    on virtual machines, where faults are expensive, this makes fresh output maps about
    three times faster to fill. Elsewhere, or for small arrays, plain ``np.empty``.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or nbytes < 1 << 22:
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return np.frombuffer(buf, dtype).reshape(shape)  # the array keeps the mapping alive


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
