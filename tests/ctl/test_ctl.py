"""The real `mictl` executable against a real mictld."""

from __future__ import annotations

import json
import os
import pwd
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BIN, LISTENER, Mictld, running, wait_until

pytestmark = pytest.mark.slow

BODY = """
[programs.web]
command = "sleep 600"
startsecs = 0
priority = 10
[programs.broken]
command = "sh -c 'exit 3'"
startsecs = 1
startretries = 0
autostart = false
[programs.talker]
command = "sh -c 'echo hello from talker; while read line; do :; done; sleep 600'"
startsecs = 0
"""


def test_status_table_and_json(tmp_path: Path) -> None:
    with running(tmp_path, BODY) as d:
        d.add_profile("user-a")
        d.start()
        d.wait_state("web", "RUNNING")
        d.wait_state("user-a", "RUNNING")
        table = d.ctl("status")
        assert table.returncode == 0
        lines = table.stdout.splitlines()
        assert lines[0].split()[:6] == ["NAME", "STATE", "PID", "UPTIME", "PORT", "RESTARTS"]
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert rows["web"][1] == "RUNNING" and rows["broken"][1] == "STOPPED"
        assert rows["user-a"][4] == str(d.base_port)
        assert "\x1b[" not in table.stdout  # no colour when not a TTY
        data = json.loads(d.ctl("status", "--json").stdout)
        web = next(p for p in data if p["name"] == "web")
        assert web["state"] == "RUNNING" and web["pid"] > 0 and web["desired"] == "running"
        one = json.loads(d.ctl("status", "web", "--json").stdout)
        assert [p["name"] for p in one] == ["web"]


def test_start_stop_restart_and_exit_codes(tmp_path: Path) -> None:
    with running(tmp_path, BODY) as d:
        d.start()
        d.wait_state("web", "RUNNING")
        stopped = d.ctl("stop", "web")
        assert (stopped.returncode, stopped.stdout.strip()) == (0, "web: STOPPED")
        started = d.ctl("start", "web", "--json")
        assert started.returncode == 0
        assert json.loads(started.stdout)[0]["state"] == "RUNNING"
        old = d.program("web").pid
        assert d.ctl("restart", "web").returncode == 0
        assert d.program("web").pid != old
        # A program that ends FATAL: exit 1 with the reason.
        fatal = d.ctl("start", "broken")
        assert fatal.returncode == 1 and "FATAL" in fatal.stdout
        assert "Exited too quickly" in fatal.stdout
        no_wait = d.ctl("stop", "web", "--no-wait")
        assert no_wait.returncode == 0 and "STOPPING" in no_wait.stdout
        d.wait_state("web", "STOPPED")
        all_ = d.ctl("start", "--all")
        assert "web: RUNNING" in all_.stdout and all_.returncode == 1  # broken is FATAL


def test_unknown_name_and_usage_errors_exit_2(tmp_path: Path) -> None:
    with running(tmp_path, BODY) as d:
        d.start()
        result = d.ctl("stop", "nosuch")
        assert result.returncode == 2
        assert "no such program: nosuch" in result.stderr
        assert "web" in result.stderr  # the known names are listed
        assert "Traceback" not in result.stderr
        assert d.ctl("start").returncode == 2  # no names, no --all
        assert d.ctl("status", "nosuch").returncode == 2
        assert d.ctl("logs", "nosuch").returncode == 2


