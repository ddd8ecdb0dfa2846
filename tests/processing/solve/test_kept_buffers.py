"""The solver's scratch planes kept between cameras are per thread: two solves running at once in one
process (a Dask worker with several threads builds several subjects together) must not write into each
other's planes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from id2reflectance.processing.solve import denoise, guided_kernel, integrable_normals, moment_filter

KEPT = {
    "moment planes": lambda: moment_filter._planes((64, 64), 3, 0),
    "integrable step": lambda: integrable_normals._kept("spectrum", (2, 64, 33), np.complex64),
    "full-on guide": lambda: denoise._guide_plane(np.ones((64, 64), np.float32)),
    "guided filter scratch": lambda: guided_kernel._scratch(4096),
}


@pytest.mark.parametrize("name", sorted(KEPT))
def test_kept_planes_are_reused_by_a_thread_and_not_shared_with_another(name: str) -> None:
    make = KEPT[name]
    first, again = make(), make()
    assert np.shares_memory(first, again)  # reused camera after camera
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(make).result()
    assert not np.shares_memory(other, make())
