"""Swapper predictions under lighting the model never saw (docs/evaluation.md).

For every held-out subject of a dataset built from simulated sessions, the session's
ground-truth asset is rendered, front view only, under the full-on pattern and every
built-in HDR environment, exactly like the dataset's views (same size, exposure and tone
curve). Each photo then goes through the evaluation's protocol (`id2r eval swapper`: the
subject is never its own template, front-view diffuse albedo against its own) for each
prediction variant and the retrieval-only `template maps` baseline. Prints, per lighting,
the mean diffuse PSNR (dB) and |ITA error| (degrees) of every row.

    .venv/bin/python scripts/unseen_lighting.py --dataset DATASET --sessions SESSIONS \
        --checkpoint SWAPPER [--variants decode,template-tone] [--split test] [--threads 1]

SESSIONS holds the simulated sessions the dataset was built from (their `truth/`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from id2reflectance.dataset.views import render_training_views
    from id2reflectance.evaluation.inputs import SubjectTruth, ViewTruth, load_subject_truth, read_png
    from id2reflectance.evaluation.swapper import VARIANTS, SwapperEvalConfig, _Evaluator
    from id2reflectance.inference.predictor import InferConfig, Inferencer
    from id2reflectance.processing.asset import asset_from_truth
    from id2reflectance.processing.relight.envmap import builtin_environments

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--sessions", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--variants", default="decode,template-tone")
    ap.add_argument("--split", default="test")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    manifest = json.loads((args.dataset / "dataset.json").read_text())
    records = [s for s in manifest["subjects"] if s["split"] == args.split]
    lights = ["full", *sorted(builtin_environments())]
    seen = set(manifest["environments"])
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    ev = _Evaluator(SwapperEvalConfig(views=("front",), uv=False))
    stops = manifest.get("rgb_exposure_stops")
    ev.exposure_stops = float(stops) if isinstance(stops, (int, float)) else None
    # the front view alone is scored (no UV maps): they are stitched at the smallest size
    inferencers = {
        v: Inferencer(
            args.checkpoint,
            args.dataset,
            InferConfig(views=("front",), output=VARIANTS[v][0], front_view=VARIANTS[v][1], uv_size=256),  # type: ignore[arg-type]
        )
        for v in variants
    }
    first = inferencers[variants[0]]
    rows = [*variants, "template maps"]
    psnr: dict[tuple[str, str], list[float]] = {}
    ita: dict[tuple[str, str], list[float]] = {}

    def add(row: str, light: str, rec: dict) -> None:
        psnr.setdefault((row, light), []).append(rec["views"]["front"]["diffuse"]["psnr"])
        ita.setdefault((row, light), []).append(rec["ita"]["error"])

    with tempfile.TemporaryDirectory() as tmp:
        for rec in records:
            sid = rec["id"]
            asset = asset_from_truth(args.sessions / sid, Path(tmp) / sid / "asset", previews=False)
            views = Path(tmp) / sid / "render"
            render_training_views(
                asset, views, image_size=manifest["image_size"], views=("front",), environments=tuple(lights)
            )
            truth = load_subject_truth(args.dataset, rec, views=("front",), environments=(), uv=False)
            names = ["full"] + [f"env{k}" for k in range(len(lights) - 1)]
            photos = {n: read_png(views / "views/front" / f"rgb_{n}.png") for n in names}
            truth = SubjectTruth(
                sid,
                truth.attributes,
                {"front": ViewTruth(truth.views["front"].maps, truth.views["front"].mask, photos)},
                {},
            )
            for light, name in zip(lights, names):
                for v in variants:
                    r, _ = ev.evaluate_input(inferencers[v], truth, name)
                    add(v, light, r)
                    if v == variants[0]:
                        tid, score = r["template"], r["template_score"]
                tmaps = {"front": first.bank.view_maps(tid, "front", first.resolution)}
                add("template maps", light, ev.evaluate_template_maps(tid, tmaps, {}, score, truth, name))
            print(f"{sid}: {len(lights)} lightings", flush=True)
    head = f"{'lighting':20s}" + "".join(f" | {row[:22]:>22s}" for row in rows)
    print("\ndiffuse PSNR (dB) / |ITA error| (degrees), front view, mean over subjects")
    print(head)
    print("-" * len(head))
    for light in lights:
        tag = light + (" (trained)" if light in seen else "")
        cells = "".join(f" | {np.mean(psnr[(row, light)]):9.2f} / {np.mean(ita[(row, light)]):9.2f}" for row in rows)
        print(f"{tag:20s}{cells}")
    unseen = [light for light in lights if light not in seen]
    cells = "".join(
        f" | {np.mean([np.mean(psnr[(row, light)]) for light in unseen]):9.2f} / "
        f"{np.mean([np.mean(ita[(row, light)]) for light in unseen]):9.2f}"
        for row in rows
    )
    print(f"{'mean, unseen':20s}{cells}")


if __name__ == "__main__":
    main()
