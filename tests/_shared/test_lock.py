"""One writer per output folder: two real processes, a stale lock of a killed one."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from id2reflectance._shared.lock import lock_path, output_lock
from id2reflectance.capture.simulator.analytic import write_sphere_session
from id2reflectance.errors import OutputError
from tests.faults import read_only

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
HOLDER = """
import sys
from id2reflectance._shared.lock import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()  # hold it until the test closes stdin (or kills us)
"""


def test_a_second_lock_of_the_same_output_is_refused_and_released_after(tmp_path):
    out = tmp_path / "out"
    with output_lock(out) as lock:
        assert lock == tmp_path / ".out.lock"  # beside OUT: it survives OUT being replaced by a rename
        assert f"pid {os.getpid()}" in lock.read_text()
        with pytest.raises(OutputError, match=rf"out: another id2r command is writing it \(pid {os.getpid()} "):
            with output_lock(out):
                pass
        with output_lock(tmp_path / "other"):  # another output is not blocked
            pass
    assert not lock.exists()
    with output_lock(out):  # free again
        pass


def test_a_read_only_parent_refuses_the_lock_with_the_output_named(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    read_only(parent, monkeypatch)
    with pytest.raises(OutputError, match=r"ro/out: cannot write: (read-only file system|permission denied)"):
        with output_lock(parent / "out"):
            pass


def _hold(out: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _solve(session: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "id2reflectance.cli.main", "solve", str(session), "-o", str(out), "--no-progress"],
        env=ENV,
        capture_output=True,
        text=True,
        # a guard against a hang, not a speed limit: in a clean clone this is the suite's first solve, and
        # it compiles the solve kernels (it ran past 120 s on the loaded 2-core machine)
        timeout=600,
    )


@pytest.mark.slow
def test_two_processes_writing_one_output_the_second_refuses_until_the_first_dies(tmp_path):
    session = write_sphere_session(tmp_path / "sess", size=16, inverses=False, samples=(16, 4))
    out = tmp_path / "solved"
    holder = _hold(out)
    try:
        second = _solve(session, out)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
        assert lines[0].startswith(f"error: {out}: another id2r command is writing it (pid {holder.pid} ")
        assert not out.exists()  # nothing written by the refused command
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding the lock: its lock file stays behind
        holder.wait(timeout=30)
    assert lock_path(out).exists()
    third = _solve(session, out)  # a stale lock of a dead process does not block
    assert third.returncode == 0, third.stderr
    assert (out / "solve.json").is_file() and not lock_path(out).exists()
