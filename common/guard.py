"""A front port that one client cannot exhaust.

uvicorn closes an idle keep-alive connection, but never one that connects and
sends nothing, and it takes connections until the process runs out of file
descriptors (then a killed instance cannot be respawned and `mictl status`
fails). This protocol adds, per connection:

- a head timeout: a request's head and body must arrive within
  `header_timeout` seconds of the connection (or of its first byte on a
  kept-alive one), else 408 and close;
- a cap: past `max_connections` open connections, or once the new
  connection's descriptor lies within `fd_reserve` of RLIMIT_NOFILE, the
  new one gets an OpenAI-shaped 503 at once and is closed. Linux hands out
  the lowest free descriptor, so a high number means a nearly full table:
  the reserve stays free for spawning programs and the control socket.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.errors import error_json

log = logging.getLogger("mictl.guard")


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 512
    fd_reserve: int = 128


def _raw(status: int, reason: str, message: str, code: str) -> bytes:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = error_json(message, kind, code)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    if status == 503:
        head += "retry-after: 1\r\n"
    return head.encode() + b"\r\n" + body


class GuardedProtocol(HttpToolsProtocol):
    limits = Limits()
    _warned_at = 0.0  # one log line per burst of refusals, not one per connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        why = self._over_limit(transport)
        if why:
            self._refuse(why)
            return
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _over_limit(self, transport: asyncio.Transport) -> str:
        if len(self.connections) > self.limits.max_connections:
            return f"{self.limits.max_connections} connections open"
        sock = transport.get_extra_info("socket")
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limited = sock is not None and soft != resource.RLIM_INFINITY
        if limited and sock.fileno() >= soft - self.limits.fd_reserve:
            return f"file descriptors nearly exhausted ({sock.fileno()} of {soft})"
        return ""

    def _refuse(self, why: str) -> None:
        now = time.monotonic()
        if now - GuardedProtocol._warned_at > 10:
            GuardedProtocol._warned_at = now
            log.warning("front port: refusing new connections (%s)", why)
        message = f"too many connections ({why}); retry shortly"
        self.transport.write(_raw(503, "Service Unavailable", message, "too_many_connections"))
        # Half-close and drop what the client still sends for a moment: a
        # close with unread input would reset the connection before the
        # client read the 503.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(0.5, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if getattr(self, "_refused", False):
            return
        super().data_received(data)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timeout)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            message = f"no complete request within {self.limits.header_timeout}s"
            self.transport.write(_raw(408, "Request Timeout", message, "request_timeout"))
        self.transport.close()  # mid-body: the app sees a disconnect

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if getattr(self, "_head_timer", None) is None:
            self._arm()  # the next request on a kept-alive connection

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(limits: Limits) -> Any:
    """A protocol class for uvicorn's `http=` with these limits."""
    return type("FrontProtocol", (GuardedProtocol,), {"limits": limits})
