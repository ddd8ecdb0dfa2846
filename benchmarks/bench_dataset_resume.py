"""Dataset build killed with SIGKILL at a fraction of a full build's time, then re-run.

Usage::

    .venv/bin/python benchmarks/bench_dataset_resume.py [--subjects 3] [--workers 2] [--kill-at 0.6]
        [--image-size 512] [--build-args "..."]

Simulates the subjects (``id2r simulate`` defaults unless ``--image-size``), times a full
``id2r dataset build --workers N`` (default options) from scratch, then starts the same
build into a fresh folder, kills the whole command (SIGKILL to its process, the way a
crashed job or the OOM killer ends it) at ``kill-at`` of the full build's time, and times
the re-run. Prints the re-run time as a fraction of the full build (target <= 0.5), the
stages the re-run reused, whether ``id2r dataset check`` passes and whether any worker
process outlived the killed command.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ID2R = [sys.executable, "-c", "from id2reflectance.cli.main import main; main()"]


def _build(sessions: Path, out: Path, workers: int, extra: list[str]) -> list[str]:
    return [
        *ID2R,
        "dataset",
        "build",
        str(sessions),
        "-o",
        str(out),
        "--workers",
        str(workers),
        "--no-progress",
        *extra,
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-at", type=float, default=0.6)
    ap.add_argument("--image-size", type=int, default=512, help="simulated camera image size")
    ap.add_argument("--build-args", default="", help="extra options of id2r dataset build")
    args = ap.parse_args()
    extra = shlex.split(args.build_args)

    tmp = Path(tempfile.mkdtemp(prefix="bench_resume_"))
    sessions = tmp / "sessions"
    sim = [*ID2R, "simulate", "-o", str(sessions), "-n", str(args.subjects), "--image-size", str(args.image_size)]
    subprocess.run(sim, check=True, capture_output=True)

    t0 = time.perf_counter()
    subprocess.run(_build(sessions, tmp / "full", args.workers, extra), check=True, capture_output=True)
    full_s = time.perf_counter() - t0
    print(f"full build: {full_s:.1f} s")

    out = tmp / "killed"
    proc = subprocess.Popen(
        _build(sessions, out, args.workers, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(args.kill_at * full_s)
    children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    records = sorted(str(p.relative_to(out / ".work")) for p in (out / ".work").glob("*/*.json"))
    print(f"killed at {args.kill_at:.0%} ({args.kill_at * full_s:.1f} s); stage records left: {records}")
    time.sleep(5)
    left = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    print(f"worker processes left 5 s after the kill: {len(left)} of {len(children)}")

    t0 = time.perf_counter()
    res = subprocess.run(_build(sessions, out, args.workers, extra), capture_output=True, text=True)
    rerun_s = time.perf_counter() - t0
    print(res.stdout.strip())
    check = subprocess.run([*ID2R, "dataset", "check", "--dataset", str(out)], capture_output=True, text=True)
    print(f"re-run: {rerun_s:.1f} s = {rerun_s / full_s:.2f} of a full build (target <= 0.5); exit {res.returncode}")
    print(f"id2r dataset check: exit {check.returncode} {check.stdout.strip()}")


if __name__ == "__main__":
    main()
