"""Metric records of a training run: ``metrics.jsonl`` always, TensorBoard when available.

Every record is one JSON line ``{"step": int, "time_s": float, "<name>": float, ...}``.
TensorBoard event files need the ``tensorboard`` package (``torch.utils.tensorboard``
imports it); without it the run logs a warning once and keeps the JSONL file only.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


def _tensorboard_writer(run_dir: Path) -> Any | None:
    try:  # the optional tensorboard package, only for runs that log to TensorBoard
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # tensorboard package not installed
        log.warning("TensorBoard unavailable (%s); metrics go to %s only", err, run_dir / METRICS_FILE)
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of ``RUN/metrics.jsonl`` (empty list when absent)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class MetricsLog:
    """Append metric records for one process (create only on the main rank).

    Parameters
    ----------
    run_dir : the run folder.
    resume_step : when resuming, records after this step (written by the interrupted run
        after its last checkpoint) are dropped so the file holds one continuous curve.
    tensorboard : try to also write TensorBoard event files.
    """

    def __init__(self, run_dir: str | Path, *, resume_step: int | None = None, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            keep = [r for r in read_metrics(run_dir) if r.get("step", 0) <= resume_step]
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
            tmp.replace(self.path)
        elif resume_step is None:
            self.path.write_text("", encoding="utf-8")
        self._file = self.path.open("a", encoding="utf-8")
        self._t0 = time.perf_counter()
        self._tb = _tensorboard_writer(self.path.parent) if tensorboard else None

    @property
    def tensorboard(self) -> bool:
        """Whether TensorBoard event files are being written."""
        return self._tb is not None

    def write(self, step: int, values: dict[str, float]) -> None:
        """Append one record (non-finite values are stored as null)."""
        rec: dict[str, Any] = {"step": int(step), "time_s": round(time.perf_counter() - self._t0, 3)}
        for k, v in values.items():
            rec[k] = float(v) if math.isfinite(float(v)) else None
            if self._tb is not None and rec[k] is not None:
                self._tb.add_scalar(k, rec[k], step)
        self._file.write(json.dumps(rec) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
