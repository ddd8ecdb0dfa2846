"""numba's worker threads, started so that they sleep when idle instead of spinning.

numba's parallel kernels (``prange``) run on a pool of worker threads. Where numba uses the
OpenMP threading layer (GNU libgomp: the usual case on Linux without a recent TBB), an idle
worker spins for a while after every parallel region before it sleeps (libgomp's default
wait policy), and that spin is CPU time: the denoiser and the solve call dozens of parallel
kernels a camera, with numpy and OpenCV work between them, so each idle thread burns up to
a few milliseconds per call. On the two cores the solve shares with others (the cost figure
of issue 20 counts CPU seconds), that is work taken from the other processes (docs/solve.md
section 1b, "Worker threads", has the measured cost).

libgomp reads its wait policy (``OMP_WAIT_POLICY``) once, when it is loaded, which numba
does when its thread pool starts. :func:`start_threads` starts the pool with the policy
``PASSIVE`` set for that moment only (then the environment is as before: a library loaded
later, e.g. torch's own OpenMP runtime, sees the caller's setting). A policy the caller set
is kept, and nothing changes where the pool has already started or another threading
layer is used. The results of every kernel are the same whatever the policy (it only
decides what an idle thread does).

numba's own order of threading layers tries TBB first; where another library has already
loaded an older libtbb (Open3D does) it then prints a warning at the first kernel of every
process that solves. :func:`start_threads` tries OpenMP first (:data:`LAYER_PRIORITY`)
unless the user chose a layer or an order (``NUMBA_THREADING_LAYER``,
``NUMBA_THREADING_LAYER_PRIORITY``).
"""

from __future__ import annotations

import os
import threading

__all__ = ["LAYER_PRIORITY", "WAIT_POLICY", "start_threads"]

WAIT_POLICY = "PASSIVE"
"""OpenMP wait policy of numba's workers: idle threads sleep (``ACTIVE``: they spin)."""

LAYER_PRIORITY = ("omp", "tbb", "workqueue")
"""numba's threading layers in the order they are tried (where the user set neither
``NUMBA_THREADING_LAYER`` nor ``NUMBA_THREADING_LAYER_PRIORITY``)."""
_NUMBA_PRIORITY = ("tbb", "omp", "workqueue")  # numba's default order

_LOCK = threading.Lock()  # the environment is changed by one caller at a time


def start_threads() -> str:
    """Start numba's thread pool (once per process), its OpenMP workers sleeping when idle.

    Called where the compiled parallel kernels are imported, before any of them runs.

    Returns
    -------
    The threading layer numba uses (``"omp"``, ``"tbb"`` or ``"workqueue"``).
    """
    from numba import config, threading_layer
    from numba.np.ufunc import parallel

    with _LOCK:
        if not parallel._is_initialized:
            if config.THREADING_LAYER == "default" and list(config.THREADING_LAYER_PRIORITY) == list(_NUMBA_PRIORITY):
                # OpenMP before TBB: numba's own order tries TBB first, and where another library has
                # loaded an older libtbb (Open3D's) it warns about it at every solve's first kernel
                config.THREADING_LAYER_PRIORITY = list(LAYER_PRIORITY)
            old = os.environ.get("OMP_WAIT_POLICY")
            if old is None:
                os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
            try:
                parallel._launch_threads()
            finally:
                if old is None:
                    os.environ.pop("OMP_WAIT_POLICY", None)
    return str(threading_layer())
