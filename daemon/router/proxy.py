"""Forwarding one request: pick, send, fail over before the first byte, relay.

The body is forwarded as bytes; streams pass through chunk by chunk. A
request that failed before its first byte reached the client is retried on
another backend (bounded by max_retries and request_timeout); after the first
byte it never is: the stream ends with an OpenAI-shaped error event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import msgspec
from starlette.responses import Response, StreamingResponse

from daemon.config import RouterSection
from daemon.metrics import Metrics
from daemon.router.backend import Backend
from daemon.router.pool import FAIL, HARD_FAIL, NEUTRAL, OK, NoRoute, Outcome, Pool
from daemon.types import ErrorBody, ErrorDetail

log = logging.getLogger("mictld.router")

CONNECTION_ERRORS = (
    aiohttp.ClientConnectionError,  # refused, reset, server disconnected
    aiohttp.ClientPayloadError,  # the body broke off
    ConnectionResetError,
)


class Upstream(msgspec.Struct, frozen=True):
    """An upstream's answer that was not a success (to return if nothing better comes)."""

    status: int
    body: bytes
    headers: dict[str, str]


def error_body(message: str, code: str, status: int) -> bytes:
    kind = {429: "rate_limit_error", 404: "invalid_request_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    return msgspec.json.encode(ErrorBody(ErrorDetail(message, kind, code)))


def no_route_response(exc: NoRoute) -> Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return Response(
        error_body(str(exc), exc.code, exc.status),
        exc.status,
        headers,
        media_type="application/json",
    )


def _retry_after(headers: aiohttp.typedefs.LooseHeaders, default: float = 30.0) -> float:
    try:
        return float(headers.get("Retry-After", default))  # type: ignore[union-attr]
    except ValueError:
        return default


class Forwarder:
    def __init__(self, pool: Pool, metrics: Metrics) -> None:
        self.pool = pool
        self.metrics = metrics
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def close(self) -> None:
        if self.session:
            await self.session.close()

    @property
    def cfg(self) -> RouterSection:
        return self.pool.cfg

    def _headers(self, backend: Backend) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if backend.api_key:
            headers["Authorization"] = f"Bearer {backend.api_key}"
        return headers

    async def forward(self, body: bytes, model: str, stream: bool, sticky: str | None) -> Response:
        assert self.session is not None
        deadline = time.monotonic() + self.cfg.request_timeout
        tried: set[str] = set()
        last: Upstream | None = None
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                self.metrics.retries.inc()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                backend = await self.pool.acquire(
                    model, sticky=sticky, exclude=tried, timeout=remaining
                )
            except NoRoute as exc:
                if last is not None and exc.status != 429:
                    break  # the backend's own error says more than "no route"
                self.metrics.requests.labels("-", str(exc.status)).inc()
                return no_route_response(exc)
            tried.add(backend.name)
            result = await self._attempt(backend, body, model, stream, deadline)
            if isinstance(result, Response):
                return result
            last = result
        if last is None:
            return no_route_response(NoRoute(504, "request timed out", "timeout"))
        return Response(last.body, last.status, last.headers, media_type="application/json")

    async def _attempt(
        self, backend: Backend, body: bytes, model: str, stream: bool, deadline: float
    ) -> Response | Upstream:
        """One try on one backend: a Response to return, or an Upstream failure."""
        assert self.session is not None
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.cfg.connect_timeout, sock_read=max(1.0, deadline - started)
        )
        url = f"{backend.base_url}/chat/completions"
        try:
            resp = await self.session.post(
                url, data=body, headers=self._headers(backend), timeout=timeout
            )
        except asyncio.CancelledError:
            self.pool.release(backend, Outcome(NEUTRAL))
            raise
        except CONNECTION_ERRORS as exc:
            log.warning("%s: %s; failing over", backend.name, exc.__class__.__name__)
            self.pool.release(backend, Outcome(HARD_FAIL))
            self.metrics.requests.labels(backend.name, "conn_error").inc()
            return Upstream(
                502,
                error_body(f"{backend.name} unreachable: {exc}", "upstream_unreachable", 502),
                {},
            )
        except TimeoutError:
            self.pool.release(backend, Outcome(FAIL))
            return Upstream(504, error_body(f"{backend.name} timed out", "timeout", 504), {})
        status = resp.status
        if status == 200 and stream:
            self.metrics.requests.labels(backend.name, "200").inc()
            self.metrics.latency.labels(backend.name).observe(time.monotonic() - started)
            return StreamingResponse(
                self._relay(resp, backend, started),
                media_type=resp.headers.get("Content-Type", "text/event-stream"),
                headers={"Cache-Control": "no-cache"},
            )
        try:
            payload = await resp.read()
        except asyncio.CancelledError:
            resp.close()
            self.pool.release(backend, Outcome(NEUTRAL))
            raise
        except CONNECTION_ERRORS:
            self.pool.release(backend, Outcome(HARD_FAIL))
            return Upstream(502, error_body(f"{backend.name} broke off", "upstream_reset", 502), {})
        finally:
            resp.release()
        self.metrics.requests.labels(backend.name, str(status)).inc()
        headers = {k: v for k, v in resp.headers.items() if k.lower() == "retry-after"}
        if status == 429:
            self.pool.cool(backend, model, _retry_after(resp.headers))
            self.pool.release(backend, Outcome(NEUTRAL))
            return Upstream(status, payload, headers)
        if status >= 500:
            self.pool.release(backend, Outcome(FAIL))
            if status == 503 and b"logged_out" in payload:
                backend.healthy, backend.health = False, "logged_out"
            return Upstream(status, payload, headers)
        latency = (time.monotonic() - started) * 1000
        self.pool.release(backend, Outcome(OK if status < 400 else NEUTRAL, latency))
        self.metrics.latency.labels(backend.name).observe(latency / 1000)
        return Response(payload, status, headers, media_type="application/json")

    async def _relay(
        self, resp: aiohttp.ClientResponse, backend: Backend, started: float
    ) -> AsyncIterator[bytes]:
        outcome = NEUTRAL
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
            outcome = OK
        except CONNECTION_ERRORS as exc:
            # Bytes already reached the client: never retry, end the stream
            # with an error event instead.
            outcome = HARD_FAIL
            log.warning("%s: stream broke off (%s)", backend.name, exc.__class__.__name__)
            message = f"{backend.name} failed mid-stream; the answer is incomplete"
            yield b"data: " + error_body(message, "upstream_reset", 502) + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            # On a client disconnect this closes the upstream connection, which
            # stops the generation in the browser.
            if outcome == OK:
                resp.release()
            else:
                resp.close()
            latency = (time.monotonic() - started) * 1000
            self.pool.release(backend, Outcome(outcome, latency))
