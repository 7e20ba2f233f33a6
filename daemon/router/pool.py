"""The backends, who may take a request, and the fair queue in front of them.

Decide, then act: picking is synchronous over the pool's state; waiting is a
FIFO of futures served in order whenever a slot frees or a backend comes up.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable

import msgspec

from daemon.config import RouterSection
from daemon.router.backend import Backend
from daemon.router.strategies import STRATEGIES, Cursor, rendezvous


class NoRoute(Exception):
    """The request cannot be placed; carries the OpenAI-shaped answer."""

    def __init__(self, status: int, message: str, code: str, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


class Outcome(msgspec.Struct, frozen=True):
    kind: str  # "ok" | "fail" | "hard_fail" | "neutral"
    latency_ms: float = 0.0


OK, FAIL, HARD_FAIL, NEUTRAL = "ok", "fail", "hard_fail", "neutral"


class _Waiter:
    __slots__ = ("exclude", "future", "model", "sticky")

    def __init__(self, model: str, sticky: str | None, exclude: set[str]) -> None:
        self.model, self.sticky, self.exclude = model, sticky, exclude
        self.future: asyncio.Future[Backend] = asyncio.get_running_loop().create_future()


class Pool:
    def __init__(self, cfg: RouterSection, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.backends: dict[str, Backend] = {}
        self.cursor = Cursor()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._released = asyncio.Event()

    @property
    def queue_length(self) -> int:
        return len(self._waiters)

    def configure(self, cfg: RouterSection) -> None:
        """Router settings apply live (reload)."""
        self.cfg = cfg
        for b in self.backends.values():
            if b.kind == "instance":
                b.max_concurrent = cfg.max_concurrent
                b.weight = cfg.weights.get(b.name, 1)
                b.priority = cfg.priorities.get(b.name, 100)
            b.breaker.cfg = cfg.breaker
        self.wake()

    def known_models(self) -> set[str]:
        models: set[str] = set()
        for b in self.backends.values():
            if b.models and b.up(self.clock()):
                models |= b.models
        return models

    # ---------------------------------------------------------- choosing

    def _pick(self, model: str, sticky: str | None, exclude: set[str]) -> Backend | None:
        now = self.clock()
        up = [
            b
            for b in self.backends.values()
            if b.up(now)
            and b.serves(model)
            and not b.cooling_until(model, now)
            and not b.rpm_free_at(now)
        ]
        if sticky:
            # The key's favourite among routable backends; if it is merely
            # busy, wait for it rather than break the session's affinity.
            ranked = rendezvous(sticky, up)
            return ranked[0] if ranked and ranked[0].has_room() else None
        eligible = [b for b in up if b.has_room()]
        fresh = [b for b in eligible if b.name not in exclude]
        candidates = fresh or eligible
        if not candidates:
            return None
        return STRATEGIES[self.cfg.strategy](candidates, self.cursor)

    def _hopeless(self, model: str) -> NoRoute | None:
        """A request that waiting cannot help: unknown model, or every
        backend for it is cooling down after a rate limit."""
        now = self.clock()
        serving = [b for b in self.backends.values() if b.serves(model)]
        unknown = any(b.models is None for b in self.backends.values())
        if not serving:
            if unknown:
                return None  # an instance not yet probed may serve it
            known = sorted(self.known_models())
            return NoRoute(
                404,
                f"The model '{model}' does not exist (served: {', '.join(known) or 'none yet'})",
                "model_not_found",
            )
        up = [b for b in serving if b.up(now)]
        if not up:
            return None  # down or restarting: worth waiting for
        waits = [max(b.cooling_until(model, now), b.rpm_free_at(now)) for b in up]
        if all(w > 0 for w in waits):
            retry = min(waits) - now
            return NoRoute(
                429,
                f"every account for {model} is rate limited; retry after {math.ceil(retry)}s",
                "rate_limited",
                retry,
            )
        return None

    # ----------------------------------------------------------- waiting

    async def acquire(
        self,
        model: str,
        *,
        sticky: str | None = None,
        exclude: set[str] | None = None,
        timeout: float | None = None,
    ) -> Backend:
        """A backend with a slot reserved for this request, or NoRoute."""
        exclude = exclude or set()
        if not self._waiters:  # nobody queued ahead: no overtaking
            backend = self._pick(model, sticky, exclude)
            if backend is not None:
                self._reserve(backend)
                return backend
        hopeless = self._hopeless(model)  # only asked when it must wait
        if hopeless:
            raise hopeless
        if len(self._waiters) >= self.cfg.queue_size:
            raise NoRoute(503, "all instances are busy and the queue is full", "queue_full", 5)
        waiter = _Waiter(model, sticky, exclude)
        self._waiters.append(waiter)
        wait = self.cfg.queue_timeout if timeout is None else min(timeout, self.cfg.queue_timeout)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), wait)
        except TimeoutError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(waiter.future.result(), Outcome(NEUTRAL))
            hopeless = self._hopeless(model)
            raise hopeless or NoRoute(
                503, f"no instance free for {model} within {wait:g}s", "queue_timeout", 5
            ) from None
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(waiter.future.result(), Outcome(NEUTRAL))
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def wake(self) -> None:
        """Hand free slots to waiters, oldest first (called on every change)."""
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            hopeless = self._hopeless(waiter.model)
            if hopeless:
                self._waiters.remove(waiter)
                waiter.future.set_exception(hopeless)
                continue
            backend = self._pick(waiter.model, waiter.sticky, waiter.exclude)
            if backend is not None:
                self._waiters.remove(waiter)
                self._reserve(backend)
                waiter.future.set_result(backend)

    def _reserve(self, backend: Backend) -> None:
        now = self.clock()
        backend.in_flight += 1
        backend.breaker.on_send(now)
        if backend.rpm:
            backend.sends.append(now)

    def release(self, backend: Backend, outcome: Outcome) -> None:
        now = self.clock()
        backend.in_flight -= 1
        if outcome.kind == OK:
            backend.served += 1
            backend.breaker.on_success(now)
            backend.observe_latency(outcome.latency_ms)
        elif outcome.kind in (FAIL, HARD_FAIL):
            backend.failed += 1
            backend.breaker.on_failure(now, hard=outcome.kind == HARD_FAIL)
        else:
            backend.breaker.on_neutral()
        if backend.breaker_open():  # waiters may use it again once half-open
            asyncio.get_running_loop().call_later(backend.breaker.reopen_in(now) + 0.01, self.wake)
        self._released.set()
        self._released = asyncio.Event()
        self.wake()

    async def idle(self, backend: Backend, timeout: float) -> bool:
        """Wait until `backend` has nothing in flight (a drain); False on timeout."""

        async def until_idle() -> None:
            while backend.in_flight:
                await self._released.wait()

        try:
            await asyncio.wait_for(until_idle(), timeout)
            return True
        except TimeoutError:
            return False

    def cool(self, backend: Backend, model: str, seconds: float) -> None:
        """A rate limit: that backend rests for that model; not a fault."""
        backend.cooldowns[model] = self.clock() + seconds
        loop = asyncio.get_running_loop()
        loop.call_later(seconds + 0.01, self.wake)
