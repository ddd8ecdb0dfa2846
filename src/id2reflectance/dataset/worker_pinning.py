"""Dask worker plugin pinning each LocalCluster worker process to one CPU core."""

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
