"""Memory helpers of the solved maps: pages mapped up front, numpy without huge pages."""

from __future__ import annotations

import numpy as np
import pytest
from numpy._core import multiarray

from id2reflectance.processing.solve.camera_maps import mapped_empty, small_pages


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