def test_daemon_not_running_exits_3_naming_the_socket(tmp_path: Path) -> None:
    socket = tmp_path / "nothing-here.sock"
    for args in (["status"], ["stop", "web"], ["reload"], ["logs", "web"]):
        result = subprocess.run(
            [str(BIN / "mictl"), "--socket", str(socket), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 3
        assert str(socket) in result.stderr and "mictld" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    env = {**os.environ, "MICTL_SOCKET": str(socket)}
    result = subprocess.run(
        [str(BIN / "mictl"), "status"], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 3 and str(socket) in result.stderr


def test_logs_tail_and_follow(tmp_path: Path) -> None:
    body = """
    [programs.ticker]
    command = "sh -c 'echo first; until [ -e go ]; do sleep 0.05; done; echo followed; sleep 600'"
    startsecs = 0
    directory = "{tmp}"
    """
    # The second line is written only once the follower has shown the first:
    # it can reach the follower by following alone, never from the tail.
    with running(tmp_path, body.replace("{tmp}", str(tmp_path))) as d:
        d.start()
        wait_until(lambda: "first" in d.ctl("logs", "ticker").stdout, 10, "first line")
        follower = subprocess.Popen(
            [str(BIN / "mictl"), "--socket", str(d.socket), "logs", "-f", "-n", "5", "ticker"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert follower.stdout is not None
            assert follower.stdout.readline().strip() == "first"
            (tmp_path / "go").touch()
            assert follower.stdout.readline().strip() == "followed"
        finally:
            follower.terminate()
            follower.wait(10)
            follower.stdout.close()  # type: ignore[union-attr]
        assert d.ctl("logs", "-n", "1", "ticker").stdout.strip() == "followed"


def test_logs_of_an_instance_show_what_it_writes_to_stderr(tmp_path: Path) -> None:
    # A runner logs (one line per request included) to stderr.
    command = f"sh -c 'echo runner-says-hi >&2; exec {sys.executable} {LISTENER} {{port}}'"
    with running(tmp_path, command=command) as d:
        d.add_profile("inst")
        d.start()
        wait_until(lambda: "runner-says-hi" in d.ctl("logs", "inst").stdout, 10, "stderr line")
        assert "listening on" in d.ctl("logs", "inst").stdout  # and its stdout, merged


def test_signal_reload_version_and_config_check(tmp_path: Path) -> None:
    with running(tmp_path, BODY) as d:
        d.start()
        d.wait_state("web", "RUNNING")
        sig = d.ctl("signal", "TERM", "web")
        assert sig.returncode == 0
        wait_until(lambda: d.program("web").restarts == 1, 10, "web restarted after TERM")
        assert d.ctl("signal", "BOGUS", "web").returncode == 2
        assert d.ctl("signal", "99", "web").returncode == 2
        wait_until(lambda: d.program("web").state == "RUNNING", 10, "web running again")
        # supervisorctl's `signal SIG all`: every program that has a process.
        everyone = d.ctl("signal", "15", "all")
        assert everyone.returncode == 0, everyone.stderr
        assert sorted(everyone.stdout.splitlines()) == [
            "talker: signalled 15",
            "web: signalled 15",
        ]
        wait_until(lambda: d.program("web").restarts == 2, 10, "web restarted after 15")
        version = json.loads(d.ctl("version", "--json").stdout)
        assert version["daemon"]["pid"] == d.proc.pid  # type: ignore[union-attr]
        d.add_profile("late")
        reloaded = json.loads(d.ctl("reload", "--json").stdout)
        assert reloaded["ok"] and "late" in reloaded["added"] + reloaded["unchanged"]
        assert d.ctl("config", "check", str(d.config)).returncode == 0
        bad = tmp_path / "bad.toml"
        bad.write_text("[daemon]\nsocket_mode = 5\n")
        checked = d.ctl("config", "check", str(bad))
        assert checked.returncode == 2 and "daemon.socket_mode" in checked.stderr


def test_config_check_reads_dash_c(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[router]\nstrategy = "least_busy"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[router]\nstrategy = "fastest"\n')

    def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if k != "MICTL_CONFIG"}
        return subprocess.run(
            [str(BIN / "mictl"), *args],
            capture_output=True,
            text=True,
            env={**environ, **env},
            timeout=60,
        )

    ok = check("-c", str(good), "config", "check")
    assert ok.returncode == 0 and ok.stdout.strip() == f"{good}: ok"
    no = check("-c", str(bad), "config", "check")
    assert no.returncode == 2 and str(bad) in no.stderr and "router.strategy" in no.stderr
    assert check("config", "check", MICTL_CONFIG=str(good)).returncode == 0
    # An explicit FILE wins over -c.
    assert check("-c", str(bad), "config", "check", str(good)).returncode == 0


def test_operator_stop_survives_a_daemon_restart(tmp_path: Path) -> None:
    with running(tmp_path, BODY) as d:
        d.start()
        d.wait_state("web", "RUNNING")
        assert d.ctl("stop", "web").returncode == 0
        assert d.ctl("shutdown").returncode == 0
        assert d.proc is not None and d.proc.wait(30) == 0
        d.start()
        d.wait_state("talker", "RUNNING")
        status = {p["name"]: p for p in json.loads(d.ctl("status", "--json").stdout)}
        assert status["web"]["state"] == "STOPPED"
        assert status["web"]["desired"] == "stopped"
        assert "stopped by operator" in d.ctl("status", "web").stdout


def test_socket_is_0600_and_refused_to_another_uid(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.start()
        mode = stat.S_IMODE(os.stat(d.socket).st_mode)
        assert mode == 0o600
        if os.geteuid() != 0:
            pytest.skip("needs root to try the socket as another user (nobody)")
        nobody = pwd.getpwnam("nobody")
        os.chmod(tmp_path, 0o755)  # let nobody reach the directory, not the socket
        os.chmod(d.socket.parent, 0o755)
        probe = subprocess.run(
            [
                "python3",
                "-c",
                "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
                str(d.socket),
            ],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert probe.returncode != 0 and "PermissionError" in probe.stderr


def test_stale_socket_is_replaced_live_one_refused(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        d.start()
        d.kill()  # leaves its socket file behind
        assert d.socket.exists()
        d.start()  # replaced the stale socket
        assert d.reachable()
        other = Mictld(tmp_path / "other")
        other.write_config(
            d.config.read_text()
            .replace('state_dir = "state"', f'state_dir = "{tmp_path}/other-state"')
            .replace('socket = "run/mictl.sock"', f'socket = "{d.socket}"')
        )
        result = subprocess.run(
            [str(BIN / "mictld"), "-c", str(other.config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1 and "running daemon" in result.stderr


def test_sigterm_to_daemon_exits_0_and_removes_socket(tmp_path: Path) -> None:
    with running(tmp_path, BODY) as d:
        d.start()
        d.wait_state("web", "RUNNING")
        pid = d.program("web").pid
        assert d.proc is not None
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(60) == 0
        assert not d.socket.exists()
        assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes()
