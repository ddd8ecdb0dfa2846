"""The package's architecture: which module may import which, checked on the source.

The rules below are the source of truth (docs/architecture.md quotes them). Every import
counts: module level, inside functions and under ``if TYPE_CHECKING:``. The static checks
live in tests/import_graph.py; the last test imports ``id2reflectance.model`` for real
with the optional packages made unimportable.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.import_graph import (
    collect_imports,
    dependency_violations,
    find_cycles,
    format_cycle,
    layering_violations,
    list_modules,
    within,
)

# ----------------------------------------------------------------------------- the rules

# Top-level package (relative to id2reflectance) -> what it may import besides itself.
# Anyone may import the root package (for __version__) and errors; "*" is anything.
ALLOWED_IMPORTS: dict[str, tuple[str, ...]] = {
    "errors": (),
    "_shared": ("errors",),
    "capture": ("_shared",),
    "face": ("_shared", "model"),
    "processing": ("capture", "_shared"),
    "dataset": ("processing", "capture", "_shared"),
    "report": ("dataset", "processing", "capture", "_shared"),
    "model": ("_shared.atomic", "_shared.config", "_shared.progress"),
    "training": ("model", "face", "dataset", "_shared"),
    "inference": ("model", "face", "dataset", "processing", "capture", "_shared"),
    "evaluation": ("inference", "model", "face", "dataset", "processing", "capture", "_shared"),
    "demo": ("report", "processing", "capture", "_shared"),
    "cli": ("*",),
}
EVERYONE_MAY_IMPORT = ("", "errors")  # "" is the root package

# Module or package -> the only modules or packages that may import it (besides itself).
ONLY_IMPORTED_BY: dict[str, tuple[str, ...]] = {
    "cli": (),
    "capture.simulator": ("demo", "cli"),
    "capture.calibration": ("capture.simulator", "cli"),
}

# Inside a package, layers from the lowest up: a module imports its own layer and lower ones.
LAYERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "model": (
        ("model.engine",),  # checkpoints, optimisers, EMA, run logs
        ("model.losses", "model.discriminator", "model.image_metrics"),
        ("model.codebook",),
        ("model.identity",),
        ("model.swapper",),
        ("model.loading",),  # builds and loads every checkpoint kind
    ),
}

# model/ runs on a GPU machine with torch, numpy and safetensors only: this is everything it
# may reach, through the project modules it imports included.
MODEL_MAY_REACH = ("model", "errors", "", "_shared.atomic", "_shared.config", "_shared.progress")
MODEL_THIRD_PARTY = ("torch", "numpy", "safetensors")
MODEL_LAZY_THIRD_PARTY = ("yaml", "tensorboard")  # only inside functions (YAML files, when asked for)
THIRD_PARTY_ALIASES = {"torch.utils.tensorboard": "tensorboard"}  # needs the tensorboard package

# what the run-time check makes unimportable while it imports every module of model/
OPTIONAL_PACKAGES = (
    "cv2",
    "dlib",
    "open3d",
    "OpenEXR",
    "rawpy",
    "tifffile",
    "dask",
    "distributed",
    "numba",
    "colour",
    "scipy",
    "click",
    "yaml",
)

PACKAGE = "id2reflectance"
SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / PACKAGE


def _layering(imports):
    return layering_violations(
        imports,
        allowed=ALLOWED_IMPORTS,
        everyone_may_import=EVERYONE_MAY_IMPORT,
        only_imported_by=ONLY_IMPORTED_BY,
        layers=LAYERS,
    )


def _model_dependencies(imports):
    return dependency_violations(
        imports,
        package="model",
        may_reach=MODEL_MAY_REACH,
        third_party=MODEL_THIRD_PARTY,
        lazy_third_party=MODEL_LAZY_THIRD_PARTY,
        aliases=THIRD_PARTY_ALIASES,
    )


@pytest.fixture(scope="module")
def imports():
    return collect_imports(ROOT, PACKAGE)


# ----------------------------------------------------------------------------- the package


def test_no_import_cycles(imports):
    cycles = find_cycles(imports)
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(format_cycle(c) for c in cycles)


def test_imports_follow_the_layers(imports):
    problems = _layering(imports)
    assert not problems, f"{len(problems)} import(s) against the rules:\n" + "\n".join(problems)


def test_model_needs_only_torch_numpy_safetensors(imports):
    problems = _model_dependencies(imports)
    assert not problems, f"{len(problems)} dependency problem(s) of model/:\n" + "\n".join(problems)


def test_model_imports_without_the_optional_packages():
    modules = sorted(f"{PACKAGE}.{m}" for m in list_modules(ROOT) if within(m, "model"))
    assert f"{PACKAGE}.model.engine.checkpoint" in modules and len(modules) > 20
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, sys

        BLOCKED = {OPTIONAL_PACKAGES!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked by the test")
                return None

        sys.meta_path.insert(0, Block())
        failed = []
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except ImportError as err:
                failed.append(f"{{name}}: {{err}}")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print("\\n".join(failed + [f"loaded anyway: {{m}}" for m in loaded]))
        sys.exit(1 if failed or loaded else 0)
        """
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, f"model/ needs an optional package:\n{res.stdout}{res.stderr}"


