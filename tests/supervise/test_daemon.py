"""mictld end to end: real daemon, real programs, real signals."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.supervise import orphans
from tests.helpers import BIN, alive, ignores, port_open, running, wait_until

pytestmark = pytest.mark.slow


def tagged(state_dir: Path) -> dict[str, list[int]]:
    """program name -> pids of live processes carrying this daemon's tag."""
    found: dict[str, list[int]] = {}
    for pid in orphans.find(str(state_dir.resolve())):
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        found.setdefault(env[b"MICTL_PROGRAM"].decode(), []).append(pid)
    return found


def test_twenty_programs_come_back_after_sigkill(tmp_path: Path) -> None:
    with running(tmp_path, "[profiles.program]\nstartsecs = 0\nautorestart = true\n") as d:
        names = [f"user-{i:02}" for i in range(20)]
        d.start_with(*names)
        before = d.programs()
        for name in names:
            os.kill(before[name].pid, signal.SIGKILL)
        for name in names:
            info = wait_until(
                lambda n=name: (
                    (p := d.program(n)).state == "RUNNING" and p.pid != before[n].pid and p
                ),
                what=f"{name} back with a new pid",
            )
            assert info.restarts == 1
            assert info.exit is not None and info.exit.signal == signal.SIGKILL
            wait_until(lambda p=info.port: port_open(p), what=f"port {info.port}")
        assert {p.port for p in d.programs().values()} == set(range(d.base_port, d.base_port + 20))


def test_daemon_sigkill_then_restart_has_no_duplicates(tmp_path: Path) -> None:
    with running(tmp_path, "[profiles.program]\nstartsecs = 0\n") as d:
        d.start_with("a", "b", "c", "d")
        old = d.programs()
        ports = {n: p.port for n, p in old.items()}
        d.kill()
        # The programs outlived their daemon...
        assert all(alive(p.pid) for p in old.values())
        d.start()
        for name in "abcd":
            d.wait_state(name, "RUNNING")
        new = d.programs()
        # ...and were ended before the new daemon started their successors.
        assert not any(alive(p.pid) for p in old.values())
        assert {n: p.port for n, p in new.items()} == ports
        assert all(new[n].pid != old[n].pid for n in "abcd")
        state_dir = tmp_path / "state"
        assert {n: len(pids) for n, pids in tagged(state_dir).items()} == dict.fromkeys("abcd", 1)
        for port in ports.values():
            wait_until(lambda p=port: port_open(p), what=f"port {port} served")


