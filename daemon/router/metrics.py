"""Prometheus metrics of the front router (one registry per daemon)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.router.pool import Pool
from daemon.router.routability import Phase

PAGE_STATES = ("free", "busy", "opening", "broken")


class Metrics:
    def __init__(self, pool: Pool) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mictl_requests",
            "Requests answered by the front port, by backend and status",
            ["backend", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mictl_request_seconds",
            "Time to the full answer (or first byte of a stream)",
            ["backend"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.retries = Counter(
            "mictl_retries", "Requests retried on another backend", registry=self.registry
        )
        self.registry.register(_PoolCollector(lambda: pool))
        self._counted: dict[tuple[str, str], Counter] = {}
        self._timed: dict[str, Histogram] = {}
        # Samples that are taken when scraped (the supervisor's memory), awaited first.
        self.before_render: list[Callable[[], Awaitable[object]]] = []

    def count(self, backend: str, status: str) -> None:
        # labels() takes a lock and builds a key on every call; the hot path
        # keeps the children it has already made.
        child = self._counted.get((backend, status))
        if child is None:
            child = self._counted[(backend, status)] = self.requests.labels(backend, status)
        child.inc()

    def observe(self, backend: str, seconds: float) -> None:
        child = self._timed.get(backend)
        if child is None:
            child = self._timed[backend] = self.latency.labels(backend)
        child.observe(seconds)

    async def refresh(self) -> None:
        for sample in list(self.before_render):
            await sample()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PoolCollector(Collector):
    def __init__(self, pool: Callable[[], Pool]) -> None:
        self.pool = pool

    def collect(self) -> Iterable[Metric]:
        pool = self.pool()
        queue = GaugeMetricFamily("mictl_queue_length", "Requests waiting for a free backend")
        queue.add_metric([], pool.queue_length)
        in_flight = GaugeMetricFamily("mictl_in_flight", "Requests in flight", labels=["backend"])
        routable = GaugeMetricFamily(
            "mictl_routable", "1 if the backend takes requests", labels=["backend"]
        )
        breaker = GaugeMetricFamily(
            "mictl_breaker_open", "1 if the breaker is not closed", labels=["backend"]
        )
        phase = GaugeMetricFamily(
            "mictl_backend_phase",
            "1 for the routability phase each backend is in, 0 for the others",
            labels=["backend", "phase"],
        )
        cooling = GaugeMetricFamily(
            "mictl_backend_cooling_models",
            "Models of the backend in a rate-limit cooldown",
            labels=["backend"],
        )
        pages = GaugeMetricFamily(
            "mictl_instance_pages",
            "An instance's pages (tabs) in each state: free, busy, opening, broken",
            labels=["backend", "state"],
        )
        capacity = GaugeMetricFamily(
            "mictl_max_concurrent", "Requests the backend takes at once", labels=["backend"]
        )
        now = pool.clock()
        for b in pool.backends.values():
            capacity.add_metric([b.name], b.max_concurrent)
            if b.pages:
                for state in PAGE_STATES:
                    pages.add_metric([b.name, state], b.pages.count(state))
            in_flight.add_metric([b.name], b.in_flight)
            routable.add_metric([b.name], 1 if b.up(now) else 0)
            breaker.add_metric([b.name], 0 if b.breaker_state == "closed" else 1)
            for p in Phase:
                phase.add_metric([b.name, p.value], 1 if b.phase == p else 0)
            cooling.add_metric([b.name], sum(1 for until in b.cooldowns.values() if until > now))
        entered = CounterMetricFamily(
            "mictl_backend_phase_entries",
            "Routability phases entered, all backends (draining: every drain)",
            labels=["phase"],
        )
        for p in Phase:
            entered.add_metric([p.value], pool.entered.get(p, 0))
        return [queue, in_flight, capacity, pages, routable, breaker, phase, cooling, entered]
