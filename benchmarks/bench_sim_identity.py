"""Identity separation of simulated subjects as dlib sees it: face-model heads vs procedural.

Usage::

    .venv/bin/python benchmarks/bench_sim_identity.py [--subjects N] [--reference-subjects M]
        [--image-size PX] [--face-model PATH] [--appearance procedural|photo|auto]

Subjects 0..N-1 of seed 0 are drawn from the face model (identity weights N(0, 1) per mode,
neutral expression), rendered by the front camera (``--image-size``, default 320 px; UV
maps 256 texels) under two light-stage lightings: the uniform sphere (``full``) and the soft
side light (``gradient_x``), parallel-polarised, one fixed exposure
(:func:`~id2reflectance.capture.simulator.portraits.portraits`). dlib finds the face and
its 68 landmarks and embeds it (128-d, dlib's own descriptor, not normalised: dlib's
distance scale, on which the same person is closer than 0.6 and on which
``bench_identity.py`` measures the London photos; unit-normalised embeddings shrink every
distance by the descriptors' norm, about 1.45, and made the figures look far worse); the
``full`` image is the gallery, the ``gradient_x`` image the probe
(:mod:`~id2reflectance.face.verification`).

Rows: figure | face model | reference (the procedural heads, subjects 0..M-1, the same
skins, measured in the same run) | ratio. The issue's targets for the face-model heads:
impostor pairs farther than 0.6 >= 80 %, verification AUC >= 0.95, rank-1 >= 0.9.

``--ablate`` also measures the face-model subjects with parts of their appearance
(:mod:`~id2reflectance.capture.simulator.appearance`) taken away, and prints what each
part adds: none (the template's eyebrow region and the skin's stubble, as before the
appearance), + eyebrows, + lips and irises, + eyelashes and periorbital pigment, + scalp
hair, + facial hair (= everything). ``--hair-volume`` gives the scalp hair its volume
(``SimulatorConfig.hair_volume``, off by default). ``--appearance photo`` gives every
face-model subject a real person's face shape and albedo detail from the London set's
even ids (``SimulatorConfig.appearance_source``, docs/face-model.md; ``--face-photos PATH``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from id2reflectance.capture.simulator.appearance import Appearance
from id2reflectance.capture.simulator.portraits import portraits
from id2reflectance.capture.simulator.sessions import SimulatorConfig, config_subject
from id2reflectance.face.detect import find_faces
from id2reflectance.face.identity import DlibIdentityEncoder
from id2reflectance.face.verification import VerificationFigures, verification_figures


def _plain(look: Appearance) -> Appearance:
    return replace(_no_eyes(look), scalp="bald", beard="none", lip_haemoglobin=1.0, lip_melanin=1.0, iris_shift=0.0)


def _no_eyes(look: Appearance) -> Appearance:
    return replace(look, scalp="bald", beard="none", lash_width=0.0, periorbital=0.0)


# name -> what is kept of a subject's appearance (None: no appearance at all)
ABLATIONS: dict[str, Callable[[Appearance], Appearance | None]] = {
    "none (template brows, stubble)": lambda look: None,
    "+ eyebrows": _plain,
    "+ lips, irises": _no_eyes,
    "+ eyelashes, periorbital": lambda look: replace(look, scalp="bald", beard="none"),
    "+ scalp hair": lambda look: replace(look, beard="none"),
    "+ facial hair (all)": lambda look: look,
}


def _measure(
    cfg: SimulatorConfig,
    n: int,
    enc: DlibIdentityEncoder,
    keep: Callable[[Appearance], Appearance | None] | None = None,
) -> tuple[VerificationFigures, float, float]:
    """Figures, detection rate and seconds per subject for subjects 0..n-1 of ``cfg``
    (``keep``: what of each subject's appearance to keep)."""
    gallery, probes = [], []
    found = 0
    t0 = time.perf_counter()
    for i in range(n):
        subject = config_subject(cfg, i)
        if keep is not None and subject.appearance is not None:
            subject = replace(subject, appearance=keep(subject.appearance))
        views = portraits(subject, cfg)
        emb = []
        for img in views.values():
            faces = find_faces(img)
            found += bool(faces)
            emb.append(enc.descriptor(img, faces[0].landmarks) if faces else None)
        if all(e is not None for e in emb):
            gallery.append(emb[0])
            probes.append(emb[1])
    seconds = (time.perf_counter() - t0) / n
    return verification_figures(np.asarray(gallery), np.asarray(probes)), found / (2 * n), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--reference-subjects", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=320)
    ap.add_argument("--face-model", default=None)
    ap.add_argument("--ablate", action="store_true", help="also measure without parts of the appearance")
    ap.add_argument("--hair-volume", action="store_true", help="scalp hair as geometry (SimulatorConfig.hair_volume)")
    ap.add_argument(
        "--appearance",
        choices=("procedural", "photo", "auto"),
        default="auto",
        help="face shape and albedo detail from real photos (SimulatorConfig.appearance_source)",
    )
    ap.add_argument("--face-photos", default=None, help="the photo set (default ../shared/face-photos/london)")
    args = ap.parse_args()
    base = dict(image_size=args.image_size, uv_size=256, visibility_directions=256, seed=0)
    volume = dict(hair_volume=args.hair_volume, appearance_source=args.appearance, face_photos=args.face_photos)
    enc = DlibIdentityEncoder()
    fm, fm_det, fm_s = _measure(
        SimulatorConfig(**base, **volume, head_model="face_model", face_model=args.face_model), args.subjects, enc
    )
    pr, pr_det, pr_s = _measure(SimulatorConfig(**base, head_model="procedural"), args.reference_subjects, enc)
    print(
        f"subjects: {fm.people} face-model (of {args.subjects}), {pr.people} procedural (of {args.reference_subjects});"
        f" {args.image_size} px front camera, lightings full / gradient_x"
    )
    print(f"{'figure':<44} {'face model':>11} {'procedural':>11} {'ratio':>7}")
    rows = [
        ("face found (both lightings)", fm_det, pr_det),
        ("different-subject pairs > 0.6", fm.impostor_above_threshold, pr.impostor_above_threshold),
        ("different-subject median distance", fm.impostor_median, pr.impostor_median),
        ("same subject, two lightings: median dist.", fm.genuine_median, pr.genuine_median),
        ("same subject < 0.6", fm.genuine_below_threshold, pr.genuine_below_threshold),
        ("verification AUC", fm.auc, pr.auc),
        ("rank-1 (gallery full, probe gradient_x)", fm.rank1, pr.rank1),
        ("seconds per subject (shared machine)", fm_s, pr_s),
    ]
    for name, a, b in rows:
        ratio = a / b if b else float("nan")
        print(f"{name:<44} {a:>11.3f} {b:>11.3f} {ratio:>7.2f}")
    if not args.ablate:
        return
    cfg = SimulatorConfig(**base, **volume, head_model="face_model", face_model=args.face_model)
    print(f"\nface-model subjects (of {args.subjects}) with parts of their appearance:")
    print(f"{'appearance':<32} {'pairs > 0.6':>11} {'median':>7} {'same med.':>9} {'AUC':>6} {'rank-1':>6}")
    for name, keep in ABLATIONS.items():
        f, _, _ = _measure(cfg, args.subjects, enc, keep)
        print(
            f"{name:<32} {f.impostor_above_threshold:>11.3f} {f.impostor_median:>7.3f}"
            f" {f.genuine_median:>9.3f} {f.auc:>6.3f} {f.rank1:>6.3f}"
        )


if __name__ == "__main__":
    main()
