"""``scripts/unseen_lighting.py``: held-out subjects re-rendered under every built-in
lighting and scored with the evaluation's protocol (uses the face_dataset fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from id2reflectance.processing.relight.envmap import builtin_environments

ROOT = Path(__file__).resolve().parents[2]


def test_unseen_lighting_script_prints_every_lighting(face_dataset: Path, tiny_swapper_run: Path) -> None:
    # the run's private cache (tests/conftest.py): the prefiltered built-in maps are shared with
    # the other tests that render under them
    env = dict(os.environ)
    args = ["--dataset", str(face_dataset), "--sessions", str(face_dataset.parent / "sessions")]
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts/unseen_lighting.py"), *args, "--checkpoint", str(tiny_swapper_run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("lighting"))
    assert "decode" in lines[head] and "template-tone" in lines[head] and "template maps" in lines[head]
    rows = {line.split("|")[0].split(" (")[0].strip(): line for line in lines[head + 2 :]}
    lights = ["full", *builtin_environments()]
    assert set(rows) == {*lights, "mean, unseen"}
    assert "(trained)" in rows["full"]
    for line in rows.values():
        cells = [c for c in line.split("|")[1:]]
        assert len(cells) == 3
        for c in cells:
            psnr, ita = (float(x) for x in c.split("/"))
            assert 5.0 < psnr < 100.0 and 0.0 <= ita < 180.0
