"""A full log disk (issue 28 item 8): one warning, not a traceback a chunk;
the problem in `mictl status`; `mictl logs -f` goes on; writing resumes,
with backoff, once there is room. On a real full filesystem: a small tmpfs
mounted (as root) on the daemon's log dir."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BIN, running, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

BODY = """
[programs.ticker]
command = "sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.01; done'"
startsecs = 0
[programs.sleeper]
command = "sleep 600"
startsecs = 0
"""


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
    with open(filler, "ab", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0")
    return filler


def ticks(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"tick (\d+)", text)]


def test_a_full_log_disk_is_one_warning_a_status_and_a_retry(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "log", "1m") as log_dir, running(tmp_path, BODY) as d:
        d.start()
        d.wait_state("ticker", "RUNNING")
        d.wait_state("sleeper", "RUNNING")
        ticker = log_dir / "ticker.log"
        wait_until(lambda: ticks(ticker.read_text()), 30, "the first ticks")
        follow_out = tmp_path / "follow.out"
        with open(follow_out, "wb") as out:
            follower = subprocess.Popen(
                [str(BIN / "mictl"), "--socket", str(d.socket), "logs", "-f", "ticker"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: ticks(follow_out.read_text()), 30, "logs -f to follow")
            filler = fill(log_dir)

            def full() -> bool:
                d.ctl("restart", "sleeper")  # mictld logs a few lines: mictld.log fills too
                status = d.ctl("status")
                return "No space left" in status.stdout and "own log" in status.stderr

            wait_until(full, 60, "status to show both full logs")
            written = max(ticks(ticker.read_text()))
            # The ticks go on reaching `logs -f` while none reach the file.
            wait_until(
                lambda: max(ticks(follow_out.read_text())) > written + 100, 60, "ticks followed"
            )
            assert max(ticks(ticker.read_text())) <= written + 1
            said = d.output()
            for flood in ("Traceback", "Logging error", "Exception in callback"):
                assert flood not in said, said
            assert said.count("cannot write") == 2, said  # ticker's log, mictld.log: once each

            filler.unlink()
            wait_until(
                lambda: max(ticks(ticker.read_text())) > written + 100, 90, "ticks written again"
            )

            def recovered() -> bool:
                d.ctl("restart", "sleeper")
                status = d.ctl("status")
                return "No space left" not in status.stdout + status.stderr

            wait_until(recovered, 90, "status to clear")
            assert "written again" in d.output()
            assert "written again" in (log_dir / "mictld.log").read_text()
            assert follower.poll() is None
        finally:
            follower.terminate()
            follower.wait(30)
        assert d.stop() == 0
