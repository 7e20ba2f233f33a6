"""The supervisor's side of /metrics: program states, restarts, exits by
reason, start durations, uptime, memory of each process tree, and counters
of what the daemon did (reloads, restart requests by reason, transitions).

Label sets stay bounded: `program` takes the configured names (a removed
program's series go with it), `state` supervisord's eight states, `reason`
and `outcome` the small fixed sets below.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from daemon.supervise.orphans import pss_mb_by_spawn
from daemon.types import DoorEntry, State, Told, Transition

log = logging.getLogger("mictld")

if TYPE_CHECKING:
    from daemon.state import StateStore
    from daemon.supervise.supervisor import Supervisor

EXIT_REASONS = ("expected", "unexpected", "signal", "stopped", "spawn_error")
RESTART_REASONS = (
    "operator", "autorestart", "health", "recycle", "reload", "rolling", "scale", "recovery",
    "other",
)  # fmt: skip
EVENT_KINDS = (
    "state", "restart", "routing", "breaker", "cooldown", "reload", "roll", "flap", "scale", "other"
)  # fmt: skip
START_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120)
MEMORY_MAX_AGE = 15.0  # seconds a memory sample serves its readers


def restart_reason(reason: str) -> str:
    """A free-text restart reason ('recycle: 500 requests') -> a fixed label."""
    word = reason.split(":", 1)[0].split()[0].lower() if reason.strip() else ""
    return word if word in RESTART_REASONS else "other"


class SupervisorStats:
    """Counts what the supervisor's transitions tell; samples memory."""

    def __init__(
        self, supervisor: Supervisor, event_counts: collections.Counter[str] | None = None
    ) -> None:
        self.supervisor = supervisor
        self.exits: collections.Counter[tuple[str, str]] = collections.Counter()
        self.entered: collections.Counter[str] = collections.Counter()
        self.restart_requests: collections.Counter[str] = collections.Counter()
        self.reloads: collections.Counter[str] = collections.Counter()
        self.start_began: dict[str, float] = {}
        self.last_start: dict[str, float] = {}
        self.start_buckets = [0] * len(START_BUCKETS)
        self.start_count = 0
        self.start_sum = 0.0
        self.pss_bytes: dict[str, int] = {}
        # the EventLog's counts by kind
        self.event_counts: collections.Counter[str] = (
            collections.Counter() if event_counts is None else event_counts
        )
        self._seen_exit: dict[str, float] = {}
        self._sampled_at = -math.inf  # monotonic time the last memory sample began
        self._invalidated_at = -math.inf  # a program became RUNNING: older samples miss it
        self._sampling: asyncio.Task[None] | None = None
        self.started_at = time.time()

    # ------------------------------------------------------------ events

    def heard(self, told: Told) -> None:
        """What the supervisor tells: transitions and passes through the door count."""
        if isinstance(told, Transition):
            self.on_transition(told)
        elif isinstance(told, DoorEntry):
            self.through_door(told)

    def on_transition(self, t: Transition) -> None:
        self.entered[t.new.name] += 1
        program = self.supervisor.programs.get(t.program)
        last = program.last_exit if program is not None else None
        if last is not None and self._seen_exit.get(t.program) != last.at:
            self._seen_exit[t.program] = last.at
            if t.old == State.STOPPING:
                reason = "stopped"
            elif last.signal:
                reason = "signal"
            else:
                reason = "expected" if last.expected else "unexpected"
            self.exits[(t.program, reason)] += 1
        elif t.old == State.STARTING and t.new in (State.BACKOFF, State.FATAL):
            self.exits[(t.program, "spawn_error")] += 1
        if t.new == State.STARTING:
            self.start_began[t.program] = t.at
        elif t.new == State.RUNNING and t.old == State.STARTING:
            self._invalidated_at = time.monotonic()
            began = self.start_began.pop(t.program, None)
            if began is not None:
                self._observe_start(t.program, max(0.0, t.at - began))

    def _observe_start(self, name: str, seconds: float) -> None:
        self.last_start[name] = seconds
        self.start_count += 1
        self.start_sum += seconds
        for i, bound in enumerate(START_BUCKETS):
            if seconds <= bound:
                self.start_buckets[i] += 1

    def through_door(self, entry: DoorEntry) -> None:
        """Every restart the supervisor's door lets through, by its reason."""
        if entry.verb == "restart":
            self.restart_requests[restart_reason(entry.reason)] += 1

    def reloaded(self, ok: bool) -> None:
        self.reloads["ok" if ok else "failed"] += 1

    # ------------------------------------------------------------ memory

    def sample_memory(self) -> dict[str, int]:
        """PSS of each running program's whole tree (reads /proc: off the loop)."""
        tokens = [
            (name, p.spawn_token)
            for name, p in list(self.supervisor.programs.items())
            if p.pid is not None
        ]
        mb = pss_mb_by_spawn({token for _, token in tokens})
        return {name: int(mb[token] * 2**20) for name, token in tokens}

    def _fresh(self, max_age: float) -> bool:
        at = self._sampled_at
        return at > self._invalidated_at and time.monotonic() - at < max_age

    async def memory(self, max_age: float = MEMORY_MAX_AGE) -> dict[str, int]:
        """Each running program's PSS, sampled at most `max_age` seconds ago.

        Sampled when asked for (a /metrics scrape, the dashboard, a memory
        recycling check), not on a timer: reading smaps_rollup of 40
        Chromium trees costs the kernel about a third of a second, which
        every 15 s was most of an idle daemon's CPU. Readers at once share
        one sample."""
        if not self._fresh(max_age):
            if self._sampling is None:
                self._sampling = asyncio.get_running_loop().create_task(self._sample())
            await asyncio.shield(self._sampling)
        return self.pss_bytes

    def recent_memory(self) -> dict[str, int]:
        """For a synchronous reader (a dashboard frame): the last sample if it
        is recent, else nothing; either way a fresh one is under way soon."""
        if not self._fresh(MEMORY_MAX_AGE) and self._sampling is None:
            self._sampling = asyncio.get_running_loop().create_task(self._sample())
        return self.pss_bytes if self._fresh(2 * MEMORY_MAX_AGE) else {}

    async def _sample(self) -> None:
        """Take a sample; one that fails keeps the last one (readers of
        memory never see the error) and is tried again when that is stale."""
        began = time.monotonic()
        try:
            self.pss_bytes = await asyncio.to_thread(self.sample_memory)
        except Exception as exc:  # /proc as it should not be: keep serving what we had
            log.warning("could not sample memory, keeping the last sample: %s", exc)
        finally:
            self._sampled_at = began
            self._sampling = None


