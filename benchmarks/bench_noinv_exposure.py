"""Issue 20 without inverse patterns: is a head inside the issue's noise session, and what does exposure give?

The issue specifies its noise session as "read noise 0.002 plus shot noise 5e-5 x value (linear; full-on
diffuse 0.1-0.7)". The simulator sets each session's exposure from its brightest noise-free pixel
(``SimulatorConfig.exposure_peak`` = 0.8: a specular highlight), so on dark skin the face's diffuse lies
lower. Per simulator seed this prints, for the session of ``bench_motion.py --part noinv`` (256 px, 1
camera, the issue's noise, no inverse patterns; still, and with ``--moving`` also the 1.5 px / 0.4 deg
motion), the full-on diffuse ``D = 2 x full-on cross`` (stored units) per channel and in Rec.709
luminance, p5 / p50 / p95 over the face pixels the accuracy scores (solved and true mask, visibility >=
0.99), the share of them under 0.1, and the median diffuse-normal error of the default solve (``--align
auto``). With ``--technician`` also, for a face darker than that, the exposure a technician would set: the
face's luminance p50 raised to ``--target`` (0.37, seed 0's), the highlights clipped at the sensor's ``saturation`` 1.0 (the solver
leaves saturated pixels out, so the scored set is smaller: the error is also given on the pixels both
sessions score).

Run: ``PYTHONPATH=src:benchmarks python benchmarks/bench_noinv_exposure.py [--seeds 0 1 2 3] [--moving]
[--technician]`` (about 30 s per session on 2 cores after the first solve's compilation).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
from id2reflectance.processing.solve.accuracy import angle_between_deg
from id2reflectance.processing.solve.separation import LUMINANCE_709
from id2reflectance.processing.solve.solver import SolverConfig, solve_session

Row = tuple[str, ...]
SATURATION = 1.0  # the technician's sessions clip here (stored units)


def _config(seed: int, moving: bool) -> SimulatorConfig:
    from bench_motion import _config as motion_config  # beside this script: the noinv bench's session
    from noise_figures import ISSUE_NOISE

    return replace(motion_config(256, moving, inverses=False), seed=seed, **ISSUE_NOISE)


def _plane(path: Path) -> np.ndarray:
    img, _ = read_exr(path)
    return img[..., 0] if img.ndim == 3 else img


def _solved(root: Path, cfg: SimulatorConfig) -> tuple[Path, Path]:
    session = simulate_subject(root, subject_index=0, config=cfg)
    shutil.rmtree(session / "masks")  # the solver finds the head itself, as in bench_motion
    out = root / "solved"
    solve_session(session, out, config=SolverConfig())
    return session, out


def _scored(session: Path, out: Path) -> np.ndarray:
    """(H, W) bool: the pixels ``solve_accuracy(visibility_min=0.99)`` scores (front camera)."""
    truth = session / "truth" / "front"
    return (
        (_plane(out / "front" / "mask.exr") > 0.5)
        & (_plane(truth / "mask.exr") > 0.5)
        & (_plane(truth / "visibility.exr") >= 0.99)
    )


def _errors(session: Path, out: Path) -> np.ndarray:
    """(H, W) float64 diffuse-normal error (deg) of the front camera."""
    tn, _ = read_exr(session / "truth" / "front" / "normal.exr")
    sn, _ = read_exr(out / "front" / "normal_diffuse.exr")
    return angle_between_deg(sn.reshape(-1, 3), tn.reshape(-1, 3)).reshape(tn.shape[:2])


def level_row(label: str, session: Path, out: Path, sel: np.ndarray, common: np.ndarray | None) -> Row:
    full, _ = read_exr(session / "frames" / "front" / "full_cross.exr")
    d = 2.0 * full[..., :3].astype(np.float64)
    lum = d @ LUMINANCE_709

    def pct(x: np.ndarray) -> str:
        return " / ".join(f"{v:.3f}" for v in np.percentile(x[sel], [5, 50, 95]))

    err = _errors(session, out)
    par, _ = read_exr(session / "frames" / "front" / "full_parallel.exr")
    return (
        label,
        pct(d[..., 0]),
        pct(d[..., 1]),
        pct(d[..., 2]),
        pct(lum),
        f"{np.mean(lum[sel] < 0.1):.2f}",
        f"{float(par.max()):.3f}",
        f"{int(sel.sum())}",
        f"{np.median(err[sel]):.4g}",
        "-" if common is None else f"{np.median(err[common]):.4g}",
    )


def exposure_rows(tmp: Path, seeds: list[int], *, moving: bool, technician: bool, target: float) -> list[Row]:
    rows: list[Row] = []
    for seed in seeds:
        for move in (False, True) if moving else (False,):
            tag = f"seed {seed} {'noise+motion' if move else 'noise'}"
            cfg = _config(seed, move)
            session, out = _solved(tmp / f"s{seed}_{int(move)}", cfg)
            sel = _scored(session, out)
            full, _ = read_exr(session / "frames" / "front" / "full_cross.exr")
            p50 = float(np.median((2.0 * full[..., :3].astype(np.float64) @ LUMINANCE_709)[sel]))
            if not technician or p50 >= target:  # a technician raises a dark face's exposure, never lowers it
                rows.append(level_row(f"{tag}, exposure_peak {cfg.exposure_peak:g}", session, out, sel, None))
                continue
            peak = float(f"{cfg.exposure_peak * target / max(p50, 1e-6):.3g}")
            tech = replace(cfg, exposure_peak=peak, saturation=SATURATION)
            s2, o2 = _solved(tmp / f"t{seed}_{int(move)}", tech)
            sel2 = _scored(s2, o2)
            common = sel & sel2  # the same head and pose: the pixels both sessions score
            rows.append(level_row(f"{tag}, exposure_peak {cfg.exposure_peak:g}", session, out, sel, common))
            rows.append(level_row(f"{tag}, technician: exposure_peak {peak:g}, saturation 1", s2, o2, sel2, common))
    return rows


HEADER: Row = (
    "session",
    "D red p5 / p50 / p95",
    "D green",
    "D blue",
    "D luminance",
    "share lum < 0.1",
    "full parallel max",
    "scored pixels",
    "diffuse normal (deg)",
    "on pixels both score",
)


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="simulator seeds (heads)")
    parser.add_argument("--moving", action="store_true", help="also the 1.5 px / 0.4 deg moving session")
    parser.add_argument("--technician", action="store_true", help="also each head at a technician's exposure")
    parser.add_argument("--target", type=float, default=0.37, help="--technician: face luminance p50 (stored)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_noinv_exposure_") as tmpdir:
        table = exposure_rows(
            Path(tmpdir), args.seeds, moving=args.moving, technician=args.technician, target=args.target
        )
    for row in [HEADER, *table]:
        print(" | ".join(row))
