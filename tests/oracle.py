"""A real supervisord, run beside mictld as the oracle of supervision semantics."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import textwrap
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from tests.helpers import BIN, wait_until

RECORDER = Path(__file__).with_name("state_recorder.py")


class Supervisord:
    def __init__(
        self,
        root: Path,
        programs: dict[str, dict[str, str]],
        groups: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.socket = root / "supervisor.sock"
        self.events = root / "events.log"
        sections = [
            f"""
            [unix_http_server]
            file={self.socket}
            [supervisord]
            logfile={root}/supervisord.log
            pidfile={root}/supervisord.pid
            childlogdir={root}
            nodaemon=true
            loglevel=info
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            [supervisorctl]
            serverurl=unix://{self.socket}
            [eventlistener:recorder]
            command={sys.executable} {RECORDER} {self.events}
            events=PROCESS_STATE
            priority=1
            buffer_size=10000
            """
        ]
        for name, options in programs.items():
            lines = "\n".join(f"{k}={v}" for k, v in options.items())
            sections.append(f"[program:{name}]\n{lines}\n")
        for name, options in (groups or {}).items():  # [group:x] programs=a,b
            lines = "\n".join(f"{k}={v}" for k, v in options.items())
            sections.append(f"[group:{name}]\n{lines}\n")
        self.config = root / "supervisord.conf"
        self.config.write_text("\n".join(textwrap.dedent(s) for s in sections))
        self.proc: subprocess.Popen[bytes] | None = None

    def call(self, method: str, *args: Any) -> Any:
        """One XML-RPC call on a fresh connection (supervisor's transport keeps
        a broken one broken, and leaks the socket of a failed connect)."""
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        try:
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            return getattr(proxy.supervisor, method)(*args)
        finally:
            transport.close()

    def start(self) -> Supervisord:
        out = open(self.root / "supervisord.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(BIN / "supervisord"), "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        wait_until(self._up, 30, "supervisord")
        return self

    def _up(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            if probe.connect_ex(str(self.socket)) != 0:
                return False
        return self.call("getState")["statename"] == "RUNNING"

    def states(self, name: str) -> list[str]:
        # The recorder is a Python process; on a loaded machine it is ready
        # after a burst of events, which supervisord buffers (default 10, then
        # it drops the oldest). A dropped event would read as a wrong state.
        log = self.root / "supervisord.log"
        if log.exists() and b"overflowed" in log.read_bytes():
            raise AssertionError("supervisord dropped events for the recorder")
        if not self.events.exists():
            return []
        return [
            line.split()[2]
            for line in self.events.read_text().splitlines()
            if line.split()[1] == name
        ]

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """supervisorctl, as an operator runs it."""
        return subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def info(self, name: str) -> dict[str, Any]:
        return self.call("getProcessInfo", name)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def supervisord(
    root: Path,
    programs: dict[str, dict[str, str]],
    groups: dict[str, dict[str, str]] | None = None,
) -> Iterator[Supervisord]:
    s = Supervisord(root, programs, groups)
    try:
        yield s.start()
    finally:
        s.stop()
