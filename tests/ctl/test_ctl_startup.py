"""`mictl status` starts light (issue 15 wants it under 100 ms with 40
programs; its start-up is most of its time): the `mictl` script
(ctl/entry.py) does the common read without click and msgspec, prints what
the click command prints byte for byte, and leaves everything else, errors
included, to the click CLI.

Behaviour tests, not timing ones: which modules each path imports, and what
each prints. The click path is run as `python -c "from ctl.cli import main;
main()"`: the same CLI, without the fast path in front.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import BIN, running, unwritable

POLICY = "[profiles.program]\nstartsecs = 0\n"

# Programs in every state whose line does not change from one second to the
# next, and one RUNNING (the instance `a`, whose uptime is masked).
FLEET = (
    POLICY
    + """
[programs.broken]
command = "/nonexistent/command"
startretries = 0
[programs.done]
command = "true"
startsecs = 0
autorestart = false
[programs.idle]
command = "sleep 600"
autostart = false
[programs.halted]
command = "sleep 600"
startsecs = 0
"""
)

CLICK_PATH = [sys.executable, "-c", "from ctl.cli import main; main()"]

# Each of these costs milliseconds to import and has no business in a read of
# the daemon's state: servers, the browser, the config loader, the HTTP
# stack of the standard library (http.client pulls in email and ssl).
HEAVY = (
    "aiohttp",
    "asyncio",
    "daemon.config.loader",
    "daemon.supervise.supervisor",
    "email",
    "http.client",
    "httptools",
    "playwright",
    "prometheus_client",
    "ssl",
    "starlette",
    "supervisor",
    "uvicorn",
    "watchfiles",
)
# What the fast path leaves out on top (its reason to exist), and what the
# standard library would bring in unasked: typing and json import re, ~12 ms.
NOT_ON_THE_FAST_PATH = ("click", "msgspec", "ctl.cli", "typing", "re", "pathlib", "socket")


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[Any, set[str]]:
    """Run mictl with -X importtime; the names of the modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "mictl"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, names


def matching(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in prefixes))


def heavy(names: set[str]) -> list[str]:
    return matching(names, HEAVY)


def at_start_up() -> set[str]:
    """What the interpreter imports before any of mictl's code runs."""
    return imported_by([sys.executable, "-X", "importtime", "-c", "pass"])


def imported_by(argv: list[str]) -> set[str]:
    err = subprocess.run(argv, capture_output=True, text=True, timeout=120).stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in err.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def both(*args: str, env: dict[str, str] | None = None) -> tuple[Any, Any]:
    """The same mictl command through the `mictl` script and the click path."""
    return tuple(  # type: ignore[return-value]
        subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, env=env)
        for cmd in ([str(BIN / "mictl")], CLICK_PATH)
    )


