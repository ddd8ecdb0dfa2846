"""What ``id2r solve`` writes: the per-camera EXR maps, their statistics and ``solve.json``.

Layout (``shared/session-format.md``, "Solver outputs")::

    OUT/<camera>/diffuse_albedo.exr     R,G,B
    OUT/<camera>/specular_albedo.exr    Y
    OUT/<camera>/normal_diffuse.exr     R,G,B  (x, y, z)
    OUT/<camera>/normal_diffuse_{r,g,b}.exr  R,G,B  per-channel diffuse normals (extra)
    OUT/<camera>/normal_specular.exr    R,G,B
    OUT/<camera>/roughness.exr          Y
    OUT/<camera>/mask.exr               Y
    OUT/solve.json                      statistics, warnings, timings, versions, config

All float32 OpenEXR (lossless compression: ``SolverConfig.compression``), 0 outside the
mask; ``SolverConfig.maps`` chooses which maps are written.
"""

from __future__ import annotations

import dataclasses
import platform
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import scipy

from id2reflectance import __version__
from id2reflectance._shared.imageio import ExrCompression, write_exr
from id2reflectance.processing.solve.accuracy import angle_between_deg
from id2reflectance.processing.solve.camera_maps import MAP_FILES, CameraMaps, PixelCounts
from id2reflectance.processing.solve.config import SolverConfig

SOLVE_FORMAT = "id2r-solve"
SOLVE_VERSION = 1
SOLVE_JSON = "solve.json"
__all__ = [
    "RowGate",
    "MAP_FILES",
    "SOLVE_JSON",
    "Stats",
    "CameraReport",
    "SolveReport",
    "camera_warnings",
    "map_statistics",
    "summary",
    "write_camera_maps",
]

Stats = dict[str, float | None]


def write_camera_maps(
    folder: str | Path,
    maps: CameraMaps,
    *,
    names: tuple[str, ...] = MAP_FILES,
    compression: ExrCompression = "none",
    workers: int = 1,
    rows_ready: Callable[[int], None] | None = None,
    direct: bool = False,
) -> list[Path]:
    """Write maps of ``maps`` as ``folder/<name>.exr`` (float32, each atomically).

    Parameters
    ----------
    names : which maps (stems of :data:`MAP_FILES`), written in this order; a name the
        maps do not hold (``confidence`` of maps solved outside ``solve_session``) is skipped.
    compression : lossless OpenEXR compression (:func:`~id2reflectance._shared.imageio.write_exr`).
    workers : files written concurrently (threads; the maps are written without copies).
    rows_ready : ``rows_ready(r)`` returns once rows ``0 .. r - 1`` of every map are final
        (:class:`RowGate`: the maps written while they are solved); None: they are.
    direct : large uncompressed files around the page cache (``write_exr``'s ``direct``).

    Returns
    -------
    The written paths, in the order of ``names``.
    """
    folder = Path(folder)
    images = maps.images(tuple(n for n in names if n != "mask"))
    if "mask" in names:  # bool: 0.0 / 1.0 in the file (converted line by line when uncompressed)
        images["mask"] = maps.mask
    names = tuple(n for n in names if n in images)

    def write(name: str) -> Path:
        return write_exr(
            folder / f"{name}.exr", images[name], compression=compression, rows_ready=rows_ready, direct=direct
        )

    if workers <= 1 or len(names) <= 1:
        return [write(name) for name in names]
    with ThreadPoolExecutor(max_workers=min(workers, len(names))) as pool:
        return list(pool.map(write, names))


