"""uvicorn's httptools protocol, answering what it refuses in OpenAI-shaped JSON.

uvicorn answers a request its parser rejects with a text/plain 400 ("Invalid
HTTP request received.") and a WARNING line, and, on httptools, takes a
request head of any size: an 8 MB header line got a 200, forty 50 MB heads
grew the daemon by 436 MB. Every port of mictl (the front, each instance,
the control socket: common/serving.py makes them all) uses this protocol:

- a parser error is a JSON 400 naming what the parser said (an INFO line:
  a client's mistake is not the server's warning), and uvicorn's own 500
  (an app that failed before it answered) is JSON too;
- a request line and headers over `max_head_bytes` (16 KiB by default, h11's
  and so uvicorn-on-h11's limit) get a JSON 431 and the connection closes.
  A head still arriving is cut off once the bytes received for it pass the
  cap (at most one read, 256 KiB, later); a complete head is measured exactly.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.errors import error_json

log = logging.getLogger("mictl.http")

MAX_HEAD_BYTES = 16 * 1024


class HeadTooLarge(Exception):
    pass


class _Quiet:
    """At most one log line per `every` seconds for what clients can repeat
    at will (malformed requests), with how many were not logged."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.last, self.skipped = every, -every, 0

    def info(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.skipped += 1
            return
        if self.skipped:
            message += f" (and {self.skipped} more since the last such line)"
        self.last, self.skipped = now, 0
        log.info(message, *args)


_quiet = _Quiet()


def raw_error(
    status: int, reason: str, message: str, code: str, headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP/1.1 error response (connection: close) with a JSON body."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = error_json(message, kind, code)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n" + body


class JsonProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def, override]
        self._refused = False
        self._in_head = True  # bytes received now belong to a request head
        self._head_bytes = 0
        super().connection_made(transport)

    def refuse(
        self,
        status: int,
        reason: str,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `status` and close. Half-close first and drop what the
        client still sends for a moment: a close with unread input would
        reset the connection before the client read the answer."""
        self._refused = True
        if self.transport.is_closing():
            return
        self.transport.write(raw_error(status, reason, message, code, headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(0.5, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        # As uvicorn's, but the errors are JSON and the head is measured.
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if self._head_bytes > self.max_head_bytes:  # on_headers_complete measured it
                self._head_too_large()
            else:
                _quiet.info("refused a malformed HTTP request (%s)", exc)
                self.refuse(400, "Bad Request", f"invalid HTTP request: {exc}", "invalid_http")
            return
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._head_too_large()

    def _head_too_large(self) -> None:
        _quiet.info("refused a request head over %d bytes", self.max_head_bytes)
        message = f"request line and headers over {self.max_head_bytes} bytes"
        self.refuse(431, "Request Header Fields Too Large", message, "headers_too_large")

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn's is a WARNING per request: any client could write them.
        _quiet.info("ignored a request to upgrade the connection")

    def on_headers_complete(self) -> None:
        self._in_head = False
        # Exact now (what was counted may include body bytes read with it).
        self._head_bytes = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if self._head_bytes > self.max_head_bytes:
            raise HeadTooLarge()  # httptools stops; data_received answers 431
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:  # its task has not run yet
            cycle.send_500_response = functools.partial(_send_500, cycle)  # type: ignore[method-assign]

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()


async def _send_500(cycle: Any) -> None:
    """uvicorn's answer to an app that failed before it started one, in JSON."""
    body = error_json("internal error", "server_error", "internal_error")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await cycle.send({"type": "http.response.start", "status": 500, "headers": headers})
    await cycle.send({"type": "http.response.body", "body": body, "more_body": False})
