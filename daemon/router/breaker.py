"""A circuit breaker per backend, as pure state and rules (no I/O, no clock).

closed -> open after N consecutive failures (or a failure rate over a window);
open -> half-open after a cooldown that doubles on each re-open up to a cap;
half-open lets one probe request through: success closes, failure re-opens.
A refused or reset connection opens it at once. Client 4xx never counts, and
a 429 is a rate-limit cooldown, not a fault: callers do not report those.
"""

from __future__ import annotations

import collections
import enum

from daemon.config.schema import BreakerSection


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, cfg: BreakerSection) -> None:
        self.cfg = cfg
        self.state = BreakerState.CLOSED
        self.failures = 0  # consecutive
        self.cooldown = cfg.cooldown
        self.opened_at = 0.0
        self.probing = False
        self._outcomes: collections.deque[tuple[float, bool]] = collections.deque()

    def allows(self, now: float) -> bool:
        """May a request be sent now? (Does not change state.)"""
        if self.state == BreakerState.CLOSED:
            return True
        if self.state == BreakerState.OPEN:
            return now >= self.opened_at + self.cooldown
        return not self.probing

    def on_send(self, now: float) -> None:
        if self.state == BreakerState.OPEN and now >= self.opened_at + self.cooldown:
            self.state = BreakerState.HALF_OPEN
        if self.state == BreakerState.HALF_OPEN:
            self.probing = True

    def on_success(self, now: float) -> None:
        self._record(now, ok=True)
        self.failures = 0
        if self.state != BreakerState.CLOSED:
            self.reset()

    def on_failure(self, now: float, *, hard: bool = False) -> None:
        """A fault of the backend; `hard` (refused/reset connection) opens at once."""
        self._record(now, ok=False)
        self.failures += 1
        if self.state == BreakerState.HALF_OPEN:
            self._open(now, self.cooldown * 2)
        elif self.state == BreakerState.CLOSED and (
            hard or self.failures >= self.cfg.failures or self._rate_exceeded(now)
        ):
            self._open(now, self.cfg.cooldown)

    def on_neutral(self) -> None:
        """A request that proved nothing (client error, cancelled): free the probe."""
        self.probing = False

    def reset(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.cooldown = self.cfg.cooldown
        self.probing = False
        self._outcomes.clear()

    def reopen_in(self, now: float) -> float:
        return max(0.0, self.opened_at + self.cooldown - now)

    def _open(self, now: float, cooldown: float) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.cooldown = min(cooldown, self.cfg.cooldown_max)
        self.probing = False

    def _record(self, now: float, ok: bool) -> None:
        if self.cfg.failure_rate <= 0:
            return
        self._outcomes.append((now, ok))
        while self._outcomes and self._outcomes[0][0] < now - self.cfg.window:
            self._outcomes.popleft()

    def _rate_exceeded(self, now: float) -> bool:
        if self.cfg.failure_rate <= 0 or len(self._outcomes) < self.cfg.min_requests:
            return False
        failed = sum(1 for _, ok in self._outcomes if not ok)
        return failed / len(self._outcomes) >= self.cfg.failure_rate
