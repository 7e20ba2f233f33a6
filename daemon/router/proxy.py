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
from collections.abc import AsyncGenerator

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from common.errors import ErrorBody, ErrorDetail
from common.serving import ClientGone, cancel_on_disconnect
from daemon.config.schema import RouterSection
from daemon.router.backend import Backend
from daemon.router.classify import REFUSED, TIMED_OUT, Verdict, classify
from daemon.router.metrics import Metrics
from daemon.router.pool import HARD_FAIL, NEUTRAL, OK, Lease, NoRoute, Outcome, Pool
from daemon.router.scrub import scrub
from daemon.router.upstream import Client, UpstreamError
from daemon.router.upstream import Response as UpstreamResponse

log = logging.getLogger("mictld.router")

CONNECTION_ERRORS = (UpstreamError, ConnectionError)


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
    if exc.final:  # both official OpenAI SDKs honour it: no retries that cannot help
        headers["x-should-retry"] = "false"
    elif exc.elsewhere:
        headers["x-should-retry"] = "true"
    return Response(
        error_body(str(exc), exc.code, exc.status),
        exc.status,
        headers,
        media_type="application/json",
    )


def _retry_after(value: str | None, default: float = 30.0) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


IGNORED = b"x-mictl-ignored"  # the request fields an instance did not honour


class Relay:
    """A streamed answer passed through chunk by chunk, as an ASGI response.

    Lighter than Starlette's StreamingResponse (no task group per stream):
    one watcher task notices a client that goes away, and cancelling the
    relay closes the upstream connection, which stops the generation there.
    """

    def __init__(self, chunks: AsyncGenerator[bytes, None], content_type: str) -> None:
        self.chunks = chunks
        self.headers = [
            (b"content-type", content_type.encode("latin-1")),
            (b"cache-control", b"no-cache"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with cancel_on_disconnect(receive):
                await send({"type": "http.response.start", "status": 200, "headers": self.headers})
                async for chunk in self.chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientGone:
            pass
        finally:
            await self.chunks.aclose()


class Forwarder:
    def __init__(self, pool: Pool, metrics: Metrics) -> None:
        self.pool = pool
        self.metrics = metrics
        self.client: Client | None = None

    async def start(self) -> None:
        self.client = Client(self.cfg.connect_timeout)

    async def close(self) -> None:
        if self.client:
            self.client.close()

    @property
    def cfg(self) -> RouterSection:
        return self.pool.cfg

    def _headers(self, backend: Backend) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if backend.api_key:
            headers["Authorization"] = f"Bearer {backend.api_key}"
        return headers

    async def forward(
        self, body: bytes, model: str, stream: bool, sticky: str | None
    ) -> Response | Relay:
        assert self.client is not None
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
                lease = await self.pool.acquire(
                    model, sticky=sticky, exclude=tried, timeout=remaining
                )
            except NoRoute as exc:
                if last is not None and exc.status != 429:
                    break  # the backend's own error says more than "no route"
                self.metrics.count("-", str(exc.status))
                return no_route_response(exc)
            tried.add(lease.backend.name)
            with lease:  # released once, whatever happens below
                result = await self._attempt(lease, body, model, stream, deadline)
            if not isinstance(result, Upstream):
                return result
            last = result
        if last is None:
            return no_route_response(NoRoute(504, "request timed out", "timeout"))
        return Response(last.body, last.status, last.headers, media_type="application/json")

    def _settle(
        self,
        lease: Lease,
        verdict: Verdict,
        model: str,
        latency_ms: float = 0.0,
        retry_after: str | None = None,
    ) -> None:
        """What the answer means for the backend: breaker, cooldown, probe."""
        backend = lease.backend
        if verdict.cool:
            self.pool.cool(backend, model, _retry_after(retry_after))
        lease.release(Outcome(verdict.outcome, latency_ms))
        if verdict.probe and backend.probed:
            self.pool.hooks.on_probe_now(backend)

    async def _attempt(
        self, lease: Lease, body: bytes, model: str, stream: bool, deadline: float
    ) -> Response | Relay | Upstream:
        """One try on one backend: a Response to return, or an Upstream failure."""
        assert self.client is not None
        backend = lease.backend
        started = time.monotonic()
        url = f"{backend.base_url}/chat/completions"
        try:
            resp = await self.client.post(
                url, body, self._headers(backend), max(1.0, deadline - started)
            )
        except CONNECTION_ERRORS as exc:
            log.warning("%s: %s; failing over", backend.name, exc)
            self._settle(lease, classify(backend.kind, REFUSED), model)
            self.metrics.count(backend.name, "conn_error")
            return Upstream(
                502,
                error_body(f"{backend.name} unreachable: {exc}", "upstream_unreachable", 502),
                {},
            )
        except TimeoutError:
            self._settle(lease, classify(backend.kind, TIMED_OUT), model)
            return Upstream(504, error_body(f"{backend.name} timed out", "timeout", 504), {})
        status = resp.status
        if status == 200 and stream:
            self.metrics.count(backend.name, "200")
            self.metrics.observe(backend.name, time.monotonic() - started)
            content_type = resp.header(b"content-type") or "text/event-stream"
            # The relay owns the slot from here, and frees it when the stream ends.
            relay = Relay(self._relay(resp, lease.hand_over(), started), content_type)
            ignored = resp.header(IGNORED)
            if ignored:  # what the instance did not do: the client must hear it
                relay.headers.append((IGNORED, ignored.encode("latin-1")))
            return relay
        try:
            payload = await resp.read()
        except asyncio.CancelledError:
            resp.close()
            raise
        except (*CONNECTION_ERRORS, TimeoutError):
            resp.close()
            self._settle(lease, classify(backend.kind, REFUSED), model)
            return Upstream(502, error_body(f"{backend.name} broke off", "upstream_reset", 502), {})
        resp.release()
        if status >= 400:  # an error body goes to our client: never with a key in it
            payload = scrub(payload, (backend.api_key,))
        self.metrics.count(backend.name, str(status))
        retry_after = resp.header(b"retry-after")
        headers = {"Retry-After": retry_after} if retry_after else {}
        ignored = resp.header(IGNORED)
        if ignored:
            headers["x-mictl-ignored"] = ignored
        latency = (time.monotonic() - started) * 1000
        verdict = classify(backend.kind, status)
        self._settle(lease, verdict, model, latency, retry_after)
        if verdict.retry:
            return Upstream(status, payload, headers)
        if verdict.outcome == "ok":
            self.metrics.observe(backend.name, latency / 1000)
        return Response(payload, status, headers, media_type="application/json")

    async def _relay(
        self, resp: UpstreamResponse, lease: Lease, started: float
    ) -> AsyncGenerator[bytes, None]:
        backend = lease.backend
        outcome = NEUTRAL
        try:
            async for chunk in resp.iter_body():
                yield chunk
            outcome = OK
        except (*CONNECTION_ERRORS, TimeoutError) as exc:
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
            lease.release(Outcome(outcome, latency))
