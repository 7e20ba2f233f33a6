"""The dashboard's feed from the whole daemon: every program (supervisor),
how the router sees it (link), memory and recent events (supmetrics), and
the actions, each through the same path `mictl` takes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from daemon.config.loader import Config, DashboardSection
from daemon.events import EventLog
from daemon.fleet.link import NotDrained, RouterLink
from daemon.fleet.rolling import RollBusy, Roller
from daemon.router.app import Router
from daemon.router.dashboard import build_snapshot
from daemon.router.dashboard.model import (
    BACKEND_ACTIONS,
    ActionRefused,
    EventView,
    ProgramView,
    Snapshot,
)
from daemon.state import StateStore
from daemon.supervise.metrics import SupervisorStats
from daemon.supervise.supervisor import Supervisor, UnknownProgram
from daemon.types import State

log = logging.getLogger("mictld")


class Daemon(Protocol):
    """What the dashboard reads of daemon/main.py's Daemon, and no more."""

    config: Config
    started_at: float
    supervisor: Supervisor
    store: StateStore
    router: Router | None
    link: RouterLink | None
    stats: SupervisorStats
    events: EventLog
    roller: Roller
    roller: Roller

    @property
    def stopping(self) -> bool: ...


class DaemonFeed:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._changed = asyncio.Event()
        self._token_for: Config | None = None
        self._token = ""

    # ------------------------------------------------------------ reads

    def snapshot(self) -> Snapshot:
        d = self.daemon
        assert d.router is not None
        link, memory = d.link, d.stats.recent_memory()
        views = []
        for name, program in sorted(d.supervisor.programs.items()):
            backend = None
            if link is not None and name in link.pool.backends:
                backend = link.describe(name)
            views.append(
                ProgramView(
                    name=name,
                    kind=program.spec.kind,
                    state=program.state.name,
                    pid=program.pid,
                    port=program.spec.port,
                    uptime=program.uptime(),
                    restarts=d.store.program(name).restarts,
                    reason=program.reason,
                    memory_bytes=memory.get(name) if program.pid else None,
                    backend=backend,
                )
            )
        if link is not None:
            for name in sorted(set(link.pool.backends) - set(d.supervisor.programs)):
                views.append(
                    ProgramView(name=name, kind="upstream", state="-", backend=link.describe(name))
                )
        events = [
            EventView(at=e.at, program=e.program, kind=e.kind, detail=e.detail, reason=e.reason)
            for e in reversed(d.events.recent(40))
        ]
        return build_snapshot(
            d.router,
            views,
            events,
            admin=bool(self.admin_token()),
            uptime=time.time() - d.started_at,
        )

    async def changed(self, timeout: float) -> None:
        """The next daemon event (a transition, a phase, a breaker...) or `timeout`."""
        queue = self.daemon.events.follow()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.get(), timeout)
        finally:
            self.daemon.events.unfollow(queue)

    def closed(self) -> bool:
        return self.daemon.stopping

    def admin_token(self) -> str:
        """From [dashboard]; the file is read once per config (load or reload)."""
        cfg = self.daemon.config
        if cfg is not self._token_for:
            self._token_for, self._token = cfg, _read_token(cfg.dashboard)
        return self._token

    # ---------------------------------------------------------- actions

    async def act(self, name: str, action: str) -> str:
        d = self.daemon
        log.info("dashboard: %s %s", action, name)
        if action in BACKEND_ACTIONS:
            if d.link is None or name not in d.link.pool.backends:
                raise ActionRefused(404, f"{name} is not a backend of the router")
            try:
                if action == "drain":
                    info = await d.link.drain(name, wait=False)
                elif action == "undrain":
                    info = d.link.undrain(name)
                else:
                    info = d.link.breaker_reset(name)
            except NotDrained as exc:
                raise ActionRefused(409, str(exc)) from None
            return f"{info.health}, breaker {info.breaker}"
        try:
            program = d.supervisor.get(name)
        except UnknownProgram:
            raise ActionRefused(404, f"no program {name!r}") from None
        if action == "start":
            state = await d.supervisor.start(name, wait=False)
        elif action == "stop":
            state = await d.supervisor.stop(name, wait=False)
        else:
            asyncio.get_running_loop().create_task(d.supervisor.restart(name))
            return f"restarting (was {program.state.name})"
        return state.name

    async def rolling_restart(self) -> str:
        """Every running instance, one at a time, each routable again before
        the next (the same Roller as `mictl restart --rolling`)."""
        names = [
            n
            for n, p in sorted(self.daemon.supervisor.programs.items())
            if p.spec.kind == "instance" and p.state == State.RUNNING
        ]
        try:
            status = self.daemon.roller.start(names)
        except RollBusy as exc:
            raise ActionRefused(409, str(exc)) from None
        return f"started: {len(status.batches)} batches ({', '.join(names) or '-'})"


def _read_token(section: DashboardSection) -> str:
    if section.admin_token or not section.admin_token_file:
        return section.admin_token
    try:
        with open(section.admin_token_file) as f:
            lines = [line.strip() for line in f if line.strip()]
        return next((line for line in lines if not line.startswith("#")), "")
    except OSError as exc:
        log.error("dashboard actions disabled: %s: %s", section.admin_token_file, exc.strerror)
        return ""
