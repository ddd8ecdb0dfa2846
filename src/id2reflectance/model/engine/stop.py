"""Graceful stop of a training loop on SIGINT / SIGTERM (Ctrl-C, ``timeout``, a scheduler).

The first signal only sets :attr:`StopRequest.requested`; the loop finishes its optimiser
step, saves a checkpoint and returns normally, so ``--resume`` continues exactly from there.
A second signal raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopRequest:
    """Install with :meth:`install`, poll :attr:`requested`, always :meth:`restore`.

    Parameters
    ----------
    enabled : False leaves the process's handlers alone (e.g. under torchrun, where every
        rank must stop at the same step); :attr:`requested` then stays False.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # second signal: stop now
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def install(self) -> StopRequest:
        if self.enabled:
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handler)
        return self

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT/SIGTERM and leave the stop to
    the main process (a terminal's Ctrl-C and ``timeout`` signal the whole process group;
    a worker killed by it would fail the main process's next batch before it can save)."""
    for s in StopRequest.SIGNALS:
        signal.signal(s, signal.SIG_IGN)
