"""The async shell around `machine.decide`: processes, pipes, timers, waiters.

One `Program` per supervised process; the `Supervisor` holds them, starts them
in priority order and stops them in reverse. Exits are seen at once through a
pidfd on the event loop (no polling, no watcher thread).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import IO

import msgspec

from common import ports
from daemon import machine
from daemon.leftovers import Leftovers
from daemon.logfile import RotatingFile, pump
from daemon.machine import Event, Memory, NotAllowed
from daemon.orphans import SPAWN_TAG, TAG, kill_spawn
from daemon.state import StateStore
from daemon.types import RUNNING_STATES, Desired, ExitRecord, ProgramSpec, State, Transition

log = logging.getLogger("mictld")

FINAL_AFTER_START = frozenset({State.RUNNING, State.FATAL, State.EXITED, State.STOPPED})
FINAL_AFTER_STOP = frozenset({State.STOPPED, State.EXITED, State.FATAL})


class UnknownProgram(KeyError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = sorted(known)


class Program:
    """One supervised process: feeds events to the machine and performs its actions."""

    def __init__(
        self,
        spec: ProgramSpec,
        *,
        state_dir: str,
        on_transition: Callable[[Program, Transition], None],
    ) -> None:
        self.spec = spec
        self.mem = Memory()
        self.state_dir = state_dir
        self.on_transition = on_transition
        self.pid: int | None = None
        self.started_at: float | None = None  # wall clock, for uptime
        self.since: float = time.time()  # when the current state was entered
        self.last_exit: ExitRecord | None = None
        self.history: collections.deque[Transition] = collections.deque(maxlen=50)
        self.lock = asyncio.Lock()  # one operator operation at a time
        self.log_listeners: set[Callable[[bytes], None]] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._spawn_token = ""
        self._timer: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._logs: dict[str, RotatingFile] = {}
        self.leftovers = Leftovers(spec.name)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> State:
        return self.mem.state

    @property
    def reason(self) -> str:
        """Why it is FATAL or BACKOFF (supervisord's spawnerr)."""
        return self.mem.spawnerr

    # ---------------------------------------------------------- events

    def feed(self, event: Event) -> None:
        self.mem, actions = machine.decide(self.spec, self.mem, event, time.monotonic())
        follow: list[Event] = []
        for action in actions:
            self._perform(action, follow)
        for event in follow:
            self.feed(event)

    def _perform(self, action: machine.Action, follow: list[Event]) -> None:
        match action:
            case machine.Enter(state=state, reason=reason):
                self._enter(state, reason)
            case machine.Spawn():
                follow.append(self._spawn())
            case machine.Kill(signal=sig, group=group):
                self._kill(sig, group)
            case machine.SetTimer(delay=delay):
                self._cancel_timer()
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(delay, self.feed, machine.Timeout())
            case machine.CancelTimer():
                self._cancel_timer()

    def _enter(self, state: State, reason: str) -> None:
        old = self.history[-1].new if self.history else State.STOPPED
        now = time.time()
        transition = Transition(self.name, old, state, now, reason)
        self.history.append(transition)
        self.since = now
        suffix = f" ({reason})" if reason else ""
        level = logging.WARNING if state in (State.FATAL, State.BACKOFF) else logging.INFO
        log.log(level, "%s: %s -> %s%s", self.name, old.name, state.name, suffix)
        self._changed.set()
        self._changed = asyncio.Event()
        self.on_transition(self, transition)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --------------------------------------------------------- process

    def _spawn(self) -> Event:
        spec = self.spec
        env = dict(os.environ)
        # Like a venv's activate: the commands installed beside mictld
        # (mictl-instance, mictl-demo-site) resolve without a full path. An
        # explicit PATH in the program's environment wins, as in supervisord.
        env["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), env.get("PATH", "")))
        env.update(spec.environment)
        env["MICTL_PROGRAM"] = spec.name
        env[TAG] = self.state_dir
        self._spawn_token = f"{spec.name}:{uuid.uuid4().hex}"
        env[SPAWN_TAG] = self._spawn_token
        if spec.port and _port_taken(spec.port):
            return machine.SpawnFailed(f"port {spec.port} is {ports.describe_taken(spec.port)}")
        stdout = subprocess.PIPE if spec.stdout_logfile else subprocess.DEVNULL
        if spec.redirect_stderr:
            stderr = subprocess.STDOUT
        else:
            stderr = subprocess.PIPE if spec.stderr_logfile else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.PIPE,  # open, never written: supervisord's stdin
                stdout=stdout,
                stderr=stderr,
                cwd=spec.directory,
                env=env,
                start_new_session=True,  # own session and process group
            )
        except OSError as exc:
            reason = f"can't spawn {spec.argv[0]!r}: {exc.strerror or exc}"
            return machine.SpawnFailed(reason)
        try:
            pidfd = os.pidfd_open(proc.pid)
            if proc.stdout is not None:
                self._pump(proc.stdout, "stdout", spec.stdout_logfile)
            if proc.stderr is not None:
                self._pump(proc.stderr, "stderr", spec.stderr_logfile)
        except OSError as exc:  # out of descriptors: do not leave it unwatched
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            return machine.SpawnFailed(f"can't watch {spec.argv[0]!r}: {exc.strerror or exc}")
        self._proc = proc
        self.pid = proc.pid
        self.started_at = time.time()
        asyncio.get_running_loop().add_reader(pidfd, self._reap, pidfd, proc)
        return machine.Spawned(proc.pid)

    def _pump(self, pipe: IO[bytes], stream: str, path: str | None) -> None:
        fd = os.dup(pipe.fileno())
        pipe.close()
        sink = self._logs.get(stream)
        if sink is None and path:
            try:
                sink = RotatingFile(
                    path, self.spec.stdout_logfile_maxbytes, self.spec.stdout_logfile_backups
                )
            except OSError as exc:  # a FIFO, a full disk, no descriptors: discard
                log.error("%s: cannot open %s log %s: %s", self.name, stream, path, exc.strerror)
            else:
                self._logs[stream] = sink
        pump(fd, sink, self._fan_out)

    def _fan_out(self, data: bytes) -> None:
        for listener in list(self.log_listeners):
            listener(data)

    def _reap(self, pidfd: int, proc: subprocess.Popen[bytes]) -> None:
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        code = proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if self.spec.killasgroup:
            # mictld: what is left of the program (a browser and its helpers,
            # in the group or not) ends with its leader: SIGTERM, then SIGKILL.
            self.leftovers.end(proc.pid, self._spawn_token, self.spec.stopwaitsecs)
        self.pid = None
        self._proc = None
        event = machine.Exited(None, -code) if code < 0 else machine.Exited(code)
        self.last_exit = ExitRecord(
            code=event.code,
            signal=event.signal,
            at=time.time(),
            expected=event.status in self.spec.exitcodes,
        )
        self.feed(event)

    def _kill(self, sig: int, group: bool) -> None:
        if self.pid is None:
            return
        log.info(
            "%s: sending %s to %s %d",
            self.name,
            signal.Signals(sig).name,
            "group" if group else "pid",
            self.pid,
        )
        if group:
            _signal_group(self.pid, sig)
            if sig == signal.SIGKILL:
                kill_spawn(self._spawn_token)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    @property
    def spawn_token(self) -> str:
        """The environment tag every process of the current spawn carries."""
        return self._spawn_token

    def signal(self, sig: int) -> None:
        """Send a signal to the running process (mictl signal)."""
        if self.pid is None:
            raise NotAllowed(f"{self.name} is not running ({self.state.name})")
        self._kill(sig, group=False)

    def close_logs(self) -> None:
        for sink in self._logs.values():
            sink.close()
        self._logs.clear()

    # ----------------------------------------------------------- waits

    async def wait_for(self, states: frozenset[State], timeout: float | None = None) -> State:
        async def until() -> State:
            while self.state not in states:
                await self._changed.wait()
            return self.state

        return await asyncio.wait_for(until(), timeout)

    async def start(self, *, wait: bool = True) -> State:
        self.feed(machine.Start())
        if not wait:
            return self.state
        # BACKOFF is not an answer: supervisord's start waits through retries.
        return await self.wait_for(FINAL_AFTER_START)

    async def stop(self, *, wait: bool = True) -> State:
        if self.state in (State.STOPPED, State.EXITED, State.FATAL):
            return self.state  # stopping what is not running is done already
        self.feed(machine.Stop())
        if not wait:
            return self.state
        return await self.wait_for(FINAL_AFTER_STOP)

    def uptime(self, now: float | None = None) -> float | None:
        if self.state not in (State.RUNNING, State.STARTING, State.STOPPING) or not self.started_at:
            return None
        return (now or time.time()) - self.started_at


def _port_taken(port: int) -> bool:
    try:
        return not ports.is_free(port)
    except OSError:  # cannot tell (out of descriptors): the spawn will say
        return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Diff(msgspec.Struct):
    """What a reload did, like circus's results."""

    added: list[str] = []
    removed: list[str] = []
    restarted: list[str] = []
    unchanged: list[str] = []


class Supervisor:
    """All programs of one daemon."""

    def __init__(self, store: StateStore, state_dir: str) -> None:
        self.store = store
        self.state_dir = state_dir
        self.programs: dict[str, Program] = {}
        self.listeners: list[Callable[[Transition], None]] = []
        # The router drains an instance (no new requests, in-flight ones
        # finish) before any stop or restart; None when there is no router.
        self.drain: Callable[[str], Awaitable[None]] | None = None
        self.undrain: Callable[[str], None] | None = None

    def get(self, name: str) -> Program:
        try:
            return self.programs[name]
        except KeyError:
            raise UnknownProgram(name, self.programs) from None

    def add(self, spec: ProgramSpec) -> Program:
        program = Program(spec, state_dir=self.state_dir, on_transition=self._on_transition)
        saved = self.store.program(spec.name)
        program.last_exit = saved.last_exit
        self.programs[spec.name] = program
        return program

    def _on_transition(self, program: Program, transition: Transition) -> None:
        saved = self.store.program(program.name)
        if transition.new == State.STARTING and transition.old in (State.EXITED, State.BACKOFF):
            saved.restarts += 1
        if transition.new in (State.EXITED, State.STOPPED, State.BACKOFF) and program.last_exit:
            saved.last_exit = program.last_exit
        self.store.save_soon()
        for listener in self.listeners:
            listener(transition)

    def by_priority(self, reverse: bool = False) -> list[list[Program]]:
        groups: dict[int, list[Program]] = collections.defaultdict(list)
        for program in self.programs.values():
            groups[program.spec.priority].append(program)
        return [groups[p] for p in sorted(groups, reverse=reverse)]

    # ---------------------------------------------------- operator verbs

    async def start(self, name: str, *, wait: bool = True) -> State:
        program = self.get(name)
        async with program.lock:
            self._want(name, "running")
            if program.state in RUNNING_STATES:
                return program.state
            return await program.start(wait=wait)

    async def stop(self, name: str, *, wait: bool = True) -> State:
        program = self.get(name)
        async with program.lock:
            self._want(name, "stopped")
            await self._drain(program)
            return await program.stop(wait=wait)

    async def restart(self, name: str, *, wait: bool = True) -> State:
        program = self.get(name)
        async with program.lock:
            self._want(name, "running")
            await self._drain(program)
            await program.stop(wait=True)
            self._undrain(program)
            return await program.start(wait=wait)

    def _want(self, name: str, desired: Desired) -> None:
        """An operator's wish, remembered across daemon restarts."""
        self.store.program(name).desired = desired
        self.store.save()  # now: a failure fails the operator's command (control.py)

    async def _drain(self, program: Program) -> None:
        if self.drain is not None and program.state in RUNNING_STATES:
            await self.drain(program.name)

    def _undrain(self, program: Program) -> None:
        if self.undrain is not None:
            self.undrain(program.name)

    def start_all(self) -> None:
        """Daemon start: autostart programs, in priority order, unless an
        operator's stop is remembered for them."""
        for group in self.by_priority():
            for program in group:
                wanted = self.store.program(program.name).desired == "running"
                if program.spec.autostart and wanted and program.state not in RUNNING_STATES:
                    program.feed(machine.Start())

    async def stop_all(self) -> None:
        """Reverse priority; the programs of one priority stop in parallel."""
        for group in self.by_priority(reverse=True):
            await asyncio.gather(*(self._stop_quietly(p) for p in group))

    async def _stop_quietly(self, program: Program) -> None:
        async with program.lock:
            await self._drain(program)
            await program.stop(wait=True)
            program.leftovers.kill_now()
            program.close_logs()

    # ------------------------------------------------------------ reload

    async def apply(self, specs: list[ProgramSpec]) -> Diff:
        """Make the running set match `specs`: only changed programs restart."""
        diff = Diff()
        wanted = {spec.name: spec for spec in specs}
        for name in [n for n in self.programs if n not in wanted]:
            program = self.programs[name]
            async with program.lock:
                await self._drain(program)
                await program.stop(wait=True)
                program.close_logs()
            del self.programs[name]
            self.store.forget(name)
            diff.removed.append(name)
        for spec in sorted(specs, key=lambda s: (s.priority, s.name)):
            current = self.programs.get(spec.name)
            if current is None:
                program = self.add(spec)
                diff.added.append(spec.name)
                if spec.autostart and self.store.program(spec.name).desired == "running":
                    program.feed(machine.Start())
            elif current.spec != spec:
                async with current.lock:
                    was_running = current.state in RUNNING_STATES
                    await self._drain(current)
                    await current.stop(wait=True)
                    self._undrain(current)
                    current.close_logs()
                    current.spec = spec
                    if was_running or (current.state == State.FATAL and spec.autostart):
                        await current.start(wait=False)
                diff.restarted.append(spec.name)
            else:
                diff.unchanged.append(spec.name)
        return diff
