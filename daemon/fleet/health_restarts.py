"""Restarts asked for by health probes: counted, and bounded by the policy.

A slow starter that never passes a probe used to be restarted every
`restart_after` probes forever, its restart count never moving. Each such
restart now counts (as `mictl status` shows), and after the program's
`startretries` of them in a row with no passing probe between, it goes
FATAL with the reason, like a program that keeps exiting too quickly. A
passing probe clears the count; an operator's `mictl start` tries again.

Two pure decisions, then the supervisor's door: the prober's `after_failure`
(router/health.py) says when failed probes ask for a restart; `verdict` here
says whether that is one more restart or the give-up. Restarts go through
`Supervisor.request_restart(name, reason)`, the give-up through
`Supervisor.give_up(name, reason)`; the door logs and records both.
"""

from __future__ import annotations

import logging
from typing import Literal

from daemon.supervise.supervisor import Supervisor

log = logging.getLogger("mictld.health")


def verdict(restarts_so_far: int, limit: int) -> Literal["restart", "give_up"]:
    """Pure: one more failed-probe restart, or FATAL (`limit` restarts were tried)."""
    return "give_up" if restarts_so_far >= limit else "restart"


class HealthRestarts:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.count: dict[str, int] = {}  # restarts in a row without a passing probe

    def passed(self, name: str) -> None:
        self.count.pop(name, None)

    async def restart(self, name: str, reason: str) -> None:
        program = self.sup.programs.get(name)
        if program is None:
            return
        done = self.count.get(name, 0)
        limit = program.spec.startretries
        if verdict(done, limit) == "give_up":
            why = f"restarted {done} times by health probes without passing one ({reason})"
            self.count.pop(name, None)
            await self._give_up(name, why)
            return
        self.count[name] = done + 1
        log.warning("%s: health restart %d of at most %d", name, done + 1, limit)
        await self.sup.request_restart(name, reason, counted=True)

    async def _give_up(self, name: str, reason: str) -> None:
        await self.sup.give_up(name, reason)
