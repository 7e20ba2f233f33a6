"""`mictl events -f` shows what happens, as it happens."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import ask, fleet
from tests.helpers import BIN


def test_events_follow_shows_a_kill_the_restart_and_routable_again(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b"]) as (d, client):
        follower = subprocess.Popen(
            [str(BIN / "mictl"), "--socket", str(d.socket), "events", "-f", "-n", "200", "a"],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: [lines.put(x) for x in follower.stdout],  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        try:
            # Whenever the follower connects, it starts with the recent events
            # (-n 200), so the kill below is in what it prints either way.
            pid = d.program("a").pid
            assert pid
            os.kill(pid, signal.SIGKILL)
            wanted = [
                "RUNNING -> EXITED (terminated by SIGKILL",
                "EXITED -> STARTING",
                "STARTING -> RUNNING",
                "routing   routable",
            ]
            seen: list[str] = []
            deadline = time.monotonic() + 30
            while wanted and time.monotonic() < deadline:
                try:
                    got = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    break
                seen.append(got)
                if wanted[0] in got:
                    wanted.pop(0)
            assert not wanted, f"missing {wanted} in:\n" + "".join(seen)
            assert all(" a " in line for line in seen)  # only a's events
        finally:
            follower.terminate()
            follower.wait(10)
            reader.join(10)  # it reads to the end of the pipe
            follower.stdout.close()  # type: ignore[union-attr]
        assert ask(client) in {"a", "b"}
        recent = json.loads(d.ctl("events", "--json", "-n", "200").stdout.splitlines()[-1])
        assert recent["seq"] > 0
