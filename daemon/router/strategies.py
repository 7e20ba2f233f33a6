"""Choosing one backend among the eligible ones: pure functions of the pool.

Every strategy sees only backends that are routable for the request's model
and have a free slot; stickiness narrows the choice first.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence

from daemon.router.backend import Backend

Strategy = Callable[[Sequence[Backend], "Cursor"], Backend]


class Cursor:
    """The little state round robin needs, shared across picks."""

    def __init__(self) -> None:
        self.next = 0


def round_robin(eligible: Sequence[Backend], cursor: Cursor) -> Backend:
    # Order by name so the rotation is stable while backends come and go.
    ordered = sorted(eligible, key=lambda b: b.name)
    choice = ordered[cursor.next % len(ordered)]
    cursor.next += 1
    return choice


def least_busy(eligible: Sequence[Backend], cursor: Cursor) -> Backend:
    lowest = min(b.load() for b in eligible)
    return round_robin([b for b in eligible if b.load() == lowest], cursor)


def response_time(eligible: Sequence[Backend], cursor: Cursor) -> Backend:
    # An instance with no measurement yet goes first, so every one gets measured.
    return min(eligible, key=lambda b: (b.ewma_ms, b.load(), b.name))


def random_choice(eligible: Sequence[Backend], cursor: Cursor) -> Backend:
    return random.choice(list(eligible))


def weighted(eligible: Sequence[Backend], cursor: Cursor) -> Backend:
    """nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a."""
    total = 0
    best: Backend | None = None
    for b in sorted(eligible, key=lambda b: b.name):
        b.current_weight += b.weight
        total += b.weight
        if best is None or b.current_weight > best.current_weight:
            best = b
    assert best is not None
    best.current_weight -= total
    return best


def primary_first(eligible: Sequence[Backend], cursor: Cursor) -> Backend:
    return min(eligible, key=lambda b: (b.priority, b.name))


STRATEGIES: dict[str, Strategy] = {
    "round_robin": round_robin,
    "least_busy": least_busy,
    "response_time": response_time,
    "random": random_choice,
    "weighted": weighted,
    "primary_first": primary_first,
}


def rendezvous(key: str, backends: Sequence[Backend]) -> list[Backend]:
    """Backends in highest-random-weight order for `key`: each key has a stable
    favourite, and removing a backend only moves the keys that were on it."""

    def score(b: Backend) -> int:
        return int.from_bytes(hashlib.blake2b(f"{key}\0{b.name}".encode(), digest_size=8).digest())

    return sorted(backends, key=score, reverse=True)
