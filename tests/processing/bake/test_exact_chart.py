"""The exact-map benchmark's texels hidden under a fold of the truth's radial chart
(``benchmarks/bake_exact.py``: ``unobservable``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.processing.bake.views import texel_geometry
from tests.processing.bake.planes import square_mesh


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
    base = square_mesh(0.02, z=0.2, n=8, uv_size=0.5)
    flap = square_mesh(0.003, z=0.2005, n=8, uv0=(0.6, 0.6), uv_size=0.3)
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
