"""The solved maps' memory: pages mapped up front, numpy without huge pages, frames' memory reused."""

from __future__ import annotations

import numpy as np
import pytest
from numpy._core import multiarray

from id2reflectance.errors import ShapeError
from id2reflectance.processing.solve.camera_maps import VECTOR_MAPS, CameraMaps, mapped_empty, new_planes, small_pages


def test_mapped_empty_is_a_writable_array_of_the_shape() -> None:
    for shape in ((3, 1024, 1024), (4, 5)):  # mapped up front; small: plain np.empty
        a = mapped_empty(shape, np.float32)
        assert a.shape == shape and a.dtype == np.float32 and a.flags.writeable and a.flags.c_contiguous
        a[...] = 2.0
        assert float(a.sum()) == 2.0 * a.size


@pytest.mark.parametrize("state", [True, False])
def test_small_pages_turns_numpy_huge_pages_off_inside_and_restores_them(state: bool) -> None:
    before = multiarray._set_madvise_hugepage(state)
    try:
        with small_pages():
            assert multiarray._get_madvise_hugepage() is False
            big = np.ones((1 << 21,), np.float32)  # 8 MiB: numpy's huge-page threshold is 4 MiB
        assert float(big.sum()) == big.size
        assert multiarray._get_madvise_hugepage() is state
        with pytest.raises(RuntimeError), small_pages():
            raise RuntimeError("inside")
        assert multiarray._get_madvise_hugepage() is state
    finally:
        multiarray._set_madvise_hugepage(before)


def test_solve_session_leaves_numpy_huge_pages_as_they_were(tmp_path) -> None:
    from id2reflectance.capture.simulator.analytic import write_sphere_session
    from id2reflectance.processing.solve.solver import solve_session

    session = write_sphere_session(tmp_path / "sess", size=24, inverses=False, samples=(32, 8))
    before = multiarray._get_madvise_hugepage()
    solve_session(session, tmp_path / "out")
    assert multiarray._get_madvise_hugepage() is before


def test_empty_maps_take_the_given_buffers_and_check_them() -> None:
    frames = [np.full((6, 7, 3), float(i), np.float32) for i in range(7)]
    planes = new_planes(6, 7)
    maps = CameraMaps.empty("c", 6, 7, reuse=frames, planes=planes)
    for name, buf in zip(VECTOR_MAPS, frames, strict=False):  # the seventh is not needed
        assert getattr(maps, name) is buf
    assert maps.planes == planes
    fewer = CameraMaps.empty("c", 6, 7, reuse=frames[:2])  # the rest new
    assert fewer.diffuse_albedo is frames[0] and not np.shares_memory(fewer.normal_specular, frames[2])
    images = fewer.images()
    assert all(images[k].flags.c_contiguous for k in images) and images["diffuse_albedo"] is frames[0]
    for bad in (frames[0][:, :6], frames[0].astype(np.float64), np.zeros((6, 7, 3), np.float32)[:, ::-1]):
        with pytest.raises(ShapeError, match="map buffer"):
            CameraMaps.empty("c", 6, 7, reuse=[bad])
    with pytest.raises(ShapeError, match="map buffer"):
        CameraMaps.empty("c", 6, 7, planes=(planes[0], planes[1], planes[0]))  # the mask must be bool


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("inverses", [False, True])
def test_solving_into_the_frames_memory_gives_the_same_maps(backend: str, inverses: bool) -> None:
    """The three-component maps written over the frames the solve reads (as ``solve_session``
    does: ``spent_frames``) equal the maps solved into new memory, bit for bit."""
    from id2reflectance.capture.frames import CameraFrames
    from id2reflectance.capture.session import Rig
    from id2reflectance.capture.simulator.analytic import render_sphere_view, sphere_camera
    from id2reflectance.processing.solve.solver import SolverConfig, solve_camera_frames, spent_frames

    camera = sphere_camera("cam0", 48)
    view = render_sphere_view(camera, inverses=inverses, samples=(32, 8))
    mask = view.truth["mask"] > 0.5
    config = SolverConfig(backend=backend, workers=2, tile_rows=7)
    rig = Rig("t", np.eye(3))
    sat = np.zeros(mask.shape, bool)
    want = solve_camera_frames(CameraFrames("cam0", view.frames, sat, {}), camera, rig, mask, config)
    own = {k: v.copy() for k, v in view.frames.items()}  # frames this test may overwrite
    frames = CameraFrames("cam0", own, sat, {})
    spent = spent_frames(frames, camera, mask)
    assert len(spent) == len(own) - 2 and all(s is not own[("full", p)] for s in spent for p in ("cross", "parallel"))
    out = CameraMaps.empty("cam0", 48, 48, reuse=spent)
    got = solve_camera_frames(frames, camera, rig, mask, config, out=out)
    assert got.counts == want.counts and got.diffuse_albedo is spent[0]
    for name, img in want.images().items():
        np.testing.assert_array_equal(got.images()[name], img, err_msg=name)


