"""The daemon's vocabulary: states, program specs and the records that cross
module boundaries. Imports nothing else from `daemon` (like supervisor/states.py).
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec


class State(enum.Enum):
    """supervisord's process states, with its numeric codes."""

    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000


# The legal moves, as data. These are supervisord's arrows (process.py), plus
# two of mictld's own marked below: a program that cannot be started at all
# (a broken profile) goes straight to FATAL with the reason, without burning
# start retries on something that cannot succeed.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.STARTING, State.FATAL}),  # FATAL: mictld
    State.STARTING: frozenset({State.RUNNING, State.BACKOFF, State.STOPPING}),
    State.RUNNING: frozenset({State.STOPPING, State.EXITED}),
    State.BACKOFF: frozenset({State.STARTING, State.FATAL, State.STOPPED}),
    State.STOPPING: frozenset({State.STOPPED}),
    State.EXITED: frozenset({State.STARTING, State.FATAL}),  # FATAL: mictld
    State.FATAL: frozenset({State.STARTING}),
    State.UNKNOWN: frozenset(),
}

# supervisord's groupings (states.py).
RUNNING_STATES = frozenset({State.RUNNING, State.BACKOFF, State.STARTING})
STOPPED_STATES = frozenset({State.STOPPED, State.EXITED, State.FATAL, State.UNKNOWN})

AutoRestart = Literal["true", "false", "unexpected"]
Desired = Literal["running", "stopped"]
Kind = Literal["program", "instance"]
DrainReason = Literal["operator", "stop", "restart"]  # who stops new work going to a backend


class Identity(msgspec.Struct, frozen=True):
    """Who a program runs as (its `user`), resolved once at load."""

    uid: int
    gid: int
    groups: tuple[int, ...]


class ProgramSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A program resolved from config: every value already in its final type.

    Two specs that compare equal describe the same process, which is how a
    reload decides what must restart.
    """

    name: str
    kind: Kind = "program"
    argv: tuple[str, ...]
    autostart: bool = True
    autorestart: AutoRestart = "unexpected"
    startsecs: float = 1.0
    startretries: int = 3
    exitcodes: tuple[int, ...] = (0,)
    stopsignal: int = 15
    stopwaitsecs: float = 10.0
    stopasgroup: bool = False
    killasgroup: bool = False
    priority: int = 999
    group_priority: int | None = None  # a [groups.X] member's: ordered by it first
    environment: tuple[tuple[str, str], ...] = ()
    directory: str | None = None
    stdout_logfile: str | None = None
    stdout_logfile_maxbytes: int = 50 * 1024 * 1024
    stdout_logfile_backups: int = 10
    redirect_stderr: bool = False
    stderr_logfile: str | None = None
    stderr_logfile_maxbytes: int = 50 * 1024 * 1024
    stderr_logfile_backups: int = 10
    stdout_syslog: bool = False  # each output line in mictld's own log too
    stderr_syslog: bool = False
    identity: Identity | None = None  # `user`: uid, gid, groups
    umask: int = -1  # -1: the daemon's
    port: int | None = None
    profile: str | None = None  # the pool file an instance was made from
    profile_generation: int = 0  # copies made from the pool: a new one restarts it
    proxy: str = ""  # an instance's proxy, scheme://host:port (never its credentials)
    credentials_stamp: str = ""  # new proxy credentials restart it (a keyed hash: nothing of them)
    fatal_reason: str | None = None  # set when the program cannot start at all
    # mictld's own, off by default so that supervisord's semantics hold:
    flap_exits: int = 0  # this many exits after startsecs within flap_window: hold back
    flap_window: float = 60.0
    flap_delay: float = 1.0  # the first hold-back; doubles each time, up to flap_delay_max
    flap_delay_max: float = 300.0
    fatal_retry_after: float = 0.0  # try a FATAL program again after this; doubles, capped
    fatal_retry_max: float = 3600.0


class Transition(msgspec.Struct, frozen=True):
    """One move of one program's state machine, as logged and emitted."""

    program: str
    old: State
    new: State
    at: float
    reason: str = ""


Verb = Literal["start", "stop", "restart", "give_up"]


class DoorEntry(msgspec.Struct, frozen=True):
    """One pass through the supervisor's one door: what was done to a program
    and why ("operator", "autorestart", "health: 3 failed probes", "scale: ...").
    `counted`: the daemon restarted it because it failed, and the one restart
    counter moved."""

    program: str
    verb: Verb
    reason: str
    counted: bool = False


class Note(msgspec.Struct, frozen=True):
    """Something about a program worth an event that is no transition (a
    start held back for flapping)."""

    program: str
    kind: str
    text: str


