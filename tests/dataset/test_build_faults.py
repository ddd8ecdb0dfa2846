"""Dataset build faults: the whole build killed and re-run (stages reused from the work area),
one Dask worker killed mid-build (every subject still built, the loss reported), the disk
full during a bake (the build stops with the file named, the previous dataset intact)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from id2reflectance.capture.simulator.sessions import SimulatorConfig
from id2reflectance.dataset.build import BuildConfig, build_dataset, read_stage_record
from id2reflectance.dataset.cluster import ClusterConfig, open_client
from id2reflectance.dataset.manifest import check_dataset
from tests.faults import full_disk_for_exr, leftovers
from tests.simulated import copied_sessions

CLUSTER = ClusterConfig(workers=2, dashboard=None, memory_limit="4GiB")
CFG = BuildConfig(image_size=64, bake_size=256, environments=("full",), cluster=CLUSTER)
STAGE_RECORDS = ("validate", "solve", "bake", "view-front", "view-left", "view-right")  # in chain order


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    # the same 3 subjects as the other dataset build module: simulated once per run, copied here
    return copied_sessions(tmp_path_factory, subjects=3, config=SimulatorConfig(image_size=96, uv_size=128, cameras=3))


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """The processes of ``pids`` still running (zombies count as gone) after up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_build_reuses_finished_stages(sessions, tmp_path):
    out = tmp_path / "dataset"
    script = textwrap.dedent(
        f"""
        from id2reflectance.dataset.build import BuildConfig, build_dataset
        from id2reflectance.dataset.cluster import ClusterConfig
        cfg = BuildConfig(image_size=64, bake_size=256, environments=("full",),
                          cluster=ClusterConfig(workers=2, dashboard=None, memory_limit="4GiB"))
        build_dataset({str(sessions)!r}, {str(out)!r}, config=cfg)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 300
        while not list((out / ".work").glob("*/bake.json")):  # some subject is past its bake
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "no stage finished within 300 s"
            time.sleep(0.05)
        workers = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert workers and _wait_gone(workers, 60) == []  # the worker processes die with the build
    assert not (out / "dataset.json").exists()
    before = {
        w.name: {st: read_stage_record(w, st) for st in STAGE_RECORDS} for w in (out / ".work").iterdir() if w.is_dir()
    }
    finished = {key: [st for st, rec in recs.items() if rec] for key, recs in before.items()}
    assert any("bake" in stages for stages in finished.values())

    rep = build_dataset(sessions, out, config=BuildConfig(**{**CFG.__dict__, "keep_work": True}))
    assert rep.failed == [] and check_dataset(out) == []
    assert sorted(rep.built + rep.skipped) == ["S0000", "S0001", "S0002"]
    for key, stages in finished.items():
        if key in rep.skipped:  # finished before the kill: nothing of it ran again
            continue
        assert rep.reused.get(key, []) == stages, key
        for st in stages:  # a reused stage did not run again: its record is untouched
            assert read_stage_record(out / ".work" / key, st) == before[key][st]
            assert before[key][st]["runs"] == 1
    # the stages not reused ran exactly once, in the re-run
    for key in rep.built:
        for st in STAGE_RECORDS:
            assert read_stage_record(out / ".work" / key, st)["runs"] == 1


@pytest.mark.slow
def test_killed_worker_loses_nothing(sessions, tmp_path):
    out = tmp_path / "dataset"
    client, cluster = open_client(CLUSTER)
    try:
        pids = client.run(os.getpid)  # worker address -> pid
        victim = sorted(pids.values())[0]

        def kill_when_busy() -> None:
            # the first solve record: every worker is now in a solve or a bake
            deadline = time.monotonic() + 300
            while not list((out / ".work").glob("*/solve.json")) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        rep = build_dataset(sessions, out, config=CFG, client=client)
        killer.join()
        all_workers = list(pids.values()) + list(client.run(os.getpid).values())
    finally:
        client.close()
        cluster.close()
    assert sorted(rep.built) == ["S0000", "S0001", "S0002"] and rep.failed == []
    assert check_dataset(out) == []
    assert len(rep.lost_workers) == 1 and rep.lost_workers[0]["tasks"]  # the loss is reported
    assert not (out / ".work").exists()  # nothing left half-done
    assert _wait_gone(all_workers, 30) == []  # the replacement worker is gone too


class _Events:
    """A stand-in client holding a scheduler event log."""

    def __init__(self, events):
        self.events = events

    def get_events(self, topic):
        assert topic == "all"
        return self.events


def test_lost_workers_lists_unexpected_removals_since_the_build_began():
    from id2reflectance.dataset.build import lost_workers

    killed = {"action": "remove-worker", "worker": "tcp://w1", "processing-tasks": {"bake-S1"}, "expected": False}
    closed = {"action": "remove-worker", "worker": "tcp://w2", "processing-tasks": set(), "expected": True}
    client = _Events(
        [(5.0, {**killed, "worker": "tcp://old"}), (20.0, killed), (21.0, closed), (22.0, {"action": "x"})]
    )
    assert lost_workers(client, since=10.0) == [{"worker": "tcp://w1", "tasks": ["bake-S1"]}]
    assert lost_workers(client) == [
        {"worker": "tcp://old", "tasks": ["bake-S1"]},
        {"worker": "tcp://w1", "tasks": ["bake-S1"]},
    ]


def test_cli_summary_names_reused_stages_and_lost_workers(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import id2reflectance.cli.dataset as cli_dataset
    from id2reflectance.cli.main import _register, cli
    from id2reflectance.dataset.build import BuildReport

    _register()
    rep = BuildReport(
        built=["S0000"],
        timings_s={"S0000": {"validate": 0.0, "solve": 0.0, "bake": 0.0, "views": 3.0}},
        reused={"S0000": ["validate", "solve", "bake"]},
        lost_workers=[{"worker": "tcp://127.0.0.1:4000", "tasks": ["bake-S0000"]}],
    )
    monkeypatch.setattr(cli_dataset, "build_dataset", lambda *a, **k: rep)
    res = CliRunner().invoke(cli, ["dataset", "build", str(tmp_path), "-o", str(tmp_path / "d"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "(reused: validate, solve, bake)" in res.output
    assert "warning: Dask worker tcp://127.0.0.1:4000 died during the build while running bake-S0000" in res.output


@pytest.mark.slow
def test_full_disk_during_a_bake_stops_the_build_and_keeps_the_previous_dataset(sessions, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from distributed import LocalCluster

    from id2reflectance.cli.main import _register, cli

    _register()
    one = tmp_path / "one"
    shutil.copytree(sessions / "S0000", one / "S0000")
    out = tmp_path / "dataset"
    out.mkdir()
    previous = b'{"format": "id2r-dataset", "note": "the previous build"}\n'
    (out / "dataset.json").write_bytes(previous)
    tried = full_disk_for_exr(monkeypatch, when=lambda name: ".bake." in name)  # solve fits, the bake does not
    args = ["dataset", "build", str(one), "-o", str(out), "--image-size", "64", "--uv-size", "256", "--env", "full"]
    # in-process workers (threads), so that the injected full disk reaches them
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        res = CliRunner().invoke(cli, [*args, "--scheduler", cluster.scheduler_address, "--no-progress"])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("Dask dashboard:")]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {out}/.work/S0000/bake/") and lines[0].endswith("no space left on device")
    assert tried and (out / "dataset.json").read_bytes() == previous  # nothing half-written
    assert not (out / "subjects" / "S0000").exists() and leftovers(out / "subjects") == []
    work = out / ".work" / "S0000"
    assert read_stage_record(work, "solve") is not None and read_stage_record(work, "bake") is None  # solve kept
    assert leftovers(work) == []
