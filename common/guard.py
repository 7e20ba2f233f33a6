"""A front port that one client cannot exhaust.

uvicorn closes an idle keep-alive connection, but never one that connects and
sends nothing, and it takes connections until the process runs out of file
descriptors (then a killed instance cannot be respawned and `mictl status`
fails). One client holding 512 idle sockets, reopened as they closed, kept
nine clients of ten out for 30 s. This protocol adds, per connection:

- a head timeout: a request's head and body must arrive within
  `header_timeout` seconds of the connection (or of its first byte on a
  kept-alive one), else 408 and close;
- a head size cap (common/wire.py): 431 past `max_header_bytes`;
- a cap per client address: past `max_connections_per_client` connections
  from one address, that address's longest idle connection is closed to make
  room, or, when none is idle, the new one gets 429 at once;
- a cap on the whole port: past `max_connections` open connections, the
  longest idle connection of the address holding the most is closed to make
  room; when none is idle, or once the new connection's descriptor lies
  within `fd_reserve` of RLIMIT_NOFILE, the new one gets an OpenAI-shaped
  503 at once and is closed. Linux hands out the lowest free descriptor, so
  a high number means a nearly full table: the reserve stays free for
  spawning programs and the control socket.

Idle: no request in progress (between requests, or nothing sent yet).
Closing one is what its keep-alive timeout would do a little later; HTTP
clients reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

import msgspec

from common.wire import MAX_HEAD_BYTES, JsonProtocol

log = logging.getLogger("mictl.guard")


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 512
    max_connections_per_client: int = 256  # 0: no cap per address
    max_header_bytes: int = MAX_HEAD_BYTES
    fd_reserve: int = 128


class GuardedProtocol(JsonProtocol):
    limits = Limits()
    peers: dict[str, set[GuardedProtocol]] = {}  # by client address; one dict per port
    _warned_at = 0.0  # one log line per burst of refusals, not one per connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.max_head_bytes = self.limits.max_header_bytes
        self._active = False  # a request in progress
        self._idle_since = time.monotonic()
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._addr = self.client[0] if self.client else ""
        refusal = self._make_room(transport)
        if refusal is not None:
            self._refuse(*refusal)
            return
        self.peers.setdefault(self._addr, set()).add(self)
        self._arm()

    # ------------------------------------------------------------ the caps

    def _make_room(self, transport: asyncio.Transport) -> tuple[int, str] | None:
        """Close an idle connection if that makes room; else (status, why)."""
        limits = self.limits
        mine = self.peers.get(self._addr, set())
        if limits.max_connections_per_client and len(mine) >= limits.max_connections_per_client:
            victim = _longest_idle(c for c in mine if c._closable())
            if victim is None:
                return 429, f"{len(mine)} connections open from your address"
            victim._evict("its address is at max_connections_per_client")
        if len(self.connections) > limits.max_connections:
            live = [c for c in self.connections if c is not self and not c.transport.is_closing()]
            if len(live) >= limits.max_connections:
                victim = self._busiest_idle(live)
                if victim is None:
                    return 503, f"{limits.max_connections} connections open"
                victim._evict("the port is at max_connections")
        sock = transport.get_extra_info("socket")
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limited = sock is not None and soft != resource.RLIM_INFINITY
        if limited and sock.fileno() >= soft - limits.fd_reserve:
            return 503, f"file descriptors nearly exhausted ({sock.fileno()} of {soft})"
        return None

    def _busiest_idle(self, live: list[Any]) -> GuardedProtocol | None:
        """The longest idle connection of the address holding the most."""
        idle = [c for c in live if isinstance(c, GuardedProtocol) and c._closable()]
        if not idle:
            return None
        most = max(len(self.peers.get(c._addr, ())) for c in idle)
        return _longest_idle(c for c in idle if len(self.peers.get(c._addr, ())) == most)

    def _closable(self) -> bool:
        return not self._active and not self._refused and not self.transport.is_closing()

    def _evict(self, why: str) -> None:
        log.debug("front port: closing an idle connection from %s (%s)", self._addr, why)
        self.transport.close()

    def _refuse(self, status: int, why: str) -> None:
        now = time.monotonic()
        if now - GuardedProtocol._warned_at > 10:
            GuardedProtocol._warned_at = now
            log.warning("front port: refusing new connections (%s)", why)
        if status == 429:
            message = f"too many connections from one address ({why}); reuse or close some"
            reason, code = "Too Many Requests", "too_many_connections_from_client"
        else:
            message = f"too many connections ({why}); retry shortly"
            reason, code = "Service Unavailable", "too_many_connections"
        self.refuse(status, reason, message, code, {"retry-after": "1"})

    # ---------------------------------------------------- the head timeout

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
            self.refuse(408, "Request Timeout", message, "request_timeout")
        else:
            self.transport.close()  # mid-body: the app sees a disconnect

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._active = True
        if getattr(self, "_head_timer", None) is None:
            self._arm()  # the next request on a kept-alive connection

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._active = False
        self._idle_since = time.monotonic()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        mine = self.peers.get(getattr(self, "_addr", ""))
        if mine is not None:
            mine.discard(self)
            if not mine:
                del self.peers[self._addr]
        super().connection_lost(exc)


def _longest_idle(candidates: Any) -> GuardedProtocol | None:
    return min(candidates, key=lambda c: c._idle_since, default=None)


def guarded_protocol(limits: Limits) -> Any:
    """A protocol class for uvicorn's `http=` with these limits."""
    return type("FrontProtocol", (GuardedProtocol,), {"limits": limits, "peers": {}})
