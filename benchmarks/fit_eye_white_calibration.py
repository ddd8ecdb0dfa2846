"""Fit ``inference.albedo_tone.EYE_WHITE_TO_ALBEDO`` on simulated renders (issue 22 item 5).

For every simulated subject of a session folder: its front camera's full-on, parallel-polarised
frame exposed so that the face's 95th-percentile luminance is 0.6, encoded as 8-bit sRGB, dlib
landmarks, and the eye-white referenced ITA (``face.white_reference.eye_white_tone``); against
the subject's front-view diffuse albedo ITA from the dataset's template bank, measured like a
prediction's (``albedo_tone.skin_ita`` over ``albedo_tone.skin_pixels`` of the view mask).
Theil-Sen line ``albedo ITA = offset + slope * eye-white ITA`` over the subjects with an
estimate; the table prints it beside the shipped constant. No London photo enters the fit.

    python benchmarks/fit_eye_white_calibration.py --sessions RUN/sessions --dataset RUN/ds
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", required=True, help="folder of simulated session folders (S0000, ...)")
    ap.add_argument("--dataset", required=True, help="the dataset built from them (template bank)")
    ap.add_argument("--view-size", type=int, default=128, help="front-view size of the albedo ITA (px)")
    ap.add_argument("--camera", default="front")
    args = ap.parse_args()

    from scipy.stats import pearsonr, theilslopes

    from id2reflectance._shared.imageio import linear_to_srgb, read_exr
    from id2reflectance.face.detect import find_faces
    from id2reflectance.face.white_reference import eye_white_tone
    from id2reflectance.inference.albedo_tone import EYE_WHITE_TO_ALBEDO, skin_ita, skin_pixels
    from id2reflectance.inference.template_subjects import TemplateBank

    t0 = time.perf_counter()
    bank = TemplateBank(Path(args.dataset), split="all")
    eye, albedo = [], []
    subjects = sorted(p for p in Path(args.sessions).iterdir() if (p / "session.json").is_file())
    for folder in subjects:
        img = read_exr(folder / "frames" / args.camera / "full_parallel.exr")[0][..., :3]
        lum = img @ np.array([0.2126, 0.7152, 0.0722])
        scale = 0.6 / np.percentile(lum[lum > 0], 95)
        u8 = np.round(linear_to_srgb(np.clip(img * scale, 0, 1)) * 255).astype(np.uint8)
        faces = find_faces(u8)
        tone = eye_white_tone(u8, faces[0].landmarks) if faces else None
        if tone is None or tone.ita_deg is None:
            continue
        view = bank.view_maps(folder.name, args.camera, args.view_size)
        eye.append(tone.ita_deg)
        albedo.append(skin_ita(view["diffuse_albedo"], skin_pixels(view["mask"])))
    x, y = np.asarray(eye), np.asarray(albedo)
    slope, offset, _, _ = theilslopes(y, x)
    residual = float(np.median(np.abs(y - (offset + slope * x))))
    rows = [
        (
            "subjects with an eye-white estimate",
            f"{len(x)}",
            f"{len(subjects)}",
            f"{len(x) / max(len(subjects), 1):.3f}",
        ),
        ("offset (deg)", f"{offset:.2f}", f"{EYE_WHITE_TO_ALBEDO[0]:.2f} (shipped)", "-"),
        ("slope", f"{slope:.3f}", f"{EYE_WHITE_TO_ALBEDO[1]:.3f} (shipped)", f"{slope / EYE_WHITE_TO_ALBEDO[1]:.3f}"),
        ("Pearson r", f"{pearsonr(x, y)[0]:.3f}", "-", "-"),
        ("median |residual| (deg)", f"{residual:.2f}", "-", "-"),
        ("seconds", f"{time.perf_counter() - t0:.0f}", "-", "-"),
    ]
    w = [max(len(r[i]) for r in [("figure", "value", "reference", "ratio"), *rows]) for i in range(4)]
    for r in [("figure", "value", "reference", "ratio"), *rows]:
        print(" | ".join(c.ljust(n) for c, n in zip(r, w, strict=True)))


if __name__ == "__main__":
    main()
