"""The backends, who may take a request, and the fair queue in front of them.

Decide, then act: picking is synchronous over the pool's state; waiting is a
FIFO of futures served in order whenever a slot frees or a backend comes up.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

import msgspec

from daemon.config.schema import RouterSection
from daemon.router import routability
from daemon.router.backend import Backend
from daemon.router.routability import Enter, Phase, ProbeNow
from daemon.router.strategies import STRATEGIES, Cursor, rendezvous

log = logging.getLogger("mictld.router")


class NoRoute(Exception):
    """The request cannot be placed; carries the OpenAI-shaped answer.
    `final`: retrying soon cannot help (no backend will take it until a
    person acts); the answer says so to clients (x-should-retry: false)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        retry_after: float | None = None,
        *,
        final: bool = False,
        elsewhere: bool = False,
    ):
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after
        self.final = final
        # This daemon is going away, not the request's fault: another host
        # (the Service's next pod) will take it (x-should-retry: true).
        self.elsewhere = elsewhere


def draining_refusal() -> NoRoute:
    return NoRoute(
        503,
        "this mictld is draining (shutting down or drained by the operator) and takes no "
        "new requests; retry: another host takes it",
        "draining",
        1,
        elsewhere=True,
    )


class Outcome(msgspec.Struct, frozen=True):
    kind: str  # "ok" | "fail" | "hard_fail" | "neutral"
    latency_ms: float = 0.0


OK, FAIL, HARD_FAIL, NEUTRAL = "ok", "fail", "hard_fail", "neutral"


class Lease:
    """A reserved slot on one backend, released exactly once: the first
    `release` counts, later ones do nothing; leaving a `with` block releases
    it as neutral if nobody did."""

    __slots__ = ("backend", "pool", "released")

    def __init__(self, pool: Pool, backend: Backend) -> None:
        self.pool, self.backend, self.released = pool, backend, False

    def release(self, outcome: Outcome) -> None:
        if not self.released:
            self.released = True
            self.pool._release(self.backend, outcome)

    def hand_over(self) -> Lease:
        """The same slot under a new owner (a stream's relay); this one is done."""
        self.released = True
        return Lease(self.pool, self.backend)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release(Outcome(NEUTRAL))


class _Waiter:
    __slots__ = ("exclude", "future", "model", "sticky")

    def __init__(self, model: str, sticky: str | None, exclude: set[str]) -> None:
        self.model, self.sticky, self.exclude = model, sticky, exclude
        self.future: asyncio.Future[Backend] = asyncio.get_running_loop().create_future()


class PoolHooks(Protocol):
    """What the pool tells the fleet above it (daemon/fleet/link.py), given to
    its constructor (through the Router's): the router never imports the fleet."""

    def on_event(self, program: str, kind: str, detail: str, reason: str) -> object:
        """Every phase, breaker and cooldown change."""

    def on_phase(self, backend: Backend) -> None:
        """A backend entered a phase."""

    def on_probe_now(self, backend: Backend) -> None:
        """The routability machine wants the backend probed now."""


class NoHooks:
    """A pool nobody listens to (unit tests, a router alone)."""

    def on_event(self, program: str, kind: str, detail: str, reason: str) -> object:
        return None

    def on_phase(self, backend: Backend) -> None:
        return None

    def on_probe_now(self, backend: Backend) -> None:
        return None


