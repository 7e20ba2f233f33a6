"""Breakers, strategies and the pool as pure logic (no sockets)."""

from __future__ import annotations

import asyncio
import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config.loader import BreakerSection, RouterSection
from daemon.router.backend import Backend
from daemon.router.breaker import Breaker, BreakerState
from daemon.router.pool import FAIL, HARD_FAIL, OK, Lease, NoRoute, Outcome, Pool
from daemon.router.routability import Drain
from daemon.router.strategies import Cursor, rendezvous, weighted
from tests.helpers import until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_cycle_with_doubling_cooldown_capped() -> None:
    b = Breaker(BreakerSection(failures=2, cooldown=5, cooldown_max=12))
    b.on_failure(0)
    assert b.state == BreakerState.CLOSED
    b.on_failure(1)
    assert b.state == BreakerState.OPEN and not b.allows(5.9)
    assert b.allows(6.0)
    b.on_send(6.0)
    assert b.state == BreakerState.HALF_OPEN and not b.allows(6.0)  # one probe only
    b.on_failure(6.5)
    assert b.state == BreakerState.OPEN and b.cooldown == 10
    b.on_send(16.5)
    b.on_failure(17)
    assert b.cooldown == 12  # capped
    b.on_send(29)
    b.on_success(30)
    assert b.state == BreakerState.CLOSED and b.cooldown == 5


def test_hard_failure_opens_at_once_and_rate_window_counts() -> None:
    b = Breaker(BreakerSection(failures=10))
    b.on_failure(0, hard=True)
    assert b.state == BreakerState.OPEN
    r = Breaker(BreakerSection(failures=100, failure_rate=0.5, window=60, min_requests=4))
    for t, ok in enumerate([True, False, True, False]):
        (r.on_success if ok else r.on_failure)(t)
    assert r.state == BreakerState.OPEN


def backend(name: str, **kw: object) -> Backend:
    b = Backend(
        name, f"http://{name}", kind="upstream", breaker=BreakerSection(), models=set(), **kw
    )  # type: ignore[arg-type]
    return b


def test_smooth_weighted_round_robin_is_nginx_order() -> None:
    a, b, c = backend("a", weight=5), backend("b", weight=1), backend("c", weight=1)
    picks = "".join(weighted([a, b, c], Cursor()).name for _ in range(7))
    assert picks == "aabacaa"


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=30, unique=True))
def test_rendezvous_moves_only_the_keys_of_a_removed_backend(keys: list[str]) -> None:
    fleet = [backend(n) for n in "abcde"]
    before = {k: rendezvous(k, fleet)[0].name for k in keys}
    survivors = [b for b in fleet if b.name != "c"]
    after = {k: rendezvous(k, survivors)[0].name for k in keys}
    for k in keys:
        if before[k] != "c":
            assert after[k] == before[k]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_pool_queues_fifo_and_bounds() -> None:
    async def scenario() -> list[str]:
        pool = Pool(RouterSection(queue_size=2, queue_timeout=5), Clock())
        only = pool.backends["a"] = backend("a", max_concurrent=1)
        first = await pool.acquire("m")
        order: list[str] = []

        async def wait(tag: str) -> None:
            got = await pool.acquire("m")
            order.append(tag)
            got.release(Outcome(OK))

        waiters = [asyncio.create_task(wait(t)) for t in ("w1", "w2")]
        await until(lambda: pool.queue_length == 2, 5, "both waiters queued")
        with pytest.raises(NoRoute) as info:
            await pool.acquire("m")
        assert info.value.status == 503 and info.value.code == "queue_full"
        first.release(Outcome(OK))
        first.release(Outcome(OK))  # a second release frees nothing more
        await asyncio.gather(*waiters)
        assert only.in_flight == 0
        return order

    assert run(scenario()) == ["w1", "w2"]


def test_pool_429_when_every_backend_cools_with_soonest_retry() -> None:
    async def scenario() -> NoRoute:
        clock = Clock()
        pool = Pool(RouterSection(), clock)
        a = pool.backends["a"] = backend("a")
        b = pool.backends["b"] = backend("b")
        a.cooldowns["m"] = clock.now + 30
        b.cooldowns["m"] = clock.now + 12
        with pytest.raises(NoRoute) as info:
            await pool.acquire("m")
        assert (await pool.acquire("other")).backend.name in "ab"  # per model
        return info.value

    exc = run(scenario())
    assert exc.status == 429 and exc.retry_after == pytest.approx(12)


def test_pool_skips_open_breakers_and_draining() -> None:
    async def scenario() -> collections.Counter[str]:
        pool = Pool(RouterSection(max_concurrent=10), Clock())
        a, b, c = (pool.backends.setdefault(n, backend(n, max_concurrent=10)) for n in "abc")
        for _ in range(3):
            a.in_flight += 1
            Lease(pool, a).release(Outcome(FAIL))
        pool.feed(b, Drain("operator"))
        seen: collections.Counter[str] = collections.Counter()
        for _ in range(6):
            got = await pool.acquire("m")
            seen[got.backend.name] += 1
            got.release(Outcome(OK))
        c.in_flight += 1
        Lease(pool, c).release(Outcome(HARD_FAIL))
        assert c.breaker.state == BreakerState.OPEN
        return seen

    assert run(scenario()) == {"c": 6}


def test_rpm_budget_holds_requests_back_before_the_site_limits() -> None:
    async def scenario() -> NoRoute:
        clock = Clock()
        pool = Pool(RouterSection(), clock)
        a = pool.backends["a"] = backend("a", rpm=2, max_concurrent=5)
        for _ in range(2):
            (await pool.acquire("m")).release(Outcome(OK))
        clock.now += 10
        with pytest.raises(NoRoute) as info:
            await pool.acquire("m")
        clock.now += 51  # the first send left the minute
        assert (await pool.acquire("m")).backend is a
        return info.value

    exc = run(scenario())
    assert exc.status == 429 and exc.retry_after == pytest.approx(50)
