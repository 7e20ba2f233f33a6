"""The bundled demo (`mictld -c etc/demo.toml`) run for a test: everything the
daemon writes under one temp dir (its own output beside it), every port free."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec

from daemon.supervise import orphans
from tests.helpers import BIN, REPO, free_port, free_port_block


class Demo(msgspec.Struct):
    root: Path
    front: int
    ctl_argv: list[str]
    daemon: subprocess.Popen  # type: ignore[type-arg]

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.ctl_argv, *args], capture_output=True, text=True, timeout=300)

    def health(self) -> dict[str, dict]:
        """How the router sees each backend (empty while the daemon is not up)."""
        result = self.ctl("health", "--json")
        return {b["name"]: b for b in json.loads(result.stdout)} if result.returncode == 0 else {}

    def routable(self) -> set[str]:
        return {name for name, b in self.health().items() if b["routable"]}

    def instance_key(self, name: str) -> str:
        """The key mictld made for an instance: its port answers only that."""
        return (self.root / "state" / "keys" / f"{name}.key").read_text().strip()

    def post(
        self, body: bytes, port: int | None = None, *, key: str = ""
    ) -> tuple[int, dict | None]:
        """A raw chat request to the front port (or an instance's, with its
        `key`): status and JSON."""
        url = f"http://127.0.0.1:{port or self.front}/v1/chat/completions"
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(url, body, headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, None  # not JSON: the test fails on it


@contextlib.contextmanager
def demo(
    root: Path, extra_env: dict[str, str] | None = None, *, stdout: Path | None = None
) -> Iterator[Demo]:
    """`stdout`: the daemon's stdout goes to this file alone (else with its stderr)."""
    site, front, base = free_port(), free_port(), free_port_block(4)
    env = {
        **os.environ,
        "MICTL_DAEMON__SOCKET": str(root / "run" / "mictl.sock"),
        "MICTL_DAEMON__STATE_DIR": str(root / "state"),
        "MICTL_DAEMON__LOG_DIR": str(root / "log"),
        "MICTL_ROUTER__PORT": str(front),
        "MICTL_PROFILES__BASE_PORT": str(base),
        "MICTL_PROGRAMS__DEMO-SITE__COMMAND": f"mictl-demo-site --port {site}",
        "MICTL_PROFILES__PROGRAM__ENVIRONMENT": f'MICTL_SITE_URL="http://127.0.0.1:{site}/"',
        **(extra_env or {}),
    }
    with (
        open(root.parent / f"{root.name}.mictld.out", "wb") as out,  # not the daemon's
        open(stdout or os.devnull, "wb") as own,
    ):
        daemon = subprocess.Popen(
            [str(BIN / "mictld"), "-c", str(REPO / "etc" / "demo.toml")],
            stdout=own if stdout else out,
            stderr=out if stdout else subprocess.STDOUT,
            env=env,
        )
    ctl = [str(BIN / "mictl"), "--socket", str(root / "run" / "mictl.sock")]
    d = Demo(root, front, ctl, daemon)
    try:
        yield d
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        orphans.cleanup(str(root / "state"), timeout=5)
