"""The HTTP protocol every port uses (common/wire.py) and the front's guard
(common/guard.py), on a real uvicorn server and real sockets: parser errors
and oversized heads answered in JSON, and connection caps that one client
address cannot fill."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from common import http_errors
from common.guard import Limits
from common.serving import bind_tcp, make_server
from tests.helpers import wait_until


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


STARLETTE = Starlette(exception_handlers=http_errors.handlers(), routes=[Route("/", hello)])


async def APP(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] == "/silent":
        return  # an app that never answers: uvicorn's own 500
    await STARLETTE(scope, receive, send)


class Served:
    def __init__(self, port: int, server: object) -> None:
        self.port, self.server = port, server
        self.socks: list[socket.socket] = []

    def connect(self, source: str = "127.0.0.1") -> socket.socket:
        sock = socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(source, 0)
        )
        self.socks.append(sock)
        return sock

    def protocols(self) -> list:
        return list(self.server.server_state.connections)  # type: ignore[attr-defined]


@contextlib.contextmanager
def serving(limits: Limits | None = None) -> Iterator[Served]:
    """A real server (serving.make_server) in a thread of its own."""
    sock = bind_tcp("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(APP, limits=limits, graceful=1)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve([sock]),))
    thread.start()
    try:
        wait_until(lambda: server.started, 10, "server started")
        served = Served(port, server)
        try:
            yield served
        finally:
            for s in served.socks:
                s.close()
    finally:
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)
        thread.join(10)
        loop.close()
        sock.close()


def answer(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """Read one whole answer with a content-length: (status, headers, JSON body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(body)


def ask(sock: socket.socket, head: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") -> int:
    sock.sendall(head)
    return answer(sock)[0]


# ----------------------------------------------------- JSON on every port


@pytest.mark.parametrize("limits", [None, Limits()], ids=["instance", "front"])
@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS hello on a plain port
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
def test_parser_errors_are_openai_shaped(limits: Limits | None, raw: bytes) -> None:
    with serving(limits) as srv:
        sock = srv.connect()
        sock.sendall(raw)
        status, headers, body = answer(sock)
    assert status == 400 and headers["content-type"] == "application/json"
    assert body["error"]["code"] == "invalid_http"
    assert body["error"]["message"].startswith("invalid HTTP request")


@pytest.mark.parametrize("limits", [None, Limits()], ids=["instance", "front"])
def test_uvicorns_own_500_is_openai_shaped(limits: Limits | None) -> None:
    with serving(limits) as srv:
        sock = srv.connect()
        sock.sendall(b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = answer(sock)
    assert status == 500 and headers["content-type"] == "application/json"
    assert body["error"]["code"] == "internal_error"


# ------------------------------------------------------------- head size


@pytest.mark.parametrize("limits", [None, Limits(max_header_bytes=4096)], ids=["default", "4k"])
def test_a_head_over_the_cap_gets_431_and_one_under_it_passes(limits: Limits | None) -> None:
    cap = limits.max_header_bytes if limits else 16 * 1024
    with serving(limits) as srv:
        fits = b"x-pad: " + b"a" * (cap - 200) + b"\r\n"
        assert ask(srv.connect(), b"GET / HTTP/1.1\r\nHost: x\r\n" + fits + b"\r\n") == 200
        sock = srv.connect()
        big = b"x-pad: " + b"a" * (cap + 10) + b"\r\n"
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        status, _, body = answer(sock)
        assert (status, body["error"]["code"]) == (431, "headers_too_large")
        sock = srv.connect()  # many small headers add up
        many = b"".join(b"x-h%d: %s\r\n" % (i, b"b" * 50) for i in range(cap // 50))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert answer(sock)[0] == 431


def test_a_head_that_never_ends_is_cut_off_not_buffered() -> None:
    """An endless header line: 431 once the cap is passed (before its end),
    not a buffer that grows for as long as the client sends."""
    with serving(Limits(header_timeout=60)) as srv:
        sock = srv.connect()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nx-pad: ")
        sent = 0
        with contextlib.suppress(OSError):
            while sent < 8 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
                sock.settimeout(0.001)
                with contextlib.suppress(TimeoutError):
                    if sock.recv(1, socket.MSG_PEEK):
                        break
                sock.settimeout(10)
        sock.settimeout(10)
        status, _, body = answer(sock)
        assert status == 431 and body["error"]["code"] == "headers_too_large"
        assert sent < 2 * 1024 * 1024  # refused early, not after the 8 MB


# ------------------------------------------------------- connection caps


def busy(srv: Served, socks: list[socket.socket]) -> None:
    """Each of `socks` starts a request head, and the server has seen it."""
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\n")
    wait_until(lambda: sum(p._active for p in srv.protocols()) >= len(socks), 10, "heads seen")


def test_one_address_cannot_hold_more_than_its_share() -> None:
    """Past max_connections_per_client, that address's idle connections make
    room for its new ones; busy ones are never closed: then it gets 429. Other
    addresses are not affected."""
    limits = Limits(max_connections=50, max_connections_per_client=4, header_timeout=60)
    with serving(limits) as srv:
        mine = [srv.connect("127.0.0.2") for _ in range(4)]
        for sock in mine:
            assert ask(sock) == 200  # kept alive, idle now
        newer = srv.connect("127.0.0.2")
        assert ask(newer) == 200
        assert wait_until(lambda: closed(mine), 10, "one closed") == [mine[0]]  # the oldest idle
        # Busy ones (a head under way) are never closed to make room.
        held = [newer, *mine[1:]]
        busy(srv, held)
        status, _, body = answer(srv.connect("127.0.0.2"))
        assert status == 429 and body["error"]["code"] == "too_many_connections_from_client"
        assert ask(srv.connect("127.0.0.3")) == 200  # another address: served
        for sock in held:
            sock.sendall(b"Host: x\r\n\r\n")
            assert answer(sock)[0] == 200


def test_at_the_port_cap_idle_connections_of_the_greediest_address_go_first() -> None:
    """A client holding every slot with idle connections: another client's
    new connection is served, and the slot comes from the hog."""
    limits = Limits(max_connections=8, max_connections_per_client=0, header_timeout=60)
    with serving(limits) as srv:
        light = srv.connect("127.0.0.3")
        assert ask(light) == 200
        hog = [srv.connect("127.0.0.2") for _ in range(7)]  # idle: nothing sent
        wait_until(lambda: len(srv.protocols()) == 8, 10, "the hog's connections accepted")
        for i in range(5):
            assert ask(srv.connect(f"127.0.0.{10 + i}")) == 200, i
        assert ask(light) == 200  # the light client's idle connection stayed
        wait_until(lambda: len(closed(hog)) == 5, 10, "five hog connections closed")


def test_at_the_port_cap_with_nothing_idle_a_new_one_gets_503() -> None:
    limits = Limits(max_connections=3, max_connections_per_client=0, header_timeout=60)
    with serving(limits) as srv:
        busy(srv, [srv.connect() for _ in range(3)])
        status, _, body = answer(srv.connect())
        assert status == 503 and body["error"]["code"] == "too_many_connections"


def closed(socks: list[socket.socket]) -> list[socket.socket]:
    """Those of `socks` the server closed."""
    gone = []
    for sock in socks:
        sock.settimeout(0.01)
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                gone.append(sock)
        except TimeoutError:
            pass
        except OSError:
            gone.append(sock)
        sock.settimeout(10)
    return gone
