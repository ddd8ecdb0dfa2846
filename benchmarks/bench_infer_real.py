"""Monocular inference on real photos (London set): assets, identity kept, consistency, skin tone.

For every London photo (neutral and smiling of each person;
:mod:`id2reflectance.evaluation.real_inference`): whether an asset came out, its warnings,
the dlib distance between the photo and a frontal render of its predicted maps under
uniform white light, the predicted albedo's ITA; then same-person (neutral vs smiling)
against different-person pairs (|ITA difference| and UV albedo PSNR), the predicted ITA per
self-reported group and against the photo's measured ITA; and for the first
``--variant-people`` people's neutral photos, the spread (max - min) of the predicted
albedo ITA over the photo re-exposed -1/0/+1 stop and made warm and cool (goal < 5 deg).
Each is run with the retrieval's skin tone from the eye whites (the default) and from the
photo's colour (``--skin-tone photo``, the reference column).

The model: ``--model RUN`` (a swapper run of ``id2r train swapper``) and ``--dataset DS``
(its template subjects). Without them, ``--make-tiny DIR`` builds the test suite's tiny
32-px dataset and trains its tiny models there (tests/face_pipeline.py,
tests/model_runs.py; several minutes): the figures then describe a toy model, and the
output says so.

Run (the photos are not in the repository; see docs/evaluation.md)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_infer_real.py --model RUN --dataset DS \
        [--photos ../shared/face-photos/london] [--limit N] [--stride K] [--variant-people 20] \
        [--prediction decode|template-tone|template-residual] [--tone-from eye-white|model] [--uv-size 256] \
        [--no-photo-reference] [--json FILE]
    PYTHONPATH=src .venv/bin/python benchmarks/bench_infer_real.py --make-tiny /tmp/tiny [...]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _make_tiny(work: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(REPO))
    from tests.face_pipeline import build_face_dataset
    from tests.model_runs import train_tiny_stage2, train_tiny_swapper

    ds = work / "face_dataset" / "ds"
    if not (ds / "dataset.json").is_file():
        ds = build_face_dataset(work / "face_dataset")
    run = work / "swapper"
    if not (run / "identity_student.safetensors").is_file():
        stage2 = train_tiny_stage2(ds, work / "codebook")
        train_tiny_swapper(ds, stage2, run)
    return ds, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="swapper run folder")
    ap.add_argument("--dataset", default=None, help="dataset whose subjects are the templates")
    ap.add_argument(
        "--make-tiny", default=None, help="build and train the tiny test model here when --model is not given"
    )
    ap.add_argument("--photos", default=None, help="the London set folder (default ../shared/face-photos/london)")
    ap.add_argument("--limit", type=int, default=None, help="first N people only")
    ap.add_argument("--stride", type=int, default=1, help="every K-th person only (after --limit)")
    ap.add_argument("--variant-people", type=int, default=20)
    ap.add_argument("--prediction", default="decode", choices=["decode", "template-residual", "template-tone"])
    ap.add_argument(
        "--tone-from",
        default="eye-white",
        choices=["eye-white", "model"],
        help="template-tone's gain: the calibrated eye-white tone (default) or the model's reading (until 2026-12-07)",
    )
    ap.add_argument("--uv-size", type=int, default=256)
    ap.add_argument(
        "--no-photo-reference",
        action="store_true",
        help="skip the reference column (retrieval by the photo ITA): half the time, for a loaded machine",
    )
    ap.add_argument("--json", default=None, help="also write the summaries, spreads and per-photo figures here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from id2reflectance.evaluation.london import default_london_dir, held_out_people, read_people
    from id2reflectance.evaluation.photo_variants import VARIANTS, photo_variant
    from id2reflectance.evaluation.real_inference import infer_real_photo, summarise_real
    from id2reflectance.face.detect import read_photo
    from id2reflectance.inference.predictor import InferConfig, Inferencer

    root = Path(args.photos) if args.photos else default_london_dir()
    if not (root / "people.csv").is_file():
        print(f"skipped: no London photo set at {root} (see docs/evaluation.md)")
        return
    t0 = time.perf_counter()
    model_note = f"--model {args.model} --dataset {args.dataset}"
    if args.model is None:
        if args.make_tiny is None:
            sys.exit("give --model RUN --dataset DS, or --make-tiny DIR to train the tiny test model")
        ds, run = _make_tiny(Path(args.make_tiny))
        model_note = f"TINY TEST MODEL (32 px, 3 training subjects) trained by tests/model_runs.py in {args.make_tiny}"
    else:
        ds, run = Path(args.dataset), Path(args.model)
    cache = tempfile.mkdtemp(prefix="bench_infer_real_cache_")
    cfg = InferConfig(
        uv_size=args.uv_size,
        cache_dir=cache,
        output=args.prediction.replace("-", "_"),  # type: ignore[arg-type]
        tone_from=args.tone_from.replace("-", "_"),  # type: ignore[arg-type]
    )
    eye = Inferencer(run, ds, cfg)
    photo_tone = copy.copy(eye)
    photo_tone.config = dataclasses.replace(cfg, skin_tone="photo")
    people = held_out_people(read_people(root))[: args.limit][:: args.stride]  # odd ids: no subject's donor
    photos = {(p.id, e): read_photo(p.photo(e)) for p in people for e in ("neutral", "smiling")}
    eth = {p.id: p.ethnicity for p in people}
    runs = (("eye_white", eye),) if args.no_photo_reference else (("eye_white", eye), ("photo", photo_tone))
    results = {}
    for name, inf in runs:
        results[name] = [
            infer_real_photo(inf, img, person=pid, expression=e, ethnicity=eth[pid], write=name == "eye_white")
            for (pid, e), img in photos.items()
        ]
    spreads: dict[str, list[float]] = {"eye_white": [], "photo": []}
    per_variant: dict[str, dict[str, dict[str, dict[str, object]]]] = {"eye_white": {}, "photo": {}}
    for p in people[: args.variant_people]:
        for name, inf in runs:
            itas = []
            for variant, (stops, gains) in VARIANTS.items():
                r = infer_real_photo(
                    inf,
                    photo_variant(photos[(p.id, "neutral")], stops=stops, gains=gains),
                    person=p.id,
                    expression="neutral",
                    ethnicity=p.ethnicity,
                    write=False,
                )
                itas.append(r.albedo_ita_deg)
                per_variant[name].setdefault(p.id, {})[variant] = {
                    "albedo_ita_deg": r.albedo_ita_deg,
                    "ita_deg": r.ita_deg,
                    "template_id": r.template_id,
                    "warnings": list(r.warnings),
                }
            if all(x is not None for x in itas):
                spreads[name].append(max(itas) - min(itas))  # type: ignore[type-var, operator]
    results.setdefault("photo", [])
    summ = {k: summarise_real(v) for k, v in results.items()}
    if args.json:
        keep = ("person", "expression", "ethnicity", "asset", "error", "warnings", "template_id", "photo_ita_deg")
        keep += ("eye_white_ita_deg", "ita_deg", "albedo_ita_deg", "identity_distance")
        per_photo = {k: [{f: getattr(r, f) for f in keep} for r in v] for k, v in results.items()}
        Path(args.json).write_text(
            json.dumps({"summary": summ, "spreads": spreads, "variants": per_variant, "photos": per_photo}, indent=1)
        )
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, a: float | None, b: float | None, fmt: str = "{:.2f}") -> None:
        va = "-" if a is None else fmt.format(a)
        vb = "-" if b is None else fmt.format(b)
        ratio = "-" if a is None or b in (None, 0) else f"{a / b:.3f}"  # type: ignore[operator]
        rows.append((name, va, vb, ratio))

    e, p = summ["eye_white"], summ["photo"]
    add(f"photos with an asset written (of {e['photos']}; reference: predicted)", e["assets"], p["assets"], "{:.0f}")
    add("photos with a warning", e["warned"], p["warned"], "{:.0f}")
    errors = sorted({r.error for r in results["eye_white"] if r.error})
    rows.append(("errors", "; ".join(errors)[:200] or "none", "", ""))
    add("distinct templates retrieved", e["templates"], p["templates"], "{:.0f}")
    add(
        "identity: dlib distance photo -> frontal render, median",
        e["identity_distance"],
        p["identity_distance"],
        "{:.3f}",
    )
    for which in ("same", "other"):
        label = "same person (neutral vs smiling)" if which == "same" else "different people (neutral vs next neutral)"
        add(f"{label}: |albedo ITA diff|, median (deg)", e[which]["ita_diff"], p[which]["ita_diff"], "{:.1f}")
        add(f"{label}: UV albedo PSNR, median (dB)", e[which]["psnr"], p[which]["psnr"], "{:.1f}")
    for g in ("white", "east_asian", "west_asian", "black"):
        add(f"predicted albedo ITA, median, {g} (deg)", e["group_ita"].get(g), p["group_ita"].get(g), "{:.1f}")
    rows.append(
        ("groups in the order white > east_asian > west_asian > black", str(e["ordered"]), str(p["ordered"]), "")
    )
    add("predicted vs photo ITA: Pearson r", e["photo_r"], p["photo_r"], "{:.3f}")
    add("predicted vs photo ITA: slope", e["photo_slope"], p["photo_slope"], "{:.3f}")
    for name in ("eye_white", "photo"):
        s = spreads[name]
        rows.append(
            (
                f"predicted ITA spread over 5 exposure/WB variants, median, p90 (deg; goal < 5) [{name}]",
                f"{np.median(s):.1f}, p90 {np.percentile(s, 90):.1f} ({len(s)} photos)" if s else "-",
                "",
                "",
            )
        )
    for variant in VARIANTS:
        if variant == "as shot":
            continue
        shift = {}
        for name in ("eye_white", "photo"):
            d = [
                abs(v[variant]["albedo_ita_deg"] - v["as shot"]["albedo_ita_deg"])  # type: ignore[operator]
                for v in per_variant[name].values()
                if v[variant]["albedo_ita_deg"] is not None and v["as shot"]["albedo_ita_deg"] is not None
            ]
            shift[name] = float(np.median(d)) if d else None
        add(f"predicted ITA |{variant} - as shot|, median (deg)", shift["eye_white"], shift["photo"], "{:.1f}")
    rows.append(("model", model_note, "", ""))
    rows.append(
        (
            "config",
            f"prediction {args.prediction}, tone from {args.tone_from}, uv {args.uv_size}, templates split train",
            "",
            "",
        )
    )
    rows.append(("seconds (shared 2-core machine, 1 torch thread)", f"{time.perf_counter() - t0:.0f}", "", ""))
    head = ("figure", "skin tone: eye white", "reference: photo ITA", "ratio")
    w = [max(max(len(r[i]) for r in rows), len(head[i])) for i in range(4)]
    print(" | ".join(h.ljust(n) for h, n in zip(head, w)))
    for r in rows:
        print(" | ".join(c.ljust(n) for c, n in zip(r, w)))


if __name__ == "__main__":
    main()
