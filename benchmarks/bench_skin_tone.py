"""Skin tone that follows the person, not the photo: estimators on the London photos re-exposed and re-balanced.

Every London photo (neutral and smiling) is re-exposed by -1, 0, +1 stop and made warm and
cool in linear light (:mod:`id2reflectance.evaluation.photo_variants`); each skin-tone
estimator (:mod:`id2reflectance.evaluation.real_skin_tone`: the photo ITA, the eye-white
referenced ITA with and without reading clipped channels below the clip level, a backdrop and
a grey-world normalisation) measures every variant with the
landmarks of the photo as shot. Prints ``figure | value | reference | ratio`` with the
photo ITA as the reference: the spread over the variants (goal < 5 deg, median), the
neutral-vs-smiling difference (goal < 5 deg, median), the group medians and whether they
keep the order white > east_asian > west_asian > black; and the eye-white colour of the
calibration photos (even ids, neutral, as shot) against the shipped ``REFERENCE_RGB``.
``--ids even`` / ``odd`` measures the donors (every tone constant is fitted on them) or the
evaluation people only; ``--detect-each-variant`` finds the landmarks in every variant (as
inference does) instead of using the photo as shot's; the group medians are bootstrapped over
the people of each group (``--bootstrap`` resamples) for the eye-white estimators.

Run (the photos are not in the repository; see docs/evaluation.md)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_skin_tone.py [--photos ../shared/face-photos/london] [--limit N] [--stride K]
        [--ids all|even|odd] [--detect-each-variant] [--bootstrap N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=None, help="the London set folder (default ../shared/face-photos/london)")
    ap.add_argument("--limit", type=int, default=None, help="first N people only")
    ap.add_argument("--stride", type=int, default=1, help="every K-th person only (after --limit)")
    ap.add_argument("--ids", choices=("all", "even", "odd"), default="all", help="even: the donors; odd: evaluation")
    ap.add_argument("--detect-each-variant", action="store_true", help="landmarks found in every variant")
    ap.add_argument("--bootstrap", type=int, default=2000, help="resamples of the group medians (0: none)")
    args = ap.parse_args()

    from id2reflectance.evaluation.london import default_london_dir, read_people
    from id2reflectance.evaluation.real_skin_tone import (
        ESTIMATORS,
        bootstrap_group_medians,
        measure_tones,
        summarise_tones,
    )
    from id2reflectance.face.detect import find_faces, read_photo
    from id2reflectance.face.white_reference import REFERENCE_RGB, eye_white_tone

    root = Path(args.photos) if args.photos else default_london_dir()
    if not (root / "people.csv").is_file():
        print(f"skipped: no London photo set at {root} (see docs/evaluation.md)")
        sys.exit(0)
    people = read_people(root)[: args.limit][:: args.stride]
    if args.ids != "all":
        people = [p for p in people if int(p.id) % 2 == (args.ids == "odd")]
    t0 = time.perf_counter()

    def landmarks(photo: np.ndarray) -> np.ndarray | None:
        faces = find_faces(photo)
        return faces[0].landmarks if faces else None

    photos = measure_tones(
        people, landmarks, lambda p, e: read_photo(p.photo(e)), detect_each_variant=args.detect_each_variant
    )
    seconds = time.perf_counter() - t0
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, value: float | None, ref: float | None, fmt: str = "{:.1f}") -> None:
        v = "-" if value is None else fmt.format(value)
        r = "-" if ref is None else fmt.format(ref)
        ratio = "-" if value is None or ref is None or ref == 0 else f"{value / ref:.3f}"
        rows.append((name, v, r, ratio))

    summary = {e: summarise_tones(photos, e) for e in ESTIMATORS}
    base = summary["photo"]
    for e in ESTIMATORS:
        s = summary[e]
        row(f"{e}: spread over 5 variants, median (deg; goal < 5)", s.spread_median, base.spread_median)
        row(f"{e}: spread over 5 variants, p90 (deg)", s.spread_p90, base.spread_p90)
        row(f"{e}: photos with an estimate in every variant", s.complete, base.complete, "{:.0f}")
        missing = ", ".join(f"{k} {n}" for k, n in s.missing_by_variant.items() if n)
        rows.append((f"{e}: photos without an estimate, by variant", missing or "none", "", ""))
        for v in s.shift_median:
            if v != "as shot":
                row(f"{e}: |{v} - as shot|, median (deg)", s.shift_median[v], base.shift_median[v])
                row(f"{e}: |{v} - as shot|, p90 (deg)", s.shift_p90[v], base.shift_p90[v])
        row(f"{e}: |neutral - smiling| as shot, median (deg; goal < 5)", s.pair_median, base.pair_median)
        row(f"{e}: |neutral - smiling| as shot, p90 (deg)", s.pair_p90, base.pair_p90)
        order = " > ".join(f"{g} {v:.1f}" for g, v in sorted(s.group_median.items(), key=lambda kv: -kv[1]))
        rows.append((f"{e}: group medians as shot (deg)", order, "", "ordered" if s.ordered else "NOT ordered"))
        if args.bootstrap and e in ("photo", "eye_white", "eye_white_no_smile", "eye_white_keep_dark", "template_tone"):
            b = bootstrap_group_medians(photos, e, resamples=args.bootstrap)
            spans = ", ".join(f"{g} {lo:.1f}..{hi:.1f}" for g, (lo, _, hi) in b.interval.items())
            rows.append((f"{e}: group medians, 90 % bootstrap interval over people (deg)", spans, "", ""))
            odds = ", ".join(f"{k} {v:.2f}" for k, v in b.p_ordered.items())
            rows.append((f"{e}: fraction of resamples in order", odds, "", f"all {b.p_all_ordered:.2f}"))
    whites = []
    for p in people if args.ids != "odd" else []:
        if int(p.id) % 2 == 0:  # the donors' ids: the odd ids are the evaluation set
            photo = read_photo(p.neutral)
            faces = find_faces(photo)
            tone = eye_white_tone(photo, faces[0].landmarks) if faces else None
            if tone is not None and tone.eye_white is not None:
                whites.append(tone.eye_white)
    if whites:
        calib = np.median(np.stack(whites), axis=0)
        rows.append(
            (
                "eye-white colour, calibration photos (even ids, neutral; linear RGB)",
                " ".join(f"{x:.4f}" for x in calib),
                " ".join(f"{x:.4f}" for x in REFERENCE_RGB),
                f"{float(np.max(np.abs(calib / np.asarray(REFERENCE_RGB) - 1))):.3f} max rel. diff",
            )
        )
    row("photos measured (x5 variants)", len(photos), 2 * len(people), "{:.0f}")
    row("seconds (shared 2-core machine)", seconds, None)
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print(" | ".join(h.ljust(n) for h, n in zip(("figure", "value", "reference (photo ITA)", "ratio"), w)))
    for r in rows:
        print(" | ".join(c.ljust(n) for c, n in zip(r, w)))


if __name__ == "__main__":
    main()
