"""Do the dataset's views look like photos once they have eyes? (issue 22)

For simulated face-model subjects (photo subjects where ``../shared`` is present: the
simulator's API decides), the subject's asset in the face-model layout (its ground truth
packaged as an asset, :func:`~id2reflectance.processing.asset.asset_from_truth`: what a
perfect bake gives; ``--bake``: solved and baked as the dataset build does) is rendered as
the dataset renders it (:func:`~id2reflectance.dataset.views.render_training_views`, the
``full`` pattern), without eyes (as before) and with them. Reference: the simulator's own
front camera under the full-on pattern (:func:`~id2reflectance.evaluation.identity_figures.session_front_photos`),
which has eyes.

Figures, without / with eyes:

* dlib detection rate over the views (front, left, right) and of the reference, and the
  detector's score (median over the faces found);
* the dlib distance between each subject's front view and its reference photo (below
  0.6: dlib's same person), and to the other subjects' references (rank-1);
* dlib's eye landmarks (36-47) in the front view against the same landmarks found in
  the reference photo, both in the view's pixels (the reference's landmarks mapped by the
  similarity fitted on the other 56 landmarks), mean pixel distance;
* the eye-white tone (:func:`~id2reflectance.face.white_reference.eye_white_tone`, what
  ``template-tone`` retrieval and re-toning read from a photo) of each front view and of the
  reference: how many give an estimate, and the median |error| of the albedo ITA it implies
  (:func:`~id2reflectance.inference.albedo_tone.albedo_ita_from_eye_white`) against the
  front view's true albedo ITA (``diffuse_albedo.png`` over the eroded mask, as the
  evaluation measures it).

A picture ``--picture PNG``: per subject, reference | view without eyes | view with eyes.

Run::

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/bench_eyes.py --subjects 6 --work /tmp/eyes \
        --picture /tmp/eyes/eyes.png [--bake]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _simulate(work: Path, indices: range, size: int, uv: int, *, bake: bool) -> list[Path]:
    """Sessions of the subjects (1 camera; 3 cameras with inverses to be solved and baked)."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject

    cfg = SimulatorConfig(
        image_size=size,
        uv_size=uv,
        cameras=3 if bake else 1,
        inverses=bake,
        visibility_directions=128,
        specular_samples=(6, 6),
        diffuse_samples=(4, 8),
        template="face_model",
    )
    out = []
    for i in indices:
        folder = work / "sessions" / f"S{i:04d}"
        if not (folder / "session.json").is_file():
            simulate_subject(work / "sessions", subject_index=i, config=cfg)
        out.append(folder)
    return out


def _asset(session: Path, work: Path, *, bake: bool) -> Path:
    """The subject's asset: its truth packaged, or (``bake``) solved and baked."""
    from id2reflectance.capture.geometry.templates import resolve_template
    from id2reflectance.processing.asset import asset_from_truth

    out = work / "assets" / session.name
    if (out / "asset.json").is_file():
        return out
    if bake:
        from id2reflectance.processing.bake.baker import BakeConfig, bake_session
        from id2reflectance.processing.solve.solver import solve_session

        solve_session(session, work / "solve" / session.name)
        bake_session(session, work / "solve" / session.name, out, config=BakeConfig(size=512, template="face_model"))
        return out
    t = resolve_template("face_model")
    return asset_from_truth(session, out, template_name=t.name, template_sha256=t.sha256, previews=False)


def _rgb(path: Path) -> np.ndarray:
    from id2reflectance._shared.imageio import read_png_unit

    return np.round(read_png_unit(path)[..., :3] * 255.0).astype(np.uint8)


