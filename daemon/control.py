"""The control plane: HTTP/1.1 + JSON over the daemon's Unix socket.

`curl --unix-socket /run/mictl/mictl.sock http://mictl/v1/programs` works.
Errors are `{"error": {"message", "type", "code"}}` like the front port's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from supervisor import datatypes

from common import http_errors
from common.errors import ErrorBody, ErrorDetail
from daemon.config.loader import Config
from daemon.events import DaemonEvent, EventLog
from daemon.fleet.link import NotDrained, RouterLink, UnknownBackend
from daemon.fleet.rolling import RollBusy, Roller
from daemon.state import StateStore
from daemon.supervise.machine import NotAllowed
from daemon.supervise.program import Program
from daemon.supervise.supervisor import Supervisor, UnknownProgram
from daemon.types import DaemonInfo, ProgramInfo, ReloadResult


class Daemon(Protocol):
    """What the control plane needs of the daemon (daemon/main.py), and no more."""

    config: Config
    supervisor: Supervisor
    store: StateStore
    link: RouterLink | None
    events: EventLog
    roller: Roller

    async def reload(self) -> ReloadResult: ...

    def request_shutdown(self, reason: str) -> None: ...

    def info(self) -> DaemonInfo: ...


class ControlError(Exception):
    def __init__(self, status: int, message: str, code: str, known: list[str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.known = status, message, code, known


def json_response(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status, media_type="application/json")


def error_response(
    status: int, message: str, code: str, known: list[str] | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json_response(ErrorBody(ErrorDetail(message, kind, code, known)), status)


N = TypeVar("N", int, float)


def number(request: Request, key: str, default: N, *, minimum: N) -> N:
    """Query parameter `key` as the type of `default`, at least `minimum`;
    anything else is a 400 that names the parameter."""
    raw = request.query_params.get(key)
    if raw is None:
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ControlError(400, f"{key}: expected {what}, got {raw!r}", "bad_parameter") from None
    if not value >= minimum:  # NaN too
        raise ControlError(400, f"{key}: {raw!r} is below {minimum}", "bad_parameter")
    return value


def describe(program: Program, now: float) -> str:
    """supervisorctl's description column."""
    state = program.state.name
    if state in ("RUNNING", "STARTING", "STOPPING") and program.pid:
        up = int(program.uptime(now) or 0)
        return f"pid {program.pid}, uptime {up // 3600}:{up // 60 % 60:02}:{up % 60:02}"
    if state in ("FATAL", "BACKOFF") and program.reason:
        return program.reason
    if state in ("EXITED", "STOPPED") and program.last_exit:
        return time.strftime("%b %d %I:%M %p", time.localtime(program.last_exit.at))
    return "Not started"


def program_info(daemon: Daemon, program: Program, *, history: bool = False) -> ProgramInfo:
    now = time.time()
    saved = daemon.store.program(program.name)
    info = ProgramInfo(
        name=program.name,
        kind=program.spec.kind,
        state=program.state.name,
        statecode=program.state.value,
        description=describe(program, now),
        pid=program.pid,
        port=program.spec.port,
        uptime=program.uptime(now),
        since=program.since,
        restarts=saved.restarts,
        desired=saved.desired,
        reason=program.reason,
        warning="; ".join(w for w in (saved.warning, *program.log_problems()) if w),
        exit=program.last_exit,
        priority=program.spec.priority,
        proxy=program.spec.proxy,
        history=list(program.history) if history else None,
    )
    if daemon.link is not None:
        daemon.link.decorate(info)
    return info


