"""Commands are loaded lazily: ``id2r solve`` imports the solve's library and not the others'."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from id2reflectance.cli.commands import COMMAND_MODULES, all_commands, load_command

SRC = str(Path(__file__).resolve().parents[2] / "src")

PROBE = """
import sys
from id2reflectance.cli.main import main
sys.argv = ["id2r", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = ["id2reflectance.processing.bake.baker", "id2reflectance.dataset.build", "id2reflectance.demo", "torch"]
print("LOADED", ",".join(m for m in heavy + ["id2reflectance.processing.solve.solver"] if m in sys.modules))
"""


def _loaded(*args: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    res = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=True)
    line = next(x for x in res.stdout.splitlines() if x.startswith("LOADED"))
    return set(filter(None, line.split(" ", 1)[1].split(",")))


def test_a_command_imports_only_its_own_library() -> None:
    assert _loaded("solve", "--help") == {"id2reflectance.processing.solve.solver"}


def test_every_command_is_listed_and_loads() -> None:
    cmds = all_commands()
    assert [c.name for c in cmds] == list(COMMAND_MODULES)
    assert load_command("nosuch") is None
    eval_group = load_command("eval")
    assert {"codebook", "swapper"} <= set(eval_group.commands)  # type: ignore[attr-defined]
    assert {"codebook", "swapper"} <= set(load_command("train").commands)  # type: ignore[attr-defined]
