"""Restart latency: SIGKILL a program, time until its replacement runs and
until its port accepts connections. mictld against a real supervisord, same
program (startsecs=0, each up 1.1 s before its kill), same machine, same run,
each watched two ways:

- "API": polling the daemon's own API (mictl's control socket, supervisord's
  XML-RPC) for RUNNING with a new pid, then the port. Polling wakes
  supervisord's select loop, which hides its real delay.
- "outside": never touching either API. The new pid is seen in /proc (a new
  child of the daemon whose command line is the program's, i.e. exec'd), the
  port by connecting; supervisord's RUNNING comes from its event listener
  (tests/state_recorder.py, which supervisord notifies itself).

    .venv/bin/python bench/restart_latency.py [--kills 20]
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import median, table

from tests.helpers import LISTENER, Mictld, free_port, port_open, wait_until
from tests.oracle import Supervisord

Samples = dict[str, list[float]]  # column -> seconds after each SIGKILL

# Each victim runs this long before its SIGKILL: past mictld's respawn floor
# (daemon/supervise/machine.py RESPAWN_FLOOR), so the kill is a crash that restarts at once.
UP_BEFORE_KILL = 1.1


def _wait(check: Callable[[], object], timeout: float = 30.0) -> float:
    """Spin on `check` (no sleep: we are measuring) and return when it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        os.sched_yield()
    raise TimeoutError


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _program_child(daemon_pid: int, not_pid: int) -> int | None:
    """A child of the daemon, other than `not_pid`, that has exec'd the listener."""
    for path in glob.glob(f"/proc/{daemon_pid}/task/*/children"):
        try:
            with open(path) as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for pid in pids:
            if pid == not_pid:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if LISTENER.encode() in f.read():
                        return pid
            except OSError:
                continue
    return None


def _kill_and_watch_api(
    pid_now: Callable[[], int], running_with: Callable[[int], bool], port: int, kills: int
) -> Samples:
    out: Samples = {"new pid": [], "RUNNING": [], "port": []}
    for _ in range(kills):
        time.sleep(UP_BEFORE_KILL)
        pid = pid_now()
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        t1 = _wait(lambda p=pid: running_with(p))
        t2 = _wait(lambda: _listening(port))
        out["new pid"].append(t1 - t0)  # the API shows the new pid with RUNNING
        out["RUNNING"].append(t1 - t0)
        out["port"].append(t2 - t0)
    return out


def _kill_and_watch_outside(daemon_pid: int, first_pid: int, port: int, kills: int) -> Samples:
    out: Samples = {"new pid": [], "port": [], "killed at": []}
    pid = first_pid
    for _ in range(kills):
        time.sleep(UP_BEFORE_KILL)
        out["killed at"].append(time.time())
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        t1 = _wait(lambda old=pid: _program_child(daemon_pid, old))
        t2 = _wait(lambda: _listening(port))
        out["new pid"].append(t1 - t0)
        out["port"].append(t2 - t0)
        pid = _program_child(daemon_pid, pid) or 0
    return out


def _events_running(events: Path, killed_at: list[float]) -> list[float]:
    """supervisord's own RUNNING notifications, as its event listener logged them."""
    times = [
        float(line.split()[0])
        for line in events.read_text().splitlines()
        if line.split()[1:3] == ["victim", "RUNNING"]
    ]
    found = []
    for t0 in killed_at:
        after = [t for t in times if t > t0]
        if after:
            found.append(after[0] - t0)
    return found


def bench_mictld(root: Path, kills: int) -> dict[str, Samples]:
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

        def running_with(old: int) -> bool:
            info = d.program("victim")
            return info.state == "RUNNING" and info.pid != old

        api = _kill_and_watch_api(lambda: d.program("victim").pid or 0, running_with, port, kills)
        assert d.proc is not None
        first = d.program("victim").pid or 0
        outside = _kill_and_watch_outside(d.proc.pid, first, port, kills)
        return {"API": api, "outside": outside}
    finally:
        d.cleanup()


def bench_supervisord(root: Path, kills: int) -> dict[str, Samples]:
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

        def running_with(old: int) -> bool:
            info = sv.info("victim")
            return info["statename"] == "RUNNING" and info["pid"] != old

        api = _kill_and_watch_api(lambda: sv.info("victim")["pid"], running_with, port, kills)
        assert sv.proc is not None
        first = sv.info("victim")["pid"]
        outside = _kill_and_watch_outside(sv.proc.pid, first, port, kills)
        time.sleep(1.5)  # the listener's last notification (bench only, not a test)
        outside["RUNNING"] = _events_running(sv.events, outside["killed at"])
        return {"API": api, "outside": outside}
    finally:
        sv.stop()


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{median(values) * 1000:.1f} / {max(values) * 1000:.1f}"


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
    for daemon, ways in results.items():
        for way, samples in ways.items():
            watched = {
                "API": "its API, polled",
                "outside": "/proc + connect" + (" + events" if "RUNNING" in samples else ""),
            }[way]
            rows.append(
                [
                    daemon,
                    watched,
                    _cell(samples["new pid"]),
                    _cell(samples.get("RUNNING", [])),
                    _cell(samples["port"]),
                ]
            )
    print(
        f"SIGKILL -> replacement, {args.kills} kills each way, startsecs=0 "
        "(milliseconds, p50 / max)\n"
    )
    print(table(["daemon", "watched by", "new pid", "RUNNING", "port accepts"], rows))


if __name__ == "__main__":
    main()
