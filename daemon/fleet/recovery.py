"""FATAL that the daemon caused, undone by the daemon.

A spawn that failed because mictld itself ran out of file descriptors
(EMFILE, ENFILE) says nothing about the program: once descriptors are free
again it would start fine. supervisord leaves it FATAL until an operator
acts; mictld tries again every few seconds while the operator still wants it
running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from daemon.supervise.supervisor import Supervisor
from daemon.types import State, Transition

log = logging.getLogger("mictld")

OUT_OF_DESCRIPTORS = "Too many open files"  # strerror of EMFILE and ENFILE


def retry_descriptor_fatals(sup: Supervisor, delay: float = 5.0) -> Callable[[Transition], None]:
    """A supervisor listener: FATAL from EMFILE/ENFILE -> Start again after `delay`."""

    retries: set[asyncio.Task[None]] = set()  # held until done

    def on_transition(t: Transition) -> None:
        program = sup.programs.get(t.program)
        if t.new != State.FATAL or program is None or OUT_OF_DESCRIPTORS not in program.reason:
            return
        log.warning("%s: FATAL for want of file descriptors; retrying in %ss", t.program, delay)

        def retry() -> None:
            if sup.programs.get(t.program) is program:  # not replaced meanwhile
                reason = "recovery: retrying after running out of file descriptors"
                task = asyncio.get_running_loop().create_task(sup.retry(t.program, reason))
                retries.add(task)
                task.add_done_callback(retries.discard)

        asyncio.get_running_loop().call_later(delay, retry)

    return on_transition
