"""The identity path on real faces (London photos) and on simulated subjects under two lightings.

Encoders: dlib's face recognition network (the swapper's teacher and inference's encoder)
and the distilled identity student the swapper trains with (``--student RUN``: a swapper
run with ``identity_student.safetensors``; without it a small student is distilled here
from dlib on renders of simulated subjects that are not the evaluated ones — never on
London photos).

Figures (:mod:`id2reflectance.evaluation.identity_figures`), for each encoder:

* London: detection rate (dlib's detector, :func:`find_faces`, on all 204 photos),
  verification AUC (neutral vs smiling of one person against different people), rank-1
  (neutral photos the gallery, smiling photos the probes), same- and different-person
  distances;
* simulated subjects (``--subjects N``, the simulator's API, so whatever subjects it makes):
  the front camera under the ``full`` pattern (gallery) and ``gradient_x`` (probes): the
  same figures, and the share of different-subject pairs beyond dlib's 0.6.

The reference column is dlib on the London photos (the real-face figure to reach).

Run (the photos are not in the repository; see docs/evaluation.md)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_identity.py [--photos ../shared/face-photos/london] \
        [--subjects 8] [--train-subjects 8] [--student RUN] [--work DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _simulate(work: Path, indices: range, size: int) -> dict[str, dict[str, np.ndarray]]:
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
    from id2reflectance.evaluation.identity_figures import session_front_photos

    cfg = SimulatorConfig(
        image_size=size,
        uv_size=size,
        cameras=1,
        inverses=False,
        visibility_directions=128,
        specular_samples=(6, 6),
        diffuse_samples=(4, 8),
    )
    out = {}
    for i in indices:
        folder = work / f"S{i:04d}"
        if not (folder / "session.json").is_file():
            simulate_subject(work, subject_index=i, config=cfg)
        out[folder.name] = session_front_photos(folder, patterns=("full", "gradient_x", "gradient_y", "gradient_z"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=None, help="the London set folder (default ../shared/face-photos/london)")
    ap.add_argument("--limit", type=int, default=None, help="first N London people only")
    ap.add_argument("--subjects", type=int, default=8, help="simulated subjects evaluated (indices 0..N-1)")
    ap.add_argument("--train-subjects", type=int, default=8, help="simulated subjects the student is distilled on")
    ap.add_argument("--student", default=None, help="a swapper run folder with identity_student.safetensors")
    ap.add_argument("--student-steps", type=int, default=400)
    ap.add_argument("--size", type=int, default=256, help="simulated image size (pixels)")
    ap.add_argument("--work", default=None, help="folder for the simulated sessions (kept; default: a temporary one)")
    args = ap.parse_args()

    import torch

    from id2reflectance.evaluation.identity_figures import identity_figures, student_embeddings
    from id2reflectance.evaluation.london import default_london_dir, read_people
    from id2reflectance.face.detect import align_face, find_faces, read_photo
    from id2reflectance.face.identity import DlibIdentityEncoder
    from id2reflectance.model.identity.student import IdentityStudent, StudentConfig, distill_student
    from id2reflectance.training.swapper_identity import load_identity_student

    torch.manual_seed(0)
    t0 = time.perf_counter()
    dlib = DlibIdentityEncoder()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_identity_"))
    work.mkdir(parents=True, exist_ok=True)

    def faces_of(photos: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for key, img in photos.items():
            found = find_faces(img)
            if found:
                out[key] = (img, found[0].landmarks)
        return out

    # ---- the student: given, or distilled on simulated subjects outside the evaluated ones
    student_note = ""
    if args.student:
        student, res = load_identity_student(args.student)
        student_note = f"run {args.student}"
    else:
        train = _simulate(work, range(1000, 1000 + args.train_subjects), args.size)
        items = faces_of({f"{s}/{p}": img for s, d in train.items() for p, img in d.items()})
        res = 64
        aligned = [align_face(img, lm, size=res)[0] for img, lm in items.values()]
        targets = np.stack([dlib.embed(img, lm) for img, lm in items.values()])
        x = torch.from_numpy(np.stack(aligned)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        student = IdentityStudent(StudentConfig(input_size=64, width=32, stages=4, dim=128))
        fit = distill_student(
            student,
            x,
            torch.from_numpy(targets),
            torch.zeros(len(x), dtype=torch.bool),
            steps=args.student_steps,
            batch_size=16,
            lr=1e-3,
            seed=0,
        )
        student_note = (
            f"distilled here: {args.train_subjects} simulated subjects (indices 1000+), {len(x)} renders, "
            f"{args.student_steps} steps, train cosine {fit.train_agreement:.3f}"
        )

    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, value: float, ref: float | None, fmt: str = "{:.3f}") -> None:
        r = "-" if ref is None else fmt.format(ref)
        ratio = "-" if ref in (None, 0) else f"{value / ref:.3f}"  # type: ignore[operator]
        rows.append((name, fmt.format(value), r, ratio))

    def figures(faces: dict[str, tuple[np.ndarray, np.ndarray]], gallery: str, probe: str):
        keys_g = sorted(k for k in faces if k.endswith("/" + gallery))
        keys_p = sorted(k for k in faces if k.endswith("/" + probe))
        lab_g, lab_p = [k.split("/")[0] for k in keys_g], [k.split("/")[0] for k in keys_p]
        emb = {k: dlib.descriptor(*faces[k]) for k in keys_g + keys_p}  # dlib's own distance scale
        al = {k: align_face(*faces[k], size=res)[0] for k in keys_g + keys_p}
        out = {
            "dlib": identity_figures(
                np.stack([emb[k] for k in keys_g]), lab_g, np.stack([emb[k] for k in keys_p]), lab_p
            )
        }
        sg = student_embeddings(student, [al[k] for k in keys_g])
        sp = student_embeddings(student, [al[k] for k in keys_p])
        out["student"] = identity_figures(sg, lab_g, sp, lab_p)
        return out

    # ---- London
    root = Path(args.photos) if args.photos else default_london_dir()
    ref = None
    if (root / "people.csv").is_file():
        people = read_people(root)[: args.limit]
        photos = {f"{p.id}/{e}": read_photo(p.photo(e)) for p in people for e in ("neutral", "smiling")}
        faces = faces_of(photos)
        add(f"London: photos with a face detected (of {len(photos)})", len(faces), len(photos), "{:.0f}")
        london = figures(faces, "neutral", "smiling")
        ref = london["dlib"]
        for enc, f in london.items():
            unit = "" if enc == "dlib" else " (unit embeddings, another scale)"
            add(f"London {enc}: verification AUC (neutral vs smiling)", f.auc, ref.auc)
            add(f"London {enc}: rank-1 (neutral gallery, smiling probes; {f.people} people)", f.rank1, ref.rank1)
            add(f"London {enc}: same-person distance, mean{unit}", f.same_mean, ref.same_mean)
            add(f"London {enc}: same-person distance, max{unit}", f.same_max, ref.same_max)
            add(f"London {enc}: different-person distance, mean{unit}", f.other_mean, ref.other_mean)
            add(f"London {enc}: different-person distance, min{unit}", f.other_min, ref.other_min)
    else:
        rows.append(("London photos", f"skipped: not found at {root}", "", ""))

    # ---- simulated subjects under two lightings
    sims = _simulate(work, range(args.subjects), args.size)
    faces = faces_of({f"{s}/{p}": d[p] for s, d in sims.items() for p in ("full", "gradient_x")})
    add(f"simulated: renders with a face detected (of {2 * len(sims)})", len(faces), 2 * len(sims), "{:.0f}")
    sim = figures(faces, "full", "gradient_x")
    for enc, f in sim.items():
        r = ref if enc == "dlib" else None
        if enc != "dlib":  # unit embeddings: distances on another scale than dlib's 0.6
            add(f"simulated {enc}: verification AUC (full vs gradient_x lighting)", f.auc, None)
            add(f"simulated {enc}: rank-1 ({f.people} subjects)", f.rank1, None)
            add(
                f"simulated {enc}: same / different-subject distance, mean (unit embeddings)", f.same_mean, f.other_mean
            )
            continue
        add(f"simulated {enc}: verification AUC (full vs gradient_x lighting)", f.auc, None if r is None else r.auc)
        add(f"simulated {enc}: rank-1 ({f.people} subjects)", f.rank1, None if r is None else r.rank1)
        add(f"simulated {enc}: same-subject distance, mean", f.same_mean, None if r is None else r.same_mean)
        add(f"simulated {enc}: different-subject distance, mean", f.other_mean, None if r is None else r.other_mean)
        add(
            f"simulated {enc}: different-subject pairs beyond 0.6 (goal >= 0.8)",
            f.other_beyond_threshold,
            None if r is None else r.other_beyond_threshold,
        )
    rows.append(("student", student_note, "", ""))
    rows.append(("seconds (shared 2-core machine)", f"{time.perf_counter() - t0:.0f}", "", ""))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("figure", "value", "reference (dlib, London)", "ratio")
    w = [max(a, len(b)) for a, b in zip(w, head)]
    print(" | ".join(h.ljust(n) for h, n in zip(head, w)))
    for r in rows:
        print(" | ".join(c.ljust(n) for c, n in zip(r, w)))


if __name__ == "__main__":
    main()
