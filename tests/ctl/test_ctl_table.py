"""The one table both `mictl status` paths print with (ctl/table.py): the
same text from msgspec Structs (the click command) and from their JSON (the
fast path, ctl/entry.py), colours as click.style gives them."""

from __future__ import annotations

import json

import click
import msgspec

from ctl.table import status_footer, status_table
from daemon.types import DaemonInfo, ProgramInfo, RollStatus

PROGRAMS = [
    ProgramInfo(
        name="a", kind="instance", state="RUNNING", statecode=20,
        description="pid 7, uptime 1:02:03", pid=7, port=20800, uptime=3723.5,
        routing="routable", in_flight=2, breaker="closed", warning="cookies expire in 2 days",
    ),
    ProgramInfo(
        name="b", kind="instance", state="RUNNING", statecode=20, description="pid 8",
        pid=8, port=20801, uptime=200000.0, routing="draining", in_flight=0, breaker="open",
    ),
    ProgramInfo(
        name="broken", kind="program", state="FATAL", statecode=200,
        description="Exited too quickly", reason="can't find command", restarts=3,
    ),
    ProgramInfo(
        name="c", kind="program", state="STOPPED", statecode=0,
        description="Dec 01 07:01 PM", desired="stopped",
    ),
    ProgramInfo(name="d", kind="program", state="EXITED", statecode=100, description="x"),
    ProgramInfo(name="e", kind="program", state="STARTING", statecode=10, description="y"),
]  # fmt: skip


def test_one_table_for_structs_and_dicts() -> None:
    """What both paths print with: the same text from ProgramInfo Structs (the
    click command) and from their JSON (the fast path), colours as click's."""
    dicts = json.loads(msgspec.json.encode(PROGRAMS))
    for colour in (False, True):
        assert status_table(dicts, colour) == status_table(PROGRAMS, colour)
    plain = status_table(PROGRAMS, colour=False).splitlines()
    assert plain[0].split() == [
        *("NAME", "STATE", "PID", "UPTIME", "PORT", "RESTARTS", "INFLIGHT", "BREAKER"),
        "DESCRIPTION",
    ]
    assert "RUNNING, routable" in plain[1] and "1:02:03" in plain[1]
    assert plain[1].endswith("pid 7, uptime 1:02:03; WARNING: cookies expire in 2 days")
    assert "2d7h" in plain[2]
    assert plain[3].endswith("can't find command")
    assert plain[4].endswith("stopped by operator; Dec 01 07:01 PM")
    # Colour: the STATE cell (padded) as click.style(cell, fg=...) gives it.
    start, end = plain[0].index("STATE"), plain[0].index("PID") - 2
    colours = ("green", "green", "red", None, "magenta", "yellow")
    expected = [
        line[:start] + click.style(line[start:end], fg=fg) + line[end:]
        for line, fg in zip(plain[1:], colours, strict=True)
    ]
    assert status_table(dicts, colour=True).splitlines() == [plain[0], *expected]

    roll = RollStatus(running=False, started_at=1.0, batches=[["a"], ["b"]], done=1, stopped="b")
    info = DaemonInfo(
        version="0", pid=1, started_at=0, uptime=1, config="c", socket="s", state_dir="d",
        log_dir="l", front="127.0.0.1:2048", queue_length=3, state_error="disk full", roll=roll,
    )  # fmt: skip
    footer = status_footer(info)
    assert footer == status_footer(json.loads(msgspec.json.encode(info)))
    assert footer == [
        (False, "front port 127.0.0.1:2048: 3 waiting in the queue"),
        (True, "mictl: warning: disk full (operator stops are not saved)"),
        (False, "rolling restart stopped: b: 1/2 batches done"),
    ]
    assert (
        status_footer(msgspec.structs.replace(info, front=None, state_error=None, roll=None)) == []
    )
