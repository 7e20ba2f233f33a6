"""One place requests can go: a supervised instance, an API-key upstream, or
another host's mictld (an upstream that is probed like an instance)."""

from __future__ import annotations

import collections
import math
from typing import Literal

from daemon.config.schema import BreakerSection
from daemon.router.breaker import Breaker, BreakerState
from daemon.router.routability import Memory, Phase, why_not
from daemon.types import BackendInfo

EWMA_ALPHA = 0.3


class Backend:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        kind: Literal["instance", "upstream", "mictld"],
        breaker: BreakerSection,
        max_concurrent: int = 1,
        weight: int = 1,
        priority: int = 100,
        models: set[str] | None = None,
        api_key: str = "",
        rpm: int = 0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")  # an OpenAI base URL: .../v1
        self.kind = kind
        self.max_concurrent = max_concurrent
        self.cap = max_concurrent  # as configured: a mictld host's /readyz may set less
        # An instance's pages (`tabs`) as its /health says: its capacity once
        # reported (0: not yet), and each page's state.
        self.reported = 0
        self.pages: list[str] = []
        self.proxy = ""  # its profile's proxy as its /health says (no credentials)
        self.weight = weight
        self.priority = priority
        self.models = models  # None: not known yet (an instance before its first probe)
        self.api_key = api_key  # never logged, never returned
        self.rpm = rpm
        self.breaker = Breaker(breaker)
        self.in_flight = 0
        self.ewma_ms = 0.0
        self.served = 0
        self.failed = 0
        self.cooldowns: dict[str, float] = {}  # model -> until (monotonic); "*" = all
        self.sends: collections.deque[float] = collections.deque()  # for rpm
        # Whether it takes work: written only by Pool.feed (routability.py).
        # Instances start DOWN: RUNNING and a passing probe make them routable;
        # a mictld host likewise needs a passing probe of its /readyz.
        self.mem = Memory(phase=Phase.ROUTABLE if kind == "upstream" else Phase.DOWN)
        self.current_weight = 0  # smooth weighted round robin

    @property
    def phase(self) -> Phase:
        return self.mem.phase

    @property
    def draining(self) -> bool:
        return self.mem.phase == Phase.DRAINING

    @property
    def probed(self) -> bool:
        """Its health comes from probes (instances and mictld hosts)."""
        return self.kind != "upstream"

    @property
    def process_up(self) -> bool:
        return self.mem.phase != Phase.DOWN

    def serves(self, model: str) -> bool:
        return self.models is not None and (not self.models or model in self.models)

    def cooling_until(self, model: str, now: float) -> float:
        until = max(self.cooldowns.get(model, 0.0), self.cooldowns.get("*", 0.0))
        return until if until > now else 0.0

    def rpm_free_at(self, now: float) -> float:
        """When the rpm budget allows another send (0 = now)."""
        if not self.rpm:
            return 0.0
        while self.sends and self.sends[0] <= now - 60:
            self.sends.popleft()
        return self.sends[0] + 60 if len(self.sends) >= self.rpm else 0.0

    def up(self, now: float) -> bool:
        """Routable apart from model, capacity and cooldowns."""
        return self.mem.phase == Phase.ROUTABLE and self.breaker.allows(now)

    def why_not(self, now: float) -> str:
        """Why it takes no work (for a client's error and for status)."""
        if self.mem.phase == Phase.ROUTABLE and not self.breaker.allows(now):
            return "breaker open"
        return why_not(self.mem)

    def has_room(self) -> bool:
        return self.in_flight < self.max_concurrent

    def observe_latency(self, ms: float) -> None:
        self.ewma_ms = (
            ms if self.ewma_ms == 0 else EWMA_ALPHA * ms + (1 - EWMA_ALPHA) * self.ewma_ms
        )

    def load(self) -> float:
        return self.in_flight / self.max_concurrent if self.max_concurrent else math.inf

    @property
    def breaker_state(self) -> str:
        return self.breaker.state.value

    def breaker_open(self) -> bool:
        return self.breaker.state == BreakerState.OPEN


def describe(b: Backend, now: float) -> BackendInfo:
    """What the control plane and the dashboard show of a backend (no key)."""
    return BackendInfo(
        name=b.name,
        kind=b.kind,
        url=b.base_url,
        routable=b.up(now),
        health=b.phase.value,
        draining=b.draining,
        in_flight=b.in_flight,
        max_concurrent=b.max_concurrent,
        breaker=b.breaker_state,
        served=b.served,
        failed=b.failed,
        latency_ms=round(b.ewma_ms, 2),
        models=sorted(b.models or []),
        cooling={m: round(u - now, 1) for m, u in b.cooldowns.items() if u > now},
        pages=list(b.pages),
        proxy=b.proxy,
    )
