"""The front port against slow, idle and too many clients; errors that are
OpenAI-shaped on every port; secrets scrubbed from relayed errors; port
conflicts that name the port and its holder; health restarts that count."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BIN, Mictld, free_port, port_open, running, wait_until

pytestmark = pytest.mark.slow

FAKE = Path(__file__).resolve().parents[1] / "fake_upstream.py"
FAKE_COMMAND = f"{sys.executable} {FAKE} --port {{port}} --name {{name}}"
POLICY = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"
CHAT = b'{"model": "m1", "messages": [{"role": "user", "content": "hi"}]}'


def http(
    port: int, path: str, body: bytes | None = None, method: str | None = None, **headers: str
) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw.startswith(b"{") else {"text": raw.decode()}
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())  # JSON, or this raises


def routable(d: Mictld) -> set[str]:
    return {b["name"] for b in d.client.call("GET", "/v1/backends", list) if b["routable"]}


@contextlib.contextmanager
def fleet(tmp_path: Path, router: str = "", body: str = "", **kw: object) -> Iterator[Mictld]:
    with running(tmp_path, POLICY + body, router=router, command=FAKE_COMMAND, **kw) as d:
        d.add_profile("a")
        d.start()
        wait_until(lambda: "a" in routable(d), 30, "a routable")
        yield d


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -------------------------------------------------------------- the guard


def test_silent_and_idle_connections_are_closed(tmp_path: Path) -> None:
    router = "header_timeout = 1.0\nkeepalive_timeout = 1.0\n"
    with fleet(tmp_path, router) as d:
        silent = socket.create_connection(("127.0.0.1", d.front_port))
        silent.settimeout(30)
        half = socket.create_connection(("127.0.0.1", d.front_port))
        half.settimeout(30)
        half.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # never ends
        kept = socket.create_connection(("127.0.0.1", d.front_port))
        kept.settimeout(30)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while b'{"status":"ok"}' not in reply:
            reply += kept.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        answer = read_until_closed(silent)
        assert answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer
        assert read_until_closed(half).startswith(b"HTTP/1.1 408")
        assert read_until_closed(kept) == b""  # the idle keep-alive one: closed
        assert time.monotonic() - started < 20
        for s in (silent, half, kept):
            s.close()


def test_past_max_connections_a_new_one_gets_503_at_once(tmp_path: Path) -> None:
    with fleet(tmp_path, "max_connections = 4\nheader_timeout = 60\n") as d:
        idle = [socket.create_connection(("127.0.0.1", d.front_port)) for _ in range(4)]
        for sock in idle:  # busy: a head under way (idle ones would make room)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        try:
            wait_until(lambda: http(d.front_port, "/healthz")[0] == 503, 10, "the cap reached")
            status, body = http(d.front_port, "/v1/chat/completions", CHAT)
            assert status == 503 and body["error"]["code"] == "too_many_connections"
        finally:
            for sock in idle:
                sock.close()
        wait_until(lambda: http(d.front_port, "/v1/chat/completions", CHAT)[0] == 200, 10, "ok")


def hold(port: int) -> tuple[socket.socket, int]:
    """A kept-alive connection that asked /healthz once: (socket, status)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            break
        head += chunk
    return sock, int(head.split(b" ", 2)[1]) if head else 0


def hold_until_refused(port: int, held: list[socket.socket], most: int = 400) -> int:
    """Open kept-alive connections until the front refuses one; its status."""
    for _ in range(most):
        sock, status = hold(port)
        if status != 200:
            sock.close()
            return status
        held.append(sock)
    return 200


def test_idle_connections_cannot_exhaust_descriptors(tmp_path: Path) -> None:
    """Under a 256-descriptor limit, idle clients by the hundred: the front
    refuses the excess with 503, `mictl status` answers, and a killed
    instance is respawned."""
    # One address, no cap per address: idle connections would otherwise
    # make room for each other before the descriptor reserve is reached.
    router = "header_timeout = 120\nkeepalive_timeout = 120\nmax_connections_per_client = 0\n"
    d = Mictld(tmp_path, POLICY, router=router, command=FAKE_COMMAND)
    held: list[socket.socket] = []
    try:
        d.add_profile("a")
        argv = ["prlimit", "--nofile=256:256", str(BIN / "mictld"), "-c", str(d.config)]
        out = open(tmp_path / "mictld.out", "ab")  # noqa: SIM115
        d.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_until(d.reachable, 30, "mictld")
        wait_until(lambda: "a" in routable(d), 60, "a routable")
        assert hold_until_refused(d.front_port, held) == 503
        assert 50 < len(held) < 256
        status = d.ctl("status")
        assert status.returncode == 0 and "RUNNING" in status.stdout, status.stderr
        old = d.program("a").pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        wait_until(
            lambda: (p := d.program("a")).state == "RUNNING" and p.pid != old, 30, "a respawned"
        )
        assert hold_until_refused(d.front_port, held) == 503  # still guarded
        for sock in held:
            sock.close()
        held.clear()
        wait_until(lambda: "a" in routable(d), 60, "a routable again")
        assert http(d.front_port, "/v1/chat/completions", CHAT)[0] == 200
        assert "Too many open files" not in (tmp_path / "log" / "mictld.log").read_text()
    finally:
        for sock in held:
            sock.close()
        d.cleanup()