# ----------------------------------------------------------------------------- the checker itself


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / "pkg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    for d in [root / "pkg", *(p for p in (root / "pkg").rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    return root / "pkg"


def test_checker_resolves_every_kind_of_import(tmp_path):
    root = _write(
        tmp_path,
        {
            "errors.py": "",
            "_shared/atomic.py": "",
            "model/engine/checkpoint.py": """
                from typing import TYPE_CHECKING
                import torch.nn
                from . import ema
                from .. import losses
                from pkg.model.engine import ema as e2, checkpoint
                if TYPE_CHECKING:
                    from pkg.model.codebook.vqgan import VQGAN
                def f():
                    import pkg._shared.atomic
                    from ...errors import ConfigError
                class C:
                    from pkg import errors
                """,
            "model/engine/ema.py": "",
            "model/losses.py": "",
            "model/codebook/vqgan.py": "",
        },
    )
    found = collect_imports(root, "pkg")["model.engine.checkpoint"]
    got = [(i.target, i.internal, i.where) for i in found]
    assert got == [
        ("typing", False, "module"),
        ("torch.nn", False, "module"),
        ("model.engine.ema", True, "module"),
        ("model.losses", True, "module"),
        ("model.engine.ema", True, "module"),
        ("model.engine.checkpoint", True, "module"),
        ("model.codebook.vqgan", True, "type_checking"),
        ("_shared.atomic", True, "function"),
        ("errors", True, "function"),
        ("errors", True, "module"),
    ]
    assert [i.line for i in found][:3] == [2, 3, 4]


def test_checker_finds_a_cycle_through_a_function_level_import(tmp_path):
    root = _write(
        tmp_path,
        {
            "model/engine/checkpoint.py": "def load():\n    from pkg.model.swapper.network import build\n",
            "model/swapper/network.py": "from pkg.model.codebook import vqgan\n",
            "model/codebook/vqgan.py": "from pkg.model.engine.checkpoint import load\n",
            "model/other.py": "from pkg.model.swapper import network\n",
        },
    )
    cycles = find_cycles(collect_imports(root, "pkg"))
    assert len(cycles) == 1
    text = format_cycle(cycles[0])
    assert text.startswith("model.codebook.vqgan -> model.engine.checkpoint -> model.swapper.network -> model.codebook")
    assert "model.engine.checkpoint:2 (function) imports model.swapper.network" in text


def test_checker_finds_upward_and_forbidden_imports(tmp_path):
    root = _write(
        tmp_path,
        {
            "errors.py": "",
            "_shared/atomic.py": "import pkg.errors\n",
            "_shared/imageio.py": "import OpenEXR\n",
            "capture/simulator/render.py": "from pkg.capture.calibration import boards\n",
            "capture/calibration/boards.py": "",
            "capture/session.py": "def f():\n    from pkg.processing import solve\n",
            "processing/solve.py": "from pkg.capture.simulator import render\n",
            "model/engine/checkpoint.py": "from pkg.model.codebook import vqgan\n",
            "model/codebook/vqgan.py": "import torch\nfrom pkg.model.engine import checkpoint\n",
            "model/identity/student.py": "import cv2\nfrom pkg.face import detect\n",
            "model/engine/runlog.py": "import yaml\ndef f():\n    from torch.utils.tensorboard import SummaryWriter\n",
            "model/engine/provenance.py": "from pkg._shared import imageio\n",
            "face/detect.py": "from pkg.cli import main\n",
            "cli/main.py": "from pkg.model.identity import student\n",
        },
    )
    imports = collect_imports(root, "pkg")
    problems = "\n".join(_layering(imports))
    assert "capture.session:2 (function) imports processing.solve: capture may import only _shared" in problems
    assert "processing.solve:1 (module) imports capture.simulator.render: only demo, cli may import" in problems
    assert not [p for p in problems.splitlines() if p.startswith("capture.simulator")]  # it may use the calibration
    assert "face.detect:1 (module) imports cli.main: nothing may import cli" in problems
    assert "model.identity.student:2 (module) imports face.detect: model may import only _shared.atomic" in problems
    assert "model.engine.checkpoint:1 (module) imports model.codebook.vqgan: a higher layer of model" in problems
    assert "model.engine.provenance:1 (module) imports _shared.imageio" in problems
    assert not [p for p in problems.splitlines() if p.startswith("cli.main")]  # cli may import anything
    assert len(problems.splitlines()) == 6, problems

    deps = "\n".join(_model_dependencies(imports))
    assert "model.identity.student:1 (module) imports cv2" in deps
    assert "model.engine.runlog:1 (module) imports yaml at module level" in deps
    assert "torch.utils.tensorboard" not in deps  # inside a function
    assert "model reaches face.detect (model.identity.student -> face.detect)" in deps
    assert "model reaches cli.main (model.identity.student -> face.detect -> cli.main)" in deps
    assert "model reaches _shared.imageio" in deps
    assert "OpenEXR" not in deps  # not reported twice: _shared.imageio is already out of bounds
    assert len(deps.splitlines()) == 5, deps
