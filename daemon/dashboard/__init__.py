"""A read-only status page on the front port: /dashboard (HTML) polls
/dashboard.json. Shows what `mictl health` shows; never a key or a cookie."""

from __future__ import annotations

from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from daemon.router.pool import Pool

PAGE = (Path(__file__).with_name("page.html")).read_text()


class Row(msgspec.Struct):
    name: str
    kind: str
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
    cooling: dict[str, float]


class Snapshot(msgspec.Struct):
    queue_length: int
    backends: list[Row]


def snapshot(pool: Pool) -> Snapshot:
    now = pool.clock()
    rows = [
        Row(
            b.name,
            b.kind,
            b.up(now),
            b.health,
            b.draining,
            b.in_flight,
            b.max_concurrent,
            b.breaker_state,
            b.served,
            b.failed,
            round(b.ewma_ms, 1),
            sorted(b.models or []),
            {m: round(u - now, 1) for m, u in b.cooldowns.items() if u > now},
        )
        for b in sorted(pool.backends.values(), key=lambda b: b.name)
    ]
    return Snapshot(pool.queue_length, rows)


def routes(pool: Pool) -> tuple:  # type: ignore[type-arg]
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def data(request: Request) -> Response:
        return Response(msgspec.json.encode(snapshot(pool)), media_type="application/json")

    return page, data