def test_second_daemon_on_same_state_dir_refuses(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.start()
        second = subprocess.run(
            [str(BIN / "mictld"), "-c", str(d.config)], capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert str((tmp_path / "state").resolve()) in second.stderr
        assert d.reachable()  # the first one is untouched


def test_broken_profile_is_fatal_with_reason_and_others_run(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.add_profile("good")
        d.add_profile("broken", '{"cookies": "nope"}')
        d.add_profile("notjson", "{cookies")
        d.start()
        d.wait_state("good", "RUNNING")
        broken = d.wait_state("broken", "FATAL")
        assert "broken.json" in broken.reason and "$.cookies" in broken.reason
        notjson = d.wait_state("notjson", "FATAL")
        assert "not valid JSON" in notjson.reason
        # The private copy is never made from a broken pool file.
        assert not (tmp_path / "state" / "profiles" / "broken.json").exists()


def test_private_profile_copy_is_0600_and_pool_untouched(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.add_profile("a", '{"cookies": [], "origins": [], "x": 1}')
        pool = d.profiles / "a.json"
        os.chmod(pool, 0o644)
        before = pool.stat()
        d.start()
        d.wait_state("a", "RUNNING")
        copy = tmp_path / "state" / "profiles" / "a.json"
        assert copy.stat().st_mode & 0o777 == 0o600
        assert copy.read_bytes() == pool.read_bytes()
        # A runner refreshing its copy is not undone by a reload...
        copy.write_text('{"cookies": [], "refreshed": true}')
        assert d.client.call("POST", "/v1/reload", dict)["ok"]
        assert json.loads(copy.read_text())["refreshed"]
        # ...but a changed pool file replaces it and restarts the instance.
        pool.write_text('{"cookies": [], "origins": [], "x": 2}')
        result = d.client.call("POST", "/v1/reload", dict)
        assert result["restarted"] == ["a"]
        assert json.loads(copy.read_text())["x"] == 2
        after = pool.stat()
        assert after.st_mode == before.st_mode
        # A runner's write_back (the pool now equals its copy) is no change.
        copy.write_text('{"cookies": [], "refreshed": 2}')
        pool.write_text(copy.read_text())
        result = d.client.call("POST", "/v1/reload", dict)
        assert result["restarted"] == [] and result["unchanged"] == ["a"]


def test_profile_readable_by_others_is_warned_once(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.add_profile("tight")
        d.add_profile("loose")
        os.chmod(d.profiles / "tight.json", 0o600)
        os.chmod(d.profiles / "loose.json", 0o640)
        d.start()
        d.wait_state("loose", "RUNNING")
        warned = [line for line in d.output().splitlines() if "readable by group or others" in line]
        assert len(warned) == 1
        assert "loose.json" in warned[0] and "tight.json" not in warned[0]


def test_unsafe_profile_names_are_skipped(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.add_profile("ok.name-1")
        d.add_profile("bad name")
        d.start()
        assert set(d.programs()) == {"ok.name-1"}
        assert "bad name.json skipped" in d.output()


def test_operator_stop_survives_daemon_restart(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.add_profile("a")
        d.add_profile("b")
        d.start()
        d.wait_state("a", "RUNNING")
        d.client.call("POST", "/v1/programs/a/stop", dict)
        assert d.stop() == 0
        state = json.loads((tmp_path / "state" / "state.json").read_text())
        assert state["programs"]["a"]["desired"] == "stopped"
        d.start()
        d.wait_state("b", "RUNNING")
        assert d.program("a").state == "STOPPED"
        d.client.call("POST", "/v1/programs/a/start", dict)
        assert d.program("a").state == "RUNNING"


SLOW_STOP = f"{sys.executable} {Path(__file__).resolve().parents[1] / 'ignore_term.py'}"


def test_sigterm_stops_in_reverse_priority_parallel_within_a_priority(tmp_path: Path) -> None:
    body = f"""
        [programs.first]
        command = "sleep 600"
        priority = 1
        startsecs = 0
        [programs.late-a]
        command = '{SLOW_STOP}'
        priority = 50
        startsecs = 0
        stopwaitsecs = 1
        [programs.late-b]
        command = '{SLOW_STOP}'
        priority = 50
        startsecs = 0
        stopwaitsecs = 1
    """
    with running(tmp_path, body) as d:
        d.start()
        for name in ("first", "late-a", "late-b"):
            pid = d.wait_state(name, "RUNNING").pid
            if name.startswith("late"):  # RUNNING at once (startsecs = 0): not yet ignoring
                term_ignored = functools.partial(ignores, pid, signal.SIGTERM)
                wait_until(term_ignored, 30, f"{name} ignoring SIGTERM")
        pids = [p.pid for p in d.programs().values()]
        assert d.stop() == 0
        assert not any(alive(pid) for pid in pids)
        lines = [line for line in d.output().splitlines() if "->" in line]

        def index(text: str) -> int:
            return next(i for i, line in enumerate(lines) if text in line)

        # late-* (priority 50) stop together, before first (priority 1)...
        stopping_a = index("late-a: RUNNING -> STOPPING")
        stopping_b = index("late-b: RUNNING -> STOPPING")
        stopped = min(index("late-a: STOPPING -> STOPPED"), index("late-b: STOPPING -> STOPPED"))
        assert max(stopping_a, stopping_b) < stopped
        assert index("first: RUNNING -> STOPPING") > stopped
        # ...and SIGTERM-ignorers got SIGKILL after stopwaitsecs.
        assert "late-a: STOPPING -> STOPPED (terminated by SIGKILL)" in d.output()


def test_program_logs_rotate_without_losing_lines(tmp_path: Path) -> None:
    script = "import sys\\nfor i in range(3000): print(f'line {i:05}')"
    body = f"""
        [programs.chatty]
        command = "{sys.executable} -c \\"{script}\\""
        startsecs = 0
        autorestart = false
        stdout_logfile_maxbytes = "8KB"
        stdout_logfile_backups = 10
    """
    with running(tmp_path, body) as d:
        d.start()
        d.wait_state("chatty", "EXITED")
        log = tmp_path / "log" / "chatty.log"
        parts = [Path(f"{log}.{n}") for n in range(10, 0, -1)] + [log]
        text = "".join(p.read_text() for p in parts if p.exists())
        assert text.splitlines() == [f"line {i:05}" for i in range(3000)]
        # As supervisord's: a file rotates after the write that reaches 8KB
        # (one read of the pipe, at most 64KB), so a rotated one has >= 8KB.
        rotated = [p.stat().st_size for p in parts[:-1] if p.exists()]
        assert rotated and all(8192 <= size <= 8192 + 65536 for size in rotated)


def test_reload_adds_removes_and_keeps_old_config_when_broken(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        a_pid = d.program("a").pid
        d.add_profile("b")
        d.wait_state("b", "RUNNING")  # watchfiles saw the new profile
        (d.profiles / "a.json").unlink()
        wait_until(lambda: "a" not in d.programs(), what="a removed")
        assert not alive(a_pid)
        good = d.config.read_text()
        d.config.write_text(good + "\n[router]\nstrategy = 'fastest'\n")
        result = d.ctl("reload")
        assert result.returncode == 2
        assert "router" in result.stderr
        assert d.program("b").state == "RUNNING"
        info = d.client.call("GET", "/v1/daemon", dict)
        assert info["last_reload"]["ok"] is False


def test_state_file_is_valid_json_and_counts_restarts(tmp_path: Path) -> None:
    body = """
        [programs.flaky]
        command = "sh -c 'sleep 0.3; exit 5'"
        startsecs = 0
        autorestart = "unexpected"
    """
    state_dir = tmp_path / "state"

    def settled() -> dict | None:
        # The program restarts every 0.3 s, so a write may be in progress at
        # any moment (its temp file present): wait for a moment with none.
        # A temp file left behind for good never gives one and fails this.
        if any(p.name.startswith(".state") for p in state_dir.iterdir()):
            return None
        state = json.loads((state_dir / "state.json").read_text())  # whole, never half
        return state if state["programs"]["flaky"]["restarts"] >= 3 else None

    with running(tmp_path, body) as d:
        d.start()
        state = wait_until(settled, what="3 restarts on file and no temp file")
        assert state["programs"]["flaky"]["last_exit"]["code"] == 5
        d.stop()
        assert not [p for p in state_dir.iterdir() if p.name.startswith(".state")]


def test_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[router]\nstrategy = "least_busy"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[router]\nstrategy = "fastest"\n')
    ok = subprocess.run([str(BIN / "mictld"), "--check-config", str(good)], capture_output=True)
    assert ok.returncode == 0
    no = subprocess.run(
        [str(BIN / "mictld"), "--check-config", str(bad)], capture_output=True, text=True
    )
    assert no.returncode == 2
    assert str(bad) in no.stderr and "router.strategy" in no.stderr


def test_children_die_with_their_program_group(tmp_path: Path) -> None:
    body = """
        [programs.parent]
        command = "sh -c 'sleep 600 & echo $! > child.pid; wait'"
        startsecs = 0
        stopasgroup = true
        autorestart = false
        directory = "."
    """
    with running(tmp_path, body) as d:
        d.start()
        d.wait_state("parent", "RUNNING")
        child = int(
            wait_until(
                lambda: (
                    (tmp_path / "child.pid").exists()
                    and (tmp_path / "child.pid").read_text().strip()
                ),
                what="child pid",
            )
        )
        leader = d.program("parent").pid
        os.kill(leader, signal.SIGKILL)  # the leader dies alone...
        d.wait_state("parent", "EXITED")
        wait_until(lambda: not alive(child), what="child to die with its group")  # ...not its child


def test_leftover_that_ignores_sigterm_gets_sigkill_after_stopwaitsecs(tmp_path: Path) -> None:
    script = tmp_path / "work" / "stubborn.sh"
    script.parent.mkdir()
    script.write_text(
        "( trap 'echo term >> got.txt' TERM; touch trapped\n"
        "  i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done ) &\n"
        "echo $! > child.pid\n"
        "while [ ! -e trapped ]; do sleep 0.05; done\n"  # exit only once the trap is set
        "exit 0\n"
    )
    body = f"""
        [programs.wrapper]
        command = "sh {script}"
        directory = "{script.parent}"
        startsecs = 0
        autorestart = false
        killasgroup = true
        stopwaitsecs = 1
    """
    with running(tmp_path, body) as d:
        d.start()
        d.wait_state("wrapper", "EXITED")
        child = int(wait_until(lambda: (script.parent / "child.pid").read_text().strip()))
        # SIGTERM first (recorded), then SIGKILL once stopwaitsecs has passed.
        wait_until(lambda: not alive(child), 30, "the leftover to be killed")
        assert "term" in (script.parent / "got.txt").read_text()
        assert "outlived SIGTERM: SIGKILL" in d.output()


def test_instance_exiting_78_is_fatal_at_once(tmp_path: Path) -> None:
    with running(
        tmp_path,
        "[profiles.program]\nstartsecs = 2\n",
        command="sh -c 'echo no browser >&2; exit 78'",
    ) as d:
        d.add_profile("nobrowser")
        d.start()
        info = d.wait_state("nobrowser", "FATAL")
        assert "EX_CONFIG" in info.reason and info.restarts == 0


def test_systemd_notify_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    import socket as socketlib

    path = str(tmp_path / "notify.sock")
    with socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(30)
        with running(tmp_path) as d:
            d.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
            seen = set()
            while not {"READY=1", "WATCHDOG=1"} <= seen:
                seen.add(listener.recv(256).decode())
            assert d.stop() == 0
            while "STOPPING=1" not in seen:
                seen.add(listener.recv(256).decode())
