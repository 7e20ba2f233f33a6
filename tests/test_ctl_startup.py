"""`mictl status` starts light: it imports click, msgspec and its own small
client, and nothing of the daemon's server side (the command's start-up is
most of its time; issue 15 wants it under 100 ms with 40 programs).

A behaviour test, not a timing one: which modules the status path imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import BIN, running

POLICY = "[profiles.program]\nstartsecs = 0\n"

# Each of these costs milliseconds to import and has no business in a read of
# the daemon's state: servers, the browser, the config loader, the HTTP
# stack of the standard library (http.client pulls in email and ssl).
HEAVY = (
    "aiohttp",
    "asyncio",
    "daemon.config",
    "daemon.supervisor",
    "email",
    "http.client",
    "httptools",
    "playwright",
    "prometheus_client",
    "ssl",
    "starlette",
    "supervisor",
    "uvicorn",
    "watchfiles",
)


def imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run mictl with -X importtime; the names of the modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "mictl"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, names


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


def test_status_imports_nothing_heavy(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        for args in (("status",), ("status", "--json"), ("status", "a")):
            result, names = imported("--socket", str(d.socket), *args)
            assert result.returncode == 0, result.stderr[-2000:]
            assert "a" in result.stdout and "RUNNING" in result.stdout
            assert {"click", "msgspec", "ctl.cli"} <= names  # the measurement itself works
            assert heavy(names) == [], args


def test_a_command_that_needs_more_still_gets_it(tmp_path: Path) -> None:
    """The light path is not a missing import: `-c CONFIG` loads the config."""
    config = tmp_path / "mictl.toml"
    config.write_text(f'[daemon]\nsocket = "{tmp_path}/none.sock"\n')
    result, names = imported("-c", str(config), "status")
    assert result.returncode == 3 and "none.sock" in result.stderr
    assert "daemon.config" in names