def test_mictl_exits_3_in_one_line_when_the_daemon_drops_it(tmp_path: Path) -> None:
    path = str(tmp_path / "mute.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                conn.close()  # what a daemon out of descriptors looks like

    threading.Thread(target=hang_up, daemon=True).start()
    result = subprocess.run(
        [str(BIN / "mictl"), "--socket", path, "status"], capture_output=True, text=True, timeout=60
    )
    server.close()
    assert result.returncode == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# --------------------------------------------------------- shapes, secrets


def test_unknown_paths_and_methods_are_openai_shaped(tmp_path: Path) -> None:
    with fleet(tmp_path) as d:
        for path, method, status in (
            ("/nope", "GET", 404),
            ("/v1/models", "DELETE", 405),
            ("/v1/chat/completions", "GET", 405),
        ):
            got, body = http(d.front_port, path, method=method)
            assert got == status and body["error"]["message"] and body["error"]["type"]
        with pytest.raises(Exception) as info:
            d.client.call("GET", "/v1/nowhere", dict)
        assert getattr(info.value, "status", None) == 404 and info.value.code == "not_found"


def test_metrics_follow_metrics_auth_and_health_stays_open(tmp_path: Path) -> None:
    with fleet(tmp_path, 'api_keys = ["k1"]\n') as d:
        assert http(d.front_port, "/metrics")[0] == 401
        assert http(d.front_port, "/metrics", Authorization="Bearer k1")[0] == 200
        assert http(d.front_port, "/healthz")[0] == 200
        assert http(d.front_port, "/readyz")[0] == 200
        d.write_config(d.config.read_text() + "")
        text = d.config.read_text().replace(
            'api_keys = ["k1"]', 'api_keys = ["k1"]\nmetrics_auth = false'
        )
        d.write_config(text)
        assert d.ctl("reload").returncode == 0
        assert http(d.front_port, "/metrics")[0] == 200


def test_upstream_error_bodies_lose_their_keys(tmp_path: Path) -> None:
    port = free_port()
    body = f"""
        [programs.paid]
        command = "{sys.executable} {FAKE} --port {port} --name paid"
        startsecs = 0
        [upstreams.paid]
        base_url = "http://127.0.0.1:{port}/v1"
        api_key_env = "PAID_KEY"
    """
    secret = "paid-secret-0123456789"
    with running(tmp_path, body, router="max_retries = 0\n") as d:
        d.start(env={"PAID_KEY": secret})
        d.wait_state("paid", "RUNNING")
        wait_until(lambda: port_open(port), 30, "paid up")
        http(port, "/_control", json.dumps({"mode": "leak"}).encode())
        status, answer = http(d.front_port, "/v1/chat/completions", CHAT)
        assert status == 401
        assert http(port, "/_stats")[1]["auth"] == f"Bearer {secret}"  # it was sent...
        text = json.dumps(answer)
        assert secret not in text and "sk-proj-" not in text  # ...and not relayed
        assert "[redacted]" in text


# ----------------------------------------------------------- ports, health


def test_front_port_in_use_names_it_and_leaves_no_socket(tmp_path: Path) -> None:
    d = Mictld(tmp_path, POLICY, router="")
    holder = socket.socket()
    holder.bind(("127.0.0.1", d.front_port))
    holder.listen()
    try:
        result = subprocess.run(
            [str(BIN / "mictld"), "-c", str(d.config)], capture_output=True, text=True, timeout=60
        )
    finally:
        holder.close()
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "router.port" in line and str(d.front_port) in line and f"pid {os.getpid()}" in line
    assert "Traceback" not in result.stderr
    assert not d.socket.exists()


def test_instance_port_in_use_says_which_port_and_who(tmp_path: Path) -> None:
    with running(tmp_path, POLICY.replace("startsecs = 0", "startsecs = 0\nstartretries = 1")) as d:
        holder = socket.socket()
        holder.bind(("127.0.0.1", d.base_port))
        holder.listen()
        try:
            d.add_profile("a")
            d.start()
            info = d.wait_state("a", "FATAL")
        finally:
            holder.close()
        assert f"port {d.base_port}" in info.reason and f"pid {os.getpid()}" in info.reason
        assert "Exited too quickly" not in info.reason
        assert d.ctl("start", "a").returncode == 0


def test_health_restarts_count_and_end_fatal(tmp_path: Path) -> None:
    # The listener accepts and hangs up: it never passes a probe.
    policy = "[profiles.program]\nstartsecs = 0\nstartretries = 2\nautorestart = true\n"
    with running(tmp_path, policy, router="", health="restart_after = 2\nstart_timeout = 1\n") as d:
        d.add_profile("slow")
        d.start()
        info = d.wait_state("slow", "FATAL", timeout=60)
        assert "health probes" in info.reason and info.restarts == 2
        log = (tmp_path / "log" / "mictld.log").read_text()
        assert "health restart 2 of at most 2" in log


def test_a_spawn_that_ran_out_of_descriptors_recovers_by_itself(tmp_path: Path) -> None:
    """EMFILE at spawn is the daemon's state, not the program's: its FATAL
    is retried once descriptors are free again, without an operator."""
    import resource

    policy = "[profiles.program]\nstartsecs = 0\nstartretries = 1\nautorestart = true\n"
    with running(tmp_path, policy) as d:
        d.add_profile("a")
        d.start()
        old = d.wait_state("a", "RUNNING").pid
        assert d.proc is not None and old is not None
        limit = resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE)
        log = tmp_path / "log" / "mictld.log"
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (8, limit[1]))
        try:
            os.kill(old, signal.SIGKILL)
            wait_until(
                lambda: "FATAL for want of file descriptors" in log.read_text(), 30, "the FATAL"
            )
        finally:
            resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, limit)
        back = d.wait_state("a", "RUNNING", timeout=30)
        assert back.pid != old
        assert "retrying after running out of file descriptors" in log.read_text()
