"""Dask worker plugins: pin each LocalCluster worker process to one CPU core; warm a worker up once."""

from __future__ import annotations

import logging
import os

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger(__name__)


class PinToCore(WorkerPlugin):
    """Worker plugin: restrict the worker process to one core, chosen by its index.

    LocalCluster names its workers 0, 1, ...; worker ``i`` gets ``cores[i % len(cores)]``.
    Registered before any task runs, so thread pools created later (TBB, OpenMP) see a
    one-core affinity mask and size themselves to it.
    """

    name = "id2r-pin-to-core"

    def __init__(self, cores: list[int]) -> None:
        super().__init__()
        self.cores = cores

    def setup(self, worker) -> None:  # distributed.Worker
        try:
            index = int(worker.name)
        except (TypeError, ValueError):
            return
        core = self.cores[index % len(self.cores)]
        # every existing thread of the process (the task thread pool may already exist);
        # threads started later inherit the mask from their creator
        tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]
        for tid in tasks:
            try:
                os.sched_setaffinity(int(tid), {core})
            except OSError:  # a thread that ended meanwhile
                pass
        log.debug("worker %s pinned to core %d", worker.name, core)


class WarmUp(WorkerPlugin):
    """Worker plugin: pay a worker's start-up once, when it joins, instead of in its first task.

    Imports the modules every stage needs (solve, bake with Open3D, views) and compiles or
    loads the solver's numba kernel. Dask runs it on every worker present at registration
    and on every worker that joins later (a worker restarted after a crash included).
    """

    name = "id2r-warm-up"

    def setup(self, worker) -> None:  # distributed.Worker
        import time

        t0 = time.perf_counter()
        # the imports are the point: each brings in its heavy dependencies once per process
        import open3d  # noqa: F401  (the bake's and the views' raycaster; about 2 s to import)

        import id2reflectance.dataset.views  # noqa: F401
        import id2reflectance.processing.bake.baker  # noqa: F401
        import id2reflectance.processing.solve.solver  # noqa: F401
        from id2reflectance.processing.solve.kernel import warm_up

        kernel_s = warm_up()
        log.info("worker %s warmed up in %.1f s (kernel %.1f s)", worker.name, time.perf_counter() - t0, kernel_s)
