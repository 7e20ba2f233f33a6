"""`stdout_syslog` / `stderr_syslog`: a program's output lines in mictld's own
log, tagged `NAME stdout: line`, with journald's priority prefix when mictld's
stderr is the journal; off by default; a flood never stalls the daemon."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from ctl.client import Client
from daemon.supervise import outlog
from tests.helpers import running, wait_until

pytestmark = pytest.mark.slow
DROPPED = re.compile(r"output lines dropped .*: (\d+)$")

TALK = (
    'sh -c \'echo {n}-out-1; echo {n}-err-1 >&2; printf "{n}-esc \\033[31mred\\n"; '
    'head -c 5000 /dev/zero | tr "\\000" x; echo; printf {n}-unterminated; exec sleep 600\''
)


def _program(name: str, **options: str) -> str:
    lines = [f"[programs.{name}]", f"command = '''{TALK.format(n=name)}'''", "startsecs = 0"]
    lines += [f'{k} = "{v}"' for k, v in options.items()]
    return "\n".join(lines) + "\n"


def test_output_lines_go_to_mictlds_log_tagged(tmp_path: Path) -> None:
    body = (
        _program("talk", stdout_syslog="true", stderr_syslog="true")
        + _program("quiet")  # the default: not in mictld's log
        + _program("nofile", stdout_logfile="NONE", stdout_syslog="true")
        + _program("old", stdout_logfile="syslog")  # supervisord's deprecated spelling
    )
    with running(tmp_path, body) as d:
        out = tmp_path / "mictld.out"
        out.touch()  # mictld's stderr; made the "journal" stream (sd_journal_stream_fd)
        st = out.stat()
        d.start(env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        for name in ("talk", "quiet", "nofile", "old"):
            d.wait_state(name, "RUNNING")
        # The last line has no newline: it is logged when the program exits.
        wait_until(lambda: "talk stdout: talk-esc" in d.output(), 30, "talk's lines")
        assert d.ctl("stop", "talk", "nofile", "old").returncode == 0
        wait_until(lambda: "talk stdout: talk-unterminated" in d.output(), 30, "last line")
        wait_until(lambda: "old stdout: old-unterminated" in d.output(), 30, "old's last")
        journal = d.output().splitlines()
        mine = [line for line in journal if "mictld.output:" in line]
        assert "<6>INFO mictld.output: talk stdout: talk-out-1" in mine
        assert "<6>INFO mictld.output: talk stderr: talk-err-1" in mine
        assert "<6>INFO mictld.output: nofile stdout: nofile-out-1" in mine
        assert "<6>INFO mictld.output: old stdout: old-out-1" in mine
        # stderr_syslog is off for these two; quiet has neither.
        assert not [line for line in mine if "nofile stderr" in line or "old stderr" in line]
        assert not [line for line in mine if "quiet" in line]
        # A control character cannot reach the journal raw; a long line is cut.
        assert "<6>INFO mictld.output: talk stdout: talk-esc \\x1b[31mred" in mine
        long = next(line for line in mine if "talk stdout: xxx" in line)
        assert long.endswith("[... 2952 more characters cut]") and "x" * 2048 in long
        assert "x" * 2049 not in long
        # The program's own log file still gets everything, in full.
        assert "x" * 5000 in (tmp_path / "log" / "talk.log").read_text()
        # mictld.log has them too, in its own (timestamped) format.
        text = (tmp_path / "log" / "mictld.log").read_text()
        assert "INFO mictld.output: talk stdout: talk-out-1" in text


def test_a_flood_of_output_never_stalls_the_daemon(tmp_path: Path) -> None:
    body = """
        [programs.flood]
        command = "sh -c 'seq 1 200000; exec sleep 600'"
        startsecs = 0
        stdout_syslog = true
    """
    with running(tmp_path, body) as d:
        t0 = time.monotonic()
        d.start()
        client = Client(str(d.socket), timeout=5)
        answered: list[float] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                t0 = time.monotonic()
                client.call("GET", "/v1/daemon", dict)
                answered.append(time.monotonic() - t0)
                stop.wait(0.05)

        def logged_and_dropped() -> tuple[int, int]:
            lines = d.output().splitlines()
            logged = sum(1 for line in lines if "mictld.output: flood stdout: " in line)
            dropped = sum(int(m[1]) for line in lines if (m := DROPPED.search(line)))
            return logged, dropped

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            # Every line is either logged or counted as dropped (within a second).
            wait_until(lambda: sum(logged_and_dropped()) >= 200_000, 120, "every line")
            elapsed = time.monotonic() - t0
            n = len(answered)
            wait_until(lambda: len(answered) >= n + 5, 30, "more answers")
        finally:
            stop.set()
            poller.join(10)
        logged, dropped = logged_and_dropped()
        assert logged + dropped == 200_000
        # At most the burst plus the rate over the time it took (an upper
        # bound: the daemon ran no longer than the test watched it).
        assert logged <= outlog.BURST + outlog.RATE * elapsed, (logged, elapsed)
        assert max(answered) < 1.0, max(answered)
        assert d.program("flood").state == "RUNNING"
        assert os.path.getsize(tmp_path / "log" / "flood.log") > 1_000_000
