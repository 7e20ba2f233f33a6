"""The benchmarks run and print what they promise (figures are not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.supervisord]


def bench(script: str, *args: str, timeout: float = 240) -> str:
    """Run bench/SCRIPT with ARGS; its table (stdout), once it exited 0."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_restart_latency_reports_api_and_outside_for_both_daemons() -> None:
    out = bench("restart_latency.py", "--kills", "2")
    rows = {
        tuple(line.split()[:2]): line
        for line in out.splitlines()
        if line.startswith(("mictld ", "supervisord "))
    }
    assert set(rows) == {
        ("mictld", "its"),
        ("mictld", "/proc"),
        ("supervisord", "its"),
        ("supervisord", "/proc"),
    }
    # Outside: the new pid and the port were seen without either API, and
    # supervisord's RUNNING came from its event listener.
    assert rows[("supervisord", "/proc")].count(" / ") == 3
    assert rows[("mictld", "/proc")].split()[-1] != "-"


@pytest.mark.browser
def test_scale_prints_one_row_per_size() -> None:
    out = bench("scale.py", "--sizes", "1", "--idle", "1", "--requests", "2")
    rows = [line.split() for line in out.splitlines() if line.startswith("1 ")]
    assert len(rows) == 1 and len(rows[0]) >= 8, out


@pytest.mark.browser
def test_instance_overhead_splits_the_network_sources_time_by_hop() -> None:
    out = bench("instance_overhead.py", "--requests", "1", "--gap", "0.2", timeout=400)
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("network source, where")))
    hops = [x for x in lines[start:] if x.startswith("network")][1:]
    assert len(hops) == 3, out  # one tab back to back, with pauses, two tabs
    for row in hops:  # every hop measured: a number, not nan
        figures = row.split()[-9:]
        assert all(float(x) == float(x) for x in figures), row
    assert "of which instance -> client" in out
    floor = next(x for x in lines if x.startswith("browser floor: the page's"))
    assert float(floor.split("script")[1].split()[0]) > 0, floor  # measured
    assert "target) per delta" in out and "over it (typing" in out
    split = lines[lines.index("browser floor, where its time goes (p50, ms; one clock)") + 3]
    assert len(split.split()) == 6 and all(float(x) == float(x) for x in split.split()), split


@pytest.mark.browser
def test_devtools_hop_times_both_paths() -> None:
    out = bench("devtools_hop.py", "--requests", "1")
    rows = [x.split() for x in out.splitlines() if x.startswith(("Playwright", "raw"))]
    assert len(rows) == 2, out
    for row in rows:  # chunks seen on both paths, and their lags measured
        assert int(row[-3]) > 0 and float(row[-2]) == float(row[-2]), row


def test_status_time_times_each_path() -> None:
    out = bench("status_time.py", "--programs", "3", "--runs", "1")
    rows = [x.split() for x in out.splitlines() if x.startswith("/")]
    assert len(rows) == 3 and all(r[-3].isdigit() and r[-2].isdigit() for r in rows), out


@pytest.mark.browser
def test_capacity_compares_tabs_with_instances() -> None:
    out = bench("capacity.py", "--seconds", "5", "--tabs", "1,2", timeout=400)
    rows = [x for x in out.splitlines() if x.startswith(("1 instance", "2 instances"))]
    assert len(rows) == 3, out  # 1 tab, 2 tabs, 2 instances of 1 tab
    for row in rows:  # answers counted and memory measured
        cells = re.split(r"\s{2,}", row)
        assert cells[1].isdigit() and float(cells[2]) >= 0 and float(cells[4]) > 0, row
