"""What a client sends cannot jam the front, open breakers or fill the log
(issue 28): a real mictld over supervised fake instances."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.helpers import Mictld, running, wait_until

pytestmark = pytest.mark.slow

FAKE = Path(__file__).resolve().parents[1] / "fake_upstream.py"
COMMAND = f"{sys.executable} {FAKE} --port {{port}} --name {{name}}"
POLICY = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"


def backends(d: Mictld) -> dict[str, dict]:
    return {b["name"]: b for b in d.client.call("GET", "/v1/backends", list)}


def fake(d: Mictld, name: str, path: str, payload: dict | None = None) -> dict:
    port = d.program(name).port
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", data, timeout=30) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def fleet(tmp_path: Path, names: list[str], router: str = "") -> Iterator[Mictld]:
    with running(tmp_path, POLICY, router=router or "max_retries = 2\n", command=COMMAND) as d:
        for name in names:
            d.add_profile(name)
            (d.profiles / f"{name}.json").chmod(0o600)  # no warning in the log for it
        d.start()
        wait_until(
            lambda: sum(b["routable"] for b in backends(d).values()) == len(names), 30, "routable"
        )
        yield d


def sdk(d: Mictld, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="k", **kw)


class Attempts(openai.DefaultHttpxClient):
    """The SDK's own HTTP client, counting the requests it really sends."""

    def __init__(self) -> None:
        self.sent = 0
        super().__init__(event_hooks={"request": [self._count]})

    def _count(self, request: object) -> None:
        self.sent += 1


# ------------------------------------------------------ invisible prompts


INVISIBLE = ["\ufeff", "\ufeff" * 50, "\u200b\u200c\u200d\u2060\u00ad", "\u00a0\u3000\u2028 \n"]


def test_invisible_prompts_are_refused_before_any_backend(tmp_path: Path) -> None:
    """U+FEFF and the like (what a page's trim() drops): 400 naming messages,
    no backend called, no breaker moved."""
    with fleet(tmp_path, ["a", "b"]) as d:
        with sdk(d, max_retries=0) as client:
            for text in INVISIBLE:
                with pytest.raises(openai.BadRequestError) as info:
                    client.chat.completions.create(
                        model="m1", messages=[{"role": "user", "content": text}]
                    )
                error = info.value.body
                assert isinstance(error, dict)
                assert (error["code"], error["param"]) == ("empty_prompt", "messages")
            answer = client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "\ufeffhi"}]
            )
            assert answer.choices[0].message.content in ("a", "b")
        seen = sum(fake(d, n, "_stats")["requests"] for n in ("a", "b"))
        assert seen == 1  # only the visible one reached a backend
        assert {b["breaker"] for b in backends(d).values()} == {"closed"}
        assert sum(b["failed"] for b in backends(d).values()) == 0


def test_invisible_prompts_stay_refused_when_the_check_is_broken_back(tmp_path: Path) -> None:
    """The same prompt with a visible letter reaches a backend: the refusal
    above is the check's doing, not a fleet that refuses everything."""
    with fleet(tmp_path, ["a"]) as d, sdk(d, max_retries=0) as client:
        client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
        assert fake(d, "a", "_stats")["requests"] == 1


# ------------------------------------------------------ nothing can serve it


def test_a_drained_pool_fails_once_through_the_sdk(tmp_path: Path) -> None:
    """Every instance drained: 503 with x-should-retry: false and no
    Retry-After, so the official SDK (2 retries by default) sends it once."""
    with fleet(tmp_path, ["a", "b"], "queue_timeout = 60\n") as d:
        for name in ("a", "b"):
            d.ctl("drain", name, check=True)
        http = Attempts()
        # The SDK's default max_retries (2).
        with sdk(d, http_client=http) as client, pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == 503
        assert http.sent == 1
        headers = info.value.response.headers
        assert headers["x-should-retry"] == "false" and "retry-after" not in headers
        assert "all 2 instances drained" in info.value.message


# ------------------------------------------------------------- /v1/models/ID