def build_app(daemon: Daemon) -> Starlette:
    sup = daemon.supervisor

    async def list_programs(request: Request) -> Response:
        names = request.query_params.getlist("name")
        programs = [sup.get(n) for n in names] if names else list(sup.programs.values())
        programs.sort(key=lambda p: p.name)
        return json_response([program_info(daemon, p) for p in programs])

    async def one_program(request: Request) -> Response:
        program = sup.get(request.path_params["name"])
        return json_response(program_info(daemon, program, history=True))

    def waits(request: Request) -> bool:
        return request.query_params.get("wait", "1") not in ("0", "false", "no")

    async def verb(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["verb"]
        handler = {"start": sup.start, "stop": sup.stop, "restart": sup.restart}.get(action)
        if handler is None:
            raise ControlError(404, f"unknown operation {action!r}", "unknown_operation")
        state = await handler(name, wait=waits(request))
        if daemon.store.error:  # done, but a daemon restart would forget it
            raise ControlError(
                500, f"{name}: {state.name}, but {daemon.store.error}", "state_not_saved"
            )
        return json_response(program_info(daemon, sup.get(name)))

    async def restart_all(request: Request) -> Response:
        """supervisorctl's `restart all`: stop everything, then start in order."""
        await sup.restart_all(wait=waits(request))
        if daemon.store.error:
            raise ControlError(500, f"restarted, but {daemon.store.error}", "state_not_saved")
        return json_response([program_info(daemon, p) for p in sup.programs.values()])

    async def send_signal(request: Request) -> Response:
        program = sup.get(request.path_params["name"])
        raw = request.path_params["signal"].upper()
        try:  # a name (TERM, SIGTERM) or a number (15), as supervisorctl takes
            sig = signal.Signals(datatypes.signal_number(raw))
        except ValueError:
            raise ControlError(400, f"unknown signal {raw!r}", "bad_signal") from None
        program.signal(sig)
        return json_response(program_info(daemon, program))

    async def logs(request: Request) -> Response:
        program = sup.get(request.path_params["name"])
        stream = request.query_params.get("stream", "stdout")
        lines = number(request, "n", 50, minimum=0)
        follow = request.query_params.get("follow", "0") in ("1", "true", "yes")
        path = program.spec.stderr_logfile if stream == "stderr" else program.spec.stdout_logfile
        head = await asyncio.to_thread(_tail, path, lines) if path else b""  # off the loop
        if not follow:
            return Response(head, media_type="text/plain")
        return StreamingResponse(_follow(program, head), media_type="text/plain")

    async def reload(request: Request) -> Response:
        result = await daemon.reload()
        return json_response(result, 200 if result.ok else 422)

    async def shutdown(request: Request) -> Response:
        daemon.request_shutdown("mictl shutdown")
        return json_response({"ok": True}, 202)

    async def info(request: Request) -> Response:
        about = daemon.info()
        about.draining = daemon.link is not None and daemon.link.pool.draining
        return json_response(about)

    def link() -> RouterLink:
        if daemon.link is None:
            raise ControlError(404, "the front router is disabled in this config", "no_router")
        return daemon.link

    async def backends(request: Request) -> Response:
        return json_response(link().all())

    async def drain(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(await link().drain(name, wait=waits(request)))

    async def undrain(request: Request) -> Response:
        return json_response(link().undrain(request.path_params["name"]))

    async def drain_all(request: Request) -> Response:
        """The whole daemon: new requests refused, in-flight ones finish
        (?wait=0 answers at once; ?timeout= seconds, else drain_timeout)."""
        default = daemon.config.router.drain_timeout
        timeout = number(request, "timeout", float(default), minimum=0.0)
        return json_response(await link().drain_all(wait=waits(request), timeout=timeout))

    async def undrain_all(request: Request) -> Response:
        return json_response(link().undrain_all())

    async def breaker_reset(request: Request) -> Response:
        return json_response(link().breaker_reset(request.path_params["name"]))

    async def events(request: Request) -> Response:
        """Recent events (?n=, ?name= repeated); ?follow=1 streams them as
        JSON lines, the recent ones first, then each as it happens."""
        names = set(request.query_params.getlist("name"))
        recent = daemon.events.recent(number(request, "n", 100, minimum=0), names)
        if request.query_params.get("follow", "0") not in ("1", "true", "yes"):
            return json_response(recent)
        return StreamingResponse(
            _follow_events(daemon.events, recent, names), media_type="application/x-ndjson"
        )

    async def roll(request: Request) -> Response:
        """POST: start a rolling restart (?name= repeated, else every program;
        ?batch=, ?max_unavailable=, ?timeout=); GET: how far it got."""
        if request.method == "GET":
            return json_response(daemon.roller.status)
        q = request.query_params
        names = q.getlist("name") or sorted(sup.programs)
        status = daemon.roller.start(
            names,
            batch=number(request, "batch", 1, minimum=1),
            max_unavailable=number(request, "max_unavailable", 1, minimum=1),
            timeout=number(request, "timeout", 120.0, minimum=0.001),
        )
        return json_response(status, 202)

    routes = [
        Route("/v1/daemon", info),
        Route("/v1/roll", roll, methods=["GET", "POST"]),
        Route("/v1/events", events),
        Route("/v1/backends", backends),
        Route("/v1/drain", drain_all, methods=["POST"]),
        Route("/v1/undrain", undrain_all, methods=["POST"]),
        Route("/v1/backends/{name}/drain", drain, methods=["POST"]),
        Route("/v1/backends/{name}/undrain", undrain, methods=["POST"]),
        Route("/v1/backends/{name}/breaker/reset", breaker_reset, methods=["POST"]),
        Route("/v1/programs", list_programs),
        Route("/v1/programs/{name}", one_program),
        Route("/v1/programs/{name}/logs", logs),
        Route("/v1/programs/{name}/signal/{signal}", send_signal, methods=["POST"]),
        Route("/v1/programs/{name}/{verb}", verb, methods=["POST"]),
        Route("/v1/restart", restart_all, methods=["POST"]),
        Route("/v1/reload", reload, methods=["POST"]),
        Route("/v1/shutdown", shutdown, methods=["POST"]),
    ]
    handlers: dict[Any, Callable[[Request, Any], Response]] = {
        UnknownProgram: _unknown,
        UnknownBackend: _unknown,
        NotDrained: lambda r, e: error_response(409, str(e), "not_drained"),
        RollBusy: lambda r, e: error_response(409, str(e), "roll_running"),
        NotAllowed: lambda r, e: error_response(409, str(e), "not_allowed"),
        ControlError: lambda r, e: error_response(e.status, e.message, e.code, e.known),
        ValueError: lambda r, e: error_response(400, str(e), "bad_request"),
    }
    # 404, 405 and 500 as JSON too, like every other answer here
    return Starlette(routes=routes, exception_handlers={**http_errors.handlers(), **handlers})


def _unknown(request: Request, exc: UnknownProgram | UnknownBackend) -> Response:
    what = "program" if isinstance(exc, UnknownProgram) else "instance or upstream"
    known = ", ".join(exc.known) or "none"
    return error_response(
        404, f"no such {what}: {exc.name} (known: {known})", "unknown_program", exc.known
    )


def _tail(path: str, lines: int) -> bytes:
    """The last `lines` lines of a log file (reading backwards, not all of it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO never blocks
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return b""
        with open(fd, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            block, data = 8192, b""
            while end > 0 and data.count(b"\n") <= lines:
                step = min(block, end)
                end -= step
                f.seek(end)
                data = f.read(step) + data
    except FileNotFoundError:
        return b""
    if lines <= 0:
        return b""
    return b"\n".join(data.split(b"\n")[-lines - 1 :]).lstrip(b"\n") if data else b""


async def _follow(program: Program, head: bytes) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)

    def listener(data: bytes) -> None:
        if not queue.full():  # a slow reader loses lines, the daemon never blocks
            queue.put_nowait(data)

    program.log_listeners.add(listener)
    try:
        if head:
            yield head
        while True:
            yield await queue.get()
    finally:
        program.log_listeners.discard(listener)


async def _follow_events(
    log: EventLog, recent: list[DaemonEvent], names: set[str]
) -> AsyncIterator[bytes]:
    queue = log.follow()
    try:
        for event in recent:
            yield msgspec.json.encode(event) + b"\n"
        while True:
            event = await queue.get()
            if not names or event.program in names:
                yield msgspec.json.encode(event) + b"\n"
    finally:
        log.unfollow(queue)
