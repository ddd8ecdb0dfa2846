"""Relighting exactness from a SOLVED AND BAKED asset (target median < 5%).

Usage::

    .venv/bin/id2r demo -o OUT --subjects 1         # or any simulated session + its asset
    .venv/bin/python benchmarks/bench_relight_from_bake.py OUT/sessions/S0000 OUT/assets/S0000

Renders the baked asset under ``pattern:full`` and each gradient from the session's
cameras and compares with the simulated frames (cross and parallel) on face pixels the
simulator does not self-shadow (truth visibility > 0.99). Prints the median relative
error per camera, pattern and polarisation, next to the 5% target.
"""

from __future__ import annotations

import sys

import numpy as np

from id2reflectance.capture.frames import load_camera_frames
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.sessions import load_truth
from id2reflectance.processing.asset import read_asset
from id2reflectance.processing.relight.envmap import load_environment
from id2reflectance.processing.relight.render import RelightConfig, render_view


def main(session_dir: str, asset_dir: str) -> None:
    s = load_session(session_dir)
    asset = read_asset(asset_dir)
    print("| camera | pattern | polarisation | median relative error | target | ratio |")
    print("|---|---|---|---|---|---|")
    for cam in s.cameras:
        frames = load_camera_frames(s, cam)
        truth = load_truth(session_dir, cam)
        sel = (truth["mask"] > 0.5) & (truth["visibility"] > 0.99)
        for pat in ("full", "gradient_x", "gradient_y", "gradient_z"):
            res = render_view(
                asset, s.cameras[cam], load_environment("pattern:" + pat), config=RelightConfig(background="black")
            )
            ok = sel & res.mask
            for pol in ("cross", "parallel"):
                ref = frames.images[(pat, pol)]
                err = np.abs(res.image(pol) - ref).mean(-1) / np.maximum(ref.mean(-1), 1e-6)
                med = float(np.median(err[ok]))
                print(f"| {cam} | {pat} | {pol} | {100 * med:.2f}% | 5% | {med / 0.05:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
