"""A read-only status page on the front port: /dashboard (HTML) polls
/dashboard.json. Shows what `mictl health` shows; never a key or a cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from daemon.router.backend import describe
from daemon.router.pool import Pool
from daemon.types import BackendInfo

PAGE = (Path(__file__).with_name("page.html")).read_text()


class Snapshot(msgspec.Struct):
    queue_length: int
    backends: list[BackendInfo]


def snapshot(pool: Pool) -> Snapshot:
    now = pool.clock()
    backends = sorted(pool.backends.values(), key=lambda b: b.name)
    return Snapshot(pool.queue_length, [describe(b, now) for b in backends])


Endpoint = Callable[[Request], Awaitable[Response]]


def routes(pool: Pool) -> tuple[Endpoint, Endpoint]:
    """The page and its data, for the router to mount (behind its key check)."""

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def data(request: Request) -> Response:
        return Response(msgspec.json.encode(snapshot(pool)), media_type="application/json")

    return page, data
