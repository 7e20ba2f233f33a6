"""Restart latency: SIGKILL a program, time until its replacement is RUNNING
and until its port accepts connections. mictld against a real supervisord,
same program (startsecs=0), same machine, same run.

    .venv/bin/python bench/restart_latency.py [--kills 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from _common import median, table

from tests.helpers import LISTENER, Mictld, free_port, port_open, wait_until
from tests.oracle import Supervisord


def _wait(check, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    """Spin on `check` (no sleep: we are measuring) and return when it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
    raise TimeoutError


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def bench_mictld(root: Path, kills: int) -> tuple[list[float], list[float]]:
    port = free_port()
    body = f"""
    [programs.victim]
    command = "{sys.executable} {LISTENER} {port}"
    startsecs = 0
    autorestart = true
    """
    d = Mictld(root, body)
    d.start()
    try:
        d.wait_state("victim", "RUNNING")
        wait_until(lambda: port_open(port))
        running, serving = [], []
        for _ in range(kills):
            pid = d.program("victim").pid
            assert pid
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            t1 = _wait(lambda p=pid: (i := d.program("victim")).state == "RUNNING" and i.pid != p)
            t2 = _wait(lambda: _listening(port))
            running.append(t1 - t0)
            serving.append(t2 - t0)
        return running, serving
    finally:
        d.cleanup()


def bench_supervisord(root: Path, kills: int) -> tuple[list[float], list[float]]:
    port = free_port()
    programs = {
        "victim": {
            "command": f"{sys.executable} {LISTENER} {port}",
            "startsecs": "0",
            "autorestart": "true",
        }
    }
    sv = Supervisord(root, programs).start()
    try:
        wait_until(lambda: sv.info("victim")["statename"] == "RUNNING")
        wait_until(lambda: port_open(port))
        running, serving = [], []
        for _ in range(kills):
            pid = sv.info("victim")["pid"]
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            t1 = _wait(
                lambda p=pid: (i := sv.info("victim"))["statename"] == "RUNNING" and i["pid"] != p
            )
            t2 = _wait(lambda: _listening(port))
            running.append(t1 - t0)
            serving.append(t2 - t0)
        return running, serving
    finally:
        sv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "mictld": bench_mictld(Path(tmp) / "mictld", args.kills),
            "supervisord": bench_supervisord(Path(tmp) / "supervisord", args.kills),
        }
    rows = []
    for name, (running, serving) in results.items():
        rows.append(
            [
                name,
                str(args.kills),
                f"{median(running) * 1000:.1f}",
                f"{max(running) * 1000:.1f}",
                f"{median(serving) * 1000:.1f}",
                f"{max(serving) * 1000:.1f}",
            ]
        )
    print(f"SIGKILL -> replacement, {args.kills} kills each, startsecs=0 (milliseconds)\n")
    print(table(["daemon", "kills", "RUNNING p50", "RUNNING max", "port p50", "port max"], rows))


if __name__ == "__main__":
    main()
