"""The supervisor's side of /metrics on a real mictld; promtool's lint; the
Grafana dashboard names only metrics that /metrics exposes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemon.supervise.metrics import SupervisorStats, restart_reason
from tests.helpers import LISTENER, REPO, free_port, running, wait_until

GRAFANA = REPO / "etc" / "grafana" / "mictl.json"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def exposed_names(text: str) -> set[str]:
    """Every sample name /metrics can carry, from its TYPE lines."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            base = name.removesuffix("_total")
            if kind == "counter":
                names |= {base + "_total", base + "_created"}
            elif kind == "histogram":
                names |= {name + s for s in ("_bucket", "_sum", "_count", "_created")}
    return names


def promtool_check(text: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI (.ci/run fetches it)")
        pytest.skip("promtool is not installed")
    out = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), (
        out.stdout + out.stderr
    )


def test_supervisor_metrics_follow_a_kill_and_a_reload(tmp_path: Path) -> None:
    side = free_port()
    body = f'[programs.side]\ncommand = "{sys.executable} {LISTENER} {side}"\nstartsecs = 0\n'
    # The listener is no OpenAI server: its probes fail; no health restarts here.
    with running(tmp_path, body, router="", health="restart_after = 0\n") as d:
        d.add_profile("a")
        d.start()
        first = d.wait_state("a", "RUNNING")
        d.wait_state("side", "RUNNING")
        port = d.front_port
        text = wait_until(
            lambda: (
                (t := scrape(port))
                and value(t, "mictl_program_memory_pss_bytes", program="a")
                and t
            ),
            30,
            "a memory sample of a",
        )
        assert value(text, "mictl_program_state", program="a", state="RUNNING") == 1
        assert value(text, "mictl_program_state", program="a", state="BACKOFF") == 0
        assert value(text, "mictl_program_memory_pss_bytes", program="a") > 1_000_000
        assert value(text, "mictl_program_last_start_seconds", program="a") >= 2  # startsecs
        assert value(text, "mictl_program_start_seconds_count") == 2
        assert value(text, "mictl_program_uptime_seconds", program="a") > 0

        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: d.program("a").pid not in (None, first.pid), 30, "a's replacement")
        d.wait_state("a", "RUNNING")
        assert d.ctl("reload").returncode == 0
        assert d.ctl("drain", "a").returncode == 0
        assert d.ctl("restart", "side").returncode == 0
        text = scrape(port)
        assert value(text, "mictl_restart_requests_total", reason="operator") == 1
        assert value(text, "mictl_backend_phase", backend="a", phase="draining") == 1
        assert value(text, "mictl_backend_phase", backend="a", phase="routable") == 0
        assert value(text, "mictl_backend_phase_entries_total", phase="draining") == 1
        assert value(text, "mictl_backend_cooling_models", backend="a") == 0
        assert value(text, "mictl_events_total", kind="state") >= 8
        assert value(text, "mictl_events_total", kind="reload") == 1
        assert value(text, "mictl_events_total", kind="routing") >= 1  # the drain among them
        assert value(text, "mictl_events_total", kind="scale") == 0
        assert value(text, "mictl_program_exits_total", program="a", reason="signal") == 1
        assert value(text, "mictl_program_exits_total", program="a", reason="expected") == 0
        assert value(text, "mictl_program_restarts_total", program="a") == 1
        assert value(text, "mictl_program_restarts_total", program="side") == 0
        assert value(text, "mictl_reloads_total", outcome="ok") == 1
        assert value(text, "mictl_transitions_total", state="RUNNING") == 4  # a twice, side twice
        assert value(text, "mictl_daemon_uptime_seconds") > 0
        # Label sets are bounded: programs x states, programs x exit reasons.
        states = [k for k in samples(text) if k[0] == "mictl_program_state"]
        assert len(states) == 2 * 8
        promtool_check(text)

        missing = grafana_names() - exposed_names(text)
        assert not missing, f"etc/grafana/mictl.json uses metrics /metrics lacks: {missing}"


def grafana_names() -> set[str]:
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    return {name for e in exprs for name in re.findall(r"\bmictl_[a-z0-9_]+", e)}


def test_the_grafana_check_can_fail() -> None:
    assert "mictl_program_memory_pss_bytes" in grafana_names()
    assert not {"mictl_made_up_total"} <= exposed_names("# TYPE mictl_requests counter\n")


def test_restart_reasons_are_a_fixed_set() -> None:
    assert restart_reason("operator") == "operator"
    assert restart_reason("recycle: 500 requests served") == "recycle"
    assert restart_reason("health probe failed 6 times") == "health"
    assert restart_reason("cosmic rays") == "other" and restart_reason("") == "other"


def test_a_memory_sample_that_fails_keeps_the_last_one(caplog: pytest.LogCaptureFixture) -> None:
    """/proc read as it should not be: readers of memory (a /metrics scrape,
    the recycling check) get the last sample and the daemon says why."""
    stats = SupervisorStats(supervisor=None)  # type: ignore[arg-type]
    outcomes: list[dict[str, int] | Exception] = [{"a": 2**20}, OSError("smaps_rollup vanished")]

    def sample() -> dict[str, int]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    stats.sample_memory = sample  # type: ignore[method-assign]

    async def two_reads() -> list[dict[str, int]]:
        return [await stats.memory(max_age=0), await stats.memory(max_age=0)]

    assert asyncio.run(two_reads()) == [{"a": 2**20}, {"a": 2**20}]
    assert "could not sample memory" in caplog.text
