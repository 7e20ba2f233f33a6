"""xvfb-run for tests that need a headed browser: installed the way the
Makefile installs Chromium (scripts/ensure-xvfb.sh, Debian's package when
root), else the test is skipped with the reason."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import REPO


def xvfb_run() -> str:
    if not shutil.which("xvfb-run"):
        script = REPO / "scripts" / "ensure-xvfb.sh"
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.skip(f"no xvfb-run for the headed browser: {result.stderr.strip()}")
    path = shutil.which("xvfb-run")
    if not path:
        pytest.skip("no xvfb-run for the headed browser (scripts/ensure-xvfb.sh did not install)")
    return path
