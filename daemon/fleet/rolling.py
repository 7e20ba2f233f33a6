"""Rolling restarts: one batch at a time, each drained, restarted and routable
again before the next; a batch that does not come back stops the roll.

`batches(names, batch, max_unavailable)` is the plan (pure); `Roller` runs it
through the supervisor's one `request_restart`, and says how far it got.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from daemon.supervise.supervisor import Supervisor
from daemon.types import RollStatus

log = logging.getLogger("mictld")


class RollBusy(Exception):
    """A second roll while one runs."""


def batches(names: list[str], batch: int, max_unavailable: int) -> list[list[str]]:
    """Names in order, `min(batch, max_unavailable)` at a time (at least one)."""
    size = max(1, min(batch, max_unavailable))
    ordered = sorted(names)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


class Roller:
    def __init__(
        self,
        supervisor: Supervisor,
        ready: Callable[[str, float], Awaitable[bool]],
        emit: Callable[[str, str, str, str], object],
    ) -> None:
        self.supervisor = supervisor
        self.ready = ready  # (name, timeout) -> back and taking work in time?
        self.emit = emit
        self.status: RollStatus | None = None
        self._task: asyncio.Task[None] | None = None

    def start(
        self, names: list[str], *, batch: int = 1, max_unavailable: int = 1, timeout: float = 120
    ) -> RollStatus:
        if self.status is not None and self.status.running:
            done = self.status.done
            raise RollBusy(f"a rolling restart is running ({done}/{len(self.status.batches)})")
        for name in names:
            self.supervisor.get(name)  # unknown names fail before anything restarts
        plan = batches(names, batch, max_unavailable)
        self.status = RollStatus(running=True, started_at=time.time(), batches=plan)
        self._task = asyncio.get_running_loop().create_task(self._run(self.status, timeout))
        return self.status

    async def wait(self) -> RollStatus | None:
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.status

    async def _run(self, status: RollStatus, timeout: float) -> None:
        total = len(status.batches)
        try:
            for i, group in enumerate(status.batches, 1):
                step = f"batch {i}/{total}: {', '.join(group)}"
                log.info("rolling restart, %s", step)
                self.emit("", "roll", step, "restarting")
                await asyncio.gather(
                    *(self.supervisor.request_restart(n, f"rolling: {step}") for n in group)
                )
                back = await asyncio.gather(*(self.ready(n, timeout) for n in group))
                late = [n for n, ok in zip(group, back, strict=True) if not ok]
                if late:
                    status.stopped = f"{', '.join(late)} not routable within {timeout:g}s"
                    log.warning("rolling restart stopped: %s", status.stopped)
                    self.emit("", "roll", "stopped", status.stopped)
                    return
                status.done = i
                status.restarted += group
                self.emit("", "roll", f"batch {i}/{total} routable", "")
            self.emit("", "roll", "done", f"{len(status.restarted)} restarted")
            log.info("rolling restart done: %d restarted", len(status.restarted))
        except Exception as exc:  # a restart that raised: say so, never leave it "running"
            status.stopped = f"{exc.__class__.__name__}: {exc}"
            self.emit("", "roll", "stopped", status.stopped)
            log.error("rolling restart stopped: %s", status.stopped)
        finally:
            status.running = False
            status.finished_at = time.time()