def _similarity_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) similarity mapping src (N, 2) onto dst (N, 2), least squares."""
    a = np.zeros((2 * len(src), 4))
    a[0::2, 0], a[0::2, 1], a[0::2, 2] = src[:, 0], -src[:, 1], 1.0
    a[1::2, 0], a[1::2, 1], a[1::2, 3] = src[:, 1], src[:, 0], 1.0
    p, *_ = np.linalg.lstsq(a, dst.reshape(-1), rcond=None)
    return np.array([[p[0], -p[1], p[2]], [p[1], p[0], p[3]]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=6, help="simulated subjects (indices 0..N-1)")
    ap.add_argument("--size", type=int, default=384, help="simulated image size (pixels)")
    ap.add_argument("--uv", type=int, default=512, help="UV size of the truth (texels)")
    ap.add_argument("--view-size", type=int, default=256, help="dataset view size (pixels)")
    ap.add_argument("--work", required=True, help="folder for sessions, assets and views (kept)")
    ap.add_argument("--picture", default=None, help="PNG: reference | without eyes | with eyes, per subject")
    ap.add_argument("--bake", action="store_true", help="solve and bake the sessions (3 cameras) instead of the truth")
    args = ap.parse_args()

    from id2reflectance._shared.imageio import write_png
    from id2reflectance.dataset.views import render_training_views
    from id2reflectance.evaluation.identity_figures import session_front_photos
    from id2reflectance.face.detect import find_faces
    from id2reflectance.face.identity import DlibIdentityEncoder

    work = Path(args.work)
    t0 = time.process_time()
    sessions = _simulate(work, range(args.subjects), args.size, args.uv, bake=args.bake)
    t_sim = time.process_time() - t0
    dlib = DlibIdentityEncoder()
    refs, views = {}, {False: {}, True: {}}
    t_view = {False: 0.0, True: 0.0}
    n_view = {False: 0, True: 0}
    for s in sessions:
        asset = _asset(s, work, bake=args.bake)
        refs[s.name] = session_front_photos(s, patterns=("full",))["full"]
        for eyes in (False, True):
            out = work / ("views_eyes" if eyes else "views_none") / s.name
            if not (out / "mesh_vertices.npy").is_file():
                c0 = time.process_time()
                render_training_views(asset, out, image_size=args.view_size, environments=("full",), eyes=eyes)
                t_view[eyes] += time.process_time() - c0
                n_view[eyes] += 1
            views[eyes][s.name] = {v: _rgb(out / "views" / v / "rgb_full.png") for v in ("front", "left", "right")}

    ref_faces = {k: find_faces(img) for k, img in refs.items()}
    ref_emb = {k: dlib.embed(refs[k], f[0].landmarks) for k, f in ref_faces.items() if f}
    print(f"subjects: {len(sessions)} ({', '.join(refs)}), simulate {t_sim:.0f} CPU s")
    from id2reflectance._shared.imageio import read_png_unit
    from id2reflectance.face.white_reference import eye_white_tone
    from id2reflectance.inference.albedo_tone import albedo_ita_from_eye_white, skin_ita, skin_pixels

    true_ita = {}
    for k in refs:
        vdir = work / "views_none" / k / "views" / "front"
        mask = np.atleast_3d(read_png_unit(vdir / "mask.png"))[..., 0] > 0.5
        true_ita[k] = skin_ita(read_png_unit(vdir / "diffuse_albedo.png")[..., :3], skin_pixels(mask))

    def tone_errors(images: dict[str, np.ndarray], faces: dict[str, list]) -> list[float]:
        """|albedo ITA from the eye whites - true| (degrees) of the images that give an estimate."""
        out = []
        for k, img in images.items():
            if faces.get(k):
                tone = eye_white_tone(img, faces[k][0].landmarks)
                if tone.ita_deg is not None:
                    out.append(abs(albedo_ita_from_eye_white(tone.ita_deg) - true_ita[k]))
        return out

    ref_tone = tone_errors(refs, ref_faces)
    print(
        f"reference eye-white tone: {len(ref_tone)} / {len(refs)} estimates, "
        f"median abs albedo ITA error {np.median(ref_tone) if ref_tone else float('nan'):.1f} deg"
    )
    ref_score = np.median([f[0].score for f in ref_faces.values() if f] or [np.nan])
    print(f"reference (simulator front, full-on): detected {len(ref_emb)} / {len(refs)}, score median {ref_score:.2f}")
    print("| figure | without eyes | with eyes |")
    print("|---|---|---|")
    rows: dict[str, list[str]] = {}
    for eyes in (False, True):
        found = {(k, v): find_faces(img) for k, d in views[eyes].items() for v, img in d.items()}
        det = {v: np.mean([bool(found[(k, v)]) for k in views[eyes]]) for v in ("front", "left", "right")}
        score = {v: np.median([f[0].score for (k, w), f in found.items() if w == v and f] or [np.nan]) for v in det}
        dist, rank1, eye_px = [], [], []
        for k in views[eyes]:
            f = found[(k, "front")]
            if not f or k not in ref_emb:
                continue
            e = dlib.embed(views[eyes][k]["front"], f[0].landmarks)
            d_all = {r: float(np.linalg.norm(e - emb)) for r, emb in ref_emb.items()}
            dist.append(d_all[k])
            rank1.append(min(d_all, key=d_all.get) == k)
            # eye landmarks: the reference's mapped into the view by the other landmarks
            lv, lr = f[0].landmarks.astype(np.float64), ref_faces[k][0].landmarks.astype(np.float64)
            other = np.r_[0:36, 48:68]
            m = _similarity_2d(lr[other], lv[other])
            mapped = lr[36:48] @ m[:, :2].T + m[:, 2]
            eye_px.append(float(np.mean(np.linalg.norm(mapped - lv[36:48], axis=1))))
        fronts = {k: d["front"] for k, d in views[eyes].items()}
        tone = tone_errors(fronts, {k: found[(k, "front")] for k in fronts})
        vals = {
            "detection front / left / right": f"{det['front']:.2f} / {det['left']:.2f} / {det['right']:.2f}",
            "detector score (median of the found) front / left / right": " / ".join(f"{score[v]:.2f}" for v in det),
            "dlib distance front view - reference, median (max)": (
                f"{np.median(dist):.3f} ({np.max(dist):.3f})" if dist else "-"
            ),
            "share below 0.6 (same person)": f"{np.mean(np.array(dist) < 0.6):.2f}" if dist else "-",
            "rank-1 against every reference": f"{np.mean(rank1):.2f}" if rank1 else "-",
            "eye landmarks vs reference, mean px (view px)": f"{np.mean(eye_px):.2f}" if eye_px else "-",
            "eye-white tone: estimates, median abs albedo ITA error deg": (
                f"{len(tone)} / {len(fronts)}" + (f", {np.median(tone):.1f}" if tone else "")
            ),
            "views CPU s per subject (3 views, full; - when reused)": (
                f"{t_view[eyes] / n_view[eyes]:.1f}" if n_view[eyes] else "-"
            ),
        }
        for name, v in vals.items():
            rows.setdefault(name, []).append(v)
        if eyes:
            per = ", ".join(f"{k} {d:.3f}" for k, d in zip(views[eyes], dist, strict=False))
    for name, (a, b) in rows.items():
        print(f"| {name} | {a} | {b} |")
    print(f"per subject (with eyes): {per}")
    if args.picture:
        import cv2

        tiles = []
        for k in refs:
            size = args.view_size
            ref = cv2.resize(_crop_like(refs[k], ref_faces[k], size), (size, size), interpolation=cv2.INTER_AREA)
            tiles.append(np.concatenate([ref, views[False][k]["front"], views[True][k]["front"]], axis=1))
        write_png(Path(args.picture), np.concatenate(tiles, axis=0).astype(np.float32) / 255.0)
        print(f"picture: {args.picture}")


def _crop_like(img: np.ndarray, faces: list, size: int) -> np.ndarray:
    """The reference photo cropped to a square about its face (whole photo without a face)."""
    if not faces:
        return img
    lm = faces[0].landmarks.astype(np.float64)
    c = lm.mean(axis=0)
    half = 1.3 * float(np.max(lm.max(axis=0) - lm.min(axis=0)))
    h, w = img.shape[:2]
    x0, y0 = int(max(0, c[0] - half)), int(max(0, c[1] - half * 1.1))
    x1, y1 = int(min(w, c[0] + half)), int(min(h, c[1] + half * 0.9))
    return np.ascontiguousarray(img[y0:y1, x0:x1])


if __name__ == "__main__":
    main()
