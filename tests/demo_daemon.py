"""The bundled demo (`mictld -c etc/demo.toml`) run for a test: everything it
writes under a temp dir, every port free."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec

from tests.helpers import BIN, REPO, free_port, free_port_block


class Demo(msgspec.Struct):
    root: Path
    front: int
    ctl_argv: list[str]
    daemon: subprocess.Popen  # type: ignore[type-arg]

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.ctl_argv, *args], capture_output=True, text=True, timeout=300)

    def routable(self) -> set[str]:
        result = self.ctl("health", "--json")
        if result.returncode != 0:
            return set()
        return {b["name"] for b in json.loads(result.stdout) if b["routable"]}


@contextlib.contextmanager
def demo(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Demo]:
    site, front, base = free_port(), free_port(), free_port_block(4)
    env = {
        **os.environ,
        "MICTL_DAEMON__SOCKET": str(root / "mictl.sock"),
        "MICTL_DAEMON__STATE_DIR": str(root / "state"),
        "MICTL_DAEMON__LOG_DIR": str(root / "log"),
        "MICTL_ROUTER__PORT": str(front),
        "MICTL_PROFILES__BASE_PORT": str(base),
        "MICTL_PROGRAMS__DEMO-SITE__COMMAND": f"mictl-demo-site --port {site}",
        "MICTL_PROFILES__PROGRAM__ENVIRONMENT": f'MICTL_SITE_URL="http://127.0.0.1:{site}/"',
        **(extra_env or {}),
    }
    with open(root / "mictld.out", "wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / "mictld"), "-c", str(REPO / "etc" / "demo.toml")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    d = Demo(root, front, [str(BIN / "mictl"), "--socket", str(root / "mictl.sock")], daemon)
    try:
        yield d
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
