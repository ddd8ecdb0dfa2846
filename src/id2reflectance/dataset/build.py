"""Build a training dataset from a folder of sessions, one Dask task chain per subject.

Per subject: validate -> solve -> bake -> views -> finalise. Each stage is a pure
function of paths and options; its result is kept in the subject's work area
``DATASET/.work/<session>/`` with a record of the hashes of its inputs and outputs, and
reused by a re-run (see the stages section below). The subject's files are assembled in
a temporary folder beside ``subjects/<id>`` and renamed into place with its
``subject.json`` (checksums) inside. A failed subject is reported and does not stop the
others; a re-run skips subjects whose files verify. ``dataset.json`` is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_folder, atomic_write_json, sha256_file
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.geometry.templates import TEMPLATE_KINDS, Template, resolve_template, template_record
from id2reflectance.capture.session import load_session
from id2reflectance.capture.validate import validate_session
from id2reflectance.dataset.cluster import ClusterConfig, dashboard_link, open_client
from id2reflectance.dataset.manifest import (
    DOMAINS,
    MANIFEST,
    SUBJECT_RECORD,
    SubjectRecord,
    layout_name,
    load_subject_record,
    manifest_eyes,
    manifest_template,
    read_manifest,
    same_layout,
    verify_subject,
    write_manifest,
)
from id2reflectance.dataset.splits import SplitConfig, split_record, split_subjects
from id2reflectance.dataset.views import check_environments, render_training_views
from id2reflectance.errors import ConfigError, Id2rError, InputFileError, OutputError
from id2reflectance.processing.bake.baker import BakeConfig, bake_session
from id2reflectance.processing.bake.views import BAKE_INPUT_MAPS
from id2reflectance.processing.solve.solver import SolverConfig, solve_session

log = logging.getLogger(__name__)

STAGES = ("validate", "solve", "bake", "views")
TASK_RETRIES = 1
"""Extra tries of a stage that raised. A task whose worker died is rerun elsewhere by the
scheduler (Dask's ``allowed-failures``, 3); both are safe as every stage is idempotent."""


@dataclass(frozen=True)
class BuildConfig:
    """Options of ``id2r dataset build`` (recorded in the manifest's provenance)."""

    image_size: int = 512  # training view size, pixels
    views: tuple[str, ...] = ("front", "left", "right")
    environments: tuple[str, ...] = ("full", "courtyard", "sunset")  # 'full' = full-on pattern
    bake_size: int = 512  # UV map size, texels (power of two >= 256)
    split: SplitConfig = field(default_factory=SplitConfig)  # train/val/test, by skin type by default
    keep_work: bool = False  # keep each subject's work area (DATASET/.work/<session>) after it is finished
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    template: str = "auto"  # UV layout of every subject (auto | face_model | procedural), docs/template.md
    eyes: bool = True  # RGB views with the face model's eyeballs (face-model layout only), docs/dataset-format.md

    def __post_init__(self) -> None:
        if self.template not in TEMPLATE_KINDS:
            raise ConfigError(f"template must be one of {', '.join(TEMPLATE_KINDS)}, got {self.template!r}")
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
    reused: dict[str, list[str]] = field(default_factory=dict)  # subject -> stages reused from the work area
    lost_workers: list[dict[str, Any]] = field(default_factory=list)  # {"worker", "tasks"}: died mid-build

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
# Each stage takes and returns a small dict ("info") so Dask can chain them; the heavy
# data stays on disk. Every stage keeps its result in the subject's work area
# ``DATASET/.work/<session folder>/``: its output folder and a record ``<stage>.json``
# holding the hash of its inputs (the session's files, or the record of the stage before,
# and the options), the SHA-256 of every output file and how often the stage ran. A
# re-run whose inputs hash the same and whose outputs verify reuses the stage, so a
# killed build loses only the stages that were in flight. Every stage is idempotent
# (outputs are written to a temporary folder and renamed into place), so Dask may rerun
# it after a lost worker.


def _digest(obj: Any) -> str:
    """SHA-256 of a JSON-serialisable object (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()


def _folder_files(folder: Path, base: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, keyed by its path relative to ``base``."""
    return {str(p.relative_to(base)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def read_stage_record(work: Path, stage: str) -> dict[str, Any] | None:
    """The record ``<stage>.json`` of a subject's work area, or None if absent/unreadable."""
    try:
        rec = json.loads((work / f"{stage}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _reusable(work: Path, stage: str, inputs: str) -> dict[str, Any] | None:
    """The stage's record when it was made from the same inputs and its outputs verify."""
    rec = read_stage_record(work, stage)
    if rec is None or rec.get("inputs") != inputs or not isinstance(rec.get("outputs"), dict):
        return None
    for rel, digest in rec["outputs"].items():
        p = work / rel
        if not p.is_file() or sha256_file(p) != digest:
            return None
    return rec


def _run_stage(
    info: dict[str, Any], stage: str, options: dict[str, Any], compute: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """Reuse ``stage`` from the work area or run ``compute(work)`` and record it.

    ``compute`` writes the stage's output folder ``work/<stage>`` and returns what the
    stage adds to ``info``. The record's ``key`` (hash of inputs and outputs) is the input
    of the next stage, so a stage that is redone invalidates every stage after it.
    """
    work = Path(info["work"])
    inputs = _digest({"stage": stage, "upstream": info["key"], "options": options, "version": __version__})
    rec = _reusable(work, stage, inputs)
    if rec is not None:
        log.info("%s: %s reused from %s", info["subject_key"], stage, work)
        return {
            **info,
            **rec["info"],
            "key": rec["key"],
            "timings": {**info["timings"], stage: 0.0},
            "reused": [*info["reused"], stage],
        }
    t0 = time.perf_counter()
    added = compute(work)
    out = work / stage
    outputs = _folder_files(out, work) if out.is_dir() else {}
    former = read_stage_record(work, stage)
    rec = {
        "stage": stage,
        "inputs": inputs,
        "outputs": outputs,
        "key": _digest({"inputs": inputs, "outputs": outputs}),
        "info": added,
        "runs": int(former.get("runs", 0)) + 1 if former else 1,
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_json(work / f"{stage}.json", rec)
    return {**info, **added, "key": rec["key"], "timings": {**info["timings"], stage: rec["seconds"]}}


def stage_validate(session_dir: str, work_root: str) -> dict[str, Any]:
    """Validate the session fully; return its id, attributes and manifest checksum.

    Its input is every file of the session folder, so any changed frame redoes the chain.
    """
    session = Path(session_dir)
    key = session.name
    info: dict[str, Any] = {
        "session": session_dir,
        "subject_key": key,
        "work": str(Path(work_root) / key),
        "key": _digest(_folder_files(session, session)),
        "timings": {},
        "reused": [],
    }

    def compute(work: Path) -> dict[str, Any]:
        report = validate_session(session_dir)
        if not report.ok:
            raise Id2rError("; ".join(report.problems[:5]) + (" ..." if len(report.problems) > 5 else ""))
        s = report.session
        if s is None:  # unreachable: a report without problems always carries the session
            raise Id2rError(f"{session_dir}: session could not be loaded")
        work.mkdir(parents=True, exist_ok=True)
        return {
            "id": s.subject_id,
            "attributes": dict(s.attributes),
            "session_sha256": sha256_file(session / "session.json"),
        }

    return _run_stage(info, "validate", {}, compute)


def stage_solve(info: dict[str, Any]) -> dict[str, Any]:
    """Solve every camera into ``work/solve``: the maps the bake reads, uncompressed (an
    intermediate: the fastest to write and read; the per-channel diffuse normals skipped),
    through the page cache (the bake reads them right after)."""
    config = SolverConfig(maps=BAKE_INPUT_MAPS, compression="none", direct_io=False)

    def compute(work: Path) -> dict[str, Any]:
        solve_session(info["session"], work / "solve", config=config)
        return {}

    return _run_stage(info, "solve", asdict(config), compute)


def stage_bake(info: dict[str, Any], bake_size: int, template: str = "auto") -> dict[str, Any]:
    """Register the template (``auto``, ``procedural`` or ``face_model``) and bake the UV asset into ``work/bake``."""
    config = BakeConfig(size=bake_size, template=template)

    def compute(work: Path) -> dict[str, Any]:
        bake_session(info["session"], work / "solve", work / "bake", config=config)
        return {}

    return _run_stage(info, "bake", asdict(config), compute)


def stage_view(
    info: dict[str, Any], view: str, image_size: int, environments: tuple[str, ...], eyes: bool = True
) -> dict[str, Any]:
    """Render one aligned training view of every domain into ``work/view-<view>`` (``eyes``:
    the RGB views with eyes, :func:`~id2reflectance.dataset.views.render_training_views`).

    One task per view, so the views of a subject run in parallel and a kill loses only the
    views in flight (the longest stage)."""

    def compute(work: Path) -> dict[str, Any]:
        with atomic_folder(work / f"view-{view}") as tmp:
            render_training_views(
                work / "bake", tmp, image_size=image_size, views=(view,), environments=environments, eyes=eyes
            )
        return {}

    options = {"image_size": image_size, "environments": list(environments), "view": view, "eyes": eyes}
    return _run_stage(info, f"view-{view}", options, compute)


def stage_finalise(view_infos: list[dict[str, Any]], root: str, keep_work: bool) -> dict[str, Any]:
    """Copy the subject's views into ``subjects/<id>`` with its ``subject.json`` (checksums).

    ``view_infos``: what :func:`stage_view` returned for each view. The subject is
    assembled in a temporary folder and renamed into place, so a rerun after a lost worker
    finds either the finished subject or nothing. Returns the subject record and the
    stages reused from the work area.
    """
    info = view_infos[0]
    work = Path(info["work"])
    timings = {k: v for k, v in info["timings"].items() if not k.startswith("view-")}
    timings["views"] = sum(v for i in view_infos for k, v in i["timings"].items() if k.startswith("view-"))
    reused = [st for i in view_infos for st in i["reused"] if i is info or st.startswith("view-")]
    dst = Path(root) / "subjects" / info["id"]
    with atomic_folder(dst) as tmp:
        for i in view_infos:  # each holds views/<view>/, and the same uv/ and mesh_vertices.npy
            view = next(k for k in i["timings"] if k.startswith("view-"))
            shutil.copytree(work / view, tmp, dirs_exist_ok=True)
        files = _folder_files(tmp, tmp)
        rec = SubjectRecord(info["id"], info["attributes"], files, info["session_sha256"], timings)
        atomic_write_json(tmp / SUBJECT_RECORD, rec.to_json())
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return {"record": rec.to_json(), "reused": reused}


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
    opts = {"pure": False, "retries": TASK_RETRIES}
    layout = _layout(config).kind
    for s in todo:
        key = s.name
        f_val = client.submit(stage_validate, str(s), str(work), key=f"validate-{key}", **opts)
        f_sol = client.submit(stage_solve, f_val, key=f"solve-{key}", **opts)
        f_bak = client.submit(stage_bake, f_sol, config.bake_size, layout, key=f"bake-{key}", **opts)
        f_vie = [
            client.submit(
                stage_view,
                f_bak,
                view,
                config.image_size,
                config.environments,
                config.eyes,
                key=f"view-{view}-{key}",
                **opts,
            )
            for view in config.views
        ]
        f_fin = client.submit(stage_finalise, f_vie, str(root), config.keep_work, key=f"done-{key}", **opts)
        for stage, fut in (("validate", f_val), ("solve", f_sol), ("bake", f_bak), ("done", f_fin)):
            chains[fut] = (key, stage)
        for fut in f_vie:
            chains[fut] = (key, "views")
    return chains


def _collect(
    chains: dict[Any, tuple[str, str]],
    report: BuildReport,
    records: dict[str, SubjectRecord],
    progress: ProgressFn,
    total: int,
) -> None:
    """Wait for every stage; record built subjects in ``records`` and ``report``, and the
    first failed stage of each subject in ``report.failed``. An output that cannot be
    written (:class:`OutputError`: disk full, read-only) stops the build with that error."""
    from distributed import as_completed  # lazy: Dask is slow to import and only the build needs it

    done = {st: 0 for st in (*STAGES, "done")}
    parts = Counter(chains.values())  # futures per (subject, stage): one per view for "views"
    failed_keys: set[str] = set()
    for fut in as_completed(list(chains)):
        key, stage = chains[fut]
        if fut.status == "finished":
            parts[key, stage] -= 1
            if parts[key, stage] == 0:
                done[stage] += 1
                progress(stage, done[stage], total)
            if stage == "done":
                result = fut.result()
                rec = SubjectRecord.from_json(result["record"])
                records[rec.id] = rec
                report.built.append(rec.id)
                report.timings_s[rec.id] = rec.timings_s
                if result["reused"]:
                    report.reused[rec.id] = result["reused"]
        elif key not in failed_keys:
            failed_keys.add(key)
            err = fut.exception()
            if isinstance(err, OutputError):  # a full or read-only disk fails every subject alike: stop
                raise err
            msg = str(err) if isinstance(err, Id2rError) else f"{type(err).__name__}: {err}"
            report.failed.append({"id": key, "stage": stage, "error": msg})
            log.warning("subject %s failed in %s: %s", key, stage, msg)


def lost_workers(client: Any, *, since: float = 0.0) -> list[dict[str, Any]]:
    """Workers the scheduler lost unexpectedly (killed, crashed) since the Unix time ``since``
    and the tasks they were running, from the scheduler's event log."""
    try:
        events = client.get_events("all")
    except Exception as err:  # a scheduler that keeps no events: nothing to report
        log.debug("no scheduler events: %s", err)
        return []
    return [
        {"worker": msg.get("worker", "?"), "tasks": sorted(str(k) for k in msg.get("processing-tasks", ()))}
        for stamp, msg in events
        if stamp >= since
        and isinstance(msg, dict)
        and msg.get("action") == "remove-worker"
        and not msg.get("expected", False)
    ]


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
    started = time.time()
    if own:
        client, cluster = open_client(config.cluster)
    report.dashboard = dashboard_link(client)
    if report.dashboard and on_dashboard:
        on_dashboard(report.dashboard)
    try:
        if own:
            from id2reflectance.dataset.worker_pinning import WarmUp  # imports distributed (slow)

            client.register_plugin(WarmUp())
        _collect(_submit_chains(client, todo, work, root, config), report, records, progress, len(todo))
        report.lost_workers = lost_workers(client, since=started)
        for lost in report.lost_workers:
            log.warning(
                "worker %s died during the build while running %s; its tasks were run again elsewhere",
                lost["worker"],
                ", ".join(lost["tasks"]) or "nothing",
            )
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
        template=template_record(_layout(config)),
        eyes=_with_eyes(config),
    )


def _with_eyes(config: BuildConfig) -> bool:
    """Whether the build's RGB views hold eyes: asked for, in the face-model layout."""
    return config.eyes and _layout(config).kind == "face_model"


def _layout(config: BuildConfig) -> Template:
    """The template every subject is baked in (``auto`` resolved once for the whole build)."""
    return resolve_template(config.template)


def _check_layout(root: Path, config: BuildConfig) -> None:
    """A dataset is built in one layout: resuming one built in another is an error (a
    manifest that does not read is left to the build, which replaces it)."""
    if not (root / MANIFEST).is_file():
        return
    try:
        old = manifest_template(read_manifest(root))
    except InputFileError:
        return
    new = template_record(_layout(config))
    if not same_layout(old, new):
        raise InputFileError(
            root / MANIFEST,
            "template",
            f"the dataset is built in the UV layout {layout_name(old)}, this build asks for {layout_name(new)}; "
            "build into a new folder (or pass the dataset's --template)",
        )
    try:
        old_eyes = manifest_eyes(read_manifest(root))
    except InputFileError:
        return
    if old_eyes != _with_eyes(config):
        raise InputFileError(
            root / MANIFEST,
            "eyes",
            f"the dataset's RGB views are rendered {'with' if old_eyes else 'without'} eyes, this build asks "
            f"{'with' if _with_eyes(config) else 'without'}; build into a new folder "
            f"(or pass {'--eyes' if old_eyes else '--no-eyes'})",
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
    _check_layout(root, config)
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
