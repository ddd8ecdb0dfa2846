"""numba's worker threads start with the OpenMP workers sleeping when idle (threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[3] / "src")

# a fresh process: the thread pool starts once per process; libgomp prints its settings at load
# (OMP_DISPLAY_ENV=VERBOSE: GOMP_SPINCOUNT is the number of spins an idle worker makes before it sleeps)
SCRIPT = """
import os
import open3d  # noqa: F401  (it loads an older libtbb: numba then warned that TBB is too old)
import numpy as np
import numba
from id2reflectance.processing.solve.guided import guided_filter

g = np.random.default_rng(0).random((32, 32), dtype=np.float32)
guided_filter(g, g.copy(), radius=1, eps=1e-3)  # a parallel kernel run
print("layer", numba.threading_layer())
print("policy after", os.environ.get("OMP_WAIT_POLICY"))
"""


def _run(extra_env: dict[str, str]) -> tuple[str, str]:
    unset = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(PYTHONPATH=SRC, OMP_DISPLAY_ENV="VERBOSE", **extra_env)
    res = subprocess.run(
        [sys.executable, "-W", "error::Warning", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, res.stderr


def test_idle_workers_sleep_and_the_environment_is_restored() -> None:
    """Also: no warning (``-W error``) where Open3D was imported first (numba tried TBB first and
    warned that Open3D's libtbb is too old, in the README's demo among others)."""
    out, err = _run({})
    assert "policy after None" in out  # the caller's environment as it was
    if "layer omp" in out:  # libgomp: its workers do not spin (the default spins 300000 times)
        assert "GOMP_SPINCOUNT = '0'" in err
        assert "OMP_WAIT_POLICY = 'PASSIVE'" in err
    else:  # another threading layer: no OpenMP runtime was loaded for numba
        assert "GOMP_SPINCOUNT" not in err


def test_a_policy_the_caller_set_is_kept() -> None:
    policy = "ACTIVE"
    out, err = _run({"OMP_WAIT_POLICY": policy})
    assert f"policy after {policy}" in out
    if "layer omp" in out:
        assert f"OMP_WAIT_POLICY = '{policy}'" in err
        assert "GOMP_SPINCOUNT = '0'" not in err


def test_start_threads_returns_the_layer_and_runs_once() -> None:
    from numba import threading_layer

    from id2reflectance.processing.solve.threads import start_threads

    assert start_threads() == start_threads() == threading_layer()
