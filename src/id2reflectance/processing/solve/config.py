"""Options of the per-pixel reflectance solve (``id2r solve``), shared by both backends."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Literal

from id2reflectance._shared.imageio import EXR_COMPRESSIONS
from id2reflectance.errors import ConfigError
from id2reflectance.processing.solve.camera_maps import MAP_FILES
from id2reflectance.processing.solve.roughness_table import ROUGHNESS_RANGE

__all__ = ["DIFFUSE_CHANNELS", "SolverConfig", "numba_available"]

DIFFUSE_CHANNELS = {"r": (0,), "g": (1,), "b": (2,), "gb": (1, 2), "rgb": (0, 1, 2)}
"""Channels whose first moments are summed for ``normal_diffuse``, per config choice."""


@dataclass(frozen=True)
class SolverConfig:
    """Options of ``id2r solve`` (every default documented here).

    Attributes
    ----------
    tile_rows : image rows per band; 0 = about 65536 pixels per band with the numpy backend
        (fewer, larger bands cost less Python overhead; smaller ones stay in cache; memory
        per band is about 0.3 KB per pixel), about 262144 with numba (no temporaries). The
        results do not depend on it.
    workers : threads; 0 = ``os.cpu_count()`` (at most 8). numpy: bands solved in
        parallel; numba: each band's rows split over the threads (at most
        ``NUMBA_NUM_THREADS``).
    backend : ``"numpy"`` (reference), ``"numba"`` (fused kernel, compiled on first use
        and cached on disk) or ``"auto"`` (numba when it can be imported).
    diffuse_normal_channel : channel(s) whose first moment gives ``normal_diffuse``:
        ``"r"``, ``"g"``, ``"b"``, ``"gb"`` (sum of the green and blue first moments) or
        ``"rgb"``. Default ``"gb"``: least blurred by subsurface scattering, and summing
        two channels halves the noise variance of the direction.
    use_inverses : use the ``inverse_*`` patterns when all are present.
    average_m0 : with inverses, average the four estimates of the specular ``m0``
        (``full``, ``gradient_a + inverse_a``) for the ratio ``m1 / m0``.
    min_diffuse : minimum luminance of ``D_full`` (relative radiance) for a valid pixel.
    min_specular : minimum ``S_full`` (relative radiance) for a specular normal/roughness.
    default_roughness : roughness where the specular solve is not valid.
    warn_fraction : fraction of pixels above which a problem is reported as a warning.
    stats_samples : at most this many valid pixels per map for statistics (those on an evenly
        spaced grid of rows and columns).
    maps : which maps to write (stems of ``OUT/<camera>/<name>.exr``, any of
        :data:`~id2reflectance.processing.solve.camera_maps.MAP_FILES`; default all). Every
        map is still solved (the statistics and counts need them); only the files are skipped.
    denoise : ``"auto"``: before the solve, estimate each frame's noise and smooth the
        frames edge-aware with a strength following it (none on a clean capture), and
        build a noise-robust mask when the session has no mask file; ``"none"``: solve
        the frames as decoded (noise is still estimated for ``confidence.exr``).
    ambient : ``"auto"``: with inverse patterns, measure the ambient light (the same in
        every pattern) and subtract it when present; ``"none"``: leave it.
    compression : lossless OpenEXR compression of the maps: ``"none"`` (default: the maps
        are an intermediate the bake reads; the least CPU to write and to read, about half
        of RLE's, files about 1.85x RLE's on the test sphere), ``"rle"`` (run lengths of
        the zero background), ``"zip"`` / ``"zips"`` (deflate: smallest but PIZ, about 3-4x
        RLE's write time), ``"piz"`` (smallest, slowest). Every OpenEXR reader reads all
        of them (docs/solve.md, "Encoding").
    direct_io : False (default): plain writes through the page cache, so that a bake
        right after the solve reads the maps from memory. True: uncompressed map files of
        32 MiB or more written around the page cache (``O_DIRECT``, where the file system
        allows it): about half the write's CPU and none of the page cache's load-dependent
        cost, but the maps are then read from the disk by whatever reads them next (for
        archive runs; docs/solve.md, "Where the time goes").
    align : frame alignment before the solve (:mod:`~id2reflectance.processing.solve.align`):
        ``"auto"`` (rigid, and a dense flow for a moved frame whose rigid residual exceeds
        ``align_flow_px``), ``"rigid"`` (image similarity), ``"flow"`` (similarity plus dense
        flow) or ``"none"`` (frames as decoded). Frames whose fitted motion is not significant
        against the fit's noise are left untouched.
    align_flow_px : ``auto`` switches a moved frame to the dense flow above this residual, pixels.
    align_warn_px : a frame that moved more than this (pixels, anywhere on the face) is
        reported as a warning.
    separation : how each pattern's frames split into diffuse and specular (after the
        alignment, before the noise filters): ``"per_channel"`` (default): ``D = 2 cross``
        and ``S = lum(parallel - cross)`` as decoded; ``"white_specular"``: the joint
        noise-weighted least-squares estimate of the three diffuse halves and one white
        specular from both polarisations
        (:mod:`~id2reflectance.processing.solve.white_specular`; on the issue-20 noise the
        specular normal 10-23 % lower, the diffuse normal within 1.4 %; not the default: small
        noisy spheres' filtered roughness is mixed, and parts of the denoiser's specular
        noise model assume ``lum(P - C)``, docs/solve.md 1c). The
        same on frames whose specular is white and noise-free.
    scan_normals : ``"auto"``: where the session has a scan (``session.json`` ``"mesh"``) and a
        lobe was denoised, the solved normal of that lobe takes its low spatial frequencies from
        the scan's smooth normals and its high ones from the photometric normal
        (:mod:`~id2reflectance.processing.solve.scan_normals`; a clean capture and a session
        without a scan are solved as before); ``"off"``: the photometric normals alone.
    scan_normals_sigma_px : the Gaussian (pixels) splitting the low band (scan and photometric,
        weighted) from the high band (photometric).
    scan_normals_weight : the scan's weight in the low band, in [0, 1]; None (default): estimated
        per camera and lobe from the three normals' disagreement (three-cornered hat).
    scan_normals_gain : weight of the photometric high-pass, in [0, 1]; None (default): its
        least-squares gain with the scan's high-pass and the other lobe's as the witnesses, raised
        to the power of the scan's low-band weight (1 keeps it whole; below 1 shrinks the noise the
        denoiser leaves at pixel scale; a scan not trusted in the low band shrinks nothing).
    scan_normals_min_diffuse_noise_deg : the diffuse normal is fused only where the estimated noise
        of one pixel's diffuse normal (``solve.json`` ``noise.diffuse_noise_deg``) is at least this
        (degrees): below it the photometric low band beats the scan's on some heads (256 px heads
        with inverse patterns at 1.33 / 1.50 deg: +4.6 / +1.0 %, docs/solve.md 1c). The specular
        normal is fused wherever its lobe was denoised.
    scan_normals_gate_deg : the scan is used only where its low-pass and the photometric one (at
        3 px) agree within this angle (degrees): elsewhere (hair, eyes, a wrong scan) the
        photometric normal stays.
    scan_normals_gate_noise : in the diffuse normal, the scan's share of the low band only where
        the two low-passes agree within this many times the photometric low-pass's own estimated
        error (three-cornered hat at 3 px), at most ``scan_normals_gate_deg``; None: the fixed gate
        alone. A scan's local errors (noise, coarse, shifted) stay out of an accurate diffuse normal
        (docs/solve.md 1c, "Realistic scans").
    scan_normals_register : estimate each camera's sub-pixel 2D shift of the scan against the
        photometric normals' low band (a calibration error of the scan) and render the scan with it
        before the fusion (``solve.json`` ``scan_normals.shift_px``); False: the scan as it lies.
    """

    tile_rows: int = 0
    workers: int = 0
    backend: Literal["auto", "numba", "numpy"] = "auto"
    diffuse_normal_channel: Literal["r", "g", "b", "gb", "rgb"] = "gb"
    use_inverses: bool = True
    average_m0: bool = True
    min_diffuse: float = 1e-3
    min_specular: float = 1e-4
    default_roughness: float = 0.4
    warn_fraction: float = 0.01
    stats_samples: int = 1 << 18  # a percentile's rank off by about 0.05 % (sampling); about 0.06 s on 4096^2
    maps: tuple[str, ...] = MAP_FILES
    compression: Literal["none", "rle", "zips", "zip", "piz"] = "none"
    direct_io: bool = False
    align: Literal["auto", "none", "rigid", "flow"] = "auto"
    align_flow_px: float = 0.5
    align_warn_px: float = 5.0
    denoise: Literal["auto", "none"] = "auto"
    ambient: Literal["auto", "none"] = "auto"
    separation: Literal["per_channel", "white_specular"] = "per_channel"
    scan_normals: Literal["auto", "off"] = "auto"
    scan_normals_sigma_px: float = 1.0
    scan_normals_weight: float | None = None
    scan_normals_gain: float | None = None
    scan_normals_min_diffuse_noise_deg: float = 1.8
    scan_normals_gate_deg: float = 5.0
    scan_normals_gate_noise: float | None = 3.0
    scan_normals_register: bool = True

    def __post_init__(self) -> None:
        if self.tile_rows < 0:
            raise ConfigError(f"tile_rows must be >= 0, got {self.tile_rows}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if self.backend not in ("auto", "numba", "numpy"):
            raise ConfigError(f"backend must be one of ['auto', 'numba', 'numpy'], got {self.backend!r}")
        if self.diffuse_normal_channel not in DIFFUSE_CHANNELS:
            raise ConfigError(
                f"diffuse_normal_channel must be one of {list(DIFFUSE_CHANNELS)}, got {self.diffuse_normal_channel!r}"
            )
        for name in ("min_diffuse", "min_specular", "warn_fraction"):
            if not (getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        lo, hi = ROUGHNESS_RANGE
        if not (lo <= self.default_roughness <= hi):
            raise ConfigError(f"default_roughness must be in [{lo}, {hi}], got {self.default_roughness}")
        if self.stats_samples < 1:
            raise ConfigError(f"stats_samples must be >= 1, got {self.stats_samples}")
        if isinstance(self.maps, str) or not all(isinstance(m, str) for m in self.maps):
            raise ConfigError(f"maps must be a list of map names, got {self.maps!r}")
        unknown = [m for m in self.maps if m not in MAP_FILES]
        if unknown:
            raise ConfigError(f"maps: unknown map name(s) {unknown}; choose from {list(MAP_FILES)}")
        if not self.maps:
            raise ConfigError(f"maps must name at least one map of {list(MAP_FILES)}")
        object.__setattr__(self, "maps", tuple(m for m in MAP_FILES if m in self.maps))  # file order, no repeats
        if self.separation not in ("per_channel", "white_specular"):
            raise ConfigError(f"separation must be one of ['per_channel', 'white_specular'], got {self.separation!r}")
        if self.align not in ("auto", "none", "rigid", "flow"):
            raise ConfigError(f"align must be one of ['auto', 'none', 'rigid', 'flow'], got {self.align!r}")
        for name in ("align_flow_px", "align_warn_px"):
            if not (getattr(self, name) > 0):
                raise ConfigError(f"{name} must be > 0 pixels, got {getattr(self, name)}")
        for name in ("denoise", "ambient"):
            if getattr(self, name) not in ("auto", "none"):
                raise ConfigError(f"{name} must be one of ['auto', 'none'], got {getattr(self, name)!r}")
        if self.scan_normals not in ("auto", "off"):
            raise ConfigError(f"scan_normals must be one of ['auto', 'off'], got {self.scan_normals!r}")
        if not (self.scan_normals_min_diffuse_noise_deg >= 0):
            raise ConfigError(
                f"scan_normals_min_diffuse_noise_deg must be >= 0, got {self.scan_normals_min_diffuse_noise_deg}"
            )
        for name in ("scan_normals_sigma_px", "scan_normals_gate_deg"):
            if not (getattr(self, name) > 0):
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.scan_normals_gate_noise is not None and not (self.scan_normals_gate_noise > 0):
            raise ConfigError(f"scan_normals_gate_noise must be > 0 (or absent), got {self.scan_normals_gate_noise}")
        for name in ("scan_normals_weight", "scan_normals_gain"):
            value = getattr(self, name)
            if value is not None and not (0 <= value <= 1):
                raise ConfigError(f"{name} must be in [0, 1] (or absent: estimated), got {value}")
        if self.compression not in EXR_COMPRESSIONS:
            raise ConfigError(f"compression must be one of {list(EXR_COMPRESSIONS)}, got {self.compression!r}")

    def resolved_workers(self) -> int:
        """Number of threads actually used."""
        return self.workers if self.workers > 0 else max(1, min(8, os.cpu_count() or 1))

    def resolved_backend(self) -> Literal["numba", "numpy"]:
        """The backend actually used (``"auto"``: numba when importable).

        Raises
        ------
        ConfigError
            ``backend = "numba"`` but numba is not installed.
        """
        if self.backend == "numpy":
            return "numpy"
        if numba_available():
            return "numba"
        if self.backend == "numba":
            raise ConfigError("backend 'numba' needs the numba package (pip install numba), or use backend 'numpy'")
        return "numpy"


def numba_available() -> bool:
    """True when numba can be imported (the fused kernel's backend)."""
    return importlib.util.find_spec("numba") is not None
