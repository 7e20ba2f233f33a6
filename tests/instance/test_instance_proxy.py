"""An instance behind its profile's proxy (`mictl-instance --proxy`), in real
Chromium against the AI Studio replica. The browser is given no
--host-resolver-rules: the replica's hostnames reach it only through the
proxy (tests/connect_proxy.py), which maps them. A proxy that is down, goes
away or refuses the credentials puts the instance in "proxy_unreachable"
(never an exit), and it comes back by itself."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.connect_proxy import ConnectProxy
from tests.helpers import BIN, Proc, free_port, port_open, wait_until
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "gemini-2.5-pro"
SECRET = "Pr0xy-pw-9f3kQ"


rep = replica_fixture(harness, "proxy")


def a_proxy(rep: Replica, name: str, user: str) -> ConnectProxy:
    mapping = {h: f"127.0.0.1:{rep.port}" for h in harness.HOSTS}
    return ConnectProxy(free_port(), rep.tmp / f"{name}-proxy.log", user, SECRET, mapping)


def start(
    rep: Replica, name: str, proxy: ConnectProxy, secret: str = SECRET, extra: tuple[str, ...] = ()
) -> tuple[Proc, int]:
    creds = rep.tmp / f"{name}.proxy"
    creds.write_text(f"{name}:{secret}\n")
    creds.chmod(0o600)
    port = free_port()
    argv = [
        str(BIN / "mictl-instance"),
        "--profile", str(harness.profile(rep.tmp / f"{name}.json")),
        "--port", str(port),
        "--site", "aistudio",
        "--name", name,
        "--log-dir", str(rep.tmp / "log"),
        # Trust the replica's certificate; no name mapping: the proxy does that.
        f"--browser-arg=--ignore-certificate-errors-spki-list={rep.spki}",
        "--proxy", f"http://127.0.0.1:{proxy.port}",
        "--proxy-credentials-file", str(creds),
        *extra,
    ]  # fmt: skip
    proc = Proc(argv, rep.tmp / f"{name}.log")
    try:
        wait_until(lambda: alive(proc) and port_open(port), 90, f"instance {name}")
    except BaseException:
        proc.stop()
        raise
    return proc, port


def alive(proc: Proc) -> bool:
    assert proc.proc.poll() is None, f"the instance exited:\n{proc.output()}"
    return True


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def state_is(proc: Proc, port: int, state: str) -> dict | None:
    alive(proc)
    h = health(port)
    return h if h["state"] == state else None


def ask(port: int, text: str) -> tuple[int, dict]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=90) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def answered(port: int, text: str) -> None:
    status, got = ask(port, text)
    assert status == 200, got
    assert got["choices"][0]["message"]["content"] == answer(MODEL, text)


def test_a_proxy_down_at_start_then_gone_mid_run_never_ends_the_instance(rep: Replica) -> None:
    proxy = a_proxy(rep, "alice", "alice")  # not started yet
    # The profile's own locale and time zone too (what the page sees of them).
    zone = ("--locale", "de-DE", "--timezone", "Asia/Tokyo")
    proc, port = start(rep, "alice", proxy, extra=zone)
    try:
        down = wait_until(lambda: state_is(proc, port, "proxy_unreachable"), 60, "proxy down")
        assert down["proxy"] == f"http://127.0.0.1:{proxy.port}"  # and no credentials
        assert down["proxy_unreachable"] and not down["ok"]
        assert "cannot connect to the proxy" in down["reason"]
        status, refused = ask(port, "too early")
        assert status == 503 and refused["error"]["code"] == "proxy_unreachable"

        proxy.start()  # it comes back by itself
        wait_until(lambda: state_is(proc, port, "ok"), 60, "ready once the proxy is up")
        answered(port, "through the proxy")
        seen = harness.last_request(rep)
        assert seen["timezone"] == "Asia/Tokyo"
        assert seen["accept_language"].startswith("de-DE")
        tunnels = [line for line in proxy.lines() if line.startswith("CONNECT")]
        assert any("aistudio.google.com:443 user=alice 200" in t for t in tunnels), tunnels
        # Chromium asks without credentials first (407), then with them.
        assert all("user=alice" in t for t in tunnels if t.endswith(" 200")), tunnels

        proxy.stop()  # mid-run
        wait_until(lambda: state_is(proc, port, "proxy_unreachable"), 30, "proxy gone")
        proxy.start()
        wait_until(lambda: state_is(proc, port, "ok"), 60, "ready again")
        answered(port, "after the proxy came back")
        cmdline = Path(f"/proc/{proc.proc.pid}/cmdline").read_bytes()
        assert SECRET.encode() not in cmdline
    finally:
        proc.stop()
        proxy.stop()
    assert SECRET not in proc.output()


def test_credentials_the_proxy_refuses_are_proxy_unreachable(rep: Replica) -> None:
    proxy = a_proxy(rep, "bob", "bob").start()
    proc, port = start(rep, "bob", proxy, secret="not-" + SECRET)
    try:
        down = wait_until(lambda: state_is(proc, port, "proxy_unreachable"), 60, "refused")
        assert "refused the credentials (407)" in down["reason"]
        assert any(" 407" in line for line in proxy.lines())
    finally:
        proc.stop()
        proxy.stop()
    assert SECRET not in proc.output()


def test_requests_waiting_for_a_page_fail_at_once_when_the_proxy_goes_down(
    rep: Replica,
) -> None:
    """The proxy freezes (SIGSTOP: it takes connections and answers nothing)
    right after an answer, while the page opens its next chat through it. A
    request that then waits for that chat fails with 503 proxy_unreachable
    (the router retries it elsewhere) as soon as the watch sees the proxy
    down (within its 5 s period and 5 s check), not at that load's own
    timeout (aistudio's navigation: 45 s)."""
    proxy = a_proxy(rep, "carol", "carol").start()
    proc, port = start(rep, "carol", proxy)
    assert proxy.proc is not None
    pid = proxy.proc.proc.pid
    try:
        wait_until(lambda: state_is(proc, port, "ok"), 60, "ready through the proxy")
        answered(port, "before the proxy freezes")
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        status, refused = ask(port, "waits for its page's next chat")
        took = time.monotonic() - started
        assert status == 503 and refused["error"]["code"] == "proxy_unreachable", refused
        assert took < 25, f"the waiting request failed only after {took:.1f}s"
        assert state_is(proc, port, "proxy_unreachable")
    finally:
        os.kill(pid, signal.SIGCONT)
        proc.stop()
        proxy.stop()
    assert SECRET not in proc.output()
