"""supervisord's process state machine as pure decisions.

`decide(spec, mem, event, now)` returns the new memory and the actions the
async shell (`supervisor.py`) must perform. Nothing here touches a process, a
clock or a timer, so every rule can be tested by feeding events.

The rules follow supervisord's `Subprocess` (process.py): `spawn`, `finish`,
`kill`, `give_up` and `transition`, with one difference: supervisord only
notices time passing on its 1 s loop, here every delay is a timer, so
startsecs, backoff and stopwaitsecs are honoured to the millisecond.
"""

from __future__ import annotations

import signal

import msgspec

from daemon.types import TRANSITIONS, ProgramSpec, State

AUTORESTART = "autorestart"  # the reason of every start the machine decides itself


def signame(number: int) -> str:
    """SIGTERM for 15; the number itself for what has no name (0, as
    supervisord accepts for stopsignal: nothing is sent, SIGKILL follows)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ------------------------------------------------------------------ events


class Start(msgspec.Struct, frozen=True):
    """The operator (or autostart) asks for the program to run."""


class Stop(msgspec.Struct, frozen=True):
    """The operator asks for the program to stop."""


class Spawned(msgspec.Struct, frozen=True):
    pid: int


class SpawnFailed(msgspec.Struct, frozen=True):
    reason: str


class Exited(msgspec.Struct, frozen=True):
    code: int | None  # exit status, None when killed by a signal
    signal: int | None = None

    @property
    def status(self) -> int:
        # supervisord's decode_wait_status: a signal death is exit status -1
        return -1 if self.code is None else self.code

    def describe(self) -> str:
        if self.signal is not None:
            return f"terminated by {signame(self.signal)}"
        return f"exit status {self.code}"


class Timeout(msgspec.Struct, frozen=True):
    """The one pending timer of this program fired (startsecs, backoff or stopwait)."""


class GiveUp(msgspec.Struct, frozen=True):
    """The daemon gives up on a program that is not running (restarted by
    health probes that never pass): FATAL with the reason, until an
    operator's start (or a reload) tries again."""

    reason: str


Event = Start | Stop | Spawned | SpawnFailed | Exited | Timeout | GiveUp

# ----------------------------------------------------------------- actions


class Enter(msgspec.Struct, frozen=True):
    state: State
    reason: str = ""


class Spawn(msgspec.Struct, frozen=True):
    pass


class Respawn(msgspec.Struct, frozen=True):
    """The machine starts the program again by itself (after an exit, after
    BACKOFF, fatal_retry_after): the shell takes it through the supervisor's
    door, which records it with this reason and counts it."""

    reason: str = AUTORESTART


class Kill(msgspec.Struct, frozen=True):
    signal: int
    group: bool


class SetTimer(msgspec.Struct, frozen=True):
    delay: float


class CancelTimer(msgspec.Struct, frozen=True):
    pass


Action = Enter | Spawn | Respawn | Kill | SetTimer | CancelTimer


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    """What the machine remembers between events (supervisord's Subprocess fields)."""

    state: State = State.STOPPED
    backoff: int = 0
    laststart: float = 0.0
    killing: bool = False
    exitstatus: int | None = None
    spawnerr: str = ""
    running: bool = False  # a process exists
    # mictld's own (flapping and FATAL retries; both off unless the spec asks):
    exits: tuple[float, ...] = ()  # when it exited after startsecs, within flap_window
    holds: int = 0  # hold-backs in a row (the next waits flap_delay * 2**holds)
    holding: bool = False  # EXITED, respawn held back by a timer
    fatal_retries: int = 0  # retries after FATAL so far


EX_CONFIG = 78  # sysexits.h: an instance that exits so while starting is not retried
# mictld: an automatic restart comes at the earliest this long after the start
# before it, so a startsecs=0 program that exits at once restarts about once a
# second (supervisord's 1 s loop holds it there by accident), not 180 times;
# a program that ran longer than this restarts at once.
RESPAWN_FLOOR = 1.0


class IllegalTransition(Exception):
    pass


class NotAllowed(Exception):
    """The event makes no sense in this state (e.g. start while RUNNING)."""


def check_edge(old: State, new: State) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"{old.name} -> {new.name}")


def decide(spec: ProgramSpec, mem: Memory, event: Event, now: float) -> tuple[Memory, list[Action]]:
    handler = _HANDLERS[type(event)]
    return handler(spec, mem, event, now)


def _enter(mem: Memory, actions: list[Action], state: State, reason: str = "") -> Memory:
    check_edge(mem.state, state)
    actions.append(Enter(state, reason))
    return msgspec.structs.replace(mem, state=state)


