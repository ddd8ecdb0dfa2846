"""Build a training dataset from a folder of sessions, one Dask task chain per subject.

Per subject: validate -> solve -> bake -> views -> finalise. Each stage is a pure
function of paths and options; intermediate results live in ``DATASET/.work/<id>/`` and
the subject's files are assembled in ``subjects/.<id>.tmp`` and renamed into place with
its ``subject.json`` (checksums) inside. A failed subject is reported and does not stop
the others; a re-run skips subjects whose files verify. ``dataset.json`` is written last.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_write_json, sha256_file
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.session import load_session
from id2reflectance.capture.validate import validate_session
from id2reflectance.dataset.cluster import ClusterConfig, dashboard_link, open_client
from id2reflectance.dataset.manifest import (
    DOMAINS,
    SUBJECT_RECORD,
    SubjectRecord,
    load_subject_record,
    read_manifest,
    verify_subject,
    write_manifest,
)
from id2reflectance.dataset.splits import SplitConfig, split_record, split_subjects
from id2reflectance.dataset.views import check_environments, render_training_views
from id2reflectance.errors import ConfigError, Id2rError, InputFileError
from id2reflectance.processing.bake.baker import BakeConfig, bake_session
from id2reflectance.processing.solve.solver import SolverConfig, solve_session

log = logging.getLogger(__name__)

STAGES = ("validate", "solve", "bake", "views")


@dataclass(frozen=True)
class BuildConfig:
    """Options of ``id2r dataset build`` (recorded in the manifest's provenance)."""

    image_size: int = 512  # training view size, pixels
    views: tuple[str, ...] = ("front", "left", "right")
    environments: tuple[str, ...] = ("full", "courtyard", "sunset")  # 'full' = full-on pattern
    bake_size: int = 512  # UV map size, texels (power of two >= 256)
    split: SplitConfig = field(default_factory=SplitConfig)  # train/val/test, by skin type by default
    keep_work: bool = False  # keep solved maps and assets under DATASET/.work
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def __post_init__(self) -> None:
        if self.image_size < 16:
            raise ConfigError(f"image_size must be >= 16, got {self.image_size}")
        if not set(self.views) <= {"front", "left", "right"} or not self.views:
            raise ConfigError(f"views must be a non-empty subset of front/left/right, got {self.views}")


@dataclass
class BuildReport:
    """What a build did: per-subject outcome and timings."""

    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    timings_s: dict[str, dict[str, float]] = field(default_factory=dict)
    dashboard: str | None = None
    wall_s: float = 0.0
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)  # subject -> (former, new) split

    @property
    def ok(self) -> bool:
        return not self.failed


def former_splits(root: Path) -> dict[str, str]:
    """Subject -> split of the dataset's current ``dataset.json`` ({} when absent or unreadable)."""
    try:
        return {s["id"]: s["split"] for s in read_manifest(root)["subjects"]}
    except InputFileError:
        return {}


def find_sessions(sessions_dir: str | Path) -> list[Path]:
    """Session folders (containing ``session.json``) directly under ``sessions_dir``."""
    root = Path(sessions_dir)
    if not root.is_dir():
        raise InputFileError(root, None, "sessions folder not found")
    found = sorted(p for p in root.iterdir() if (p / "session.json").is_file())
    if not found:
        raise InputFileError(root, None, "no session folders (with session.json) found")
    return found


# ------------------------------------------------------------------ stages
# Each stage takes and returns a small dict ("info") so Dask can chain them; the
# heavy data stays on disk.


def stage_validate(session_dir: str, work_dir: str) -> dict[str, Any]:
    """Validate the session fully; return its id, attributes and manifest checksum."""
    t0 = time.perf_counter()
    report = validate_session(session_dir)
    if not report.ok:
        raise Id2rError("; ".join(report.problems[:5]) + (" ..." if len(report.problems) > 5 else ""))
    s = report.session
    if s is None:  # unreachable: a report without problems always carries the session
        raise Id2rError(f"{session_dir}: session could not be loaded")
    return {
        "session": session_dir,
        "work": str(Path(work_dir) / s.subject_id),
        "id": s.subject_id,
        "attributes": dict(s.attributes),
        "session_sha256": sha256_file(Path(session_dir) / "session.json"),
        "timings": {"validate": time.perf_counter() - t0},
    }


