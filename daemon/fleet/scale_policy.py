"""Auto-scaling over the profile pool, as a pure decision.

Profiles beyond `min_running` are standby: the scaler starts one when the
pool stays busy (in flight plus queued over capacity above `up_above` for
`window` seconds), or when fewer than `min_running` accounts can take work
(stopped, or rate limited: a cooling account counts as unavailable); it
drains and stops one when the pool stays idle (below `down_below` for
`window`). One instance per step, `cooldown` seconds between steps. It never
touches an instance the operator started or stopped by hand.
"""

from __future__ import annotations

import math

import msgspec

from daemon.config.fleet import ScalePolicy  # the policy's vocabulary: the config's


class PoolSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    running: tuple[str, ...]  # instances running or starting (the scaler's or anyone's)
    available: int  # of those, routable and not rate limited
    warming: int = 0  # of those, not routable yet since they started (they will be soon)
    in_flight: int
    queued: int
    capacity: int  # requests the available ones take at once
    standby: tuple[str, ...]  # stopped instances the scaler may start, in order
    removable: tuple[str, ...]  # running instances the scaler may stop, in order


class ScaleMemory(msgspec.Struct, frozen=True, kw_only=True):
    busy_since: float | None = None
    idle_since: float | None = None
    last_step: float = -math.inf


class ScaleUp(msgspec.Struct, frozen=True):
    name: str
    reason: str


class ScaleDown(msgspec.Struct, frozen=True):
    name: str
    reason: str


Step = ScaleUp | ScaleDown


def utilisation(s: PoolSnapshot) -> float:
    demand = s.in_flight + s.queued
    if not s.capacity:
        return math.inf if demand else 0.0
    return demand / s.capacity


def _since(started: float | None, now: float) -> float:
    return now if started is None else started


def decide(
    policy: ScalePolicy, mem: ScaleMemory, snap: PoolSnapshot, now: float
) -> tuple[ScaleMemory, Step | None]:
    u = utilisation(snap)
    busy_since = _since(mem.busy_since, now) if u > policy.up_above else None
    idle_since = _since(mem.idle_since, now) if u < policy.down_below else None
    mem = msgspec.structs.replace(mem, busy_since=busy_since, idle_since=idle_since)
    if now - mem.last_step < policy.cooldown:
        return mem, None
    room = not policy.max_running or len(snap.running) < policy.max_running
    step: Step | None = None
    if snap.standby and room and snap.available + snap.warming < policy.min_running:
        why = f"{snap.available} of min_running {policy.min_running} accounts available"
        step = ScaleUp(snap.standby[0], why)
    elif snap.standby and room and busy_since is not None and now - busy_since >= policy.window:
        step = ScaleUp(snap.standby[0], f"utilisation {u:.0%} for {now - busy_since:.0f}s")
    elif (
        snap.removable
        and len(snap.running) > policy.min_running
        and snap.available > policy.min_running
        and idle_since is not None
        and now - idle_since >= policy.window
    ):
        step = ScaleDown(snap.removable[-1], f"utilisation {u:.0%} for {now - idle_since:.0f}s")
    if step is None:
        return mem, None
    return ScaleMemory(last_step=now), step