# What the supervisor tells the listener above it, as it happens.
Told = Transition | DoorEntry | Note


class ExitRecord(msgspec.Struct):
    code: int | None  # None when killed by a signal
    signal: int | None
    at: float
    expected: bool


# Checked when the state file is read (daemon/state_repair.py): a port from
# a damaged file must never reach a bind().
SavedPort = Annotated[int, msgspec.Meta(ge=1, le=65535)]
SavedCount = Annotated[int, msgspec.Meta(ge=0)]


class ProgramState(msgspec.Struct, kw_only=True):
    """What the daemon learned about one program and keeps across restarts."""

    desired: Desired = "running"
    port: SavedPort | None = None
    restarts: SavedCount = 0
    last_exit: ExitRecord | None = None
    profile_digest: str | None = None  # of the pool file last seen
    profile_generation: SavedCount = 0  # how many times the private copy came from the pool
    desired_by: Literal["", "operator", "scaler"] = ""  # who last started or stopped it
    warning: str = ""  # e.g. its profile's session cookies expire soon


class DaemonState(msgspec.Struct, kw_only=True):
    version: int = 1
    programs: dict[str, ProgramState] = {}


# ------------------------------------------------ control-plane records


class ProgramInfo(msgspec.Struct, kw_only=True):
    """One entry of `GET /v1/programs`: what `mictl status` shows."""

    name: str
    kind: Kind
    state: str
    statecode: int
    description: str  # supervisorctl's: "pid 123, uptime 0:01:02" or the reason
    pid: int | None = None
    port: int | None = None
    uptime: float | None = None
    since: float = 0.0
    restarts: int = 0
    desired: Desired = "running"
    reason: str = ""  # why FATAL / BACKOFF / EXITED unexpectedly
    warning: str = ""  # something an operator should act on (a profile about to expire)
    exit: ExitRecord | None = None
    priority: int = 999
    proxy: str = ""  # an instance's proxy, scheme://host:port (never its credentials)
    # Filled by the router and the health prober when they run:
    health: str | None = None  # the router's phase of it: routable, draining, starting...
    routing: str | None = None  # docker-like: "routable", "draining", "logged out"...
    routable: bool | None = None
    draining: bool | None = None
    in_flight: int | None = None
    breaker: str | None = None
    history: list[Transition] | None = None


class ReloadResult(msgspec.Struct, kw_only=True):
    ok: bool
    at: float
    error: str = ""
    added: list[str] = []
    removed: list[str] = []
    restarted: list[str] = []
    unchanged: list[str] = []
    changed: list[str] = []  # settings applied in place: "router.strategy: 'a' -> 'b'"


class RollStatus(msgspec.Struct, kw_only=True):
    """A rolling restart: its batches and how far it got."""

    running: bool
    started_at: float
    batches: list[list[str]]
    done: int = 0  # batches finished
    restarted: list[str] = []
    stopped: str = ""  # why the roll stopped before the end
    finished_at: float | None = None


class DaemonInfo(msgspec.Struct, kw_only=True):
    version: str
    pid: int
    started_at: float
    uptime: float
    config: str
    socket: str
    state_dir: str
    log_dir: str
    front: str | None = None
    queue_length: int | None = None  # requests waiting at the front port
    last_reload: ReloadResult | None = None
    state_error: str | None = None  # why the state file could not be written
    state_damage: list[str] = []  # what was wrong with the state file at start, and dropped
    log_error: str | None = None  # why mictld.log cannot be written now (a full disk)
    roll: RollStatus | None = None  # the running or last rolling restart
    draining: bool = False  # `mictl drain --all`: the front refuses new requests


class DrainInfo(msgspec.Struct, kw_only=True):
    """`POST /v1/drain` and `/v1/undrain`: the whole daemon's drain."""

    draining: bool  # new requests are refused (503, retryable elsewhere)
    in_flight: int  # requests and streams still running
    drained: bool  # nothing is in flight (within the wait's timeout)


class BackendInfo(msgspec.Struct, kw_only=True):
    """One entry of `GET /v1/backends`: an instance or upstream as the router sees it."""

    name: str
    kind: str
    url: str
    routable: bool
    health: str
    draining: bool
    in_flight: int
    max_concurrent: int
    breaker: str
    served: int
    failed: int
    latency_ms: float
    models: list[str]
    cooling: dict[str, float]  # model -> seconds left of a rate-limit cooldown
    pages: list[str] = []  # an instance's pages (tabs): free, busy, opening or broken
    proxy: str = ""  # an instance's proxy as its /health says (never its credentials)
