"""Fit the eye-white tone constants on simulated renders (issue 22 item 5): no London evaluation photo enters them.

``inference.albedo_tone.EYE_WHITE_TO_ALBEDO``: for every simulated subject, its front camera's
full-on, parallel-polarised frame (rendered here, no session written) exposed so that the face's
95th-percentile luminance is 0.6, encoded as 8-bit sRGB, dlib landmarks, and the eye-white
referenced ITA (``face.white_reference.eye_white_tone``); against the subject's true front-view
diffuse albedo ITA over its skin (the render's truth: ``skin`` mask, eroded like a prediction's
view mask, ``albedo_tone.skin_pixels``; within 1.4 degrees median of the template bank's 128 px
view that a prediction is measured on, r 0.999, over the 48 painted subjects of the retrain2
sessions). Theil-Sen line ``albedo ITA = offset + slope * eye-white ITA`` over the subjects with
an estimate. The cross-polarised frame's line is printed for comparison (a photo's skin carries
its sheen, as the parallel frame's does).

``face.white_reference.WIDER_REFERENCE``: ``face.white_reference.wider_reference_factors`` (the
eye white's median over the usual top set of the eye openings over its median over each wider
set, ranked by blue), median over the London set's EVEN ids' (the donors') neutral photos as shot
(``--photos``), and for comparison over the renders (whose sclera is one flat albedo).

``face.white_reference.SMILE_GAIN`` (a smile's shaded eye whites): every EVEN-id London photo
(neutral and smiling) and its five exposure / white-balance variants (``evaluation.photo_variants``),
each with the landmarks dlib finds in it (as inference does), measured without the gain
(``eye_white_tone(..., smile=False)``: skin, eye white, ``mouth_lift``); the gain is
``white_reference.choose_smile_gain`` of these records (the smallest median |smiling - neutral|
as shot among the gains that leave the median smiling - neutral within 1 degree and the variant
spread's p90 within 0.5 degree of no gain). Measured before the render line, which is measured
with it (a render's face is neutral: its lift near 0).

The subjects: ``SimulatorConfig(appearance_source="photo")`` (face shape and skin detail from an
even-id London donor, the simulator's own skin tone), ``--image-size`` px frames (512; 256 gives
the same residuals, the line within 0.9 degree). Renders are cached in ``--renders`` (one ``.npz``
per subject and size, about 35 s each on one core; ``--first`` / ``--subjects`` /
``--only-render`` split them into parallel jobs); a second run only fits. The table prints each
fitted constant beside the shipped one; ``--record FILE`` writes the fit's inputs and constants
(``benchmarks/eye_white_calibration.json``, which the tests refit); ``--per-render`` prints every
render's residual.

    python benchmarks/fit_eye_white_calibration.py --renders DIR [--subjects 40] [--first 0] [--image-size 512]
        [--only-render] [--per-render] [--record FILE] [--photos ../shared/face-photos/london]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

EXPOSURE_P95 = 0.6  # the face's 95th-percentile luminance after exposure (linear)
LUMA = np.array([0.2126, 0.7152, 0.0722])


def smile_records(people: list, find_faces, read_photo) -> list[dict]:
    """The records of ``white_reference.smile_gain_fit_figures`` for ``people`` (even ids only; an odd
    id raises): both photos of each, every variant of ``evaluation.photo_variants.VARIANTS`` with the
    landmarks found in it; a variant without a face is left out."""
    from id2reflectance.evaluation.photo_variants import VARIANTS, photo_variant
    from id2reflectance.face.white_reference import eye_white_tone, mouth_lift

    out = []
    for person in people:
        if int(person.id) % 2:
            raise ValueError(f"person {person.id}: the odd ids are the evaluation set, never in a constant")
        for expression in ("neutral", "smiling"):
            photo = read_photo(person.photo(expression))
            for variant, (stops, gains) in VARIANTS.items():
                image = photo_variant(photo, stops=stops, gains=gains)
                faces = find_faces(image)
                if not faces:
                    continue
                tone = eye_white_tone(image, faces[0].landmarks, smile=False)
                ok = tone.ita_deg is not None
                out.append(
                    {
                        "person": person.id,
                        "expression": expression,
                        "variant": variant,
                        "skin": [round(float(x), 6) for x in tone.skin] if ok else None,
                        "eye_white": [round(float(x), 6) for x in tone.eye_white] if ok else None,
                        "lift": round(mouth_lift(faces[0].landmarks), 5),
                    }
                )
    return out


def render_subject_front(index: int, image_size: int, seed: int) -> dict[str, np.ndarray]:
    """Subject ``index``'s exposed front frame (uint8 sRGB), true albedo and skin mask, donor id."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, config_subject, render_subject

    cfg = SimulatorConfig(
        image_size=image_size,
        uv_size=512,
        cameras=1,
        inverses=False,
        appearance_source="photo",
        specular_samples=(4, 4),  # the parallel frame is only compared; the fit uses the cross-polarised one
        seed=seed,
    )
    subject = config_subject(cfg, index)
    _, _, _, _, renders = render_subject(subject, cfg)
    front = renders["front"]
    look = subject.appearance
    return {
        "parallel": front.parallel["full"][..., :3].astype(np.float16),
        "cross": front.cross["full"][..., :3].astype(np.float16),
        "albedo": front.truth["diffuse_albedo"][..., :3].astype(np.float16),
        "skin": front.truth["skin"] > 0.5,
        "donor": np.array(subject.photo.id if subject.photo is not None else ""),
        "beard": np.array(look.beard if look is not None else "none"),
    }


