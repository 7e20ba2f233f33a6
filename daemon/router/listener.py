"""The one seam between the supervisor and the front router.

Supervisor transitions, its drains before a stop or restart, and the
operator's drain / undrain become events into each backend's routability
machine (routability.py); the control plane asks it for the routing fields of
`mictl status` and the backend verbs. Recycling is decided here too (a pure
policy in daemon/recycle.py) and goes through `request_restart`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from daemon import recycle
from daemon.config import Config
from daemon.health_restarts import HealthRestarts
from daemon.orphans import pss_mb_by_spawn
from daemon.program import Program
from daemon.router.app import Router
from daemon.router.backend import Backend, describe
from daemon.router.health import Prober
from daemon.router.routability import Drain, Phase, ProcessDown, ProcessUp, Undrain
from daemon.supervisor import Supervisor
from daemon.types import BackendInfo, DrainReason, ProgramInfo, ProgramSpec, State, Transition

log = logging.getLogger("mictld.router")

WARM_UP = (
    60.0  # seconds a RUNNING instance may take to pass its first probe and still count as warming
)


class NotDrained(Exception):
    """`mictl undrain` of a backend the operator did not drain."""


class UnknownBackend(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name, self.known = name, known


class RouterLink:
    def __init__(self, supervisor: Supervisor, router: Router, cfg: Config) -> None:
        self.supervisor = supervisor
        self.router = router
        self.pool = router.pool
        self.cfg = cfg
        self.health_restarts = HealthRestarts(supervisor)
        self.prober = Prober(
            router.pool,
            cfg.health,
            self.health_restarts.restart,
            after_round=self.maybe_recycle,
            on_pass=self.health_restarts.passed,
        )
        self._served_at_start: dict[str, int] = {}
        self._recycling: asyncio.Task[None] | None = None
        # PSS by program, at most 15 s old (the daemon shares its /metrics sample).
        self.memory: Callable[[], Awaitable[dict[str, int]]] = self._scan_memory
        supervisor.listeners.append(self.on_transition)
        supervisor.drain = self.drain_for
        supervisor.undrain = self.undrain_after
        supervisor.warming = self.warming
        router.pool.on_phase = lambda backend: supervisor.ramp()
        self.configure(cfg)

    def configure(self, cfg: Config) -> None:
        """Settings that apply live (reload)."""
        self.cfg = cfg
        self.prober.cfg = cfg.health
        self.router.apply_config(cfg)

    def sync(self, specs: list[ProgramSpec]) -> None:
        """One backend per instance; a new one learns its process's state."""
        added = self.router.sync_instances(specs)
        for name in added:
            program = self.supervisor.programs.get(name)
            if program is not None and program.state == State.RUNNING:
                self.pool.feed(self.pool.backends[name], ProcessUp())

    # ------------------------------------------------------- supervisor

    def on_transition(self, t: Transition) -> None:
        backend = self.pool.backends.get(t.program)
        if backend is None:
            return
        if t.new == State.RUNNING:
            self._served_at_start[t.program] = backend.served
            self.pool.feed(backend, ProcessUp())
        else:
            coming_back = self.supervisor.coming_back(t.program)
            self.pool.feed(backend, ProcessDown(t.new.name, coming_back))

    async def drain_for(self, name: str, reason: DrainReason) -> None:
        """Before a stop or restart: no new requests; wait for in-flight ones."""
        backend = self.pool.backends.get(name)
        if backend is None:
            return
        self.pool.feed(backend, Drain(reason))
        if not backend.in_flight:
            return
        timeout = self.cfg.router.drain_timeout
        log.info("%s: draining %d request(s) before a %s", name, backend.in_flight, reason)
        if not await self.pool.idle(backend, timeout):
            log.warning(
                "%s: still %d in flight after %ss; going on", name, backend.in_flight, timeout
            )

    async def wait_routable(self, name: str, timeout: float) -> bool:
        """Until the backend takes work (True), or `timeout` passes (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (backend := self.pool.backends.get(name)) is not None:
            if backend.up(self.pool.clock()):
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pool.phase_changed(), left)
        return False

    def undrain_after(self, name: str, reason: DrainReason) -> None:
        backend = self.pool.backends.get(name)
        if backend is not None:
            self.pool.feed(backend, Undrain(reason))

    def warming(self, program: Program) -> bool:
        """Started but not taking work yet (for the start-up ramp): STARTING,
        or RUNNING with no passing probe, for at most WARM_UP seconds."""
        if program.state == State.STARTING:
            return True
        backend = self.pool.backends.get(program.name)
        if program.state != State.RUNNING or backend is None or backend.phase != Phase.STARTING:
            return False
        return time.time() - program.since < WARM_UP

    # --------------------------------------------------------- recycling

    def maybe_recycle(self) -> None:
        """One at a time, and never the last routable instance."""
        p = self.cfg.profiles
        policy = recycle.RecyclePolicy(
            after_requests=p.recycle_after_requests,
            after_seconds=p.recycle_after_seconds,
            above_mb=p.recycle_above_mb,
        )
        if not policy.active:
            return
        if self._recycling is not None and not self._recycling.done():
            return
        self._recycling = asyncio.get_running_loop().create_task(self._recycle(policy))

    async def _scan_memory(self) -> dict[str, int]:
        tokens = {n: p.spawn_token for n, p in self.supervisor.programs.items() if p.pid}
        mb = await asyncio.to_thread(pss_mb_by_spawn, set(tokens.values()))  # /proc: off the loop
        return {name: int(mb[token] * 2**20) for name, token in tokens.items()}

    async def _recycle(self, policy: recycle.RecyclePolicy) -> None:
        memory = await self.memory() if policy.above_mb else {}
        now = self.pool.clock()
        views = []
        for name, program in sorted(self.supervisor.programs.items()):
            backend = self.pool.backends.get(name)
            if backend is None or backend.kind != "instance" or program.state != State.RUNNING:
                continue
            mb = memory[name] / 2**20 if name in memory else None
            views.append(
                recycle.InstanceView(
                    name=name,
                    routable=backend.up(now),
                    served=backend.served - self._served_at_start.get(name, 0),
                    uptime=program.uptime() or 0.0,
                    memory_mb=mb,
                )
            )
        decision = recycle.due(policy, views)
        if decision is not None:
            name, why = decision
            await self.supervisor.request_restart(name, f"recycle: {why}")

    # ---------------------------------------------------------- control

    def backend(self, name: str) -> Backend:
        try:
            return self.pool.backends[name]
        except KeyError:
            raise UnknownBackend(name, sorted(self.pool.backends)) from None

    def decorate(self, info: ProgramInfo) -> None:
        backend = self.pool.backends.get(info.name)
        if backend is None:
            return
        now = self.pool.clock()
        info.health = backend.phase.value
        info.routable = backend.up(now)
        info.routing = "routable" if info.routable else backend.why_not(now)
        info.draining = backend.draining
        info.in_flight = backend.in_flight
        info.breaker = backend.breaker_state

    def describe(self, name: str) -> BackendInfo:
        return describe(self.backend(name), self.pool.clock())

    def all(self) -> list[BackendInfo]:
        return [self.describe(n) for n in sorted(self.pool.backends)]

    async def drain(self, name: str, *, wait: bool) -> BackendInfo:
        backend = self.backend(name)
        log.info("%s: drained by the operator (%d in flight)", name, backend.in_flight)
        self.pool.feed(backend, Drain("operator"))
        if wait:
            await self.pool.idle(backend, self.cfg.router.drain_timeout)
        return self.describe(name)

    def undrain(self, name: str) -> BackendInfo:
        backend = self.backend(name)
        if not backend.mem.held:
            now = self.pool.clock()
            raise NotDrained(f"{name} was not drained by the operator ({backend.why_not(now)})")
        log.info("%s: undrained by the operator", name)
        self.pool.feed(backend, Undrain("operator"))
        return self.describe(name)

    def breaker_reset(self, name: str) -> BackendInfo:
        backend = self.backend(name)
        backend.breaker.reset()
        log.info("%s: breaker reset by the operator", name)
        self.pool.wake()
        return self.describe(name)
