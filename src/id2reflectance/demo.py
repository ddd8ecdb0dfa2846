"""The main job end to end on one machine: simulate (optional), validate, solve, bake,
relight, export and report, with accuracy against the simulator's ground truth.

``run_demo`` is what ``id2r demo`` (the README's first command) runs on the built-in
default: simulated light-stage sessions. Every stage writes into ``OUT``:

    OUT/sessions/<id>/      simulated sessions (+ ground truth under truth/)
    OUT/solved/<id>/        per-camera maps + solve.json
    OUT/assets/<id>/        UV asset folders (asset format)
    OUT/relit/              renders under HDR environments + contact sheet
    OUT/export/<id>.glb     glTF 2.0 binary
    OUT/reports/<id>.html   QA reports
    OUT/summary.json        the accuracy figures printed at the end
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_sessions
from id2reflectance.capture.validate import validate_session
from id2reflectance.errors import SessionInvalidError
from id2reflectance.processing.asset import read_asset
from id2reflectance.processing.bake.baker import BakeConfig, bake_session
from id2reflectance.processing.bake.metrics import bake_accuracy, read_truth_uv, read_truth_valid
from id2reflectance.processing.export.gltf import export_glb
from id2reflectance.processing.relight.batch import relight_assets
from id2reflectance.processing.relight.render import RelightConfig
from id2reflectance.processing.solve.accuracy import solve_accuracy
from id2reflectance.processing.solve.solver import solve_session
from id2reflectance.report.build import ReportConfig, build_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """Size of the demo run (defaults take a few minutes on 2 CPU cores)."""

    subjects: int = 2
    seed: int = 0
    image_size: int = 256  # simulated camera resolution, pixels
    uv_size: int = 256  # simulator's UV maps, texels
    bake_size: int = 256  # asset maps, texels (power of two >= 256)
    environments: tuple[str, ...] = ("pattern:full", "courtyard", "sunset")
    relight_size: int = 256
    report: bool = True
    template: str = "auto"  # shared UV space: auto | face_model | procedural (capture/geometry/templates.py)


@dataclass
class DemoResult:
    """Per-subject figures and timings of a demo run."""

    out: Path
    subjects: list[str] = field(default_factory=list)
    solve: dict[str, dict[str, Any]] = field(default_factory=dict)
    bake: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    credits: dict[str, str] = field(default_factory=dict)  # subject id -> the photo it carries (CC BY 4.0)

    def to_json(self) -> dict[str, Any]:
        out = {"subjects": self.subjects, "solve": self.solve, "bake": self.bake, "timings_s": self.timings_s}
        return {**out, "credits": self.credits} if self.credits else out


def _timed(result: DemoResult, stage: str, t0: float) -> None:
    result.timings_s[stage] = round(result.timings_s.get(stage, 0.0) + time.perf_counter() - t0, 3)


def bake_figures(session_dir: Path, baked: Any) -> dict[str, Any]:
    """Accuracy of a bake against the simulator's UV truth (texels seen by a camera)."""
    m = baked.maps
    size = m.diffuse_albedo.shape[0]
    truth = read_truth_uv(session_dir, size)
    ours = {
        "diffuse_albedo": m.diffuse_albedo,
        "specular_albedo": m.specular_albedo,
        "roughness": m.roughness,
        "normal_object": m.normal_object,
    }
    seen = m.seen & read_truth_valid(session_dir, size)
    return bake_accuracy(ours, truth, seen=seen, covered=m.covered, view_weights=m.view_weights).to_json()


def run_demo(
    out_dir: str | Path, *, config: DemoConfig = DemoConfig(), progress: ProgressFn | None = None
) -> DemoResult:
    """Simulate ``config.subjects`` sessions and run every stage on them.

    Returns the figures (also written to ``OUT/summary.json``).
    """
    out = Path(out_dir)
    result = DemoResult(out=out)
    t0 = time.perf_counter()
    sim = SimulatorConfig(
        image_size=config.image_size, uv_size=config.uv_size, seed=config.seed, template=config.template
    )
    sessions = simulate_sessions(out / "sessions", subjects=config.subjects, config=sim, progress=progress)
    _timed(result, "simulate", t0)
    assets = []
    for k, sdir in enumerate(sessions):
        sid = sdir.name
        result.subjects.append(sid)
        if progress:
            progress("pipeline", k, len(sessions))
        t0 = time.perf_counter()
        rep = validate_session(sdir)
        if not rep.ok:
            raise SessionInvalidError(rep.problems)
        _timed(result, "validate", t0)
        credit = load_session(sdir).attributes.get("photo_credit")
        if credit:  # a donor's photo gave the subject its face (session and asset attributes carry it too)
            result.credits[sid] = str(credit)
        t0 = time.perf_counter()
        solve_session(sdir, out / "solved" / sid, progress=progress)
        _timed(result, "solve", t0)
        acc = solve_accuracy(sdir, out / "solved" / sid)
        result.solve[sid] = acc["all"].to_json()
        t0 = time.perf_counter()
        baked = bake_session(
            sdir,
            out / "solved" / sid,
            out / "assets" / sid,
            config=BakeConfig(size=config.bake_size, template=config.template),
            progress=progress,
        )
        _timed(result, "bake", t0)
        result.bake[sid] = {
            **bake_figures(sdir, baked),
            "fit_residual_mm": baked.report["registration"]["fit_residual_mm"],
        }
        assets.append(out / "assets" / sid)
        t0 = time.perf_counter()
        (out / "export").mkdir(parents=True, exist_ok=True)
        export_glb(read_asset(out / "assets" / sid), out / "export" / f"{sid}.glb")
        _timed(result, "export", t0)
        if config.report:
            t0 = time.perf_counter()
            build_report(
                out / "assets" / sid, out / "reports" / f"{sid}_asset.html", config=ReportConfig(renders=False)
            )
            build_report(
                out / "solved" / sid,
                out / "reports" / f"{sid}_solve.html",
                config=ReportConfig(renders=False, session=sdir),
            )
            _timed(result, "report", t0)
    if progress:
        progress("pipeline", len(sessions), len(sessions))
    t0 = time.perf_counter()
    relight_assets(
        assets,
        out / "relit",
        envs=list(config.environments),
        config=RelightConfig(image_size=config.relight_size, orbit=1),
        progress=progress,
    )
    _timed(result, "relight", t0)
    atomic_write_json(out / "summary.json", result.to_json())
    return result
