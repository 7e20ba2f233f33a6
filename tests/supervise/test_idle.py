"""An idle daemon sleeps: no timer wakes its loop for nothing (issue 15: under
2 % of a core with 40 programs). Counted as the loop thread's voluntary
context switches (each sleep in epoll_wait is one), not as time: a slow or
busy machine does not add wake-ups, so the count does not depend on it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import running, wait_until

POLICY = "[profiles.program]\nstartsecs = 0\n"


def loop_switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def test_an_idle_daemon_wakes_about_once_a_second(tmp_path: Path) -> None:
    # The router on (its front server, the health prober, the scaler, all
    # idle: no profiles); one plain program; nobody reads /metrics.
    with running(tmp_path, POLICY + '[programs.side]\ncommand = "sleep 3600"\n', router="") as d:
        # Probes at the default interval (the helper's 0.2 s suits other tests).
        d.write_config(d.config.read_text().replace("interval = 0.2", "interval = 5"))
        d.start()
        d.wait_state("side", "RUNNING")
        assert d.proc is not None
        pid = d.proc.pid
        wait_until(lambda: d.program("side").uptime > 2, 30, "the start-up settled")
        before, began = loop_switches(pid), time.monotonic()
        time.sleep(5)  # the point: what the daemon does when nothing happens
        woke = loop_switches(pid) - before
        seconds = time.monotonic() - began
        # Two uvicorn servers refresh their Date header once a second each;
        # uvicorn's own tick, ten a second per server, made about 60 in 5 s.
        assert woke <= 4 * seconds, f"{woke} wake-ups in {seconds:.1f} s"
