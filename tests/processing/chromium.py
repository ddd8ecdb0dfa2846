"""Open an HTML file in headless Chromium (Debian's `chromium`): DOM after load,
console messages and a screenshot."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from id2reflectance.report.headless import FLAGS as HEADLESS_FLAGS
from id2reflectance.report.headless import PERFORMANCE_HINT, chromium_binary

FLAGS = [*HEADLESS_FLAGS, "--virtual-time-budget=5000"]


def open_page(html: Path, screenshot: Path) -> tuple[dict[str, str], list[str]]:
    """Return (attributes of <body> after load, console lines) and write a screenshot."""
    exe = chromium_binary()
    with tempfile.TemporaryDirectory() as profile:
        common = [exe, *FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            [*common, "--dump-dom", html.resolve().as_uri()], capture_output=True, text=True, timeout=120
        )
        subprocess.run(
            [*common, "--window-size=1280,1600", f"--screenshot={screenshot}", html.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    body = re.search(r"<body([^>]*)>", dom.stdout)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))) if body else {}
    console = [
        line
        for line in dom.stderr.splitlines()
        if ("CONSOLE" in line or "Uncaught" in line) and PERFORMANCE_HINT not in line
    ]
    return attrs, console
