"""Check the page's viewer against ``id2r relight``: the same asset, environment and
frontal orbit camera, the same exposure, compared on the face.

Used by the tests and ``benchmarks/bench_report.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from id2reflectance._shared.imageio import tone_map
from id2reflectance.processing.asset import Asset
from id2reflectance.processing.relight.envmap import LUMA, load_environment
from id2reflectance.processing.relight.render import RelightConfig, orbit_cameras, render_view
from id2reflectance.report.headless import open_page, shots_fragment


@dataclass(frozen=True)
class ViewerDifference:
    """Difference between a viewer screenshot and the relight render of one environment.

    relative : mean |viewer - relight| / mean relight over the face pixels (8-bit sRGB
        values in [0, 1]; the mask eroded by one pixel to leave out silhouette aliasing).
    bias : mean (viewer - relight) / mean relight over the same pixels (signed).
    pixels : face pixels compared.
    exposure_stops : exposure of both images (relight's auto exposure of the first specular mode).
    """

    env: str
    specular: str
    relative: float
    bias: float
    pixels: int
    exposure_stops: float


def relight_reference(asset: Asset, env: str, *, size: int, specular: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Relight's frontal render: (linear radiance (size, size, 3) float32 with the environment
    behind the head, face mask (size, size) bool, relight's auto exposure in stops)."""
    cam = orbit_cameras(asset.mesh, 1, size=size)[0]
    r = render_view(asset, cam, load_environment(env), config=RelightConfig(specular=specular))
    lum = r.image(background=False) @ LUMA
    stops = float(np.log2(0.25 / max(float(np.median(lum[r.mask])), 1e-12)))
    return r.image(), r.mask, stops


def compare_with_relight(
    asset: Asset,
    html: str | Path,
    envs: Sequence[str],
    *,
    size: int = 256,
    specular: Sequence[str] = ("split_sum", "hybrid"),
) -> tuple[list[ViewerDifference], list[np.ndarray]]:
    """Render each of ``envs`` in the page's viewer at relight's exposure and compare with
    relight, for each specular mode in ``specular`` (the viewer and relight in the same mode).
    Returns the differences and the viewer shots."""
    refs = {(e, s): relight_reference(asset, e, size=size, specular=s) for e in envs for s in specular}
    stops = {e: refs[e, specular[0]][2] for e in envs}
    wanted = [(e, s) for e in envs for s in specular]
    page = open_page(
        html, fragment=shots_fragment([{"env": e, "exposure": stops[e], "specular": s} for e, s in wanted], size=size)
    )
    if len(page.shots) != len(wanted):
        raise RuntimeError(f"viewer returned {len(page.shots)} shot(s), expected {len(wanted)}: {page.console}")
    out = []
    for shot, (e, s) in zip(page.shots, wanted, strict=True):
        lin, mask, _ = refs[e, s]
        st = stops[e]
        ref = tone_map(lin, exposure_stops=st)
        m = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        mean = float(ref[m].mean())
        out.append(
            ViewerDifference(
                e,
                s,
                float(np.abs(shot - ref)[m].mean()) / mean,
                float((shot - ref)[m].mean()) / mean,
                int(m.sum()),
                st,
            )
        )
    return out, page.shots
