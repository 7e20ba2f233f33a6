"""What the supervisor asks of the fleet above it, given to its constructor
(daemon/fleet/link.py implements it); `Alone` when nothing is above it."""

from __future__ import annotations

from typing import Protocol

from daemon.supervise.program import Program
from daemon.types import DrainReason, State


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


class Alone:
    """The listener of a supervisor with no router and no scaler above it."""

    async def drain_for(self, name: str, reason: DrainReason) -> None:
        return None

    def undrain_after(self, name: str, reason: DrainReason) -> None:
        return None

    def warming(self, program: Program) -> bool:
        return program.state == State.STARTING

    def standby(self, program: Program) -> bool:
        return False
