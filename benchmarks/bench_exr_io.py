"""Uncompressed EXR read and write: the OpenEXR library against ``_shared/exr_plain``.

Reads the ``.exr`` files of a folder (default: the frames of ``bench_solver.py --e2e``'s
4096x4096 session, ``--e2e-cache DIR``) with ``--threads`` threads, and writes ten
4096x4096 maps like a solve's (seven RGB, three one-channel), each way in a fresh process
(fresh memory costs page faults: a warm process would hide them), alternated ``--repeats``
times (``own-extremes``: the own reader also taking the frame checks' minimum, maximum and
band maxima, which the library's read leaves to a pass of its own); prints CPU user and system seconds, minor page faults and wall time, the library's
figure as the reference. Pixels are checked bit-identical, files byte-identical.

    PYTHONPATH=src python benchmarks/bench_exr_io.py --frames /tmp/e2e3_cache/e2e_exr_4096/frames/cam0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np
import OpenEXR
from id2reflectance._shared import exr_plain
from id2reflectance._shared.imageio import MAX_IMAGE_PIXELS
from id2reflectance.processing.solve.camera_maps import small_pages

what, way, threads, src, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]


def library_read(p):
    with OpenEXR.File(str(p)) as f:
        return np.asarray(f.channels()["RGB"].pixels)


def own_read(p):  # with the frame checks' extremes (own-extremes) or without
    band_rows = 85 if way == "own-extremes" else None
    return exr_plain.read_plain_exr(p, max_pixels=MAX_IMAGE_PIXELS, band_rows=band_rows)[0]


def library_write(i, a):
    data = {"RGB": a} if a.ndim == 3 else {"Y": a}
    with OpenEXR.File({"compression": OpenEXR.NO_COMPRESSION, "type": OpenEXR.scanlineimage}, data) as f:
        f.write(f"{out}/m{i}.exr")


def own_write(i, a):
    exr_plain.write_plain_exr(f"{out}/m{i}.exr", a, "RGB" if a.ndim == 3 else "Y", direct=way == "own-direct")


with small_pages():
    if what == "read":
        files = sorted(Path(src).glob("*.exr"))
        jobs = [(library_read if way == "library" else own_read, (p,)) for p in files]
    else:
        base = np.random.default_rng(0).random((4096, 4096, 3), dtype=np.float32)
        maps = [base + i for i in range(7)] + [np.ascontiguousarray(base[..., 0]) + i for i in range(3)]
        jobs = [(library_write if way == "library" else own_write, (i, m)) for i, m in enumerate(maps)]
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda job: job[0](*job[1]), jobs))
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    if what == "read":  # the reference's pixels, bit for bit
        for p, img in zip(files, results):
            assert np.array_equal(library_read(p).view(np.uint32), img.view(np.uint32)), p
print(json.dumps({"wall": wall, "user": r1.ru_utime - r0.ru_utime, "system": r1.ru_stime - r0.ru_stime,
                  "minflt": r1.ru_minflt - r0.ru_minflt}))
"""


def run(what: str, way: str, threads: int, src: Path, out: Path) -> dict[str, float]:
    """One measurement in a fresh process."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    res = subprocess.run(
        [sys.executable, "-c", CHILD, what, way, str(threads), str(src), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", required=True, help="a folder of uncompressed float32 RGB EXR files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per way (best CPU reported)")
    parser.add_argument("--out", help="where the maps are written (default: a temporary folder)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_exr_io_"))
    ways = {"read": ("library", "own", "own-extremes"), "write": ("library", "own-direct", "own-buffered")}
    rows = [("load average (1 min) at start", f"{os.getloadavg()[0]:.2f}", "2 CPUs", "-")]
    try:
        for what, names in ways.items():
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.repeats):
                for way in names:
                    r = run(what, way, args.threads, Path(args.frames), out / what)
                    if way not in best or r["user"] + r["system"] < best[way]["user"] + best[way]["system"]:
                        best[way] = r
            ref = best["library"]
            ref_cpu = ref["user"] + ref["system"]
            for way in names:
                r = best[way]
                cpu = r["user"] + r["system"]
                label = f"{what} ({'8 frames' if what == 'read' else '10 maps'}, {args.threads} threads) {way}"
                rows += [
                    (
                        f"{label}: CPU s (best of {args.repeats})",
                        f"{cpu:.2f} (user {r['user']:.2f}, system {r['system']:.2f})",
                        f"library {ref_cpu:.2f}",
                        f"{cpu / ref_cpu:.2f}",
                    ),
                    (
                        f"{label}: wall s",
                        f"{r['wall']:.2f}",
                        f"library {ref['wall']:.2f}",
                        f"{r['wall'] / ref['wall']:.2f}",
                    ),
                    (f"{label}: minor faults", str(r["minflt"]), f"library {ref['minflt']}", "-"),
                ]
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in [("figure", "value", "reference", "ratio"), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
