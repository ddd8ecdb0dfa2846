"""Photo-to-asset latency of ``id2r infer`` and batched throughput.

Prints ``figure | value | reference (same run) | ratio``:

* set-up: loading the swapper and the dataset's template bank, template identity
  embeddings computed (empty cache) and loaded from the cache;
* one photo to a written UV asset, by stage, median of ``--repeat`` runs: face detection
  and landmarks, alignment, identity embedding, skin tone; then retrieval + swap + decode +
  stitching into UV (``Inferencer`` on the prepared face, its template's baking geometry
  kept from an earlier photo), then writing the asset folder; the reference is the whole
  photo-to-asset time; and the same stage for the first photo on a template (its
  geometry prepared, ``Inferencer.prepared_mesh``);
* prediction variants (``--prediction template-residual|template-tone``,
  ``--front-view photo``): the same stage against the default ``decode``;
* the photo enlarged to ``--large-photo`` px wide (a camera's size): face detection by
  :func:`~id2reflectance.face.detect.find_faces` (searches a reduced copy first) against
  dlib at full resolution, and the whole photo-to-asset time against the small photo's;
* batched: faces per second when ``--batch`` faces go through one call (one forward pass of
  the swapper for all their views, then one stitch per face), against one face per call.

Run (a dataset built by ``id2r dataset build`` and a swapper run from ``id2r train swapper``)::

    .venv/bin/python benchmarks/bench_infer.py --dataset DATASET --checkpoint RUN \
        [--photo PATH (default: skimage's astronaut)] [--repeat 3] [--batch 8] [--large-photo 4000] \
        [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--photo", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--large-photo", type=int, default=4000, help="width of the enlarged photo for the detection row")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from id2reflectance.face.detect import align_face, detect_faces, find_faces
    from id2reflectance.face.skin_tone import photo_ita_deg
    from id2reflectance.inference import predictor as infer_mod
    from id2reflectance.inference.output import write_prediction
    from id2reflectance.inference.predictor import InferConfig, Inferencer

    if args.photo:
        import cv2

        img = cv2.cvtColor(cv2.imread(args.photo, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    else:
        from skimage import data

        img = data.astronaut()
    rows: list[tuple[str, str, str, str]] = []
    cache = Path(tempfile.mkdtemp(prefix="bench_infer_cache_"))
    cfg = InferConfig(device=args.device, cache_dir=str(cache))

    t = time.perf_counter()
    inf = Inferencer(args.checkpoint, args.dataset, cfg)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    inf.template_embeddings()
    t_embed_cold = time.perf_counter() - t
    t = time.perf_counter()
    Inferencer(args.checkpoint, args.dataset, cfg).template_embeddings()
    t_setup_warm = time.perf_counter() - t
    n_templates = len(inf.template_ids())
    rows.append(("load swapper + template bank", f"{t_load:.2f} s", "-", "-"))
    rows.append((f"template embeddings, {n_templates} templates, empty cache", f"{t_embed_cold:.2f} s", "-", "-"))
    rows.append(
        (
            "set-up again, embeddings from the cache",
            f"{t_setup_warm:.2f} s",
            f"{t_load + t_embed_cold:.2f} s",
            f"{t_setup_warm / (t_load + t_embed_cold):.2f}",
        )
    )

    # stages of one photo
    t_detect, faces = _median_time(lambda: find_faces(img), args.repeat)
    face = faces[0]
    t_align, (aligned, _) = _median_time(lambda: align_face(img, face.landmarks, size=inf.resolution), args.repeat)
    t_id, identity = _median_time(lambda: inf.encoder.embed(img, face.landmarks), args.repeat)
    t_ita, ita = _median_time(lambda: photo_ita_deg(img, face.landmarks), args.repeat)

    def prepared(k: int = 0):
        return infer_mod._FaceInput(
            aligned=aligned,
            identity=inf._check_identity(np.asarray(identity, np.float32)),
            photo_ita_deg=ita,
            source=f"bench{k}",
            face_index=k,
            box=tuple(int(x) for x in face.box),
            landmarks=np.asarray(face.landmarks, np.float64),
        )

    t_pred, preds = _median_time(lambda: inf._predict([prepared()]), args.repeat)  # template geometry kept

    def cold():
        inf._prepared.clear()  # the template's baking geometry prepared again, as for a new template
        return inf._predict([prepared()])

    t_pred_cold, _ = _median_time(cold, args.repeat)
    out = Path(tempfile.mkdtemp(prefix="bench_infer_out_"))
    counter = iter(range(10**6))
    t_write, _ = _median_time(
        lambda: write_prediction(preds[0], out, mesh_from=inf, name=f"p{next(counter)}"), args.repeat
    )
    t_total, _ = _median_time(
        lambda: [
            write_prediction(p, out, mesh_from=inf, name=f"q{next(counter)}")
            for p in inf.predict_image(img, source="photo")
        ],
        args.repeat,
    )
    for label, v in (
        ("face detection + 68 landmarks (dlib)", t_detect),
        ("FFHQ alignment", t_align),
        ("identity embedding (dlib 128-d)", t_id),
        ("skin tone (ITA)", t_ita),
        ("retrieve + swap + decode + stitch into UV", t_pred),
        ("write asset folder + views", t_write),
    ):
        rows.append(
            (f"photo stage: {label}", f"{v * 1000:.0f} ms", f"total {t_total * 1000:.0f} ms", f"{v / t_total:.2f}")
        )
    rows.append(
        (f"photo -> UV asset, {img.shape[1]}x{img.shape[0]} photo, {args.device}", f"{t_total:.2f} s", "-", "-")
    )
    rows.append(
        (
            "retrieve + swap + decode + stitch, first photo on its template",
            f"{t_pred_cold * 1000:.0f} ms",
            f"template seen before {t_pred * 1000:.0f} ms",
            f"{t_pred_cold / t_pred:.2f}",
        )
    )
    # a camera-sized photo: the reduced first search against dlib at full resolution
    import cv2

    side = args.large_photo
    large = cv2.resize(img, (side, side * img.shape[0] // img.shape[1]), interpolation=cv2.INTER_CUBIC)
    t_large, found = _median_time(lambda: find_faces(large), args.repeat)
    t_full, full = _median_time(lambda: detect_faces(large), args.repeat)
    rows.append(
        (
            f"face detection + landmarks, {large.shape[1]}x{large.shape[0]} photo ({len(found)} face)",
            f"{t_large * 1000:.0f} ms",
            f"full-resolution search {t_full * 1000:.0f} ms ({len(full)} face)",
            f"{t_large / t_full:.2f}",
        )
    )
    t_total_large, _ = _median_time(
        lambda: [
            write_prediction(p, out, mesh_from=inf, name=f"L{next(counter)}")
            for p in inf.predict_image(large, source="large")
        ],
        args.repeat,
    )
    rows.append(
        (
            f"photo -> UV asset, {large.shape[1]}x{large.shape[0]} photo, {args.device}",
            f"{t_total_large:.2f} s",
            f"{img.shape[1]}x{img.shape[0]} photo {t_total:.2f} s",
            f"{t_total_large / t_total:.2f}",
        )
    )

    # prediction variants (InferConfig.output / front_view) on the same prepared face
    import dataclasses

    from id2reflectance.evaluation.swapper import VARIANTS

    for name, (output, front_view) in VARIANTS.items():
        if name == "decode":
            continue
        vcfg = dataclasses.replace(cfg, output=output, front_view=front_view)
        vinf = Inferencer.from_swapper(inf.swapper, args.dataset, vcfg, inf.encoder, meta=inf.meta)
        vinf.template_embeddings()
        t_v, _ = _median_time(lambda vinf=vinf: vinf._predict([prepared()]), args.repeat)
        rows.append(
            (
                f"retrieve + swap + decode + stitch, variant {name}",
                f"{t_v * 1000:.0f} ms",
                f"decode {t_pred * 1000:.0f} ms",
                f"{t_v / t_pred:.2f}",
            )
        )

    # batched
    t_one, _ = _median_time(lambda: inf._predict([prepared()]), args.repeat)
    t_batch, _ = _median_time(lambda: inf._predict([prepared(k) for k in range(args.batch)]), max(1, args.repeat - 1))
    rows.append(
        (
            f"faces/s, {args.batch} faces per call (swap + decode + stitch)",
            f"{args.batch / t_batch:.2f}",
            f"1 face per call: {1 / t_one:.2f}",
            f"{(args.batch / t_batch) * t_one:.2f}",
        )
    )
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':{w}} | value | reference | ratio")
    for r in rows:
        print(f"{r[0]:{w}} | {r[1]} | {r[2]} | {r[3]}")
    print(
        f"config: swapper resolution {inf.resolution}, views {cfg.views}, uv_size {cfg.uv_size}, device {args.device}, torch threads {torch.get_num_threads()}"
    )


if __name__ == "__main__":
    main()
