"""The exact-map benchmark (``benchmarks/bake_exact.py``): the texels hidden under a fold of
the truth's radial chart (``unobservable``), the camera regions over the texels whose truth
is in an image (``camera_regions``), and the shading geometry that follows the scan
(``shading_head``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.processing.bake.views import texel_geometry
from tests.processing.bake.planes import square_mesh

BENCHMARKS = str(Path(__file__).parents[3] / "benchmarks")


def _flap_mesh() -> FaceMesh:
    """A 40 mm square 0.2 m out along +z (UVs in the left half) and a 6 mm flap 0.5 mm in
    front of it (UVs on the right): the rays from the origin through the square's texels
    under the flap cross the flap first."""
    base = square_mesh(0.02, z=0.2, n=8, uv_size=0.5)
    flap = square_mesh(0.003, z=0.2005, n=8, uv0=(0.6, 0.6), uv_size=0.3)
    return FaceMesh(
        np.concatenate([base.vertices, flap.vertices]),
        np.concatenate([base.faces, flap.faces + len(base.vertices)]),
        np.concatenate([base.uvs, flap.uvs]),
    )


def test_unobservable_marks_the_texels_under_a_flap_and_far_from_the_scan() -> None:
    """The true mesh: a 40 mm square 0.2 m out along +z (UVs in the left half) and a 6 mm
    flap 0.5 mm in front of it (UVs on the right). The rays from the origin through the
    square's texels under the flap cross the flap first: those texels, and only those, are
    folded; the flap's own texels and the rest of the square are not. With the scan the
    same surface nothing is off the scan; with a scan 2 mm further out, every texel not
    folded is."""
    sys.path.insert(0, BENCHMARKS)
    try:
        from bake_exact import ExactCase, unobservable
    finally:
        sys.path.pop(0)
    mesh = _flap_mesh()
    size = 128

    def case(scan: FaceMesh) -> ExactCase:
        return ExactCase(
            truth_mesh=mesh,
            scan=scan,
            shading_mesh=mesh,
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


def test_camera_regions_leave_the_texels_in_no_image_to_their_own_region() -> None:
    """The flap mesh of the test above (its own scan), one camera 0.4 m in front of it. The
    reference bake gives the camera every texel of the square it sees, those under the flap
    included (the flap is 0.5 mm in front, inside the visibility test's 1 mm); their truth
    is in no image (the pixels there see the flap's UVs). Since 2026-12-08 the camera region
    holds the scored texels whose truth is in an image and the others form ``hidden``; the
    region over every scored texel is kept as ``every``. The scored regions carry the hidden
    texels under their own name, and the face regions only texels of the camera regions."""
    sys.path.insert(0, BENCHMARKS)
    try:
        from bake_exact import HIDDEN, ExactCase, camera_regions, exact_views, scored_regions, unobservable
    finally:
        sys.path.pop(0)
    mesh = _flap_mesh()
    size, px = 128, 160
    f = 0.5 * px / np.tan(np.radians(6.0))
    R, t = look_at(np.array([0.0, 0.0, 0.6]), np.array([0.0, 0.0, 0.2]))
    K = np.array([[f, 0.0, (px - 1) / 2], [0.0, f, (px - 1) / 2], [0.0, 0.0, 1.0]])
    cam = Camera("front", px, px, K, np.zeros(5), R, t)
    u = np.linspace(0.0, 1.0, size)
    ramp = np.broadcast_to(u[None, :, None], (size, size, 3)).astype(np.float32)
    normal = np.zeros((size, size, 3), np.float32)
    normal[..., 2] = 1.0
    truth = {
        "diffuse_albedo": ramp,
        "specular_albedo": np.full((size, size), 0.02, np.float32),
        "roughness": np.full((size, size), 0.4, np.float32),
        "normal_object": normal,
    }
    g = texel_geometry(mesh, size)
    face = g.covered & (g.points[..., 1] > 0.0)  # a face region over half the square and the flap
    case = ExactCase(
        truth_mesh=mesh,
        scan=mesh,
        shading_mesh=mesh,
        truth=truth,
        shown_diffuse=ramp,
        cameras={"front": cam},
        scored=g.covered,
        regions={"forehead": face},
    )
    views = exact_views(case, lookup="bilinear")
    regions = camera_regions(case, views)
    folded = unobservable(case)["folded"]
    every, observable = regions.every["front"], regions.observable["front"]
    assert (every & folded).sum() > 20  # the reference bake gives the camera the texels under the flap
    np.testing.assert_array_equal(regions.hidden, every & folded)
    np.testing.assert_array_equal(observable, every & ~folded)
    scored = scored_regions(case, regions)
    assert set(scored) == {"front", HIDDEN, "forehead"}
    np.testing.assert_array_equal(scored["front"], observable)
    np.testing.assert_array_equal(scored[HIDDEN], regions.hidden)
    np.testing.assert_array_equal(scored["forehead"], face & observable)
    assert scored["forehead"].sum() > 100


def test_shading_head_puts_the_neck_that_leaves_the_scan_on_it() -> None:
    """The scan: a flat 40 mm square. The true mesh: the same square with its vertices above
    y = 10 mm raised 8 mm off the scan (the template's neck stub, a step that no scan holds).
    The shading head moves exactly those vertices onto the scan and keeps the others (bitwise).
    The images' ambient visibility cast against it is open everywhere, as the scan's is: the
    true mesh's step shadows the texels below it (the case before 2026-12-08)."""
    sys.path.insert(0, BENCHMARKS)
    try:
        from bake_exact import shading_head
    finally:
        sys.path.pop(0)
    from id2reflectance.capture.simulator.visibility import vertex_visibility

    scan = square_mesh(0.02, z=0.2, n=16)
    off = scan.vertices[:, 1] > 0.01
    true = scan.with_vertices(scan.vertices + np.where(off, 0.008, 0.0)[:, None] * np.array([0.0, 0.0, 1.0]))
    head = shading_head(true, scan, off)
    np.testing.assert_array_equal(head.faces, true.faces)
    np.testing.assert_array_equal(head.uvs, true.uvs)
    np.testing.assert_array_equal(head.vertices[~off], true.vertices[~off])
    np.testing.assert_allclose(head.vertices[off], scan.vertices[off], atol=1e-7)
    below = ~off & (scan.vertices[:, 1] > 0.0)  # within 10 mm of the step
    assert vertex_visibility(head, directions=64).open.all()
    assert not vertex_visibility(true, directions=64).open[below].all()
