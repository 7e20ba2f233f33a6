"""The scaler's shell: samples the pool, asks `scaling.decide`, starts or
drains-and-stops one instance through the supervisor's door (with the step's
reason), and says so as an event.

It samples on a timer (the policy is about how long utilisation stays high
or low, so time must pass for it to decide anything); each sample is cheap
(no I/O), and the timer only runs when `[scaling] enabled` is set (a reload
that sets it wakes the scaler).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from daemon.fleet import scale_policy as scaling
from daemon.fleet.scale_policy import PoolSnapshot, ScaleDown, ScaleMemory, ScalePolicy, ScaleUp
from daemon.router.pool import Pool
from daemon.router.routability import Phase
from daemon.state import StateStore
from daemon.supervise.program import Program
from daemon.supervise.supervisor import Supervisor
from daemon.types import RUNNING_STATES


class Scaler:
    def __init__(
        self,
        supervisor: Supervisor,
        store: StateStore,
        pool: Pool,
        policy: Callable[[], ScalePolicy | None],
        emit: Callable[[str, str, str, str], object],
    ) -> None:
        self.supervisor = supervisor
        self.store = store
        self.pool = pool
        self.policy = policy  # the live [scaling] section; None when scaling is off
        self.emit = emit
        self.mem = ScaleMemory()
        self._look = asyncio.Event()

    # ------------------------------------------------------------ reads

    def _instances(self) -> list[Program]:
        return sorted(
            (p for p in self.supervisor.programs.values() if p.spec.kind == "instance"),
            key=lambda p: p.name,
        )

    def _operators(self, program: Program) -> bool:
        """Started or stopped by hand: the scaler leaves it alone."""
        return self.store.program(program.name).desired_by == "operator"

    def standby_at_start(self, program: Program) -> bool:
        """At daemon start, instances past min_running wait as standby."""
        policy = self.policy()
        if policy is None or program.spec.kind != "instance" or self._operators(program):
            return False
        names = [p.name for p in self._instances()]
        return names.index(program.name) >= policy.min_running

    def snapshot(self) -> PoolSnapshot:
        now = self.pool.clock()
        running, standby, removable = [], [], []
        available = capacity = in_flight = warming = 0
        for program in self._instances():
            mine = not self._operators(program)
            if program.state in RUNNING_STATES:
                running.append(program.name)
                if mine:
                    removable.append(program.name)
                backend = self.pool.backends.get(program.name)
                if backend is None:
                    continue
                in_flight += backend.in_flight
                if backend.phase in (Phase.DOWN, Phase.STARTING):
                    warming += 1
                cooling = any(until > now for until in backend.cooldowns.values())
                if backend.up(now) and not cooling:
                    available += 1
                    capacity += backend.max_concurrent
            elif mine and not program.spec.fatal_reason:
                standby.append(program.name)
        return PoolSnapshot(
            running=tuple(running),
            available=available,
            warming=warming,
            in_flight=in_flight,
            queued=self.pool.queue_length,
            capacity=capacity,
            standby=tuple(standby),
            removable=tuple(removable),
        )

    # ------------------------------------------------------------- acts

    def reconfigured(self) -> None:
        """The config was reloaded: scaling may be on or off now, look again."""
        self._look.set()

    async def run(self, stop: asyncio.Event, interval: Callable[[], float]) -> None:
        """A look at the pool every `interval()` seconds while scaling is on;
        while it is off, no timer: the next look follows a reload."""
        while not stop.is_set():
            policy = self.policy()
            self._look.clear()
            if policy is not None:
                await self.step(policy)
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._look)]
            try:
                await asyncio.wait(
                    waits,
                    timeout=None if policy is None else interval(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for w in waits:
                    w.cancel()

    async def step(self, policy: ScalePolicy) -> None:
        self.mem, step = scaling.decide(policy, self.mem, self.snapshot(), time.monotonic())
        # The door logs each step: "NAME: starting (scale: up, utilisation 90% for 30s)".
        if isinstance(step, ScaleUp):
            self.emit(step.name, "scale", "up", step.reason)
            why = f"scale: up, {step.reason}"
            await self.supervisor.start(step.name, wait=False, by="scaler", reason=why)
        elif isinstance(step, ScaleDown):
            self.emit(step.name, "scale", "down", step.reason)
            await self.supervisor.stop(step.name, by="scaler", reason=f"scale: down, {step.reason}")