def test_spent_frames_leave_full_shared_and_strided_frames() -> None:
    from id2reflectance.capture.camera import Camera
    from id2reflectance.capture.frames import CameraFrames
    from id2reflectance.processing.solve.solver import spent_frames

    cam = Camera("c", 5, 4, np.eye(3), np.zeros(0), np.eye(3), np.zeros(3))
    img = lambda: np.zeros((4, 5, 3), np.float32)  # noqa: E731
    shared = img()
    strided = np.zeros((4, 10, 3), np.float32)[:, ::2]
    images = {
        ("full", "cross"): img(),
        ("full", "parallel"): img(),
        ("gradient_x", "cross"): shared,
        ("gradient_x", "parallel"): shared,  # the same array under two keys
        ("gradient_y", "cross"): strided,
        ("gradient_y", "parallel"): img().astype(np.float64),
        ("gradient_z", "cross"): img(),
        ("gradient_z", "parallel"): img()[::1],  # a view: its own memory still
    }
    frames = CameraFrames("c", images, np.zeros((4, 5), bool), {})
    got = spent_frames(frames, cam, None)
    assert len(got) == 2 and got[0] is images[("gradient_z", "cross")] and got[1] is images[("gradient_z", "parallel")]
    assert spent_frames(frames, Camera("c", 6, 4, np.eye(3), np.zeros(0), np.eye(3), np.zeros(3))) == []


@pytest.mark.parametrize("inverses", [False, True])
def test_frames_and_maps_in_files_give_the_same_maps(tmp_path, inverses: bool) -> None:
    """Frames read as views of their uncompressed files (rows of B, G, R planes, lines 2 bytes
    off a multiple of 4) solved into maps mapped from their files (``CameraMaps.in_files``)
    give the maps of C-contiguous frames solved into memory, bit for bit (numba backend), and
    the files hold the bytes the writer writes for those maps."""
    pytest.importorskip("numba")
    from id2reflectance._shared.exr_plain import read_plain_exr, write_plain_exr
    from id2reflectance.capture.frames import CameraFrames
    from id2reflectance.capture.session import Rig
    from id2reflectance.capture.simulator.analytic import render_sphere_view, sphere_camera
    from id2reflectance.processing.solve.camera_maps import KERNEL_MAPS
    from id2reflectance.processing.solve.solver import SolverConfig, solve_camera_frames

    camera = sphere_camera("cam0", 40)
    view = render_sphere_view(camera, inverses=inverses, samples=(32, 8))
    mask = view.truth["mask"] > 0.5
    config = SolverConfig(backend="numba", workers=2, tile_rows=7)
    rig, sat = Rig("t", np.eye(3)), np.zeros(mask.shape, bool)
    want = solve_camera_frames(CameraFrames("cam0", view.frames, sat, {}), camera, rig, mask, config)
    views = {}
    for i, (key, img) in enumerate(view.frames.items()):
        write_plain_exr(tmp_path / f"{i}.exr", np.ascontiguousarray(img), "RGB")
        views[key] = read_plain_exr(tmp_path / f"{i}.exr", max_pixels=1 << 20, in_place=True)[0]
        assert views[key].strides[2] < 0 and not views[key].flags.aligned
    names = [n for n in KERNEL_MAPS if n not in ("mask", "normal_diffuse_g")]  # one map in memory only
    out = CameraMaps.in_files("cam0", tmp_path / "maps", 40, 40, names)
    assert not out.diffuse_albedo.flags.c_contiguous
    got = solve_camera_frames(CameraFrames("cam0", views, sat, {}), camera, rig, mask, config, out=out)
    assert got.counts == want.counts
    for name, img in want.images().items():
        np.testing.assert_array_equal(got.images()[name].view(np.uint32), img.view(np.uint32), err_msg=name)
    del got, out
    for name in names:
        a = getattr(want, name)
        write_plain_exr(tmp_path / "want.exr", a, "RGB" if a.ndim == 3 else "Y")
        assert (tmp_path / "maps" / f"{name}.exr").read_bytes() == (tmp_path / "want.exr").read_bytes(), name
    assert sorted(p.stem for p in (tmp_path / "maps").iterdir()) == sorted(names)
