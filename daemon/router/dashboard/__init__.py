"""/dashboard on the front port: every program live over server-sent events,
and actions for whoever holds the admin token.

- `GET /dashboard`: the page (no external assets).
- `GET /dashboard.json`: one snapshot.
- `GET /dashboard/events`: a snapshot as an SSE message at once, then on
  every change (at most every 0.25 s) and at least every 2 s.
- `POST /dashboard/api/programs/{name}/{action}` and
  `POST /dashboard/api/rolling-restart`: need `X-Mictl-Admin-Token`, the
  `[dashboard]` admin token (never a client API key), compared in constant
  time. With no token configured the page is read-only and actions are 403.

A browser cannot send that header cross-site without a CORS preflight this
server never answers, so a page elsewhere cannot drive the actions.
Never shows a key, a cookie, a prompt or an answer.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from daemon import __version__
from daemon.router.backend import describe
from daemon.router.dashboard.model import (
    BACKEND_ACTIONS,
    PROGRAM_ACTIONS,
    ActionRefused,
    Feed,
    ProgramView,
    RouterView,
    Snapshot,
)

PAGE = (Path(__file__).with_name("page.html")).read_text()
TOKEN_HEADER = "x-mictl-admin-token"
MIN_GAP = 0.25  # seconds between two messages of one stream
HEARTBEAT = 1.0  # a message at least this often (uptime moves; a dead stream shows)

Endpoint = Callable[[Request], Awaitable[Response]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status, media_type="application/json")


def _error(status: int, message: str, code: str) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return _json(body, status)


class RouterFeed:
    """The router's view alone (no supervisor): backends, read-only."""

    def __init__(self, router: RouterView) -> None:
        self.router = router
        self.started = time.time()

    def snapshot(self) -> Snapshot:
        pool = self.router.pool
        now = pool.clock()
        views = [
            ProgramView(name=b.name, kind=b.kind, state="-", backend=describe(b, now))
            for b in sorted(pool.backends.values(), key=lambda b: b.name)
        ]
        uptime = time.time() - self.started
        return build_snapshot(self.router, views, [], admin=False, uptime=uptime)

    async def changed(self, timeout: float) -> None:
        await asyncio.sleep(timeout)

    def closed(self) -> bool:
        return False

    def admin_token(self) -> str:
        return ""

    async def act(self, name: str, action: str) -> str:
        raise ActionRefused(403, "read-only")

    async def rolling_restart(self) -> str:
        raise ActionRefused(403, "read-only")


def build_snapshot(
    router: RouterView,
    programs: list[ProgramView],
    events: list[Any],
    *,
    admin: bool,
    uptime: float,
) -> Snapshot:
    backends = [p.backend for p in programs if p.backend is not None]
    latencies = [b.latency_ms for b in backends if b.routable and b.latency_ms]
    return Snapshot(
        at=time.time(),
        version=__version__,
        uptime=uptime,
        config=router.cfg.path,
        strategy=router.cfg.router.strategy,
        queue_length=router.pool.queue_length,
        admin=admin,
        programs=programs,
        events=events,
        requests=sum(b.served + b.failed for b in backends),
        errors=sum(b.failed for b in backends),
        latency_ms=round(sum(latencies) / len(latencies), 1) if latencies else 0.0,
    )


def token_ok(configured: str, given: str) -> bool:
    """Constant time; an empty configured token admits nobody."""
    return bool(configured) and hmac.compare_digest(configured.encode(), given.encode())


async def _stream(feed: Feed, request: Request) -> AsyncIterator[bytes]:
    while not feed.closed():
        yield b"data: " + msgspec.json.encode(feed.snapshot()) + b"\n\n"
        await feed.changed(HEARTBEAT)
        if await request.is_disconnected():
            return
        await asyncio.sleep(MIN_GAP)  # coalesce a burst of changes into one message


def routes(router: RouterView, guard: Callable[[Endpoint], Endpoint]) -> list[Route]:
    """The dashboard's routes, each behind `guard` (the router's API-key check)."""

    def feed() -> Feed:
        return router.dashboard or RouterFeed(router)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def data(request: Request) -> Response:
        return _json(feed().snapshot())

    async def events(request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            _stream(feed(), request), media_type="text/event-stream", headers=headers
        )

    def refused(request: Request) -> Response | None:
        configured = feed().admin_token()
        if not configured:
            return _error(403, "read-only: no [dashboard] admin_token is configured", "read_only")
        if not token_ok(configured, request.headers.get(TOKEN_HEADER, "")):
            return _error(401, f"missing or wrong {TOKEN_HEADER} header", "invalid_admin_token")
        return None

    async def act(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        if action not in PROGRAM_ACTIONS | BACKEND_ACTIONS:
            return _error(404, f"no action {action!r}", "unknown_action")
        if (denied := refused(request)) is not None:
            return denied
        try:
            return _json({"ok": True, "result": await feed().act(name, action)})
        except ActionRefused as exc:
            return _error(exc.status, str(exc), "refused")

    async def rolling(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        try:
            return _json({"ok": True, "result": await feed().rolling_restart()}, 202)
        except ActionRefused as exc:
            return _error(exc.status, str(exc), "refused")

    return [
        Route("/dashboard", guard(page)),
        Route("/dashboard.json", guard(data)),
        Route("/dashboard/events", guard(events)),
        Route("/dashboard/api/programs/{name}/{action}", guard(act), methods=["POST"]),
        Route("/dashboard/api/rolling-restart", guard(rolling), methods=["POST"]),
    ]