class MetricsPage(Protocol):
    """Where /metrics is rendered (the router's Metrics): a registry, and
    samples to take before each render."""

    registry: CollectorRegistry
    before_render: list[Callable[[], Awaitable[object]]]


def attach(
    supervisor: Supervisor,
    store: StateStore,
    page: MetricsPage | None,
    event_counts: collections.Counter[str] | None = None,
) -> SupervisorStats:
    """Count the daemon's supervisor (its owner hands the stats each
    transition and pass through the door); expose them on the /metrics
    page, if any."""
    stats = SupervisorStats(supervisor, event_counts)
    if page is not None:
        restarts = lambda name: store.program(name).restarts  # noqa: E731
        page.registry.register(SupervisorCollector(stats, restarts))
        page.before_render.append(stats.memory)
    return stats


class SupervisorCollector(Collector):
    def __init__(self, stats: SupervisorStats, restarts: Callable[[str], int]) -> None:
        self.stats = stats
        self.restarts = restarts

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        programs = dict(s.supervisor.programs)
        names = sorted(programs)
        now = time.time()
        state = GaugeMetricFamily(
            "mictl_program_state",
            "1 for the state each program is in, 0 for the others",
            labels=["program", "state"],
        )
        uptime = GaugeMetricFamily(
            "mictl_program_uptime_seconds", "Seconds since the process started", labels=["program"]
        )
        restarts = CounterMetricFamily(
            "mictl_program_restarts",
            "Automatic restarts (after an exit or a backoff), kept across daemon restarts",
            labels=["program"],
        )
        for name in names:
            current = programs[name].state
            for st in State:
                state.add_metric([name, st.name], 1 if st == current else 0)
            uptime.add_metric([name], programs[name].uptime(now) or 0)
            restarts.add_metric([name], self.restarts(name))
        exits = CounterMetricFamily(
            "mictl_program_exits", "Process exits by reason", labels=["program", "reason"]
        )
        for name in names:
            for reason in EXIT_REASONS:
                exits.add_metric([name, reason], s.exits.get((name, reason), 0))
        last_start = GaugeMetricFamily(
            "mictl_program_last_start_seconds",
            "Spawn to RUNNING, the last time it started",
            labels=["program"],
        )
        memory = GaugeMetricFamily(
            "mictl_program_memory_pss_bytes",
            "PSS of the program's whole process tree (sampled when scraped, at most 15 s old)",
            labels=["program"],
        )
        for name in names:
            if name in s.last_start:
                last_start.add_metric([name], s.last_start[name])
            if name in s.pss_bytes and programs[name].pid is not None:
                memory.add_metric([name], s.pss_bytes[name])
        starts = HistogramMetricFamily(
            "mictl_program_start_seconds", "Spawn to RUNNING, every program"
        )
        cumulative = [(str(b), c) for b, c in zip(START_BUCKETS, s.start_buckets, strict=True)]
        starts.add_metric([], [*cumulative, ("+Inf", s.start_count)], s.start_sum)
        return [
            state,
            uptime,
            restarts,
            exits,
            last_start,
            starts,
            memory,
            *self._events(s, now),
        ]

    def _events(self, s: SupervisorStats, now: float) -> list[Metric]:
        entered = CounterMetricFamily(
            "mictl_transitions", "Program state changes, by the state entered", labels=["state"]
        )
        for st in State:
            entered.add_metric([st.name], s.entered.get(st.name, 0))
        requests = CounterMetricFamily(
            "mictl_restart_requests",
            "Restarts through the supervisor's door, by reason (autorestart: its own)",
            labels=["reason"],
        )
        for reason in RESTART_REASONS:
            requests.add_metric([reason], s.restart_requests.get(reason, 0))
        reloads = CounterMetricFamily(
            "mictl_reloads", "Config reloads by outcome", labels=["outcome"]
        )
        for outcome in ("ok", "failed"):
            reloads.add_metric([outcome], s.reloads.get(outcome, 0))
        events = CounterMetricFamily(
            "mictl_events",
            "Daemon events by kind (drains are routing, flap hold-backs flap, scaling steps scale)",
            labels=["kind"],
        )
        counts = dict.fromkeys(EVENT_KINDS, 0)
        for kind, n in list(s.event_counts.items()):
            counts[kind if kind in counts else "other"] += n
        for kind, n in counts.items():
            events.add_metric([kind], n)
        daemon_up = GaugeMetricFamily("mictl_daemon_uptime_seconds", "Seconds since mictld started")
        daemon_up.add_metric([], now - s.started_at)
        return [entered, requests, reloads, events, daemon_up]
