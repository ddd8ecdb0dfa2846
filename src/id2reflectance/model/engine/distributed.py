"""Process-group setup for DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node N -m id2reflectance.cli.main train codebook ...`` sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`setup` then joins the process group (NCCL on
CUDA, Gloo on CPU) and picks ``cuda:LOCAL_RANK``. Without those variables the run is a
single process on ``cuda:0`` when CUDA is available, else the CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: ``rank`` of ``world_size`` on ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the process that writes logs and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(*, device: str | None = None) -> Runtime:
    """Join the torchrun process group when launched by torchrun; choose the device.

    Parameters
    ----------
    device : force a device (``"cpu"``, ``"cuda"``); default: CUDA when available.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        log.info("joined process group: rank %d of %d on %s", rank, world, dev)
    return Runtime(rank=rank, world_size=world, local_rank=local, device=dev)


def teardown(rt: Runtime) -> None:
    """Leave the process group if this module joined one."""
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, rt: Runtime) -> None:
    """Copy rank 0's parameters and buffers to every rank (no-op for one process)."""
    if not rt.distributed:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def mean_over_ranks(values: dict[str, float], rt: Runtime) -> dict[str, float]:
    """Average scalar metrics over all ranks (identity for one process)."""
    if not rt.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=rt.device)
    dist.all_reduce(t)
    t /= rt.world_size
    return dict(zip(keys, t.tolist(), strict=True))