class RowGate:
    """How many leading rows of a camera's maps the solve has finished (one solve, any
    number of writers waiting on it)."""

    def __init__(self) -> None:
        self._done = threading.Condition()
        self._rows = 0
        self._failed = False

    def advance(self, rows: int) -> None:
        """Rows ``0 .. rows - 1`` are final (the solve's ``rows_done``)."""
        with self._done:
            self._rows = max(self._rows, rows)
            self._done.notify_all()

    def fail(self) -> None:
        """The solve stopped: every waiting and later :meth:`wait` for unfinished rows raises."""
        with self._done:
            self._failed = True
            self._done.notify_all()

    def wait(self, rows: int) -> None:
        """Return once rows ``0 .. rows - 1`` are final; raise RuntimeError if the solve stopped first."""
        with self._done:
            self._done.wait_for(lambda: self._rows >= rows or self._failed)
            if self._rows < rows:
                raise RuntimeError("the solve stopped before these rows of the maps were finished")


def summary(values: np.ndarray) -> Stats:
    """``mean``, ``median``, ``p5`` and ``p95`` of a 1-D sample (None when empty)."""
    if values.size == 0:
        return {"mean": None, "median": None, "p5": None, "p95": None}
    values = values.astype(np.float64, copy=False)
    p5, p50, p95 = np.percentile(values, [5.0, 50.0, 95.0])
    return {"mean": float(values.mean()), "median": float(p50), "p5": float(p5), "p95": float(p95)}


def sample_grid(mask: np.ndarray, max_samples: int) -> tuple[int, np.ndarray]:
    """The statistics' sample: every ``step``-th row and column (``step`` the smallest that
    leaves at most ``max_samples`` valid pixels) and ``mask`` on that grid.

    Returns ``step`` and the (ceil(H / step), ceil(W / step)) bool mask of the sampled
    valid pixels. A grid, not every k-th valid pixel: the maps are then read only on the
    grid's rows (a third of them on a 4096 x 4096 face, instead of every cache line)."""
    n = int(np.count_nonzero(mask))
    step = max(1, int(np.ceil(np.sqrt(n / max(1, max_samples)))))
    sub = mask[::step, ::step]
    while np.count_nonzero(sub) > max_samples:
        step += 1
        sub = mask[::step, ::step]
    return step, sub


def map_statistics(maps: CameraMaps, *, max_samples: int = 1 << 18) -> dict[str, Stats]:
    """Per-map statistics inside the mask, over at most ``max_samples`` valid pixels of an
    evenly spaced grid of rows and columns (:func:`sample_grid`; every valid pixel when
    there are no more).

    Keys: ``diffuse_albedo_{r,g,b}``, ``specular_albedo``, ``roughness`` (map values),
    ``normal_specular_vs_diffuse_deg`` and ``normal_diffuse_r_vs_b_deg`` (angles, degrees).
    """
    step, sub = sample_grid(maps.mask, max_samples)
    rows, cols = np.nonzero(sub)
    rows, cols = rows * step, cols * step  # the sampled pixels, in row-major order

    def pick(a: np.ndarray) -> np.ndarray:
        """The sampled pixels of a map: (N,), or (3, N) for an (H, W, 3) map (any strides: no copy of the map)."""
        if a.ndim == 2:
            return a[rows, cols]
        return np.ascontiguousarray(a[rows, cols].T)

    alb = pick(maps.diffuse_albedo)
    nd = pick(maps.normal_diffuse)
    red, blue = pick(maps.normal_diffuse_r), pick(maps.normal_diffuse_b)
    return {
        "diffuse_albedo_r": summary(alb[0]),
        "diffuse_albedo_g": summary(alb[1]),
        "diffuse_albedo_b": summary(alb[2]),
        "specular_albedo": summary(pick(maps.specular_albedo)),
        "roughness": summary(pick(maps.roughness)),
        "normal_specular_vs_diffuse_deg": summary(angle_between_deg(pick(maps.normal_specular), nd, axis=0)),
        "normal_diffuse_r_vs_b_deg": summary(angle_between_deg(red, blue, axis=0)),
    }


