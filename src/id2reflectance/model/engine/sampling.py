"""Deterministic, resumable sample order for training.

The training stream is the concatenation of per-epoch permutations of the dataset,
``perm_e = randperm(N)`` from a generator seeded with ``seed * 1_000_003 + e``. Global
sample ``g`` is item ``perm_e[g % N]`` of epoch ``e = g // N``. Optimiser step ``s``,
micro-step ``m``, rank ``r`` and batch slot ``j`` use
``g = ((s * accum + m) * world + r) * batch + j``, so the order depends only on the step:
resuming at step ``s`` continues exactly where an uninterrupted run would be, for any
number of DataLoader workers. Items are addressed as ``(index, epoch)`` so the dataset's
augmentation varies per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Infinite batches of ``(index, epoch)`` keys for one rank, from ``start_step`` on.

    Parameters
    ----------
    n : dataset length.
    batch : samples per micro-batch on this rank.
    accum : micro-steps per optimiser step.
    world, rank : process count and this process's rank.
    seed : permutation seed.
    start_step : first optimiser step to produce batches for.
    """

    def __init__(
        self, n: int, *, batch: int, accum: int = 1, world: int = 1, rank: int = 0, seed: int = 0, start_step: int = 0
    ) -> None:
        if n < 1:
            raise ValueError("empty dataset")
        self.n, self.batch, self.accum, self.world, self.rank = n, batch, accum, world, rank
        self.seed, self.start_step = seed, start_step
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.pop(min(self._perms))
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms[epoch] = torch.randperm(self.n, generator=g)
        return self._perms[epoch]

    def key(self, g: int) -> tuple[int, int]:
        """``(index, epoch)`` of global sample ``g``."""
        epoch = g // self.n
        return int(self._perm(epoch)[g % self.n]), epoch

    def batch_keys(self, step: int, micro: int) -> list[tuple[int, int]]:
        """The keys this rank loads for optimiser step ``step``, micro-step ``micro``."""
        first = ((step * self.accum + micro) * self.world + self.rank) * self.batch
        return [self.key(first + j) for j in range(self.batch)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            for m in range(self.accum):
                yield self.batch_keys(step, m)
            step += 1