def test_models_retrieve_through_the_sdk(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"]) as d, sdk(d, max_retries=0) as client:
        wait_until(lambda: [m.id for m in client.models.list()] == ["m1", "m2"], 30, "models")
        model = client.models.retrieve("m1")
        assert (model.id, model.object, model.owned_by) == ("m1", "model", "mictl")
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve("nope")
        body = info.value.body
        assert isinstance(body, dict) and body["code"] == "model_not_found"
        assert "m1, m2" in body["message"]


# ------------------------------------------------------------ lone surrogate


def test_a_lone_surrogate_is_named_not_truncated(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"]) as d:
        raw = b'{"model": "m1", "messages": [{"role": "user", "content": "\\ud800x"}]}'
        url = f"http://127.0.0.1:{d.front_port}/v1/chat/completions"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, raw, timeout=30)
        assert info.value.code == 400
        message = json.loads(info.value.read())["error"]["message"]
        info.value.close()
        assert "invalid \\ud800 escape" in message and "truncated" not in message
        assert fake(d, "a", "_stats")["requests"] == 0


# ------------------------------------------------------------------ hang-ups


def hang_up_mid_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"model": "m1", "messages": ['
        )


def hang_up_waiting(port: int, placed: threading.Event, stream: bool) -> None:
    payload = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    body = json.dumps(payload).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        placed.wait(10)


def log_problems(d: Mictld) -> list[str]:
    text = (d.root / "log" / "mictld.log").read_text() + d.output()
    return [
        line
        for line in text.splitlines()
        if " ERROR " in line or "Traceback" in line or "Exception" in line or "WARNING" in line
    ]


def test_clients_that_hang_up_write_no_errors(tmp_path: Path) -> None:
    """Hang-ups mid-body, while queued, and in flight after leaving the
    queue: no ERROR, WARNING or traceback in the log, and the fleet still serves."""
    with fleet(tmp_path, ["a"], "max_retries = 0\nqueue_size = 100\n") as d:
        fake(d, "a", "_control", {"delay": 0.3})
        for _ in range(50):
            hang_up_mid_body(d.front_port)
        placed = threading.Event()
        waiting = [
            threading.Thread(target=hang_up_waiting, args=(d.front_port, placed, i % 2 == 0))
            for i in range(30)
        ]
        for t in waiting:
            t.start()
        wait_until(lambda: fake(d, "a", "_stats")["requests"] >= 3, 30, "some left the queue")
        placed.set()
        for t in waiting:
            t.join()
        fake(d, "a", "_control", {"delay": 0})
        with sdk(d, max_retries=0) as client:
            answer = client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "still there?"}]
            )
        assert answer.choices[0].message.content == "a"
        assert log_problems(d) == []


# ------------------------------------------------------ slots and headers


def request_from(port: int, source: str, path: str = "/v1/models") -> int:
    """One GET from `source` (a loopback address of its own): the status."""
    with socket.create_connection(("127.0.0.1", port), 10, (source, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


def test_one_client_holding_every_slot_does_not_keep_others_out(tmp_path: Path) -> None:
    """A client that holds max_connections idle sockets and reopens each one
    as it closes: ten other clients are all served."""
    router = "max_connections = 20\nmax_connections_per_client = 0\nheader_timeout = 60\n"
    with fleet(tmp_path, ["a"], router) as d:
        stop = threading.Event()
        held: list[socket.socket] = []
        opened = [0]

        def hog() -> None:
            while not stop.is_set():
                for sock in [s for s in held if _closed_by_peer(s)]:
                    held.remove(sock)
                    sock.close()
                while len(held) < 20 and not stop.is_set():
                    held.append(
                        socket.create_connection(("127.0.0.1", d.front_port), 10, ("127.0.0.2", 0))
                    )
                    opened[0] += 1
                stop.wait(0.01)

        thread = threading.Thread(target=hog)
        thread.start()
        try:
            wait_until(lambda: opened[0] >= 20, 10, "the hog holds every slot")
            statuses = [request_from(d.front_port, f"127.0.0.{10 + i}") for i in range(10)]
        finally:
            stop.set()
            thread.join()
            for sock in held:
                sock.close()
        assert statuses == [200] * 10


def test_past_its_share_an_address_gets_429_and_others_are_served(tmp_path: Path) -> None:
    router = "max_connections_per_client = 3\nheader_timeout = 60\n"
    with fleet(tmp_path, ["a"], router) as d:
        busy = [
            socket.create_connection(("127.0.0.1", d.front_port), 10, ("127.0.0.2", 0))
            for _ in range(3)
        ]
        try:
            for sock in busy:
                sock.sendall(b"GET /v1/models HTTP/1.1\r\n")  # heads under way
            wait_until(lambda: request_from(d.front_port, "127.0.0.2") == 429, 10, "429")
            assert request_from(d.front_port, "127.0.0.3") == 200
        finally:
            for sock in busy:
                sock.close()


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def send_huge_header(port: int, size: int) -> int:
    """A header line of `size` bytes; the status answered (0: none read)."""
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-pad: ")
            for _ in range(size // 65536):
                sock.sendall(b"a" * 65536)
            sock.sendall(b"\r\n\r\n")
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def test_huge_headers_get_431_and_cost_no_memory(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"]) as d:
        assert d.proc is not None
        assert send_huge_header(d.front_port, 100_000) == 431
        before = rss_kb(d.proc.pid)
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(send_huge_header(d.front_port, 8 << 20)))
            for _ in range(10)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 200 not in results and len(results) == 10
        assert rss_kb(d.proc.pid) - before < 40_000  # 10 x 8 MB heads were not kept
        assert request_from(d.front_port, "127.0.0.1") == 200
        assert log_problems(d) == []


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def raw_exchange(sock: socket.socket, data: bytes) -> tuple[bytes, dict]:
    with sock:
        sock.sendall(data)
        reply = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, json.loads(body)


def test_parser_errors_are_json_on_the_front_and_the_control_socket(tmp_path: Path) -> None:
    bad = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"
    with fleet(tmp_path, ["a"]) as d:
        front = socket.create_connection(("127.0.0.1", d.front_port), 10)
        control = socket.socket(socket.AF_UNIX)
        control.settimeout(10)
        control.connect(str(d.socket))
        for sock in (front, control):
            head, body = raw_exchange(sock, bad)
            assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
            assert body["error"]["code"] == "invalid_http"
        assert log_problems(d) == []