def camera_warnings(camera: str, counts: PixelCounts, *, mask_file: bool, warn_fraction: float) -> list[str]:
    """One line per problem of one camera's solve (empty when all is well)."""
    out: list[str] = []
    fg = max(counts.foreground, 1)
    valid = max(counts.valid, 1)
    if counts.valid == 0:
        out.append(f"{camera}: no valid pixels (no signal above min_diffuse inside the mask)")
    if counts.saturated:
        out.append(
            f"{camera}: {counts.saturated} foreground pixel(s) saturated in some frame "
            f"({100 * counts.saturated / fg:.2f}%), excluded from the mask"
        )
    if mask_file and counts.low_signal / fg > warn_fraction:
        out.append(
            f"{camera}: {100 * counts.low_signal / fg:.2f}% of the masked foreground has too little "
            "diffuse signal (below min_diffuse), excluded from the mask"
        )
    if counts.negative_specular / valid > warn_fraction:
        out.append(
            f"{camera}: {100 * counts.negative_specular / valid:.2f}% of valid pixels have negative specular "
            "(parallel < cross: noise or polariser misalignment), clamped to 0"
        )
    if counts.specular_fallback / valid > warn_fraction:
        out.append(
            f"{camera}: {100 * counts.specular_fallback / valid:.2f}% of valid pixels have too little specular "
            "signal; their specular normal is the diffuse normal and their roughness the default"
        )
    return out


@dataclass
class CameraReport:
    """The outcome of one camera's solve (one entry of ``solve.json`` ``cameras``)."""

    camera: str
    width: int
    height: int
    inverses: bool
    mask_file: bool
    counts: PixelCounts
    stats: dict[str, Stats]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    alignment: dict[str, Any] | None = None  # CameraAlignment.to_json(), when frames were aligned
    noise: dict[str, Any] = field(default_factory=dict)  # the denoise step's report (denoise.Preparation)
    scan_normals: dict[str, Any] = field(default_factory=lambda: {"used": False})  # scan_normals.fuse_camera_normals

    def to_json(self) -> dict[str, Any]:
        c = self.counts
        fg = max(c.foreground, 1)
        valid = max(c.valid, 1)
        return {
            "width": self.width,
            "height": self.height,
            "inverses_used": self.inverses,
            "mask_file": self.mask_file,
            "pixels": c.to_json(),
            "fractions": {
                "valid": c.valid / max(c.pixels, 1),
                "saturated": c.saturated / fg,
                "low_signal": c.low_signal / fg,
                "negative_specular": c.negative_specular / valid,
                "specular_fallback": c.specular_fallback / valid,
            },
            "stats": self.stats,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "alignment": self.alignment,
            "warnings": list(self.warnings),
            "noise": self.noise,
            "scan_normals": self.scan_normals,
        }


@dataclass
class SolveReport:
    """The outcome of :func:`~id2reflectance.processing.solve.solver.solve_session`."""

    out_dir: Path
    session_dir: Path
    subject_id: str
    config: SolverConfig
    cameras: dict[str, CameraReport] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """Every camera's warnings, in camera order."""
        return [w for cam in self.cameras.values() for w in cam.warnings]

    def to_json(self) -> dict[str, Any]:
        """The content of ``solve.json``."""
        return {
            "format": SOLVE_FORMAT,
            "version": SOLVE_VERSION,
            "session": {"subject": self.subject_id, "path": str(self.session_dir)},
            "tool": {"name": "id2reflectance", "version": __version__},
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "OpenEXR": getattr(OpenEXR, "__version__", "unknown"),
                **_numba_version(),
            },
            "backend": self.config.resolved_backend(),
            "config": dataclasses.asdict(self.config),
            "cameras": {name: cam.to_json() for name, cam in self.cameras.items()},
            "warnings": self.warnings,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _numba_version() -> dict[str, str]:
    """``{"numba": version}`` when numba is installed (the fused solver backend), else ``{}``."""
    try:
        return {"numba": version("numba")}
    except PackageNotFoundError:
        return {}
