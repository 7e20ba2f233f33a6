"""The one seam between the supervisor and the front router.

Supervisor transitions, its drains before a stop or restart, and the
operator's drain / undrain become events into each backend's routability
machine (routability.py); the control plane asks it for the routing fields of
`mictl status` and the backend verbs. Recycling is decided here too (a pure
policy in daemon/fleet/recycle.py) and goes through `request_restart`.

The link builds what it links, in the order they call each other: the
supervisor (with the link as its `SupervisorListener`), the router (with the
link as its pool's `PoolHooks`), the prober and the scaler. Neither the
supervisor nor the router imports the fleet, and nothing is assigned to
another component after its construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from daemon.config.loader import Config
from daemon.fleet import recycle
from daemon.fleet.health_restarts import HealthRestarts
from daemon.fleet.scale_policy import ScalePolicy
from daemon.fleet.scaler import Scaler
from daemon.router.app import Router
from daemon.router.backend import Backend, describe
from daemon.router.dashboard.model import Feed
from daemon.router.health import Prober
from daemon.router.routability import Drain, Phase, ProcessDown, ProcessUp, Undrain
from daemon.state import StateStore
from daemon.supervise.orphans import pss_mb_by_spawn
from daemon.supervise.program import Program
from daemon.supervise.supervisor import Supervisor
from daemon.types import (
    BackendInfo,
    DrainInfo,
    DrainReason,
    ProgramInfo,
    ProgramSpec,
    State,
    Told,
    Transition,
)

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
    def __init__(
        self,
        cfg: Config,
        store: StateStore,
        *,
        server_url: str,
        emit: Callable[[str, str, str, str], object],
        scaling: Callable[[], ScalePolicy | None],
        dashboard: Feed | None = None,
        memory: Callable[[], Awaitable[dict[str, int]]] | None = None,
        tell: Callable[[Told], None] = lambda told: None,
    ) -> None:
        self.cfg = cfg
        self.emit = emit
        self._tell_up = tell  # what the supervisor tells, after the backends heard it
        # The router's constructor applies its config, which may feed upstream
        # hosts: those first phases are no events, no ramp and no probe.
        self._built = False
        self.supervisor = Supervisor(
            store,
            cfg.daemon.state_dir,
            server_url=server_url,
            listener=self,
            max_starting=cfg.fleet.starting_limit(),
        )
        self.router = Router(cfg, pool_hooks=self, dashboard=dashboard)
        self.pool = self.router.pool
        self.health_restarts = HealthRestarts(self.supervisor)
        self.prober = Prober(
            self.pool,
            cfg.health,
            self.health_restarts.restart,
            after_round=self.maybe_recycle,
            on_pass=self.health_restarts.passed,
        )
        self._served_at_start: dict[str, int] = {}
        self._recycling: asyncio.Task[None] | None = None
        # PSS by program, at most 15 s old (the daemon shares its /metrics sample).
        self.memory = memory or self._scan_memory
        self.scaler = Scaler(self.supervisor, store, self.pool, scaling, emit)
        self._built = True
        self.configure(cfg)

    def configure(self, cfg: Config) -> None:
        """Settings that apply live (reload)."""
        self.cfg = cfg
        self.prober.configure(cfg.health)
        self.router.apply_config(cfg)

    # ------------------------------------------------ the pool's hooks

    def on_event(self, program: str, kind: str, detail: str, reason: str) -> object:
        return self.emit(program, kind, detail, reason) if self._built else None

    def on_phase(self, backend: Backend) -> None:
        if self._built:
            self.supervisor.ramp()

    def on_probe_now(self, backend: Backend) -> None:
        if self._built:
            self.prober.probe_soon(backend)

    def sync(self, specs: list[ProgramSpec]) -> None:
        """One backend per instance; a new one learns its process's state."""
        added = self.router.sync_instances(specs)
        for name in added:
            program = self.supervisor.programs.get(name)
            if program is not None and program.state == State.RUNNING:
                self.pool.feed(self.pool.backends[name], ProcessUp())

    # ------------------------------------------------------- supervisor

    def tell(self, told: Told) -> None:
        """The supervisor's news: a transition moves its backend first."""
        if isinstance(told, Transition):
            self.on_transition(told)
        self._tell_up(told)

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

    def standby(self, program: Program) -> bool:
        return self.scaler.standby_at_start(program)

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

    async def drain_all(self, *, wait: bool, timeout: float) -> DrainInfo:
        """The whole daemon drains (a pod's preStop, `mictl drain --all`): new
        and queued requests get a retryable 503, /readyz says not ready, and
        in-flight requests and streams finish, waited for up to `timeout`."""
        if not self.pool.draining:
            log.info("draining: no new requests (%d in flight)", self.pool.in_flight)
            self.pool.draining = True
            self.pool.wake()  # the queued ones are refused now, not after queue_timeout
        drained = not self.pool.in_flight
        if wait and not drained:
            drained = await self.pool.all_idle(timeout)
            if drained:
                log.info("drained: nothing in flight")
            else:
                log.warning("draining: still %d in flight after %ss", self.pool.in_flight, timeout)
        return self.drain_info(drained=drained)

    def undrain_all(self) -> DrainInfo:
        if self.pool.draining:
            log.info("undrained: taking requests again")
            self.pool.draining = False
            self.pool.wake()
        return self.drain_info(drained=not self.pool.in_flight)

    def drain_info(self, *, drained: bool) -> DrainInfo:
        return DrainInfo(
            draining=self.pool.draining, in_flight=self.pool.in_flight, drained=drained
        )

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