def stage_solve(info: dict[str, Any]) -> dict[str, Any]:
    """Solve every camera into ``work/solved``."""
    t0 = time.perf_counter()
    out = Path(info["work"]) / "solved"
    solve_session(info["session"], out, config=SolverConfig())
    return {**info, "solved": str(out), "timings": {**info["timings"], "solve": time.perf_counter() - t0}}


def stage_bake(info: dict[str, Any], bake_size: int) -> dict[str, Any]:
    """Register the template and bake the UV asset into ``work/asset``."""
    t0 = time.perf_counter()
    out = Path(info["work"]) / "asset"
    bake_session(info["session"], info["solved"], out, config=BakeConfig(size=bake_size))
    return {**info, "asset": str(out), "timings": {**info["timings"], "bake": time.perf_counter() - t0}}


def stage_views(
    info: dict[str, Any], image_size: int, views: tuple[str, ...], environments: tuple[str, ...]
) -> dict[str, Any]:
    """Render the aligned training views of every domain into ``work/subject``."""
    t0 = time.perf_counter()
    out = Path(info["work"]) / "subject"
    if out.exists():
        shutil.rmtree(out)
    render_training_views(info["asset"], out, image_size=image_size, views=views, environments=environments)
    return {**info, "subject_dir": str(out), "timings": {**info["timings"], "views": time.perf_counter() - t0}}


def stage_finalise(info: dict[str, Any], root: str, keep_work: bool) -> dict[str, Any]:
    """Checksum the subject's files, write subject.json, rename into ``subjects/<id>``."""
    src = Path(info["subject_dir"])
    files = {str(p.relative_to(src)): sha256_file(p) for p in sorted(src.rglob("*")) if p.is_file()}
    rec = SubjectRecord(info["id"], info["attributes"], files, info["session_sha256"], info["timings"])
    atomic_write_json(src / SUBJECT_RECORD, rec.to_json())
    dst = Path(root) / "subjects" / info["id"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)
    if not keep_work:
        shutil.rmtree(info["work"], ignore_errors=True)
    return rec.to_json()


# ------------------------------------------------------------------- driver


def _already_built(root: Path, session_dir: Path) -> SubjectRecord | None:
    """The subject's record if it is complete, verified and from the same session.json."""
    try:
        sid = load_session(session_dir).subject_id
    except Id2rError:
        return None
    rec = load_subject_record(root, sid)
    if rec is None or rec.session_sha256 != sha256_file(session_dir / "session.json"):
        return None
    return rec if not verify_subject(root, rec) else None


def _submit_chains(
    client: Any, todo: list[Path], work: Path, root: Path, config: BuildConfig
) -> dict[Any, tuple[str, str]]:
    """Submit every subject's chain of stages; returns future -> (subject key, stage)."""
    chains: dict[Any, tuple[str, str]] = {}
    for s in todo:
        key = s.name
        f_val = client.submit(stage_validate, str(s), str(work), key=f"validate-{key}", pure=False)
        f_sol = client.submit(stage_solve, f_val, key=f"solve-{key}", pure=False)
        f_bak = client.submit(stage_bake, f_sol, config.bake_size, key=f"bake-{key}", pure=False)
        f_vie = client.submit(
            stage_views,
            f_bak,
            config.image_size,
            config.views,
            config.environments,
            key=f"views-{key}",
            pure=False,
        )
        f_fin = client.submit(stage_finalise, f_vie, str(root), config.keep_work, key=f"done-{key}", pure=False)
        for stage, fut in zip((*STAGES, "done"), (f_val, f_sol, f_bak, f_vie, f_fin)):
            chains[fut] = (key, stage)
    return chains


