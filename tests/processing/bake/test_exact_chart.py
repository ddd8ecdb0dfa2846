"""The exact-map benchmark's texels hidden under a fold of the truth's radial chart
(``benchmarks/bake_exact.py``: ``unobservable``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.processing.bake.views import texel_geometry


def _square(half: float, z: float, uv0: tuple[float, float], uv_size: float, n: int = 8) -> FaceMesh:
    """A square |x|, |y| <= ``half`` at height ``z`` facing +z, UVs in a ``uv_size`` square at ``uv0``."""
    g = np.linspace(-half, half, n + 1)
    x, y = np.meshgrid(g, g)
    v = np.stack([x.ravel(), y.ravel(), np.full(x.size, z)], axis=1)
    idx = np.arange(v.shape[0]).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    f = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    uv = np.asarray(uv0) + (v[:, :2] + half) / (2 * half) * uv_size
    return FaceMesh(v, f.astype(np.int64), uv)


def test_unobservable_marks_the_texels_under_a_flap_and_far_from_the_scan() -> None:
    """The true mesh: a 40 mm square 0.2 m out along +z (UVs in the left half) and a 6 mm
    flap 0.5 mm in front of it (UVs on the right). The rays from the origin through the
    square's texels under the flap cross the flap first: those texels, and only those, are
    folded; the flap's own texels and the rest of the square are not. With the scan the
    same surface nothing is off the scan; with a scan 2 mm further out, every texel not
    folded is."""
    sys.path.insert(0, str(Path(__file__).parents[3] / "benchmarks"))
    try:
        from bake_exact import ExactCase, unobservable
    finally:
        sys.path.pop(0)
    base = _square(0.02, 0.2, (0.0, 0.0), 0.5)
    flap = _square(0.003, 0.2005, (0.6, 0.6), 0.3)
    mesh = FaceMesh(
        np.concatenate([base.vertices, flap.vertices]),
        np.concatenate([base.faces, flap.faces + len(base.vertices)]),
        np.concatenate([base.uvs, flap.uvs]),
    )
    size = 128

    def case(scan: FaceMesh) -> ExactCase:
        return ExactCase(
            truth_mesh=mesh,
            scan=scan,
            truth={},
            shown_diffuse=np.zeros((size, size, 3), np.float32),
            cameras={},
            scored=np.ones((size, size), bool),
            regions={},
        )

    found = unobservable(case(mesh))
    hidden = found["folded"]
    g = texel_geometry(mesh, size)
    p = g.points
    on_base = g.covered & (np.abs(p[..., 2] - 0.2) < 1e-6)
    on_flap = g.covered & (np.abs(p[..., 2] - 0.2005) < 1e-6)
    under = on_base & np.all(np.abs(p[..., :2]) < 0.0029, axis=-1)
    clear = on_base & np.any(np.abs(p[..., :2]) > 0.0031, axis=-1)
    assert under.sum() > 20 and on_flap.sum() > 100
    assert hidden[under].all()
    assert not hidden[clear].any()
    assert not hidden[on_flap].any()
    assert not hidden[~g.covered].any()
    assert not found["off the scan"].any()
    moved = FaceMesh(mesh.vertices * np.array([1.0, 1.0, 1.01]), mesh.faces)  # 2 mm further out
    far = unobservable(case(moved))
    np.testing.assert_array_equal(far["folded"], hidden)
    np.testing.assert_array_equal(far["off the scan"], g.covered & ~hidden)
