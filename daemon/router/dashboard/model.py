"""What the dashboard shows and may do: the snapshot it streams, and the
feed that makes it (the daemon's, or the router's own when there is no
daemon around it, as in router-only tests)."""

from __future__ import annotations

from typing import Protocol

import msgspec

from daemon.config.schema import Config
from daemon.router.pool import Pool
from daemon.types import BackendInfo

# Verbs a page may ask for, per kind of row. Anything else is refused.
PROGRAM_ACTIONS = frozenset({"start", "stop", "restart"})
BACKEND_ACTIONS = frozenset({"drain", "undrain", "reset-breaker"})


class ProgramView(msgspec.Struct, kw_only=True):
    name: str
    kind: str  # instance | program | upstream
    state: str  # supervisord's state; "-" for an upstream (no process)
    pid: int | None = None
    port: int | None = None
    uptime: float | None = None
    restarts: int = 0
    reason: str = ""
    memory_bytes: int | None = None
    backend: BackendInfo | None = None  # how the router sees it, when it routes to it


class EventView(msgspec.Struct, kw_only=True):
    at: float
    program: str  # "" for the daemon itself
    kind: str  # state | restart | routing | breaker | cooldown | reload | roll | flap | scale
    detail: str  # "RUNNING -> EXITED", "routable", ...
    reason: str = ""


class Snapshot(msgspec.Struct, kw_only=True):
    at: float
    version: str
    uptime: float
    config: str
    strategy: str
    queue_length: int
    admin: bool  # an admin token is configured: the page offers actions
    programs: list[ProgramView]
    events: list[EventView]  # newest first
    requests: int  # served + failed over every backend, for the page's rates
    errors: int
    latency_ms: float  # mean of the routable backends' latency


class ActionRefused(Exception):
    """An action that cannot be done as asked (unknown name, wrong state)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Feed(Protocol):
    def snapshot(self) -> Snapshot: ...

    async def changed(self, timeout: float) -> None:
        """Return when something changed, or after `timeout`."""

    def closed(self) -> bool:
        """The daemon is stopping: streams end."""

    def admin_token(self) -> str: ...

    async def act(self, name: str, action: str) -> str: ...

    async def rolling_restart(self) -> str: ...


class RouterView(Protocol):
    """What the dashboard reads of the router (router/app.py's Router)."""

    cfg: Config
    pool: Pool
    dashboard: Feed | None
