"""mictld's own restart policies on real processes: flapping held back with
growing delays, FATAL retried by fatal_retry_after. Both off by default (the
differential test against supervisord runs with the defaults)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.helpers import running, wait_until

pytestmark = pytest.mark.slow


def events(d, kind: str) -> list[dict]:  # type: ignore[no-untyped-def]
    out = d.ctl("events", "--json", "-n", "2000").stdout
    return [e for e in map(json.loads, out.splitlines()) if e["kind"] == kind]


def test_a_flapping_program_is_held_back_with_growing_delays(tmp_path: Path) -> None:
    body = """
        [fleet]
        flap_exits = 2
        flap_window = 60
        flap_delay = 0.5
        flap_delay_max = 4
        [programs.flappy]
        command = "sh -c 'sleep 0.3; exit 1'"
        startsecs = 0.1
        autorestart = true
        stdout_logfile = "NONE"
        stderr_logfile = "NONE"
    """
    with running(tmp_path, body, router="") as d:
        d.start()
        wait_until(lambda: len(events(d, "flap")) >= 3, 60, "three hold-backs")
        held = [e["reason"] for e in events(d, "flap")]
        assert held[:3] == [
            "held back 0.5s: 2 exits in 60s (flapping)",
            "held back 1s: 3 exits in 60s (flapping)",
            "held back 2s: 4 exits in 60s (flapping)",
        ]

        def starts() -> list[float]:
            return [e["at"] for e in events(d, "state") if e["detail"].endswith("-> STARTING")]

        # The first start, one after the respawn floor, then one after each hold-back.
        wait_until(lambda: len(starts()) >= 5, 30, "the respawn after the third hold-back")
        gaps = [b - a for a, b in itertools.pairwise(starts())]
        # Each respawn waits at least its hold-back (after a run of 0.3 s, not timed here).
        assert gaps[1] >= 0.5 and gaps[2] >= 1 and gaps[3] >= 2, gaps
        # An operator's stop cancels a pending respawn.
        wait_until(lambda: "held back" in (d.program("flappy").reason or ""), 30, "held back")
        d.ctl("stop", "flappy", check=True)
        assert d.program("flappy").state == "EXITED"


def test_fatal_retry_after_brings_a_fatal_program_back(tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    body = f"""
        [fleet]
        fatal_retry_after = 0.5
        fatal_retry_max = 2
        [programs.broken]
        command = "sh -c 'test -e {marker} && exec sleep 600; exit 1'"
        startsecs = 0.2
        startretries = 0
        stdout_logfile = "NONE"
        stderr_logfile = "NONE"
    """
    with running(tmp_path, body, router="") as d:
        d.start()
        wait_until(
            lambda: sum(e["detail"] == "BACKOFF -> FATAL" for e in events(d, "state")) >= 2,
            60,
            "FATAL twice (the retry ran)",
        )
        assert "retrying in" in d.program("broken").reason
        marker.touch()  # whatever was wrong is fixed: the next retry stays up
        d.wait_state("broken", "RUNNING", 30)


def test_max_starting_ramps_instances_up_a_few_at_a_time(tmp_path: Path) -> None:
    from tests.conftest import COMMAND, routable

    body = "[fleet]\nmax_starting = 1\n[profiles.program]\nstartsecs = 0\n"
    env = {"FAKE_START_DELAY": "0.5"}  # each takes a while to answer its first probe
    with running(tmp_path, body, router="", command=COMMAND) as d:
        for name in ("a", "b", "c"):
            d.add_profile(name)
        d.start(env=env)
        wait_until(lambda: routable(d) == {"a", "b", "c"}, 60, "all three routable")
        log = events(d, "state") + events(d, "routing")
        log.sort(key=lambda e: e["seq"])
        # Each instance starts only once the one before it takes work.
        order = [
            (e["program"], "start" if e["kind"] == "state" else "up")
            for e in log
            if e["detail"] == "STOPPED -> STARTING" or e["detail"] == "routable"
        ]
        assert order == [
            ("a", "start"),
            ("a", "up"),
            ("b", "start"),
            ("b", "up"),
            ("c", "start"),
            ("c", "up"),
        ]
