"""supervisord's signals under a real mictld (DESIGN "Signals"): USR2 reopens
every log file, QUIT stops everything cleanly, a burst of HUPs is merged."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from daemon.events import DaemonEvent
from daemon.signals import Merged
from tests.helpers import alive, running, wait_until

TICKER = """
[programs.ticker]
command = "sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done'"
startsecs = 0
"""


def test_usr2_reopens_logs_after_a_rename(tmp_path: Path) -> None:
    """logrotate's way: rename the files, send USR2; the next lines land in
    new files at the old paths, mictld's own log included."""
    with running(tmp_path, TICKER) as d:
        d.start()
        d.wait_state("ticker", "RUNNING")
        log_dir = tmp_path / "log"
        ticker, own = log_dir / "ticker.log", log_dir / "mictld.log"
        wait_until(lambda: b"tick" in ticker.read_bytes(), 30, "the first ticks")
        ticker.rename(log_dir / "ticker.log.1")
        own.rename(log_dir / "mictld.log.1")
        assert d.proc is not None
        d.proc.send_signal(signal.SIGUSR2)
        wait_until(lambda: ticker.exists() and b"tick" in ticker.read_bytes(), 30, "new ticks")
        wait_until(lambda: own.exists() and b"reopened" in own.read_bytes(), 30, "a new log")
        assert d.proc.poll() is None
        assert d.program("ticker").state == "RUNNING"
        # The rotated file is no longer written: its last tick comes before the new file's first.
        last_old = int((log_dir / "ticker.log.1").read_text().split()[-1])
        first_new = int(ticker.read_text().split()[1])
        assert first_new > last_old
        assert d.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGINT, signal.SIGTERM])
def test_quit_int_term_stop_everything_and_exit_0(tmp_path: Path, sig: signal.Signals) -> None:
    with running(tmp_path, TICKER) as d:
        d.start()
        pid = d.wait_state("ticker", "RUNNING").pid
        assert pid is not None
        assert d.proc is not None
        d.proc.send_signal(sig)
        assert d.proc.wait(60) == 0
        assert not alive(pid)
        assert f"shutting down ({sig.name})" in d.output()


def test_a_burst_of_hups_is_merged(tmp_path: Path) -> None:
    """200 HUPs at once: a handful of reloads, not 200, and the last one
    sees the config as it was at the last HUP."""
    with running(tmp_path, TICKER) as d:
        d.start()
        d.wait_state("ticker", "RUNNING")
        d.write_config(d.config.read_text() + "\n[programs.late]\ncommand = 'sleep 600'\n")
        assert d.proc is not None
        for _ in range(200):
            os.kill(d.proc.pid, signal.SIGHUP)
        d.wait_state("late", "RUNNING")

        def reloads() -> list[DaemonEvent]:
            events = d.client.call("GET", "/v1/events", list[DaemonEvent], {"n": 2000})
            return [e for e in events if e.kind == "reload"]

        # The reloads settle: the count holds still for a second.
        last: list[int] = []

        def settled() -> bool:
            last.append(len(reloads()))
            return len(last) > 50 and last[-1] == last[-51] > 0

        wait_until(settled, 60, "the reloads to settle")
        seen = reloads()
        assert 1 <= len(seen) <= 10, [e.detail for e in seen]
        assert any("added late" in e.reason for e in seen)
        assert d.proc.poll() is None


def test_merged_runs_once_more_for_any_number_of_requests_meanwhile() -> None:
    async def scenario() -> tuple[int, int]:
        runs = 0
        gate = asyncio.Event()

        async def work() -> None:
            nonlocal runs
            runs += 1
            await gate.wait()

        merged = Merged(work, "work")
        merged.request()
        await asyncio.sleep(0)
        for _ in range(50):
            merged.request()
        gate.set()
        await merged.idle()
        merged.request()
        await merged.idle()
        return runs, merged.merged

    runs, merged = asyncio.run(scenario())
    assert runs == 3  # the first, one for the 50 that came meanwhile, the last
    assert merged == 49
