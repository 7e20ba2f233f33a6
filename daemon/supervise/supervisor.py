"""All programs of one daemon: start in priority order, stop in reverse,
the operator's verbs, and the one door every start, stop, restart and
give-up passes with its reason (`_door`).

Each program's process is a `Program` (program.py) around supervisord's
state machine (machine.py).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from daemon.state import StateStore
from daemon.supervise import machine
from daemon.supervise.listener import Alone, SupervisorListener
from daemon.supervise.program import FINAL_AFTER_START, Program
from daemon.types import (
    RUNNING_STATES,
    Desired,
    DoorEntry,
    DrainReason,
    Note,
    ProgramSpec,
    State,
    Transition,
    Verb,
)

log = logging.getLogger("mictld")

Actor = Literal["operator", "scaler"]


class UnknownProgram(KeyError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = sorted(known)


class Supervisor:
    """All programs of one daemon."""

    def __init__(
        self,
        store: StateStore,
        state_dir: str,
        *,
        server_url: str = "",
        listener: SupervisorListener | None = None,
        max_starting: int = 0,
    ) -> None:
        self.store = store
        self.state_dir = state_dir
        self.server_url = server_url  # given to programs as SUPERVISOR_SERVER_URL
        self.programs: dict[str, Program] = {}
        # The router drains an instance before any stop or restart, says what
        # "warming" means (RUNNING but no health probe passed yet; without a
        # router, STARTING), and the scaler keeps instances in reserve; it is
        # told every transition, pass through the door and note.
        self.listener: SupervisorListener = listener or Alone()
        # The start-up ramp: at most max_starting instances warming at once (0: no limit).
        self.max_starting = max_starting
        self._ramp: collections.deque[str] = collections.deque()
        self._ramp_timer: asyncio.TimerHandle | None = None

    def configure(self, *, max_starting: int) -> None:
        """Settings that apply live (reload)."""
        self.max_starting = max_starting

    def get(self, name: str) -> Program:
        try:
            return self.programs[name]
        except KeyError:
            raise UnknownProgram(name, self.programs) from None

    def add(self, spec: ProgramSpec) -> Program:
        program = Program(
            spec,
            state_dir=self.state_dir,
            server_url=self.server_url,
            on_transition=self._on_transition,
            on_note=lambda p, kind, text: self.listener.tell(Note(p.name, kind, text)),
            on_respawn=lambda p, reason: self._door(p.name, "restart", reason, counted=True),
        )
        saved = self.store.program(spec.name)
        program.last_exit = saved.last_exit
        self.programs[spec.name] = program
        return program

    def _on_transition(self, program: Program, transition: Transition) -> None:
        saved = self.store.program(program.name)
        if transition.new in (State.EXITED, State.STOPPED, State.BACKOFF) and program.last_exit:
            saved.last_exit = program.last_exit
        self.store.save_soon()
        self.listener.tell(transition)
        if self._ramp and transition.old == State.STARTING:
            self.ramp()

    def by_priority(self, reverse: bool = False) -> list[list[Program]]:
        """Programs of one priority together, in order. As supervisord's, a
        [groups.X] member is ordered by its group's priority, then its own."""
        groups: dict[tuple[int, int], list[Program]] = collections.defaultdict(list)
        for program in self.programs.values():
            spec = program.spec
            first = spec.priority if spec.group_priority is None else spec.group_priority
            groups[(first, spec.priority)].append(program)
        return [groups[p] for p in sorted(groups, reverse=reverse)]

    # ---------------------------------------------------- operator verbs

    async def start(
        self, name: str, *, wait: bool = True, by: Actor = "operator", reason: str = ""
    ) -> State:
        program = self.get(name)
        async with program.lock:
            self._want(name, "running", by)
            if program.state in RUNNING_STATES:
                return program.state
            self._door(name, "start", reason or by)
            return await program.start(wait=wait)

    async def stop(
        self, name: str, *, wait: bool = True, by: Actor = "operator", reason: str = ""
    ) -> State:
        program = self.get(name)
        async with program.lock:
            self._want(name, "stopped", by)
            self._door(name, "stop", reason or by)
            await self._drain(program, "stop")
            return await program.stop(wait=wait)

    async def restart(self, name: str, *, wait: bool = True) -> State:
        return await self.request_restart(name, "operator", wait=wait)  # the operator's

    async def request_restart(
        self,
        name: str,
        reason: str,
        *,
        wait: bool = True,
        spec: ProgramSpec | None = None,
        gate: Callable[[], Awaitable[None]] | None = None,
        counted: bool = False,
    ) -> State:
        """The one way anything asks for a restart (operator, health probes,
        recycling, rolling restarts, reload): serialised per program, drained
        first, through the door with its reason (the log, the events, the
        metrics). `counted`: the daemon restarts it because it failed (health
        probes), which the program's restart count shows, as it shows the
        machine's own restarts ("autorestart").

        A reload passes the program's new `spec` (a program that was not
        running then only takes it, unless it was FATAL and autostarts) and a
        `gate` awaited between the stop and the start.
        """
        program = self.get(name)
        async with program.lock:
            self._door(name, "restart", reason, counted=counted)
            if spec is None:
                self._want(name, "running")
                start = True
            else:
                start = program.state in RUNNING_STATES or (
                    program.state == State.FATAL and spec.autostart
                )
            program.restarting = start
            try:
                await self._drain(program, "restart")
                await program.stop(wait=True)
            finally:
                program.restarting = False
                self._undrain(program, "restart")
            if spec is not None:
                program.close_logs()
                program.spec = spec
            if gate is not None:
                await gate()
            if not start:
                return program.state
            return await program.start(wait=wait)

    async def give_up(self, name: str, reason: str) -> None:
        """The one way the daemon gives up on a program (health probes that
        never pass): drained, stopped, FATAL with the reason (machine.GiveUp).
        The operator's wish stays "running": `mictl start` tries again."""
        program = self.get(name)
        async with program.lock:
            self._door(name, "give_up", reason)
            await self._drain(program, "stop")
            await program.stop(wait=True)
            program.feed(machine.GiveUp(reason))

    async def retry(self, name: str, reason: str) -> None:
        """The daemon starts a FATAL program again by itself (its FATAL was
        the daemon's doing, e.g. no file descriptors to spawn with), while
        the operator still wants it running."""
        program = self.programs.get(name)
        if program is None:
            return
        async with program.lock:
            wanted = self.store.program(name).desired == "running"
            if program.state != State.FATAL or not wanted:
                return
            self._door(name, "restart", reason, counted=True)
            await program.start(wait=False)

    def _door(self, name: str, verb: Verb, reason: str, *, counted: bool = False) -> None:
        """The one door: every start, stop, restart (asked for, or decided by
        the machine: "autorestart") and give-up passes here with its reason:
        one log line, the one restart counter (`mictl status` RESTARTS) when
        the daemon restarts a program because it failed, the listener above it."""
        says = {"stop": "stopping", "give_up": "giving up (FATAL)"}.get(verb, f"{verb}ing")
        level = logging.ERROR if verb == "give_up" else logging.INFO
        log.log(level, "%s: %s (%s)", name, says, reason)
        if counted:
            self.store.program(name).restarts += 1
            self.store.save_soon()
        self.listener.tell(DoorEntry(name, verb, reason, counted))

    async def restart_all(self, *, wait: bool = True) -> None:
        """supervisorctl's `restart all`: every program stops (reverse
        priority, drained), then every one starts in priority order; nothing
        starts before everything has stopped."""
        programs = list(self.programs.values())
        for program in programs:
            self._door(program.name, "restart", "operator")
            program.restarting = True
        try:
            for group in self.by_priority(reverse=True):
                await asyncio.gather(*(self._stop_for_restart(p) for p in group))
            for group in self.by_priority():
                for program in group:
                    async with program.lock:
                        program.restarting = False
                        self._want(program.name, "running", "operator")
                        if program.state not in RUNNING_STATES:
                            await program.start(wait=False)
        finally:
            for program in programs:
                program.restarting = False
        if wait:
            await asyncio.gather(*(p.wait_for(FINAL_AFTER_START) for p in programs))

    async def _stop_for_restart(self, program: Program) -> None:
        async with program.lock:
            try:
                await self._drain(program, "restart")
                await program.stop(wait=True)
            finally:
                self._undrain(program, "restart")

    async def remove(self, name: str) -> None:
        """Drain, stop and forget a program whose profile or section is gone."""
        program = self.get(name)
        async with program.lock:
            if program.state in RUNNING_STATES:
                self._door(name, "stop", "reload: removed from the config")
            await self._drain(program, "stop")
            await program.stop(wait=True)
            program.leftovers.kill_now()
            program.close_logs()
        del self.programs[name]
        self.store.forget(name)

    def add_and_start(self, spec: ProgramSpec) -> None:
        """A new program (reload): started if it autostarts and nobody stopped it."""
        program = self.add(spec)
        if spec.autostart and self.store.program(spec.name).desired == "running":
            self._start_ramped(program)

    def _want(self, name: str, desired: Desired, by: Actor | None = None) -> None:
        """An operator's (or the scaler's) wish, remembered across daemon restarts."""
        saved = self.store.program(name)
        saved.desired = desired
        if by is not None:
            saved.desired_by = by
        self.store.save()  # now: a failure fails the operator's command (control.py)

    async def _drain(self, program: Program, reason: DrainReason) -> None:
        if program.state in RUNNING_STATES:
            await self.listener.drain_for(program.name, reason)

    def _undrain(self, program: Program, reason: DrainReason) -> None:
        self.listener.undrain_after(program.name, reason)

    def coming_back(self, name: str) -> bool:
        """Will this program run again without anyone asking? (starting,
        backing off, or stopped only to be restarted)."""
        program = self.programs.get(name)
        if program is None:
            return False
        return program.restarting or program.state in (State.STARTING, State.BACKOFF)

    def start_all(self) -> None:
        """Daemon start: autostart programs, in priority order, unless an
        operator's stop is remembered for them."""
        for group in self.by_priority():
            for program in group:
                wanted = self.store.program(program.name).desired == "running"
                idle = program.state not in RUNNING_STATES and not self.listener.standby(program)
                if program.spec.autostart and wanted and idle:
                    self._start_ramped(program)

    def _start_ramped(self, program: Program) -> None:
        """Start now, or queue an instance behind the start-up ramp."""
        if program.spec.kind == "instance" and self.max_starting:
            self._ramp.append(program.name)
            self.ramp()
        else:
            self._door(program.name, "start", "autostart")
            program.feed(machine.Start())

    def _ramp_later(self) -> None:
        self._ramp_timer = None
        self.ramp()

    def ramp(self) -> None:
        """Start queued instances while fewer than max_starting warm up; called
        whenever one may have finished warming up."""
        while self._ramp:
            warming = sum(
                1
                for p in self.programs.values()
                if p.spec.kind == "instance" and self.listener.warming(p)
            )
            if warming >= self.max_starting:
                # Also look again later: one that never passes a probe stops
                # counting as warming after a while, with no event to say so.
                if self._ramp_timer is None:
                    loop = asyncio.get_running_loop()
                    self._ramp_timer = loop.call_later(5.0, self._ramp_later)
                return
            program = self.programs.get(self._ramp.popleft())
            wanted = program is not None and self.store.program(program.name).desired == "running"
            if program is not None and wanted and program.state not in RUNNING_STATES:
                self._door(program.name, "start", "autostart")
                program.feed(machine.Start())

    def reopen_logs(self) -> None:
        for program in self.programs.values():
            program.reopen_logs()

    async def stop_all(self) -> None:
        """Reverse priority; the programs of one priority stop in parallel.
        What is left of earlier exits gets the rest of its grace, then
        SIGKILL; if the shutdown budget ends first (cancelled), SIGKILL now."""
        try:
            for group in self.by_priority(reverse=True):
                await asyncio.gather(*(self._stop_quietly(p) for p in group))
        finally:
            for program in self.programs.values():
                program.leftovers.kill_now()

    async def _stop_quietly(self, program: Program) -> None:
        async with program.lock:
            if program.state in RUNNING_STATES:
                self._door(program.name, "stop", "shutdown")
            await self._drain(program, "stop")
            await program.stop(wait=True)
            await program.leftovers.settle()
            program.close_logs()
