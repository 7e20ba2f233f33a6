"""HTTP/1.1 over a Unix socket, just what mictl needs of it: one request per
connection, a JSON answer or a streamed (chunked) one.

The standard library's http.client imports email.parser and ssl: about a
third of `mictl status`'s start-up. mictld's control plane is ours and speaks
plain HTTP/1.1 (Content-Length, or chunked for a stream), so this reads it
directly.
"""

from __future__ import annotations

# Not typing (20 ms with the re module it imports) nor socket: the status
# fast path (ctl/entry.py) imports this module and must start light.
import _socket


class BadResponse(Exception):
    """The daemon's answer was cut short or is not HTTP/1.1."""


class Response:
    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._eof = False
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self._left = _number(length, 10) if length is not None and not self._chunked else None
        self._done = self._left == 0

    # ------------------------------------------------------------ bytes in

    def _recv(self) -> bool:
        """More bytes into the buffer; False at the end of the stream."""
        if self._eof:
            return False
        data = self._sock.recv(65536)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def _until(self, marker: bytes) -> bytes:
        """The bytes before `marker` (consumed with it)."""
        while marker not in self._buffer:
            if not self._recv():
                raise BadResponse("connection closed mid-answer")
        before, _, self._buffer = self._buffer.partition(marker)
        return before

    def _exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not self._recv():
                raise BadResponse("connection closed mid-answer")
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    # ------------------------------------------------------------ body out

    def read1(self) -> bytes:
        """The next piece of the body as it arrives; b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            size = _number(self._until(b"\r\n").split(b";", 1)[0].decode("latin-1"), 16)
            if size == 0:
                self._until(b"\r\n")  # no trailers from mictld: the final CRLF
                self._done = True
                return b""
            data = self._exactly(size)
            self._exactly(2)
            return data
        if not self._buffer and not self._recv():
            if self._left:
                raise BadResponse("connection closed mid-answer")
            self._done = True
            return b""
        data = self._buffer
        if self._left is not None:
            data = data[: self._left]
            self._left -= len(data)
            self._done = self._left == 0
        self._buffer = b""
        return data

    def read(self) -> bytes:
        pieces = []
        while piece := self.read1():
            pieces.append(piece)
        return b"".join(pieces)


def _number(text: str, base: int) -> int:
    try:
        value = int(text.strip(), base)
    except ValueError:
        raise BadResponse(f"not a length: {text[:20]!r}") from None
    if value < 0:
        raise BadResponse(f"not a length: {text[:20]!r}")
    return value


def request(sock: _socket.socket, method: str, path: str) -> Response:
    """Send a bodiless request on a connected socket; the answer's head is in."""
    head = f"{method} {path} HTTP/1.1\r\nHost: mictl\r\nConnection: close\r\n"
    if method in ("POST", "PUT", "PATCH"):
        head += "Content-Length: 0\r\n"
    sock.sendall((head + "\r\n").encode("latin-1"))
    return Response(sock)
