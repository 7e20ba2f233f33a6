"""supervisord's signals under a real mictld (DESIGN "Signals"): USR2 reopens
every log file, QUIT stops everything cleanly, a burst of HUPs is merged."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from pathlib import Path

import pytest

from daemon.events import DaemonEvent
from daemon.signals import Merged
from tests.helpers import alive, running, until, wait_until

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
    """HUPs at 100 a second for 3 s (the issue's 100/s gave 943 reloads in
    10 s): about one reload a second, and the config as it was at the last
    HUP is applied."""
    with running(tmp_path, TICKER) as d:
        d.start()
        d.wait_state("ticker", "RUNNING")
        assert d.proc is not None
        began = time.monotonic()
        sent = 0
        while time.monotonic() - began < 3:
            if sent == 150:  # half way: a change the later HUPs must apply
                d.write_config(d.config.read_text() + "\n[programs.late]\ncommand = 'sleep 600'\n")
            os.kill(d.proc.pid, signal.SIGHUP)
            sent += 1
            time.sleep(0.01)  # the sender's pace, not a wait for the daemon
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
        elapsed = time.monotonic() - began
        assert sent >= 150
        assert 1 <= len(seen) <= elapsed + 2, [e.reason for e in seen]
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
        await until(lambda: runs == 1, 5, "the first run under way")
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


def test_merged_runs_at_most_once_an_interval() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        started: list[float] = []

        async def work() -> None:
            started.append(loop.time())

        merged = Merged(work, "work", interval=0.2)
        end = loop.time() + 1.0
        while loop.time() < end:  # a request every 5 ms, none while a run is under way
            merged.request()
            await asyncio.sleep(0.005)
        await merged.idle()
        return started

    started = asyncio.run(scenario())
    assert 2 <= len(started) <= 7  # 1 s at one a 0.2 s, not ~200
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.2 - 0.01 for gap in gaps), gaps


def test_merged_starts_nothing_once_closed() -> None:
    async def scenario() -> int:
        runs = 0

        async def work() -> None:
            nonlocal runs
            runs += 1

        merged = Merged(work, "work", interval=0.2)
        merged.request()
        await merged.idle()
        merged.request()  # due in 0.2 s...
        merged.close()  # ...but mictld is shutting down
        await merged.idle()
        merged.request()
        await merged.idle()
        return runs

    assert asyncio.run(scenario()) == 1
