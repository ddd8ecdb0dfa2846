"""The progress callback every long-running library function accepts (stdlib only)."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: ``stage`` names the work (shown beside the bar), ``done``
and ``total`` count its units; called with ``done == total`` when the stage ends. The CLI
renders it with tqdm (:func:`id2reflectance.cli.progress.progress_bar`); ``None`` means quiet."""