def on_a_tty(argv: list[str]) -> tuple[int, bytes, bytes]:
    """Run argv with its stdout on a pseudo-terminal (so it colours)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
    finally:
        os.close(slave)
    out = b""
    with proc:
        try:
            while chunk := os.read(master, 65536):
                out += chunk
        except OSError:  # EIO: the child's end closed
            pass
        finally:
            os.close(master)
        assert proc.stderr is not None
        err = proc.stderr.read()
        code = proc.wait(120)
    return code, out, err


def masked(text: str) -> str:
    """Uptimes (the UPTIME column, RUNNING descriptions) as #s of their length:
    they move between two runs, the layout around them must not."""
    return re.sub(r"\d+:\d\d:\d\d", lambda m: "#" * len(m.group()), text)


def settled_fleet(d: Any) -> None:
    d.add_profile("a")
    d.start()
    d.wait_state("a", "RUNNING")
    d.wait_state("broken", "FATAL")
    d.wait_state("done", "EXITED")
    d.wait_state("halted", "RUNNING")
    assert d.ctl("stop", "halted").returncode == 0  # "stopped by operator; ..."


def test_status_imports_neither_click_nor_msgspec(tmp_path: Path) -> None:
    baseline = at_start_up()
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        env = {**os.environ, "MICTL_SOCKET": str(d.socket)}
        for args, extra_env in (
            (("--socket", str(d.socket), "status"), None),
            ((f"--socket={d.socket}", "status", "a"), None),
            (("status",), env),
            (("--socket", str(d.socket), "status", "--json"), None),
        ):
            result, names = imported(*args, env=extra_env)
            assert result.returncode == 0, result.stderr[-2000:]
            assert "a" in result.stdout and "RUNNING" in result.stdout
            # The measurement works (and the venv's script is ctl.entry's: after a
            # pull that changed pyproject.toml, `make install` rewrites it).
            assert "ctl.entry" in names and "ctl.table" in names, (BIN / "mictl").read_text()
            assert heavy(names) == [], args
            allowed = ("re",) if "--json" in args else ()  # json's encoder imports re
            unwanted = [n for n in NOT_ON_THE_FAST_PATH if n not in allowed]
            assert matching(names - baseline, tuple(unwanted)) == [], args


def test_the_rest_goes_through_click(tmp_path: Path) -> None:
    """Help, version, globs, group names, -c and other commands: the click
    CLI, unchanged (same output as the click path, click imported)."""
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        sock = ("--socket", str(d.socket))
        for args in (
            ("--help",),
            ("-h",),
            ("--version",),
            (*sock, "status", "--help"),
            (*sock, "status", "a*"),
            (*sock, "status", "a:"),
            (*sock, "version"),
            (*sock, "--socket", str(tmp_path / "none.sock"), "status"),  # the last one counts
        ):
            result, names = imported(*args)
            fast, slow = both(*args)
            assert fast.returncode == slow.returncode and fast.stderr == slow.stderr, args
            assert masked(fast.stdout) == masked(slow.stdout), args
            assert result.returncode == slow.returncode
            assert "click" in names, args  # (help imports every command: not light)


def test_status_prints_what_the_click_path_prints(tmp_path: Path) -> None:
    with running(tmp_path, FLEET) as d:
        settled_fleet(d)
        sock = ("--socket", str(d.socket))
        for args in ((*sock, "status"), (*sock, "status", "broken", "halted", "a")):
            fast, slow = both(*args)
            assert fast.returncode == slow.returncode == 0
            assert "FATAL" in fast.stdout and "stopped by operator" in fast.stdout
            assert masked(fast.stdout) == masked(slow.stdout), args
            assert fast.stderr == slow.stderr == ""
        # Byte for byte where nothing moves: the programs without an uptime.
        stable = (*sock, "status", "broken", "done", "idle", "halted")
        fast, slow = both(*stable)
        assert fast.stdout == slow.stdout and "Not started" in fast.stdout
        # On a terminal, in colour: the same escape codes.
        fast_tty = on_a_tty([str(BIN / "mictl"), *stable])
        slow_tty = on_a_tty([*CLICK_PATH, *stable])
        assert fast_tty == slow_tty
        assert b"\x1b[31mFATAL" in fast_tty[1] and b"\x1b[35mEXITED" in fast_tty[1]
        code, out, _ = on_a_tty([str(BIN / "mictl"), *sock, "status"])
        code_slow, out_slow, _ = on_a_tty([*CLICK_PATH, *sock, "status"])
        assert code == code_slow == 0 and b"\x1b[32mRUNNING" in out
        assert masked(out.decode()) == masked(out_slow.decode())


def test_status_json_is_the_same_data(tmp_path: Path) -> None:
    def data(text: str) -> list[dict[str, Any]]:
        programs = json.loads(text)
        for p in programs:
            p["uptime"] = p["uptime"] is not None
            p["description"] = masked(p["description"])
        return programs

    with running(tmp_path, FLEET) as d:
        settled_fleet(d)
        for args in (("status", "--json"), ("status", "--json", "a", "done")):
            fast, slow = both("--socket", str(d.socket), *args)
            assert fast.returncode == slow.returncode == 0 and fast.stderr == slow.stderr == ""
            assert data(fast.stdout) == data(slow.stdout), args
            assert len(data(fast.stdout)) == (2 if "a" in args else 5)


def test_footer_and_warning_as_the_click_path_prints_them(tmp_path: Path) -> None:
    """Under the table: the front port's line, and the state file's warning on
    stderr, in the click command's order (stdout and stderr on one pipe)."""
    body = POLICY + '[programs.web]\ncommand = "sleep 600"\nstartsecs = 0\n'
    with running(tmp_path, body, router="") as d:
        d.start()
        d.wait_state("web", "RUNNING")
        with unwritable(tmp_path / "state"):
            d.ctl("stop", "web")  # fails to save: the daemon's state_error is set
            d.wait_state("web", "STOPPED")
            args = ("--socket", str(d.socket), "status")
            fast, slow = (
                subprocess.run([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for cmd in ([str(BIN / "mictl")], CLICK_PATH)
            )
            result, names = imported(*args)
        assert fast.returncode == slow.returncode == result.returncode == 0
        assert fast.stdout == slow.stdout, fast.stdout
        lines = fast.stdout.decode().splitlines()
        assert lines[-2] == f"front port http://127.0.0.1:{d.front_port}/v1: 0 waiting in the queue"
        assert lines[-1].startswith("mictl: warning: ") and "cannot write" in lines[-1]
        assert "click" not in names and "ctl.entry" in names  # the fast path said it


def test_errors_are_the_click_paths(tmp_path: Path) -> None:
    """The fast path gives up on any error; the click CLI says it."""
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        fast, slow = both("--socket", str(d.socket), "status", "a", "nosuch")
        assert fast.returncode == slow.returncode == 2
        assert fast.stdout == slow.stdout == ""
        assert fast.stderr == slow.stderr and "no such program: nosuch" in fast.stderr
    gone = tmp_path / "none.sock"
    for env in (None, {**os.environ, "MICTL_SOCKET": str(gone)}):
        args = () if env else ("--socket", str(gone))
        fast, slow = both(*args, "status", env=env)
        assert fast.returncode == slow.returncode == 3
        assert fast.stdout == slow.stdout == ""
        assert fast.stderr == slow.stderr and str(gone) in fast.stderr
    # A socket nobody listens on (a daemon killed hard leaves one).
    import socket

    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(gone))
    fast, slow = both("--socket", str(gone), "status")
    assert (fast.returncode, fast.stderr) == (slow.returncode, slow.stderr)
    assert fast.returncode == 3 and "connection refused" in fast.stderr


def test_ctrl_c_while_the_daemon_does_not_answer(tmp_path: Path) -> None:
    """A daemon that takes the request and never answers: Ctrl-C ends mictl
    as it ends the click CLI (a blank line, "Aborted!", exit 1)."""
    import socket

    path = str(tmp_path / "mute.sock")
    results = []
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        server.settimeout(60)
        for cmd in ([str(BIN / "mictl")], CLICK_PATH):
            # Ctrl-C as at a terminal: a test run started in the background
            # by a shell without job control inherits SIGINT ignored.
            proc = subprocess.Popen(
                [*cmd, "--socket", path, "status"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            try:
                conn, _ = server.accept()
                with conn:
                    request = b""
                    while b"\r\n\r\n" not in request:  # it sent its request: now it waits
                        request += conn.recv(4096)
                    proc.send_signal(signal.SIGINT)
                    out, err = proc.communicate(timeout=60)
            finally:
                proc.kill()  # (gone already, unless the test failed)
                proc.communicate()  # reaped, its pipes closed
            results.append((proc.returncode, out, err, request.split(b"\r\n")[0]))
    fast, slow = results
    assert fast[:3] == slow[:3] == (1, b"", b"\nAborted!\n")
    assert fast[3] == b"GET /v1/programs HTTP/1.1" and slow[3] == b"GET /v1/programs? HTTP/1.1"


def test_a_command_that_needs_more_still_gets_it(tmp_path: Path) -> None:
    """The light path is not a missing import: `-c CONFIG` loads the config."""
    config = tmp_path / "mictl.toml"
    config.write_text(f'[daemon]\nsocket = "{tmp_path}/none.sock"\n')
    result, names = imported("-c", str(config), "status")
    assert result.returncode == 3 and "none.sock" in result.stderr
    assert "daemon.config.loader" in names
    env = {**os.environ, "MICTL_CONFIG": str(config)}
    result, names = imported("status", env=env)
    assert result.returncode == 3 and "none.sock" in result.stderr
    assert "daemon.config.loader" in names
