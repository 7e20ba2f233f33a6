"""Wires the front router to the rest of the daemon.

Supervisor transitions make instances routable or not; the health prober
feeds the pool; the control plane gets drain, undrain, breaker reset and the
routing fields of `mictl status`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from daemon.control import ControlError, json_response
from daemon.health import Prober
from daemon.health_restarts import HealthRestarts
from daemon.orphans import tree_pss_mb
from daemon.router.app import Router
from daemon.router.backend import describe
from daemon.types import BackendInfo, ProgramInfo, State, Transition

if TYPE_CHECKING:
    from daemon.main import Daemon

log = logging.getLogger("mictld.router")


class Routing:
    def __init__(self, daemon: Daemon, router: Router) -> None:
        self.daemon = daemon
        self.router = router
        self.pool = router.pool
        self.health_restarts = HealthRestarts(daemon.supervisor)
        self.prober = Prober(
            router.pool,
            daemon.config.health,
            self.health_restarts.restart,
            after_round=self.maybe_recycle,
            on_pass=self.health_restarts.passed,
        )
        sup = daemon.supervisor
        sup.listeners.append(self.on_transition)
        sup.drain = self.drain_for_stop
        sup.undrain = self.undrain_after_stop
        daemon.info_decorators.append(self.decorate)
        daemon.extra_control_routes.extend(self.routes())
        self._served_at_start: dict[str, int] = {}
        self._recycling: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ recycle

    def recycle_due(self) -> tuple[str, str] | None:
        """The first instance due for recycling, and why (or None)."""
        p = self.daemon.config.profiles
        if not (p.recycle_after_requests or p.recycle_after_seconds or p.recycle_above_mb):
            return None
        for name, program in sorted(self.daemon.supervisor.programs.items()):
            backend = self.pool.backends.get(name)
            if backend is None or program.state != State.RUNNING:
                continue
            served = backend.served - self._served_at_start.get(name, 0)
            if p.recycle_after_requests and served >= p.recycle_after_requests:
                return name, f"{served} requests served"
            uptime = program.uptime() or 0
            if p.recycle_after_seconds and uptime >= p.recycle_after_seconds:
                return name, f"up {uptime:.0f}s"
            if p.recycle_above_mb:
                mb = tree_pss_mb(program.spawn_token)
                if mb >= p.recycle_above_mb:
                    return name, f"{mb:.0f} MB"
        return None

    def maybe_recycle(self) -> None:
        """One at a time, and never the last routable instance."""
        if self._recycling is not None and not self._recycling.done():
            return
        due = self.recycle_due()
        if due is None:
            return
        name, why = due
        others = [
            b
            for n, b in self.pool.backends.items()
            if n != name and b.kind == "instance" and b.up(self.pool.clock())
        ]
        if not others and len(self.pool.backends) > 1:
            return
        log.info("%s: recycling (%s)", name, why)
        self._recycling = asyncio.get_running_loop().create_task(
            self.daemon.supervisor.restart(name)
        )

    def on_transition(self, t: Transition) -> None:
        backend = self.pool.backends.get(t.program)
        if backend is None:
            return
        backend.running = t.new == State.RUNNING
        if t.new == State.STARTING:
            backend.breaker.reset()  # a new process: old faults are not its
            self._served_at_start[t.program] = backend.served
        if not backend.running:
            backend.healthy, backend.health = False, "down"
        else:
            self.prober.probe_soon(backend)
        self.pool.wake()

    # -------------------------------------------------------------- drain

    async def drain_for_stop(self, name: str) -> None:
        backend = self.pool.backends.get(name)
        if backend is None or not backend.in_flight:
            if backend is not None:
                backend.stop_drained = True
            return
        backend.stop_drained = True
        timeout = self.daemon.config.router.drain_timeout
        log.info("%s: draining %d request(s) before stopping", name, backend.in_flight)
        if not await self.pool.idle(backend, timeout):
            log.warning(
                "%s: still %d in flight after %ss; stopping anyway",
                name,
                backend.in_flight,
                timeout,
            )

    def undrain_after_stop(self, name: str) -> None:
        backend = self.pool.backends.get(name)
        if backend is not None:
            backend.stop_drained = False

    # ---------------------------------------------------------- control

    def decorate(self, info: ProgramInfo) -> None:
        backend = self.pool.backends.get(info.name)
        if backend is None:
            return
        info.health = backend.health
        info.routable = backend.up(self.pool.clock())
        info.draining = backend.draining
        info.in_flight = backend.in_flight
        info.breaker = backend.breaker_state

    def backend_info(self, name: str) -> BackendInfo:
        return describe(self.pool.backends[name], self.pool.clock())

    def _backend(self, request: Request) -> str:
        name = request.path_params["name"]
        if name not in self.pool.backends:
            known = sorted(self.pool.backends)
            raise ControlError(
                404,
                f"no such instance or upstream: {name} (known: {', '.join(known) or 'none'})",
                "unknown_program",
                known,
            )
        return name

    def routes(self) -> list[BaseRoute]:
        async def backends(request: Request) -> Response:
            return json_response([self.backend_info(n) for n in sorted(self.pool.backends)])

        async def drain(request: Request) -> Response:
            name = self._backend(request)
            backend = self.pool.backends[name]
            backend.operator_drained = True
            log.info("%s: drained by the operator (%d in flight)", name, backend.in_flight)
            if request.query_params.get("wait", "1") not in ("0", "false"):
                await self.pool.idle(backend, self.daemon.config.router.drain_timeout)
            return json_response(self.backend_info(name))

        async def undrain(request: Request) -> Response:
            name = self._backend(request)
            self.pool.backends[name].operator_drained = False
            log.info("%s: undrained by the operator", name)
            self.pool.wake()
            return json_response(self.backend_info(name))

        async def breaker_reset(request: Request) -> Response:
            name = self._backend(request)
            self.pool.backends[name].breaker.reset()
            log.info("%s: breaker reset by the operator", name)
            self.pool.wake()
            return json_response(self.backend_info(name))

        return [
            Route("/v1/backends", backends),
            Route("/v1/backends/{name}/drain", drain, methods=["POST"]),
            Route("/v1/backends/{name}/undrain", undrain, methods=["POST"]),
            Route("/v1/backends/{name}/breaker/reset", breaker_reset, methods=["POST"]),
        ]
