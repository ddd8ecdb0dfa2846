"""Open a report page in headless Chromium (Debian's ``chromium``) and read back what the
page recorded: ``<body>`` attributes after load, console messages and the viewer's
screenshots (for tests, benchmarks and automated QA; not needed to view a report).

The viewer renders the shots listed in the URL fragment (``#shots=env:studio;env:city&size=256``,
see ``viewer.js``) and stores each as a PNG data URL in ``<body data-shot-I>``.
"""

from __future__ import annotations

import base64
import html as html_lib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from id2reflectance.errors import ConfigError

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",  # WebGL2 on the CPU: the same pixels on every machine
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
# WebGL driver performance hints (e.g. "GPU stall due to ReadPixels" when the test hook reads the
# canvas back): the browser's, not the page's messages, left out of PageResult.console.
PERFORMANCE_HINT = "GL Driver Message (OpenGL, Performance"


@dataclass(frozen=True, eq=False)
class PageResult:
    """attrs : ``<body>`` attributes after the scripts ran; console : console/error lines (but
    driver performance hints);
    shots : (H, W, 3) float32 sRGB-encoded screenshots in [0, 1]; wall_s : seconds the browser ran;
    load_ms : the page's own time from navigation start to viewer ready (``data-load-ms``), or None.
    """

    attrs: dict[str, str]
    console: list[str]
    shots: list[np.ndarray]
    wall_s: float
    load_ms: float | None


def chromium_binary() -> str:
    """Path of the Chromium executable (``bash scripts/install.sh --test`` installs it)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise ConfigError("headless Chromium is required: run `bash scripts/install.sh --test`")
    return exe


def shots_fragment(shots: Sequence[Mapping[str, object]], *, size: int = 256) -> str:
    """URL fragment asking the viewer for ``shots`` (each {"env", "view", "specular", "exposure", "az",
    "el", "zoom", "rot"}, all optional) at ``size`` px square."""
    parts = [",".join(f"{k}:{v}" for k, v in s.items()) for s in shots]
    return f"shots={';'.join(parts)}&size={int(size)}"


def open_page(html: str | Path, *, fragment: str = "", budget_ms: int = 20000, timeout_s: float = 300) -> PageResult:
    """Load ``html`` (a file) in headless Chromium and return what the page recorded.

    ``budget_ms`` is Chromium's virtual time budget (the page's scripts run until idle or
    until it is spent).
    """
    url = Path(html).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory() as profile:
        t0 = time.perf_counter()
        run = subprocess.run(
            [
                chromium_binary(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        wall = time.perf_counter() - t0
    body = re.search(r"<body([^>]*)>", run.stdout)
    attrs = {k: html_lib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', body.group(1))} if body else {}
    console = [
        line
        for line in run.stderr.splitlines()
        if ("CONSOLE" in line or "Uncaught" in line) and PERFORMANCE_HINT not in line
    ]
    shots = []
    for i in range(int(attrs.get("data-shots", "0"))):
        uri = attrs.get(f"data-shot-{i}", "")
        png = np.frombuffer(base64.b64decode(uri.split(",", 1)[-1]), np.uint8)
        img = cv2.imdecode(png, cv2.IMREAD_COLOR)
        shots.append(img[..., ::-1].astype(np.float32) / 255.0 if img is not None else np.zeros((0, 0, 3), np.float32))
    load = attrs.get("data-load-ms")
    return PageResult(attrs, console, shots, wall, float(load) if load else None)
