"""Active health probes of each instance's /health.

A RUNNING instance is routable only once a probe passes. N failed probes in a
row make it unhealthy; M make the supervisor restart it. What /health says
(logged out, rate limited per model, models served) goes into the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec

from daemon.config import HealthSection
from daemon.router.backend import Backend
from daemon.router.pool import Pool

log = logging.getLogger("mictld.health")


class HealthReport(msgspec.Struct):
    """The fields of an instance's /health the daemon uses."""

    ok: bool
    logged_in: bool = True
    browser_connected: bool = True
    models: list[str] = []
    rate_limited_until: dict[str, float] = {}


class Prober:
    def __init__(
        self,
        pool: Pool,
        cfg: HealthSection,
        restart: Callable[[str], Awaitable[object]],
        after_round: Callable[[], None] = lambda: None,
        on_pass: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.pool = pool
        self.cfg = cfg
        self.restart = restart  # async callable(name)
        self.after_round = after_round  # e.g. recycling checks
        self.on_pass = on_pass  # a probe passed (clears the health-restart count)
        self.session: aiohttp.ClientSession | None = None
        self._fast: dict[str, asyncio.Task[None]] = {}
        self._started: dict[str, float] = {}  # when each instance last (re)started
        self._passed: set[str] = set()  # has passed a probe since

    async def run(self, stop: asyncio.Event) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.cfg.timeout))
        try:
            while not stop.is_set():
                backends = [
                    b for b in self.pool.backends.values() if b.kind == "instance" and b.running
                ]
                await asyncio.gather(*(self.probe(b) for b in backends))
                self.after_round()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.cfg.interval)
        finally:
            for task in self._fast.values():
                task.cancel()
            await self.session.close()

    def probe_soon(self, backend: Backend) -> None:
        """Right after a (re)start: probe quickly until it passes, so a fresh
        instance takes requests within moments, not a whole interval."""
        self._started[backend.name] = time.monotonic()  # a slow starter's grace begins
        self._passed.discard(backend.name)
        if self.session is None or backend.name in self._fast:
            return

        async def fast() -> None:
            try:
                deadline = time.monotonic() + 120
                while backend.running and not backend.healthy and time.monotonic() < deadline:
                    await self.probe(backend, count_failures=False)
                    if not backend.healthy:
                        await asyncio.sleep(0.2)
            finally:
                self._fast.pop(backend.name, None)

        self._fast[backend.name] = asyncio.get_running_loop().create_task(fast())

    async def probe(self, b: Backend, *, count_failures: bool = True) -> None:
        assert self.session is not None
        try:
            root = b.base_url.removesuffix("/v1")
            async with self.session.get(f"{root}/health") as resp:
                report = msgspec.json.decode(await resp.read(), type=HealthReport)
        except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError, OSError) as exc:
            if count_failures:
                self._failed(b, f"{exc.__class__.__name__}")
            return
        b.probe_failures = 0
        if report.ok:
            self._passed.add(b.name)
            self.on_pass(b.name)
        now_wall, now = time.time(), self.pool.clock()
        b.models = set(report.models) if report.models else b.models
        for model, until in report.rate_limited_until.items():
            b.cooldowns[model] = max(b.cooldowns.get(model, 0.0), now + (until - now_wall))
        was = b.healthy
        b.healthy = report.ok
        b.health = "ok" if report.ok else ("logged_out" if not report.logged_in else "not_ready")
        if b.healthy and not was:
            log.info("%s: healthy, taking requests", b.name)
            self.pool.wake()
        elif was and not b.healthy:
            log.warning("%s: unhealthy (%s)", b.name, b.health)

    def _failed(self, b: Backend, why: str) -> None:
        b.probe_failures += 1
        if b.probe_failures >= self.cfg.unhealthy_after and b.healthy:
            b.healthy, b.health = False, "unreachable"
            log.warning("%s: %d failed probes (%s): unhealthy", b.name, b.probe_failures, why)
        # A starter that never passed is restarted only after start_timeout:
        # a browser may take a while, and each restart now counts.
        starting = b.name not in self._passed
        young = time.monotonic() - self._started.get(b.name, 0.0) < self.cfg.start_timeout
        if starting and young:
            return
        if self.cfg.restart_after and b.probe_failures >= self.cfg.restart_after:
            log.warning("%s: %d failed probes: restarting it", b.name, b.probe_failures)
            b.probe_failures = 0
            asyncio.get_running_loop().create_task(self.restart(b.name))
