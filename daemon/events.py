"""Every state change the daemon makes, as an event with its time, program and
reason, kept in a bounded ring in memory and streamed to `mictl events -f`.

Sources: the supervisor's transitions and restarts, the routability machine
(phases, drains), breakers, cooldowns, reloads, rolling-restart steps, flap
hold-backs and scaling steps. Each already has its one log line where it
happens; the ring is what an operator reads back or follows.
"""

from __future__ import annotations

import asyncio
import collections
import time

import msgspec

from daemon.supervise.machine import AUTORESTART
from daemon.types import DoorEntry, Told, Transition


class DaemonEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: float
    program: str  # "" for the daemon itself (a reload)
    kind: str  # state | restart | routing | breaker | cooldown | reload | roll | flap | scale
    detail: str  # what changed: "RUNNING -> EXITED", "routable", "open"
    reason: str = ""


class EventLog:
    def __init__(self, size: int = 2000) -> None:
        self._ring: collections.deque[DaemonEvent] = collections.deque(maxlen=size)
        self._seq = 0
        self._followers: set[asyncio.Queue[DaemonEvent]] = set()
        self.counts: collections.Counter[str] = collections.Counter()  # kind -> events, /metrics

    def emit(self, program: str, kind: str, detail: str, reason: str = "") -> DaemonEvent:
        self._seq += 1
        self.counts[kind] += 1
        event = DaemonEvent(
            seq=self._seq, at=time.time(), program=program, kind=kind, detail=detail, reason=reason
        )
        self._ring.append(event)
        for queue in list(self._followers):
            if queue.full():  # a follower that does not read loses events, never the daemon
                self._followers.discard(queue)
            else:
                queue.put_nowait(event)
        return event

    def heard(self, told: Told) -> None:
        """What the supervisor tells: each transition a "state" event, each
        restart through its door (door), each note (a start held back)."""
        if isinstance(told, Transition):
            self.emit(told.program, "state", f"{told.old.name} -> {told.new.name}", told.reason)
        elif isinstance(told, DoorEntry):
            self.door(told)
        else:
            self.emit(told.program, told.kind, "held back", told.text)

    def door(self, entry: DoorEntry) -> None:
        """A restart through the supervisor's door, asked for or the machine's
        own; its starts, stops and give-ups show as state changes (and the
        scaler's steps as its own events)."""
        if entry.verb == "restart":
            own = entry.reason.split(":")[0] == AUTORESTART
            self.emit(entry.program, "restart", "automatic" if own else "requested", entry.reason)

    def recent(self, n: int = 100, names: set[str] | None = None) -> list[DaemonEvent]:
        events = [e for e in self._ring if not names or e.program in names]
        return events[-n:] if n > 0 else []

    def follow(self) -> asyncio.Queue[DaemonEvent]:
        queue: asyncio.Queue[DaemonEvent] = asyncio.Queue(maxsize=1000)
        self._followers.add(queue)
        return queue

    def unfollow(self, queue: asyncio.Queue[DaemonEvent]) -> None:
        self._followers.discard(queue)
