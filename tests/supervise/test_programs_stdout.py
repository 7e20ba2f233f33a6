"""`[daemon] programs_to_stdout`: each program's lines on mictld's stdout as
`NAME | line` (what `podman logs` shows), the log files still written; a
stdout nobody reads never blocks the daemon: lines are dropped and counted.
Real mictld processes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.supervise import stdout_relay
from daemon.supervise.outlog import printable
from tests.demo_daemon import demo
from tests.helpers import BIN, Mictld, wait_until

ASK = {"model": "demo-fast", "messages": [{"role": "user", "content": "a secret prompt"}]}


@pytest.mark.browser
@pytest.mark.slow
def test_the_demo_instances_lines_reach_mictlds_stdout_prefixed(tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    env = {"MICTL_DAEMON__PROGRAMS_TO_STDOUT": "true"}
    with demo(tmp_path / "d", env, stdout=out) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 240, "both instances routable")
        for _ in range(2):  # least_busy over two idle instances: both answer one
            status, body = d.post(json.dumps(ASK).encode())
            assert status == 200, body

        def relayed() -> list[str]:
            lines = out.read_text().splitlines()
            done = [ln for ln in lines if " request model=demo-fast " in ln]
            return lines if len(done) == 2 else []

        lines = wait_until(relayed, 30, "both instances' request lines on mictld's stdout")
        requests = [ln for ln in lines if " request model=demo-fast " in ln]
        assert {ln.split(" | ", 1)[0] for ln in requests} == {"demo-a", "demo-b"}
        assert all(" | " in ln for ln in lines)  # nothing else: mictld's log is on stderr
        assert not any("a secret prompt" in ln for ln in lines)
        # ...and the files still have them.
        assert " request model=demo-fast " in (d.root / "log" / "demo-a.log").read_text()


def test_off_by_default(tmp_path: Path) -> None:
    d = Mictld(tmp_path, _chatty(tmp_path, 10))
    out = tmp_path / "stdout"
    try:
        with open(out, "wb") as f:
            d.proc = subprocess.Popen(
                [str(BIN / "mictld"), "-c", str(d.config)],
                stdout=f,
                stderr=subprocess.DEVNULL,
            )
        wait_until(d.reachable, 30, "mictld's control socket")
        log = tmp_path / "log" / "chatty.log"
        wait_until(lambda: log.exists() and log.stat().st_size > 0, 30, "chatty's log file")
        assert d.stop() == 0
        assert out.read_bytes() == b""
    finally:
        d.cleanup()


def _chatty(root: Path, lines: int) -> str:
    """A program that prints `lines` numbered lines as fast as it can, then idles."""
    script = root / "chatty.py"
    script.write_text(
        "import time\n"
        f"for i in range({lines}):\n"
        "    print('line', i, 'x' * 200, flush=True)\n"
        "time.sleep(3600)\n"
    )
    return f"""
        [programs.chatty]
        command = "{sys.executable} {script}"
        startsecs = 0
    """


def _to_stdout(d: Mictld) -> None:
    d.write_config(
        d.config.read_text().replace("[daemon]\n", "[daemon]\nprograms_to_stdout = true\n", 1)
    )


def test_a_stdout_nobody_reads_never_blocks_mictld(tmp_path: Path) -> None:
    """Nothing reads mictld's stdout (a stalled log collector): the pipe fills
    at once, yet the control socket answers, the log file keeps growing, and
    once someone reads, a line says how many lines were dropped."""
    d = Mictld(tmp_path, _chatty(tmp_path, 30_000))
    _to_stdout(d)
    read_end, write_end = os.pipe()
    try:
        d.proc = subprocess.Popen(
            [str(BIN / "mictld"), "-c", str(d.config)],
            stdout=write_end,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        wait_until(d.reachable, 30, "mictld's control socket")
        log = tmp_path / "log" / "chatty.log"
        # Far more than a pipe (64 KiB) and the relay's queue (10,000 lines) hold.
        lines = lambda: log.read_bytes().count(b"\n") if log.exists() else 0  # noqa: E731
        wait_until(lambda: lines() == 30_000, 120, "every line in the log file")
        for _ in range(5):  # the loop answers while stdout is stuck
            began = time.monotonic()
            assert d.ctl("status", "chatty").returncode == 0
            assert time.monotonic() - began < 20
        os.set_blocking(read_end, False)
        seen = b""
        deadline = time.monotonic() + 60
        while b"output lines dropped: stdout could not keep up" not in seen:
            assert time.monotonic() < deadline, seen[-500:]
            try:
                seen = (seen + os.read(read_end, 2**20))[-(2**20) :]
            except BlockingIOError:
                time.sleep(0.05)
        assert b"\nchatty | line " in seen
    finally:
        d.cleanup()
        os.close(read_end)


@given(
    lines=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
)
def test_lines_are_the_same_however_the_output_is_cut(lines: list[bytes], cuts: list[int]) -> None:
    """The relay's line cutting over every way a pipe may split a chunk, and
    each line made safe to show: prefixed, no control character, one line."""
    data = b"".join(line + b"\n" for line in lines)
    got: list[bytes] = []
    cutter = stdout_relay.Lines("user-a")
    with _relay_into(got):
        start = 0
        for at in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
            cutter.feed(data[start:at])
            start = at
        cutter.close()
    # CRLF output loses its CR; a tab stays a tab; any other control is escaped.
    assert got == [b"user-a | " + printable(line.rstrip(b"\r")).encode() + b"\n" for line in lines]
    shown = [b.decode().removesuffix("\n").replace("\t", " ") for b in got]
    assert all(line.isprintable() for line in shown)


@contextlib.contextmanager
def _relay_into(got: list[bytes]) -> Iterator[None]:
    put, enabled = stdout_relay._put, stdout_relay.enabled()
    stdout_relay._put = got.append  # type: ignore[assignment]
    stdout_relay.configure(True)
    try:
        yield
    finally:
        stdout_relay._put = put  # type: ignore[assignment]
        stdout_relay.configure(enabled)