def _spawn(
    spec: ProgramSpec, mem: Memory, now: float, actions: list[Action], respawn: str = ""
) -> Memory:
    """Into STARTING; `respawn`: the machine's own decision, and why."""
    if spec.fatal_reason:
        mem = _enter(mem, actions, State.FATAL, spec.fatal_reason)
        return msgspec.structs.replace(mem, spawnerr=spec.fatal_reason, backoff=0)
    if respawn:
        actions.append(Respawn(respawn))
    mem = _enter(mem, actions, State.STARTING)
    mem = msgspec.structs.replace(mem, laststart=now, killing=False, spawnerr="")
    actions.append(Spawn())
    # startsecs=0 still passes through STARTING, as in supervisord.
    actions.append(SetTimer(spec.startsecs))
    return mem


def _on_start(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    if mem.state not in (State.STOPPED, State.EXITED, State.FATAL):
        raise NotAllowed(f"{spec.name} is {mem.state.name}")
    if spec.fatal_reason and mem.state == State.FATAL:
        raise NotAllowed(f"{spec.name} cannot start: {spec.fatal_reason}")
    actions: list[Action] = [CancelTimer()]
    # supervisord's startProcess resets the retry count when an operator asks.
    mem = msgspec.structs.replace(mem, backoff=0, holding=False, holds=0, fatal_retries=0)
    return _spawn(spec, mem, now, actions), actions


def _on_stop(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    actions: list[Action] = []
    if mem.state == State.BACKOFF:
        actions.append(CancelTimer())
        mem = _enter(mem, actions, State.STOPPED, "stopped while in BACKOFF")
        return msgspec.structs.replace(mem, backoff=0), actions
    if mem.state == State.STOPPING:
        return mem, actions  # already on its way
    if mem.state == State.EXITED and mem.holding:
        # A held-back respawn is cancelled; the program stays EXITED.
        actions.append(CancelTimer())
        return msgspec.structs.replace(mem, holding=False, spawnerr=""), actions
    if mem.state == State.FATAL and spec.fatal_retry_after:
        # The pending retry is cancelled; FATAL stays FATAL.
        actions.append(CancelTimer())
        return msgspec.structs.replace(mem, spawnerr=mem.spawnerr.split("; retrying")[0]), actions
    if mem.state not in (State.STARTING, State.RUNNING):
        raise NotAllowed(f"{spec.name} is not running ({mem.state.name})")
    actions.append(Kill(spec.stopsignal, spec.stopasgroup))
    actions.append(SetTimer(spec.stopwaitsecs))
    mem = _enter(mem, actions, State.STOPPING, f"sent {signame(spec.stopsignal)}")
    return msgspec.structs.replace(mem, killing=True), actions


def _on_spawned(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    return msgspec.structs.replace(mem, running=True), []


def _on_spawn_failed(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    assert isinstance(event, SpawnFailed)
    actions: list[Action] = [CancelTimer()]
    mem = msgspec.structs.replace(mem, spawnerr=event.reason, running=False)
    return _backoff(spec, mem, actions, event.reason)


def _backoff(spec: ProgramSpec, mem: Memory, actions: list[Action], reason: str):
    mem = _enter(mem, actions, State.BACKOFF, reason)
    mem = msgspec.structs.replace(mem, backoff=mem.backoff + 1)
    if mem.backoff > spec.startretries:
        mem = _enter(mem, actions, State.FATAL, "too many start retries too quickly")
        return _retry_fatal(spec, msgspec.structs.replace(mem, backoff=0), actions), actions
    # supervisord waits `backoff` seconds before try number backoff+1.
    actions.append(SetTimer(float(mem.backoff)))
    return mem, actions


def _retry_fatal(spec: ProgramSpec, mem: Memory, actions: list[Action]) -> Memory:
    """mictld's fatal_retry_after: FATAL tries again by itself after a delay
    that doubles each time, up to a cap (off by default: supervisord's FATAL
    waits for a person)."""
    if not spec.fatal_retry_after:
        return mem
    delay = min(spec.fatal_retry_after * 2**mem.fatal_retries, spec.fatal_retry_max)
    actions.append(SetTimer(delay))
    note = f"; retrying in {delay:g}s (fatal_retry_after)"
    return msgspec.structs.replace(mem, spawnerr=(mem.spawnerr or "gave up") + note)


def _on_exited(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    assert isinstance(event, Exited)
    actions: list[Action] = [CancelTimer()]
    mem = msgspec.structs.replace(mem, running=False)
    if mem.killing:
        mem = _enter(mem, actions, State.STOPPED, event.describe())
        return msgspec.structs.replace(mem, killing=False, exitstatus=event.status), actions
    if mem.state == State.STARTING and now - mem.laststart < spec.startsecs:
        if event.code == EX_CONFIG and spec.kind == "instance":
            # mictld: the runner says retrying cannot help (no browser, bad
            # site file): FATAL at once, through BACKOFF as supervisord would.
            # Other programs are retried as under supervisord.
            reason = "exit status 78 (EX_CONFIG): a configuration error, not retried"
            mem = _enter(mem, actions, State.BACKOFF, reason)
            mem = _enter(mem, actions, State.FATAL, reason)
            mem = msgspec.structs.replace(mem, spawnerr=reason, backoff=0)
            return _retry_fatal(spec, mem, actions), actions
        mem = msgspec.structs.replace(
            mem, exitstatus=None, spawnerr="Exited too quickly (process log may have details)"
        )
        return _backoff(spec, mem, actions, f"exited too quickly ({event.describe()})")
    if mem.state == State.STARTING:
        # The exit raced the startsecs timer: it did stay up long enough.
        mem = _enter(mem, actions, State.RUNNING, f"up for {spec.startsecs:g}s (startsecs)")
    expected = event.status in spec.exitcodes
    word = "expected" if expected else "not expected"
    mem = _enter(mem, actions, State.EXITED, f"{event.describe()}; {word}")
    mem = msgspec.structs.replace(
        mem,
        backoff=0,
        exitstatus=event.status,
        spawnerr="" if expected else f"Bad exit code {event.status}",
    )
    if spec.autorestart == "true" or (spec.autorestart == "unexpected" and not expected):
        mem, delay = _flapping(spec, mem, now)
        if delay:
            # mictld: a program that keeps dying after startsecs waits, with a
            # growing delay, instead of respawning in a tight loop.
            held = (
                f"held back {delay:g}s: {len(mem.exits)} exits in {spec.flap_window:g}s (flapping)"
            )
            # Never sooner than the floor below.
            actions.append(SetTimer(max(delay, RESPAWN_FLOOR - (now - mem.laststart))))
            return msgspec.structs.replace(mem, holding=True, spawnerr=held), actions
        floor = RESPAWN_FLOOR - (now - mem.laststart)
        if floor > 0:  # held back the same way, to the floor
            actions.append(SetTimer(floor))
            return msgspec.structs.replace(mem, holding=True), actions
        mem = _spawn(spec, mem, now, actions, AUTORESTART)
    return mem, actions


def _flapping(spec: ProgramSpec, mem: Memory, now: float) -> tuple[Memory, float]:
    """Count this exit; the hold-back delay if the program is flapping, else 0."""
    if not spec.flap_exits:
        return mem, 0.0
    exits = (*(t for t in mem.exits if now - t < spec.flap_window), now)
    if len(exits) < spec.flap_exits:
        return msgspec.structs.replace(mem, exits=exits, holds=0), 0.0
    delay = min(spec.flap_delay * 2**mem.holds, spec.flap_delay_max)
    return msgspec.structs.replace(mem, exits=exits, holds=mem.holds + 1), delay


def _on_timeout(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    actions: list[Action] = []
    if mem.state == State.STARTING:
        mem = _enter(mem, actions, State.RUNNING, f"up for {spec.startsecs:g}s (startsecs)")
        return msgspec.structs.replace(mem, backoff=0, fatal_retries=0), actions
    if mem.state == State.BACKOFF:
        return _spawn(spec, mem, now, actions, AUTORESTART), actions
    if mem.state == State.EXITED and mem.holding:
        mem = msgspec.structs.replace(mem, holding=False)
        return _spawn(spec, mem, now, actions, AUTORESTART), actions
    if mem.state == State.FATAL and spec.fatal_retry_after and not spec.fatal_reason:
        mem = msgspec.structs.replace(mem, backoff=0, fatal_retries=mem.fatal_retries + 1)
        return _spawn(spec, mem, now, actions, f"{AUTORESTART}: fatal_retry_after"), actions
    if mem.state == State.STOPPING:
        # Past stopwaitsecs: SIGKILL. If even that does not end it, the program
        # stays STOPPING, as in supervisord.
        actions.append(Kill(signal.SIGKILL, spec.killasgroup))
        return mem, actions
    return mem, actions


def _on_give_up(spec: ProgramSpec, mem: Memory, event: Event, now: float):
    assert isinstance(event, GiveUp)
    if mem.state not in (State.STOPPED, State.EXITED, State.BACKOFF):
        raise NotAllowed(f"{spec.name} is {mem.state.name}: stop it before giving up")
    actions: list[Action] = [CancelTimer()]
    mem = _enter(mem, actions, State.FATAL, event.reason)
    return msgspec.structs.replace(mem, spawnerr=event.reason, backoff=0, holding=False), actions


_HANDLERS = {
    Start: _on_start,
    Stop: _on_stop,
    Spawned: _on_spawned,
    SpawnFailed: _on_spawn_failed,
    Exited: _on_exited,
    Timeout: _on_timeout,
    GiveUp: _on_give_up,
}
