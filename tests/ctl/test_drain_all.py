"""`mictl drain --all`: the whole daemon drains, as a Kubernetes pod's preStop
runs it. The bundled demo (real mictld, real browsers) with a slow answer in
flight: the drain returns only after that answer is done and it succeeded;
meanwhile new requests get a retryable 503 and /readyz says not ready;
`undrain --all` takes requests again; a drain whose timeout is too short
exits 1."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from instance_runner.sites.demo.answers import answer
from tests.demo_daemon import Demo, demo
from tests.helpers import BIN, free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLOW = "[[slow]] drain me gently"


def call(
    d: Demo, method: str, path: str, body: dict | None = None
) -> tuple[int, dict[str, str], dict]:
    """Status, headers (lower-case names) and JSON of one front-port request."""
    conn = http.client.HTTPConnection("127.0.0.1", d.front, timeout=120)
    try:
        raw = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, raw, {"content-type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data or b"{}")
    finally:
        conn.close()


def chat(d: Demo, prompt: str) -> tuple[int, dict[str, str], dict]:
    body = {"model": "demo-fast", "messages": [{"role": "user", "content": prompt}]}
    return call(d, "POST", "/v1/chat/completions", body)


def in_flight(d: Demo) -> int:
    return sum(b["in_flight"] for b in d.health().values())


def test_drain_all_waits_for_the_slow_answer_and_refuses_new_work(tmp_path: Path) -> None:
    site = free_port()
    # 50 ms a token, [[slow]] 20 times that: the slow answer takes ~14 s.
    env = {
        "MICTL_PROGRAMS__DEMO-SITE__COMMAND": f"mictl-demo-site --port {site} --pace-ms 50",
        "MICTL_PROFILES__PROGRAM__ENVIRONMENT": f'MICTL_SITE_URL="http://127.0.0.1:{site}/"',
    }
    with demo(tmp_path / "d", env) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 240, "both instances routable")
        assert call(d, "GET", "/readyz")[0] == 200

        slow: dict[str, object] = {}

        def ask_slow() -> None:
            slow["answer"] = chat(d, SLOW)
            slow["done"] = time.monotonic()

        asker = threading.Thread(target=ask_slow)
        asker.start()
        wait_until(lambda: in_flight(d) == 1, 60, "the slow request in flight")

        drain = subprocess.Popen(
            [*d.ctl_argv, "drain", "--all", "--timeout", "120"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        status, _, ready = wait_until(
            lambda: (r := call(d, "GET", "/readyz"))[0] == 503 and r, 30, "/readyz not ready"
        )
        assert ready["draining"] is True and ready["ready"] is False

        status, headers, refused = chat(d, "hello while draining")
        assert status == 503, refused
        assert refused["error"]["code"] == "draining"
        assert headers["x-should-retry"] == "true" and headers["retry-after"] == "1"
        # Still waiting for the slow answer: the drain did not return early.
        assert drain.poll() is None and asker.is_alive()

        out, err = drain.communicate(timeout=180)
        drained_at = time.monotonic()
        assert drain.returncode == 0, err
        assert "drained" in out
        asker.join(60)
        status, _, body = slow["answer"]  # type: ignore[misc]
        assert status == 200, body
        assert body["choices"][0]["message"]["content"] == answer("demo-fast", SLOW)
        assert slow["done"] <= drained_at  # type: ignore[operator]
        assert in_flight(d) == 0
        assert "mictld is drained" in d.ctl("status").stderr  # an operator cannot miss it

        # Back in service.
        undrain = d.ctl("undrain", "--all")
        assert undrain.returncode == 0, undrain.stderr
        assert "drained" not in d.ctl("status").stderr
        assert call(d, "GET", "/readyz")[0] == 200
        status, _, body = chat(d, "hello again")
        assert status == 200, body

        # A drain that cannot finish in its time says so: exit 1.
        asker = threading.Thread(target=ask_slow)
        asker.start()
        wait_until(lambda: in_flight(d) == 1, 60, "another slow request in flight")
        short = d.ctl("drain", "--all", "--timeout", "0.5")
        assert short.returncode == 1, short.stdout
        assert "still in flight" in short.stderr
        asker.join(120)
        assert slow["answer"][0] == 200  # type: ignore[index]


def test_drain_usage(tmp_path: Path) -> None:
    """Names or --all, not both, not neither: exit 2 before any daemon is asked."""
    ctl = [str(BIN / "mictl")]
    sock = ["--socket", str(tmp_path / "none.sock")]
    for args in (["drain"], ["drain", "--all", "demo-a"], ["undrain"]):
        result = subprocess.run([*ctl, *sock, *args], capture_output=True, text=True)
        assert result.returncode == 2, (args, result.stderr)
        assert "--all" in result.stderr


def test_sigterm_refuses_new_work_retryably_while_in_flight_work_finishes(
    tmp_path: Path,
) -> None:
    """`podman stop` / `kill -TERM` without a preStop: from the signal on, new
    requests get the same retryable 503 as `drain --all` (not "no backend"),
    the slow answer in flight still arrives whole, and mictld exits 0."""
    site = free_port()
    env = {
        "MICTL_PROGRAMS__DEMO-SITE__COMMAND": f"mictl-demo-site --port {site} --pace-ms 50",
        "MICTL_PROFILES__PROGRAM__ENVIRONMENT": f'MICTL_SITE_URL="http://127.0.0.1:{site}/"',
    }
    with demo(tmp_path / "d", env) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 240, "both instances routable")
        slow: dict[str, object] = {}
        asker = threading.Thread(target=lambda: slow.update(answer=chat(d, SLOW)))
        asker.start()
        wait_until(lambda: in_flight(d) == 1, 60, "the slow request in flight")

        d.daemon.send_signal(signal.SIGTERM)
        status, headers, refused = wait_until(
            lambda: (r := chat(d, "hello while stopping"))[0] != 200 and r, 30, "a refusal"
        )
        assert status == 503, refused
        assert refused["error"]["code"] == "draining"
        assert headers["x-should-retry"] == "true"

        asker.join(120)
        status, _, body = slow["answer"]  # type: ignore[misc]
        assert status == 200, body
        assert body["choices"][0]["message"]["content"] == answer("demo-fast", SLOW)
        assert d.daemon.wait(120) == 0
