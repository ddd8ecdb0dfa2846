"""What the fault guards cost: header checks before decoding, the output lock, a refused
hostile header.

Usage::

    .venv/bin/python benchmarks/bench_faults.py [--size 2048] [--repeats 20]

Prints one table: each figure, the reference measured in the same run, and their ratio.

- the header check (:func:`check_image_header`) of a ``size`` x ``size`` RGB float32 EXR
  and 16-bit PNG against decoding the same file (:func:`read_image`, which includes it);
- taking and releasing the output lock (:func:`output_lock`) against writing one small
  JSON file atomically;
- refusing a header that claims 100000 x 100000 pixels against decoding the honest file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.imageio import check_image_header, read_image, write_exr, write_png
from id2reflectance._shared.lock import output_lock
from id2reflectance.errors import InputFileError


def _best(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` calls, seconds (the least disturbed by other jobs)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _refused(path: Path) -> None:
    try:
        read_image(path, "linear")
    except InputFileError:
        return
    raise SystemExit(f"{path} was not refused")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2048, help="image side, pixels")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    n, r = args.size, args.repeats
    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench_faults_") as d:
        tmp = Path(d)
        exr = write_exr(tmp / "a.exr", rng.random((n, n, 3), dtype=np.float32))
        png = write_png(tmp / "a.png", rng.random((n, n, 3)), bits=16)
        for name, path in (("EXR float32", exr), ("PNG 16-bit", png)):
            check = _best(lambda p=path: check_image_header(p, (n, n)), r)
            decode = _best(lambda p=path: read_image(p, "linear"), max(3, r // 4))
            rows.append((f"header check, {name} {n}x{n}", check, "read_image of it", decode))
        t_lock = _best(lambda: _lock_once(tmp / "out"), r)
        t_json = _best(lambda: atomic_write_json(tmp / "x.json", {"a": 1}), r)
        rows.append(("output lock taken and released", t_lock, "atomic write of a small JSON", t_json))
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.faults import hostile_image  # the same hostile files the tests use

        huge = hostile_image(tmp / "huge.exr")
        t_refuse = _best(lambda: _refused(huge), r)
        rows.append(("refusing a 100000x100000 EXR header", t_refuse, f"read_image of the {n}x{n} EXR", rows[0][3]))
    print(f"{'figure':44} {'ms':>9}   {'reference':32} {'ms':>9}  {'ratio':>7}")
    for name, value, ref_name, ref in rows:
        print(f"{name:44} {value * 1e3:9.3f}   {ref_name:32} {ref * 1e3:9.3f}  {value / ref:7.4f}")


def _lock_once(out: Path) -> None:
    with output_lock(out):
        pass


if __name__ == "__main__":
    main()