def exposed(radiance: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB: ``radiance`` (H, W, 3) linear scaled so that the face's 95th-percentile
    luminance is :data:`EXPOSURE_P95`, clipped to [0, 1]."""
    from id2reflectance._shared.imageio import linear_to_srgb

    img = np.asarray(radiance, np.float32)
    lum = img @ LUMA
    scale = EXPOSURE_P95 / np.percentile(lum[lum > 0], 95)
    return np.round(linear_to_srgb(np.clip(img * scale, 0, 1)) * 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--renders", required=True, help="render cache folder (created; one .npz per subject)")
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--first", type=int, default=0, help="first subject index (to render in parallel shards)")
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only-render", action="store_true", help="render into the cache and stop (shards)")
    ap.add_argument("--per-render", action="store_true", help="also print every render's residual, largest first")
    ap.add_argument("--record", default=None, help="write the fit's inputs and constants here (JSON)")
    ap.add_argument("--photos", default=None, help="the London set (default ../shared/face-photos/london)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    cache = Path(args.renders)
    cache.mkdir(parents=True, exist_ok=True)
    for index in range(args.first, args.first + args.subjects):
        path = cache / f"S{index:04d}_{args.image_size}_{args.seed}.npz"
        if not path.is_file():
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **render_subject_front(index, args.image_size, args.seed))
            tmp.replace(path)
    if args.only_render:
        return

    from scipy.stats import pearsonr, theilslopes

    import id2reflectance.face.white_reference as white_reference
    from id2reflectance.evaluation.london import default_london_dir, read_people
    from id2reflectance.face.detect import find_faces, read_photo
    from id2reflectance.face.skin_tone import aligned_skin
    from id2reflectance.face.white_reference import WIDER_REFERENCE, eye_white_tone, wider_reference_factors
    from id2reflectance.inference.albedo_tone import EYE_WHITE_TO_ALBEDO, skin_ita, skin_pixels

    root = Path(args.photos) if args.photos else default_london_dir()
    even = [p for p in read_people(root) if int(p.id) % 2 == 0]  # the odd ids are the evaluation set
    records = smile_records(even, find_faces, read_photo)
    smile, smile_figures = white_reference.choose_smile_gain(records)
    shipped_smile = white_reference.SMILE_GAIN
    white_reference.SMILE_GAIN = smile  # the render line and the photos' figures below are measured with it

    names, eye, albedo, render_wider, cross = [], [], [], [], {}
    files = sorted(cache.glob(f"S*_{args.image_size}_{args.seed}.npz"))
    for path in files:
        d = np.load(path)
        truth = skin_ita(d["albedo"].astype(np.float32), skin_pixels(d["skin"]))
        for frame in ("parallel", "cross"):
            image = exposed(d[frame].astype(np.float32))
            faces = find_faces(image)
            tone = eye_white_tone(image, faces[0].landmarks) if faces else None
            if tone is None or tone.ita_deg is None:
                continue
            if frame == "cross":  # compared only: a photo's skin carries its sheen, the parallel frame's
                cross[path.stem] = (tone.ita_deg, truth)
                continue
            w = wider_reference_factors(*aligned_skin(image, faces[0].landmarks)[::2])
            if w is not None:
                render_wider.append(w)
            names.append((path.stem, str(d["donor"]), str(d["beard"]), tone.lift, tone.smile_gain))
            eye.append(tone.ita_deg)
            albedo.append(truth)
    x, y = np.asarray(eye), np.asarray(albedo)
    slope, offset, _, _ = theilslopes(y, x)
    res = y - (offset + slope * x)
    residual = float(np.median(np.abs(res)))
    cx, cy = (np.asarray(v) for v in zip(*cross.values(), strict=True)) if cross else (x, y)
    c_slope, c_offset, _, _ = theilslopes(cy, cx)
    if args.per_render:
        for k in np.argsort(-np.abs(res)):
            print(
                f"{names[k][0]} donor {names[k][1]} beard {names[k][2]}: eye-white ITA {x[k]:.1f}, albedo ITA {y[k]:.1f}, residual {res[k]:+.1f} deg"
            )

    photo_wider = []
    for person in even:
        photo = read_photo(person.neutral)
        faces = find_faces(photo)
        w = wider_reference_factors(*aligned_skin(photo, faces[0].landmarks)[::2]) if faces else None
        if w is not None:
            photo_wider.append((person.id, *w))
    pw = np.median(np.asarray([w[1:] for w in photo_wider]), axis=0)
    rw = np.median(np.asarray(render_wider), axis=0) if render_wider else (float("nan"),) * 2

    if args.record:
        record = {
            "command": "python benchmarks/fit_eye_white_calibration.py --renders DIR"
            f" --subjects {args.subjects} --image-size {args.image_size} --seed {args.seed}",
            "EYE_WHITE_TO_ALBEDO": [round(float(offset), 2), round(float(slope), 3)],
            "WIDER_REFERENCE": [[f, round(float(v), 2)] for (f, _), v in zip(WIDER_REFERENCE, pw, strict=True)],
            "SMILE_GAIN": smile,
            "even_id_smile_records": records,
            "renders": [
                {
                    "render": n[0],
                    "donor": n[1],
                    "beard": n[2],
                    "lift": round(float(n[3]), 4),
                    "smile_gain": round(float(n[4]), 4),
                    "eye_white_ita_deg": float(a),
                    "albedo_ita_deg": float(b),
                }
                for n, a, b in zip(names, x, y, strict=True)
            ],
            "even_id_photos": [{"person": w[0], "factors": [float(v) for v in w[1:]]} for w in photo_wider],
        }
        Path(args.record).write_text(json.dumps(record, indent=1) + "\n")
    rows = [
        ("renders with an eye-white estimate", f"{len(x)}", f"{len(files)}", f"{len(x) / max(len(files), 1):.3f}"),
        ("offset (deg)", f"{offset:.2f}", f"{EYE_WHITE_TO_ALBEDO[0]:.2f} (shipped)", "-"),
        ("slope", f"{slope:.3f}", f"{EYE_WHITE_TO_ALBEDO[1]:.3f} (shipped)", f"{slope / EYE_WHITE_TO_ALBEDO[1]:.3f}"),
        ("Pearson r", f"{pearsonr(x, y)[0]:.3f}", "-", "-"),
        (
            "renders' mouth lift, smile gain: median (min..max)",
            f"{np.median([n[3] for n in names]):.3f} ({min(n[3] for n in names):.3f}..{max(n[3] for n in names):.3f}), "
            f"{np.median([n[4] for n in names]):.3f}",
            "-",
            "-",
        ),
        ("median |residual| (deg)", f"{residual:.2f}", "-", "-"),
        ("p90 |residual| (deg)", f"{np.percentile(np.abs(res), 90):.2f}", "-", "-"),
        (
            f"cross-polarised frame instead ({len(cx)} renders): offset, slope, median |residual|",
            f"{c_offset:.2f}, {c_slope:.3f}, {np.median(np.abs(cy - (c_offset + c_slope * cx))):.2f}",
            "-",
            "-",
        ),
    ]
    n_people = len({r["person"] for r in records})
    rows.append((f"SMILE_GAIN: even-id people ({n_people})", f"{smile:.1f}", f"{shipped_smile:.1f} (shipped)", "-"))
    for g in (0.0, *(x for x in sorted(smile_figures) if 0 < abs(x - smile) <= 0.2), smile):
        f = smile_figures[g]
        rows.append(
            (
                f"  gain {g:.1f}: |smiling - neutral| median, bias, variant spread p90 (deg)",
                f"{f['pair']:.2f}, {f['bias']:+.2f}, {f['spread_p90']:.2f}",
                "chosen" if g == smile else "-",
                "-",
            )
        )
    for k, (fraction, shipped) in enumerate(WIDER_REFERENCE):
        rows.append(
            (
                f"WIDER_REFERENCE {fraction:.2f}: even-id photos ({len(photo_wider)})",
                f"{pw[k]:.2f}",
                f"{shipped:.2f} (shipped)",
                f"{pw[k] / shipped:.3f}",
            )
        )
        rows.append((f"WIDER_REFERENCE {fraction:.2f}: renders ({len(render_wider)})", f"{rw[k]:.2f}", "-", "-"))
    rows.append(("seconds", f"{time.perf_counter() - t0:.0f}", "-", "-"))
    head = ("figure", "value", "reference", "ratio")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for r in [head, *rows]:
        print(" | ".join(c.ljust(n) for c, n in zip(r, w, strict=True)))


if __name__ == "__main__":
    main()
