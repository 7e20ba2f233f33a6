"""mictl's HTTP/1.1 reader (ctl/http1.py): whatever pieces the socket hands
over, the body comes out whole; a cut-short answer is an error, not a short
body."""

from __future__ import annotations

import itertools
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctl import http1

BODY = '{"name": "a", "state": "RUNNING", "note": "caf\u00e9 \u2713"}\n'.encode()


class Pieces:
    """A byte source that hands over the answer in the given pieces, as a
    socket's recv may (the reader only calls recv)."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        self.pieces = [data[a:b] for a, b in itertools.pairwise(points)]

    def recv(self, size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, at = b"", 0
    for size in [*sizes, len(body)]:
        piece = body[at : at + max(size, 1)]
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        at += len(piece)
    return out + b"0\r\n\r\n"


def with_length(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n"
    return (head + "content-type: application/json\r\n\r\n").encode() + body


def streamed(body: bytes, sizes: list[int]) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    return head + chunked(body, sizes)


cuts = st.lists(st.integers(min_value=0, max_value=400), max_size=12)


@given(cuts)
def test_a_content_length_answer_split_anywhere(at: list[int]) -> None:
    response = http1.Response(Pieces(with_length(BODY), at))  # type: ignore[arg-type]
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.read() == BODY


@given(cuts, st.lists(st.integers(min_value=1, max_value=20), max_size=6))
@settings(max_examples=200)
def test_a_chunked_answer_split_anywhere(at: list[int], sizes: list[int]) -> None:
    response = http1.Response(Pieces(streamed(BODY, sizes), at))  # type: ignore[arg-type]
    pieces = []
    while piece := response.read1():
        pieces.append(piece)
    assert b"".join(pieces) == BODY
    assert response.read1() == b""  # and it stays ended


@pytest.mark.parametrize("answer", [with_length(BODY), streamed(BODY, [5, 7])])
@given(st.integers(min_value=1))
def test_an_answer_cut_short_is_an_error(answer: bytes, cut: int) -> None:
    cut %= len(answer)
    with pytest.raises(http1.BadResponse):
        http1.Response(Pieces(answer[:cut], [])).read()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    ],
)
def test_a_garbled_answer_is_an_error(answer: bytes) -> None:
    with pytest.raises(http1.BadResponse):
        http1.Response(Pieces(answer, [])).read()  # type: ignore[arg-type]


def test_a_real_socket_request_and_answer() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    seen: list[bytes] = []

    def server() -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += theirs.recv(4096)
        seen.append(data)
        answer = with_length(BODY)
        for i in range(0, len(answer), 7):  # it trickles in
            theirs.sendall(answer[i : i + 7])
        theirs.close()

    thread = threading.Thread(target=server)
    thread.start()
    with ours:
        response = http1.request(ours, "POST", "/v1/programs/a/start?wait=1")
        assert response.read() == BODY
    thread.join(10)
    head = seen[0].decode()
    assert head.startswith("POST /v1/programs/a/start?wait=1 HTTP/1.1\r\n")
    assert "Content-Length: 0\r\n" in head and "Host: mictl\r\n" in head
