"""What the supervisor asks of the fleet above it and tells it, given to its
constructor (daemon/fleet/link.py implements it); `Alone` when nothing is
above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from daemon.supervise.program import Program
from daemon.types import DrainReason, State, Told


class SupervisorListener(Protocol):
    """What the supervisor asks of the fleet above it (daemon/fleet/link.py),
    given to its constructor: the supervisor never imports the fleet."""

    async def drain_for(self, name: str, reason: DrainReason) -> None:
        """Before a stop or restart: no new requests; in-flight ones finish."""

    def undrain_after(self, name: str, reason: DrainReason) -> None:
        """After a restart, or a drain whose stop did not happen."""

    def warming(self, program: Program) -> bool:
        """Started but not taking work yet (counted by the start-up ramp)."""

    def standby(self, program: Program) -> bool:
        """Kept in reserve by the scaler: not started with the daemon."""

    def tell(self, told: Told) -> None:
        """Each transition, each pass through the door, each note, as it
        happens (the event log, the metrics, the routers' backends)."""


class Alone:
    """The listener of a supervisor with no router and no scaler above it:
    what it is told goes to `tell`."""

    def __init__(self, tell: Callable[[Told], None] = lambda told: None) -> None:
        self.tell = tell

    async def drain_for(self, name: str, reason: DrainReason) -> None:
        return None

    def undrain_after(self, name: str, reason: DrainReason) -> None:
        return None

    def warming(self, program: Program) -> bool:
        return program.state == State.STARTING

    def standby(self, program: Program) -> bool:
        return False