class Pool:
    def __init__(
        self,
        cfg: RouterSection,
        clock: Callable[[], float] = time.monotonic,
        *,
        hooks: PoolHooks | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.backends: dict[str, Backend] = {}
        self.cursor = Cursor()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._released = asyncio.Event()
        self._phase_changed = asyncio.Event()
        self.policy = routability.Policy()
        # Phase, breaker and cooldown changes, and "probe it now", go up to the fleet.
        self.hooks: PoolHooks = hooks or NoHooks()
        self.entered: collections.Counter[Phase] = collections.Counter()  # for /metrics
        # The whole daemon drains (`mictl drain --all`, a pod's preStop): new
        # requests and the queued ones are refused; in-flight ones finish.
        self.draining = False

    # ------------------------------------------------------ routability

    def feed(self, backend: Backend, event: routability.Event) -> None:
        """The only writer of a backend's phase: decide, then act."""
        backend.mem, actions = routability.decide(self.policy, backend.mem, event)
        for action in actions:
            if isinstance(action, Enter):
                log.info("%s: %s (%s)", backend.name, action.phase.value, action.reason)
                self.entered[action.phase] += 1
                self.hooks.on_event(backend.name, "routing", action.phase.value, action.reason)
                self._phase_changed.set()
                self._phase_changed = asyncio.Event()
                self.hooks.on_phase(backend)
                if action.phase == Phase.STARTING:
                    backend.breaker.reset()  # a new process: old faults are not its
                self.wake()
            elif isinstance(action, ProbeNow):
                self.hooks.on_probe_now(backend)

    @property
    def queue_length(self) -> int:
        return len(self._waiters)

    def configure(self, cfg: RouterSection) -> None:
        """Router settings apply live (reload)."""
        self.cfg = cfg
        for b in self.backends.values():
            if b.kind == "instance":
                b.max_concurrent = b.reported or cfg.max_concurrent  # its pages once known
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
        if self.draining:
            return None
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
        """A request that waiting cannot help: unknown model, no backend for
        it able to take work without a person acting (drained, stopped, logged
        out), or every one cooling down after a rate limit; or this daemon drains."""
        if self.draining:
            return draining_refusal()
        now = self.clock()
        # Backends that serve it, or might (an instance not probed yet).
        maybe = [b for b in self.backends.values() if b.models is None or b.serves(model)]
        if not maybe:
            known = sorted(self.known_models())
            return NoRoute(
                404,
                f"The model '{model}' does not exist (served: {', '.join(known) or 'none yet'})",
                "model_not_found",
            )
        up = [b for b in maybe if b.up(now) and b.serves(model)]
        if not up:
            if any(routability.can_come_back(b.mem) for b in maybe):
                return None  # starting, restarting or recovering: worth waiting for
            return NoRoute(503, _none_can(maybe, now), "no_backend", final=True)
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
    ) -> Lease:
        """A slot reserved on a backend for this request, or NoRoute."""
        exclude = exclude or set()
        if not self._waiters:  # nobody queued ahead: no overtaking
            backend = self._pick(model, sticky, exclude)
            if backend is not None:
                self._reserve(backend)
                return Lease(self, backend)
        hopeless = self._hopeless(model)  # only asked when it must wait
        if hopeless:
            raise hopeless
        if len(self._waiters) >= self.cfg.queue_size:
            raise NoRoute(503, "all instances are busy and the queue is full", "queue_full", 5)
        waiter = _Waiter(model, sticky, exclude)
        self._waiters.append(waiter)
        wait = self.cfg.queue_timeout if timeout is None else min(timeout, self.cfg.queue_timeout)
        try:
            return Lease(self, await asyncio.wait_for(asyncio.shield(waiter.future), wait))
        except TimeoutError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release(waiter.future.result(), Outcome(NEUTRAL))
            hopeless = self._hopeless(model)
            raise hopeless or NoRoute(
                503, f"no instance free for {model} within {wait:g}s", "queue_timeout", 5
            ) from None
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release(waiter.future.result(), Outcome(NEUTRAL))
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

    def _release(self, backend: Backend, outcome: Outcome) -> None:
        """Through Lease.release only, so that each slot is freed once."""
        now = self.clock()
        before = backend.breaker.state
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
        if backend.breaker.state != before:
            log.info("%s: breaker %s", backend.name, backend.breaker_state)
            self.hooks.on_event(backend.name, "breaker", backend.breaker_state, outcome.kind)
        if backend.breaker_open():  # waiters may use it again once half-open
            asyncio.get_running_loop().call_later(backend.breaker.reopen_in(now) + 0.01, self.wake)
        self._released.set()
        self._released = asyncio.Event()
        self.wake()

    async def phase_changed(self) -> None:
        """Until some backend enters a new phase."""
        await self._phase_changed.wait()

    async def idle(self, backend: Backend, timeout: float) -> bool:
        """Wait until `backend` has nothing in flight (a drain); False on timeout."""
        return await self._until_released(lambda: not backend.in_flight, timeout)

    @property
    def in_flight(self) -> int:
        return sum(b.in_flight for b in self.backends.values())

    async def all_idle(self, timeout: float) -> bool:
        """Wait until no backend has anything in flight; False on timeout."""
        return await self._until_released(lambda: not self.in_flight, timeout)

    async def _until_released(self, done: Callable[[], bool], timeout: float) -> bool:
        """Re-check `done` each time a request ends; False if `timeout` comes first."""

        async def wait() -> None:
            while not done():
                await self._released.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
            return True
        except TimeoutError:
            return False

    def cool(self, backend: Backend, model: str, seconds: float) -> None:
        """A rate limit: that backend rests for that model; not a fault."""
        backend.cooldowns[model] = self.clock() + seconds
        self.hooks.on_event(backend.name, "cooldown", f"{model} for {seconds:g}s", "rate limited")
        loop = asyncio.get_running_loop()
        loop.call_later(seconds + 0.01, self.wake)


def _none_can(backends: list[Backend], now: float) -> str:
    """`all 2 instances draining`, `demo-a is stopped`, or each with its reason."""
    reasons = {b.name: b.why_not(now) for b in backends}
    head = "no backend can take this request"
    if len(backends) == 1:
        return f"{head}: {backends[0].name} is {reasons[backends[0].name]}"
    if len(set(reasons.values())) == 1:
        noun = "instances" if {b.kind for b in backends} == {"instance"} else "backends"
        return f"{head}: all {len(backends)} {noun} {next(iter(reasons.values()))}"
    return f"{head}: " + ", ".join(f"{n} {r}" for n, r in sorted(reasons.items()))
