"""Realistic scans for the scan-normal fusion's benchmarks (issue 20, docs/solve.md 1c *Realistic scans*).

The simulator's scan (``mesh/scan.obj``: 0.6 of the head's triangles, 0.1 mm of noise along the
normals) is cleaner than a multi-view-stereo or structured-light scan. :func:`degrade_scan`
post-processes it the ways a real one differs:

* ``noise``: Gaussian noise of 0.283 mm along the vertex normals added (0.3 mm with the simulator's 0.1);
* ``decimate``: Open3D's quadric decimation to half its triangles (0.3 of the head's);
* ``taubin``: ``filter_smooth_taubin``, 10 iterations (no pores, smoothed);
* ``shift``: translated by 0.5 mm along ``(1, 1, 0) / sqrt(2)`` (a calibration error: across the front
  camera's view);
* ``all``: the four together, in that order;
* ``sim``: the scan as simulated (unchanged).

``python benchmarks/scan_variants.py SESSION VARIANT [--seed S]`` rewrites a session's scan in place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh, read_mesh, write_obj

VARIANTS = ("sim", "noise", "decimate", "taubin", "shift", "all")
NOISE_MM = float(np.sqrt(0.3**2 - 0.1**2))  # 0.283 mm: 0.3 mm in all with the simulator's 0.1 mm
SHIFT_MM = 0.5
TAUBIN_ITERATIONS = 10


def _open3d(mesh: FaceMesh):  # -> o3d.geometry.TriangleMesh
    import open3d as o3d

    return o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices), o3d.utility.Vector3iVector(mesh.faces))


def _back(m) -> FaceMesh:
    return FaceMesh(np.asarray(m.vertices, np.float64).copy(), np.asarray(m.triangles, np.int64).copy())


def degrade_scan(scan: FaceMesh, variant: str, *, seed: int = 0) -> FaceMesh:
    """``scan`` post-processed as ``variant`` (one of :data:`VARIANTS`; the noise seeded by ``seed``).

    Parameters
    ----------
    scan : a welded triangle mesh (world frame, metres; UVs dropped).
    variant : ``sim`` (unchanged), ``noise``, ``decimate``, ``taubin``, ``shift`` or ``all``.
    seed : the noise's random seed.
    """
    if variant not in VARIANTS:
        raise ValueError(f"scan variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    steps = ("noise", "decimate", "taubin", "shift") if variant == "all" else (variant,)
    mesh = FaceMesh(np.asarray(scan.vertices, np.float64), np.asarray(scan.faces, np.int64))
    rng = np.random.default_rng([int(seed), 20])
    for step in steps:
        if step == "noise":
            v = mesh.vertices + mesh.vertex_normals() * rng.normal(0.0, NOISE_MM * 1e-3, (len(mesh.vertices), 1))
            mesh = mesh.with_vertices(v)
        elif step == "decimate":
            m = _open3d(mesh)
            mesh = _back(m.simplify_quadric_decimation(target_number_of_triangles=len(mesh.faces) // 2))
        elif step == "taubin":
            mesh = _back(_open3d(mesh).filter_smooth_taubin(number_of_iterations=TAUBIN_ITERATIONS))
        elif step == "shift":
            mesh = mesh.with_vertices(mesh.vertices + SHIFT_MM * 1e-3 * np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0))
    return mesh


def degrade_session_scan(session_dir: str | Path, variant: str, *, seed: int = 0) -> Path:
    """Rewrite the session's ``mesh/scan.obj`` (the simulator's scan) as :func:`degrade_scan`; its path."""
    path = Path(session_dir) / "mesh" / "scan.obj"
    if variant != "sim":
        write_obj(path, degrade_scan(read_mesh(path), variant, seed=seed))
    return path


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("session")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(degrade_session_scan(args.session, args.variant, seed=args.seed))
