"""mictld's own log lines: human, json, and journald's shape."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.helpers import BIN, Mictld, wait_until

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def run_daemon(tmp: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Start a real mictld with stderr into a file, wait for ready, stop it."""
    d = Mictld(tmp)
    out_path = tmp / "stderr.log"
    with open(out_path, "wb") as out:
        st = os.fstat(out.fileno())
        environ = {**os.environ, **(env or {})}
        environ.pop("JOURNAL_STREAM", None)
        if env is not None and env.get("JOURNAL_STREAM") == "this file":
            environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        proc = subprocess.Popen(
            [str(BIN / "mictld"), "-c", str(d.config), *args],
            stdout=out,
            stderr=out,
            env=environ,
        )
    try:
        wait_until(lambda: "ready" in out_path.read_text(), 30, "mictld ready")
    finally:
        proc.terminate()
        assert proc.wait(60) == 0
    return out_path.read_text().splitlines()


def test_human_lines_carry_a_timestamp(tmp_path: Path) -> None:
    lines = run_daemon(tmp_path)
    assert lines and all(STAMP.match(line) for line in lines), lines


def test_json_lines_for_log_shippers(tmp_path: Path) -> None:
    lines = run_daemon(tmp_path, "--log-format", "json")
    entries = [json.loads(line) for line in lines]
    assert {"ts", "level", "logger", "msg"} <= entries[0].keys()
    assert any(e["msg"].startswith("mictld ") and "ready" in e["msg"] for e in entries)
    assert all(e["ts"].endswith("Z") and e["level"] in ("info", "warning") for e in entries)
    in_file = (tmp_path / "log" / "mictld.log").read_text().splitlines()
    assert in_file and all(json.loads(line)["msg"] for line in in_file)


def test_under_journald_no_timestamp_and_a_priority(tmp_path: Path) -> None:
    lines = run_daemon(tmp_path, env={"JOURNAL_STREAM": "this file"})
    assert lines and all(re.match(r"^<[2-7]>[A-Z]+ ", line) for line in lines), lines
    assert any(line.startswith("<6>INFO mictld: mictld ") for line in lines)
    # The file keeps its timestamps: journald is not there to add them.
    in_file = (tmp_path / "log" / "mictld.log").read_text().splitlines()
    assert in_file and all(STAMP.match(line) for line in in_file)


def test_a_journal_stream_that_is_not_ours_changes_nothing(tmp_path: Path) -> None:
    lines = run_daemon(tmp_path, env={"JOURNAL_STREAM": "1:1"})
    assert all(STAMP.match(line) for line in lines), lines
