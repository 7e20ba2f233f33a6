"""The benchmarks run and print what they promise (figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.supervisord]


def test_restart_latency_reports_api_and_outside_for_both_daemons() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "restart_latency.py"), "--kills", "2"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    rows = {
        tuple(line.split()[:2]): line
        for line in result.stdout.splitlines()
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
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "scale.py"),
            "--sizes",
            "1",
            "--idle",
            "1",
            "--requests",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("1 ")]
    assert len(rows) == 1 and len(rows[0]) >= 8, result.stdout


@pytest.mark.browser
def test_instance_overhead_splits_the_network_sources_time_by_hop() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "instance_overhead.py"), "--requests", "1",
         "--gap", "0.2"],
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("network source, where")))
    hops = [x for x in lines[start:] if x.startswith("network")][1:]
    assert len(hops) == 2, result.stdout
    for row in hops:  # every hop measured: a number, not nan
        figures = row.split()[-9:]
        assert all(float(x) == float(x) for x in figures), row
    assert "of which instance -> client" in result.stdout
