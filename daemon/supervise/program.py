"""One supervised process: the async shell around `machine.decide`.

It feeds events (spawned, exited, timer) to the machine and performs its
actions (spawn, kill, timers). Exits are seen at once through a pidfd on the
event loop (no polling, no watcher thread).
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
from collections.abc import Callable
from typing import IO, Any

from common import ports
from daemon.config import compat
from daemon.supervise import machine, outlog, stdout_relay
from daemon.supervise.leftovers import Leftovers
from daemon.supervise.logfile import RotatingFile, pump
from daemon.supervise.machine import Event, Memory, NotAllowed
from daemon.supervise.orphans import SPAWN_TAG, TAG, kill_spawn
from daemon.types import ExitRecord, ProgramSpec, State, Transition

log = logging.getLogger("mictld")

FINAL_AFTER_START = frozenset({State.RUNNING, State.FATAL, State.EXITED, State.STOPPED})
FINAL_AFTER_STOP = frozenset({State.STOPPED, State.EXITED, State.FATAL})


class Program:
    """One supervised process: feeds events to the machine and performs its actions."""

    def __init__(
        self,
        spec: ProgramSpec,
        *,
        state_dir: str,
        on_transition: Callable[[Program, Transition], None],
        on_note: Callable[[Program, str, str], None] = lambda program, kind, text: None,
        on_respawn: Callable[[Program, str], None] = lambda program, reason: None,
        server_url: str = "",
    ) -> None:
        self.spec = spec
        self.server_url = server_url  # SUPERVISOR_SERVER_URL: mictld's control socket
        self.mem = Memory()
        self.state_dir = state_dir
        self.on_transition = on_transition
        self.on_note = on_note  # what is worth an event but is no transition
        self.on_respawn = on_respawn  # the machine starts it again itself: the door
        self.pid: int | None = None
        self.started_at: float | None = None  # wall clock, for uptime
        self.since: float = time.time()  # when the current state was entered
        self.last_exit: ExitRecord | None = None
        self.history: collections.deque[Transition] = collections.deque(maxlen=50)
        self.lock = asyncio.Lock()  # one operator operation at a time
        self.restarting = False  # stopped only to start again (request_restart)
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
        before = self.mem
        self.mem, actions = machine.decide(self.spec, self.mem, event, time.monotonic())
        follow: list[Event] = []
        for action in actions:
            self._perform(action, follow)
        if self.mem.holds > before.holds:  # held back for flapping (not the respawn floor)
            # Not a transition (it stays EXITED), but an operator wants to know.
            log.warning("%s: %s", self.name, self.mem.spawnerr)
            self.on_note(self, "flap", self.mem.spawnerr)
        for event in follow:
            self.feed(event)

    def _perform(self, action: machine.Action, follow: list[Event]) -> None:
        match action:
            case machine.Enter(state=state, reason=reason):
                self._enter(state, reason)
            case machine.Respawn(reason=reason):
                self.on_respawn(self, reason)
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
        env.update(compat.supervisor_env(spec.name, self.server_url))
        env.update(spec.environment)
        env["MICTL_PROGRAM"] = spec.name
        env[TAG] = self.state_dir
        self._spawn_token = f"{spec.name}:{uuid.uuid4().hex}"
        env[SPAWN_TAG] = self._spawn_token
        refused = compat.cannot_drop(spec.identity)
        if refused:
            return machine.SpawnFailed(refused)
        if spec.directory and not os.path.isdir(spec.directory):
            # Not "command not found": supervisord's words for this case.
            return machine.SpawnFailed(f"couldn't chdir to {spec.directory}: ENOENT")
        if spec.port and _port_taken(spec.port):
            return machine.SpawnFailed(f"port {spec.port} is {ports.describe_taken(spec.port)}")
        relayed = stdout_relay.enabled()  # lines on mictld's stdout too
        wanted = spec.stdout_logfile or spec.stdout_syslog or relayed
        stdout = subprocess.PIPE if wanted else subprocess.DEVNULL
        if spec.redirect_stderr:
            stderr = subprocess.STDOUT
        else:
            wanted = spec.stderr_logfile or spec.stderr_syslog or relayed
            stderr = subprocess.PIPE if wanted else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.PIPE,  # open, never written: supervisord's stdin
                stdout=stdout,
                stderr=stderr,
                cwd=spec.directory,
                env=env,
                start_new_session=True,  # own session and process group
                umask=compat.spawn_umask(spec.umask),
                **_as_user(spec),
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
        except OSError as exc:  # out of descriptors: never leave a process unwatched
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
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
            s = self.spec
            big, keep = s.stdout_logfile_maxbytes, s.stdout_logfile_backups
            if stream == "stderr":
                big, keep = s.stderr_logfile_maxbytes, s.stderr_logfile_backups
            try:
                sink = RotatingFile(path, big, keep, label=f"{self.name} {stream}")
            except OSError as exc:  # a FIFO, a full disk, no descriptors: discard
                log.error("%s: cannot open %s log %s: %s", self.name, stream, path, exc.strerror)
            else:
                self._logs[stream] = sink
        to_log = self.spec.stderr_syslog if stream == "stderr" else self.spec.stdout_syslog
        # Prompts never reach mictld's log: never an instance's lines there.
        lines = outlog.Lines(self.name, stream) if to_log and self.spec.kind != "instance" else None
        relay = stdout_relay.Lines(self.name)  # does nothing unless programs_to_stdout

        def each(data: bytes) -> None:
            relay.feed(data)
            if lines is not None:
                lines.feed(data)
            self._fan_out(data)

        def closed(_: object) -> None:
            relay.close()
            if lines is not None:
                lines.close()

        pump(fd, sink, each).add_done_callback(closed)

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
            machine.signame(sig),
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

    def log_problems(self) -> list[str]:
        """Log files that cannot be written now (a full disk), for `mictl status`."""
        return [
            f"{stream} log: {sink.problem} ({sink.dropped} bytes dropped; retrying)"
            for stream, sink in self._logs.items()
            if sink.problem is not None
        ]

    def reopen_logs(self) -> None:
        for stream, sink in self._logs.items():
            try:
                sink.reopen()
            except OSError as exc:  # the old file stays in use
                log.error("%s: cannot reopen %s log %s: %s", self.name, stream, sink.path, exc)

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
        pending = self.mem.holding or (
            self.state == State.FATAL and self.spec.fatal_retry_after > 0
        )
        if self.state in (State.STOPPED, State.EXITED, State.FATAL) and not pending:
            return self.state  # stopping what is not running is done already
        self.feed(machine.Stop())
        if not wait:
            return self.state
        return await self.wait_for(FINAL_AFTER_STOP)

    def uptime(self, now: float | None = None) -> float | None:
        if self.state not in (State.RUNNING, State.STARTING, State.STOPPING) or not self.started_at:
            return None
        return (now or time.time()) - self.started_at


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _port_taken(port: int) -> bool:
    try:
        return not ports.is_free(port)
    except OSError:  # cannot tell (out of descriptors): the spawn will say
        return False


def _as_user(spec: ProgramSpec) -> dict[str, Any]:
    """Popen's arguments that drop to `user` (groups, then gid, then uid)."""
    ident = spec.identity
    if ident is None or ident.uid == os.geteuid():
        return {}
    return {"user": ident.uid, "group": ident.gid, "extra_groups": list(ident.groups)}