def _collect(
    chains: dict[Any, tuple[str, str]],
    report: BuildReport,
    records: dict[str, SubjectRecord],
    progress: ProgressFn,
    total: int,
) -> None:
    """Wait for every stage; record built subjects in ``records`` and ``report``, and the
    first failed stage of each subject in ``report.failed``."""
    from distributed import as_completed  # lazy: Dask is slow to import and only the build needs it

    done = {st: 0 for st in (*STAGES, "done")}
    failed_keys: set[str] = set()
    for fut in as_completed(list(chains)):
        key, stage = chains[fut]
        if fut.status == "finished":
            done[stage] += 1
            progress(stage, done[stage], total)
            if stage == "done":
                rec = SubjectRecord.from_json(fut.result())
                records[rec.id] = rec
                report.built.append(rec.id)
                report.timings_s[rec.id] = rec.timings_s
        elif key not in failed_keys:
            failed_keys.add(key)
            err = fut.exception()
            msg = str(err) if isinstance(err, Id2rError) else f"{type(err).__name__}: {err}"
            report.failed.append({"id": key, "stage": stage, "error": msg})
            log.warning("subject %s failed in %s: %s", key, stage, msg)


def _run_subjects(
    todo: list[Path],
    root: Path,
    work: Path,
    config: BuildConfig,
    report: BuildReport,
    records: dict[str, SubjectRecord],
    *,
    client: Any | None,
    progress: ProgressFn,
    on_dashboard: Callable[[str], None] | None,
) -> None:
    """Run the chains of ``todo`` on ``client`` (or on a cluster opened and closed here)."""
    own = client is None
    cluster = None
    if own:
        client, cluster = open_client(config.cluster)
    report.dashboard = dashboard_link(client)
    if report.dashboard and on_dashboard:
        on_dashboard(report.dashboard)
    try:
        _collect(_submit_chains(client, todo, work, root, config), report, records, progress, len(todo))
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


def _write_dataset_manifest(
    root: Path, records: dict[str, SubjectRecord], report: BuildReport, config: BuildConfig
) -> None:
    """Split the subjects, note those that changed split in ``report.moved`` and write ``dataset.json``."""
    splits = split_subjects({sid: r.attributes for sid, r in records.items()}, config.split)
    report.moved = {
        sid: (old, splits[sid]) for sid, old in former_splits(root).items() if sid in splits and splits[sid] != old
    }
    if report.moved:
        log.warning("%d subject(s) changed split since the last build of %s", len(report.moved), root)
    write_manifest(
        root,
        records=list(records.values()),
        splits=splits,
        failed=report.failed,
        image_size=config.image_size,
        views=config.views,
        domains=DOMAINS,
        environments=config.environments,
        provenance={
            "tool": "id2reflectance",
            "version": __version__,
            "options": {k: v for k, v in asdict(config).items() if k not in ("cluster", "split")},
            "split": split_record(config.split),
            "sessions": {r.id: r.session_sha256 for r in records.values()},
        },
    )


def build_dataset(
    sessions_dir: str | Path,
    out_dir: str | Path,
    *,
    config: BuildConfig,
    progress: ProgressFn | None = None,
    on_dashboard: Callable[[str], None] | None = None,
    client: Any | None = None,
) -> BuildReport:
    """Build (or resume) a dataset from every session under ``sessions_dir``.

    ``client``: an existing ``distributed.Client`` to run on (left open); None opens the
    cluster ``config.cluster`` describes and closes it at the end.

    Returns a :class:`BuildReport`; failed subjects are listed there and in the manifest's
    ``failed`` block (the caller decides the exit code).
    """
    t_start = time.perf_counter()
    check_environments(tuple(config.environments))
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "subjects").mkdir(exist_ok=True)
    work = root / ".work"
    sessions = find_sessions(sessions_dir)
    report = BuildReport()
    records: dict[str, SubjectRecord] = {}
    todo: list[Path] = []
    for s in sessions:
        rec = _already_built(root, s)
        if rec is not None:
            records[rec.id] = rec
            report.skipped.append(rec.id)
        else:
            todo.append(s)
    progress = progress or (lambda stage, done, total: None)
    for st in (*STAGES, "done"):
        progress(st, 0, len(todo))
    if todo:
        _run_subjects(
            todo, root, work, config, report, records, client=client, progress=progress, on_dashboard=on_dashboard
        )
    _write_dataset_manifest(root, records, report, config)
    if not config.keep_work and work.exists() and not report.failed:
        shutil.rmtree(work, ignore_errors=True)
    report.wall_s = time.perf_counter() - t_start
    return report
