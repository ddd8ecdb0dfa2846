"""Dask cluster selection: a LocalCluster sized to the machine, or an existing scheduler."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from id2reflectance.errors import ConfigError, Id2rError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterConfig:
    """Where per-subject tasks run.

    scheduler : address of an existing Dask scheduler (``tcp://host:8786``); None starts
        a LocalCluster on this machine.
    workers : LocalCluster worker processes (0 = one per CPU core).
    memory_limit : per-worker memory limit for the LocalCluster (Dask syntax, ``"4GiB"``).
    dashboard : LocalCluster dashboard address (``"127.0.0.1:0"`` picks a free port;
        None disables it).
    connect_timeout_s : how long to wait for ``scheduler`` before failing.
    pin_workers : LocalCluster only, when there are no more workers than usable cores:
        pin worker ``i`` to core ``i``. Each worker runs one task with its thread pools at
        one thread, but Open3D's raycaster (TBB/Embree) still starts a thread per core;
        unpinned, those threads spin on the other workers' cores (measured: a bake used
        1.3 CPU-seconds per wall-second for a 3% shorter wall time).
    """

    scheduler: str | None = None
    workers: int = 0
    memory_limit: str = "auto"
    dashboard: str | None = "127.0.0.1:0"
    connect_timeout_s: float = 10.0
    pin_workers: bool = True


def _probe_tcp(address: str, timeout_s: float, message: str) -> None:
    """Fail with ``message`` unless something accepts TCP connections at a ``tcp://`` address.

    A ``distributed.Client`` that fails to connect leaves its IO-loop thread running in
    the process (a library caller would keep it; a later fork can hang on its locks), so an
    address nobody listens on is refused before any Client exists. Other schemes pass.
    """
    if not address.startswith("tcp://"):
        return
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise Id2rError(f"{message} (bad address: {err})") from err
    if not host or port is None:
        raise Id2rError(f"{message} (the address needs tcp://HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise Id2rError(f"{message} ({err})") from err


def open_client(config: ClusterConfig):  # -> tuple[distributed.Client, LocalCluster | None]
    """Start or connect to a cluster; raise Id2rError quickly when unreachable."""
    from distributed import Client, LocalCluster  # lazy: Dask is slow to import

    if config.scheduler:
        unreachable = f"cannot reach the Dask scheduler at '{config.scheduler}' within {config.connect_timeout_s:g} s"
        _probe_tcp(config.scheduler, config.connect_timeout_s, unreachable)
        try:
            client = Client(config.scheduler, timeout=f"{config.connect_timeout_s}s")
        except (OSError, TimeoutError, ValueError) as err:
            raise Id2rError(f"{unreachable} ({err})") from err
        log.info("connected to Dask scheduler %s", config.scheduler)
        return client, None
    if config.workers < 0:
        raise ConfigError(f"workers must be >= 0, got {config.workers}")
    n = config.workers or (os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        memory_limit=config.memory_limit,
        dashboard_address=config.dashboard or ":0",
        scheduler_kwargs={} if config.dashboard else {"dashboard": False},
        silence_logs=logging.ERROR,
        # one task per worker process: keep each process's own thread pools at one thread
        env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )
    client = Client(cluster)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if config.pin_workers and 1 < len(cores) and n <= len(cores):
        from id2reflectance.dataset.worker_pinning import PinToCore  # imports distributed (slow)

        client.register_plugin(PinToCore(cores))
    return client, cluster


def dashboard_link(client) -> str | None:
    """The dashboard URL of a client's cluster, or None when disabled."""
    try:
        return client.dashboard_link
    except Exception:  # no dashboard (disabled or bokeh missing)
        return None
