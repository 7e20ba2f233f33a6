"""The OpenAI-compatible API of one instance: one page, one generation at a time.

Requests queue in order in front of the page (bounded: beyond it, 503 with
Retry-After). A streamed request answers with its first delta or with an
error status, so a router can still fail over; after the first byte, errors
become an error event in the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import anyio
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from common import http_errors
from common.errors import ErrorBody, ErrorDetail
from common.serving import ClientGone, cancel_on_disconnect
from instance_runner import limits, prompt
from instance_runner.browser import BrowserSession
from instance_runner.request_log import FIRST_DELTA
from instance_runner.sites.errors import (
    LoggedOut,
    PageCrashed,
    RateLimited,
    SiteError,
    SiteProblem,
    Stalled,
)
from instance_runner.types import (
    ChatChunk,
    ChatCompletion,
    ChatRequest,
    Choice,
    ChunkChoice,
    Delta,
    Health,
    Model,
    ModelList,
    ResponseMessage,
    Usage,
)

log = logging.getLogger("mictl.instance")
T = TypeVar("T")


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, type: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.code, self.headers = status, type, code, headers or {}


def error_response(exc: ApiError) -> Response:
    body = msgspec.json.encode(ErrorBody(ErrorDetail(str(exc), exc.type, exc.code)))
    return Response(body, exc.status, exc.headers, media_type="application/json")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(data), status, headers, media_type="application/json")


class Instance:
    """The state behind the API: the browser session, the queue, rate limits."""

    def __init__(
        self,
        name: str,
        session: BrowserSession,
        *,
        max_queue: int = 8,
        model_default: str | None = None,
    ) -> None:
        self.name = name
        self.model_default = model_default
        self.session = session
        self.max_queue = max_queue
        self.waiting = 0
        self.busy = False
        self.served = 0
        self.failed = 0
        self.last_error = ""
        self.rate_limited_until: dict[str, float] = {}
        self._page = asyncio.Lock()  # FIFO: one generation at a time

    def health(self) -> Health:
        s = self.session
        now = time.time()
        limited = {m: t for m, t in self.rate_limited_until.items() if t > now}
        ok = s.connected and s.page_ready and s.logged_in
        return Health(
            ok=ok,
            name=self.name,
            site=s.site.name,
            browser_connected=s.connected,
            page_ready=s.page_ready,
            logged_in=s.logged_in,
            busy=self.busy,
            queue_length=self.waiting,
            rate_limited_until=limited,
            models=s.models,
            served=self.served,
            failed=self.failed,
            last_error=self.last_error,
        )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._page.locked() and self.waiting >= self.max_queue:
            raise ApiError(
                503,
                f"instance {self.name} is busy and its queue is full",
                "server_error",
                "queue_full",
                {"Retry-After": "5"},
            )
        self.waiting += 1
        try:
            await self._page.acquire()
        finally:
            self.waiting -= 1
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
            self._page.release()

    def check_ready(self, model: str) -> None:
        s = self.session
        if not (s.connected and s.page_ready):
            raise ApiError(
                503,
                "the browser page is not ready",
                "server_error",
                "not_ready",
                {"Retry-After": "5"},
            )
        if not s.logged_in:
            raise ApiError(
                503,
                f"instance {self.name} is logged out of {s.site.name}: "
                + (s.login_hint or "refresh its profile"),
                "server_error",
                "logged_out",
            )
        until = self.rate_limited_until.get(model, 0)
        if until > time.time():
            raise rate_limit_error(model, until - time.time())

    async def failed_with(self, exc: SiteProblem, model: str) -> ApiError:
        """Record a site problem, save artifacts, and map it to an HTTP error."""
        self.failed += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("request failed: %s", self.last_error)
        await self.session.save_artifacts(self.last_error)
        if isinstance(exc, RateLimited):
            self.rate_limited_until[model] = time.time() + exc.retry_after
            return rate_limit_error(model, exc.retry_after, str(exc))
        if isinstance(exc, LoggedOut):
            self.session.logged_in = False
            return ApiError(503, str(exc), "server_error", "logged_out")
        if isinstance(exc, Stalled):
            return ApiError(504, f"generation stalled: {exc}", "server_error", "stalled")
        if isinstance(exc, PageCrashed):
            return ApiError(502, str(exc), "server_error", "page_crashed")
        assert isinstance(exc, SiteError)
        return ApiError(502, f"the site showed an error: {exc}", "server_error", "site_error")


def rate_limit_error(model: str, seconds: float, text: str = "") -> ApiError:
    retry = max(1, round(seconds))
    message = f"rate limited on {model}; retry after {retry}s" + (f" ({text})" if text else "")
    return ApiError(429, message, "rate_limit_error", "rate_limited", {"Retry-After": str(retry)})


def build_app(instance: Instance, *, max_body: int = 4 * 1024 * 1024) -> Starlette:
    async def chat(request: Request) -> Response:
        try:
            return await _chat(request)
        except ApiError as exc:
            return error_response(exc)
        except ClientGone:
            log.info("client disconnected; generation stopped")
            return Response(status_code=499)

    async def _chat(request: Request) -> Response:
        body = await request.body()
        if len(body) > max_body:
            raise ApiError(
                413,
                f"request body over {max_body} bytes",
                "invalid_request_error",
                "body_too_large",
            )
        req = _decode(body)
        if req.model in ("", "default") and instance.model_default:
            req.model = instance.model_default
        if req.n not in (None, 1):
            raise ApiError(
                400,
                "n > 1 is not supported by a browser session",
                "invalid_request_error",
                "unsupported",
            )
        known = await instance.session.adapter.models() if instance.session.page_ready else []
        if known and req.model not in known:
            raise ApiError(
                404,
                f"The model '{req.model}' does not exist here (served: {', '.join(known)})",
                "invalid_request_error",
                "model_not_found",
            )
        instance.check_ready(req.model)
        text = prompt.build(req.messages)
        stop = [req.stop] if isinstance(req.stop, str) else req.stop
        limiter = limits.Limiter(stop, req.max_completion_tokens or req.max_tokens)
        headers = _ignored(req)
        slot = instance.slot()
        async with cancel_on_disconnect(request.receive):
            await slot.__aenter__()
        try:
            deltas = instance.session.adapter.generate(text, req.model)
            async with cancel_on_disconnect(request.receive):
                first = await _first(deltas, limiter, instance, req.model)
            request.scope[FIRST_DELTA] = time.monotonic()  # for the request log line
        except BaseException:
            await slot.__aexit__(None, None, None)
            raise
        if req.stream:
            return StreamingResponse(
                _stream(first, deltas, limiter, instance, req, text, slot),
                headers={**headers, "Cache-Control": "no-cache"},
                media_type="text/event-stream",
            )
        try:
            async with cancel_on_disconnect(request.receive):
                answer = first + await _rest(deltas, limiter, instance, req.model)
        finally:
            await deltas.aclose()
            await slot.__aexit__(None, None, None)
        instance.served += 1
        completion = ChatCompletion(
            id=_id(),
            created=int(time.time()),
            model=req.model,
            choices=[
                Choice(0, ResponseMessage("assistant", answer), limiter.finish_reason or "stop")
            ],
            usage=_usage(text, answer),
        )
        return json_response(completion, headers=headers)

    async def models(request: Request) -> Response:
        names = await instance.session.adapter.models() if instance.session.page_ready else []
        return json_response(ModelList([Model(id=m) for m in names]))

    async def health(request: Request) -> Response:
        report = instance.health()
        return json_response(report, 200 if report.ok else 503)

    return Starlette(
        exception_handlers=http_errors.handlers(),
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models),
            Route("/health", health),
        ],
    )


def _decode(body: bytes) -> ChatRequest:
    try:
        req = msgspec.json.decode(body, type=ChatRequest)
    except msgspec.ValidationError as exc:
        raise ApiError(
            400, f"invalid request: {exc}", "invalid_request_error", "invalid_request"
        ) from None
    except (msgspec.DecodeError, RecursionError, UnicodeError) as exc:
        raise ApiError(
            400, f"malformed JSON: {exc}", "invalid_request_error", "invalid_json"
        ) from None
    if not any(prompt.text_of(m).strip() for m in req.messages):  # empty, or images only
        raise ApiError(400, "messages carry no text", "invalid_request_error", "empty_prompt")
    return req


def _ignored(req: ChatRequest) -> dict[str, str]:
    ignored = [k for k in ("temperature", "top_p") if getattr(req, k) is not None]
    return {"x-mictl-ignored": ", ".join(ignored)} if ignored else {}


async def _first(
    deltas: AsyncIterator[str], limiter: limits.Limiter, instance: Instance, model: str
) -> str:
    """Wait for the first text to send (so errors can still be an HTTP status)."""
    try:
        async for delta in deltas:
            out = limiter.feed(delta)
            if out or limiter.finish_reason:
                return out
        return limiter.flush()
    except SiteProblem as exc:
        raise await instance.failed_with(exc, model) from None


async def _rest(
    deltas: AsyncIterator[str], limiter: limits.Limiter, instance: Instance, model: str
) -> str:
    parts = []
    try:
        if not limiter.finish_reason:
            async for delta in deltas:
                parts.append(limiter.feed(delta))
                if limiter.finish_reason:
                    break
            else:
                parts.append(limiter.flush())
    except SiteProblem as exc:
        raise await instance.failed_with(exc, model) from None
    return "".join(parts)


async def _stream(
    first: str,
    deltas: AsyncIterator[str],
    limiter: limits.Limiter,
    instance: Instance,
    req: ChatRequest,
    text: str,
    slot: contextlib.AbstractAsyncContextManager[None],
) -> AsyncIterator[bytes]:
    chunk_id, created = _id(), int(time.time())

    def chunk(delta: Delta, finish: str | None = None, usage: Usage | None = None) -> bytes:
        choices = [ChunkChoice(0, delta, finish)] if usage is None else []
        payload = ChatChunk(chunk_id, created, req.model, choices, usage=usage)
        return b"data: " + msgspec.json.encode(payload) + b"\n\n"

    answer = [first]
    completed = False
    try:
        yield chunk(Delta(role="assistant", content=first))
        if not limiter.finish_reason:
            try:
                async for delta in deltas:
                    out = limiter.feed(delta)
                    if out:
                        answer.append(out)
                        yield chunk(Delta(content=out))
                    if limiter.finish_reason:
                        break
                else:
                    tail = limiter.flush()
                    if tail:
                        answer.append(tail)
                        yield chunk(Delta(content=tail))
            except SiteProblem as exc:
                error = await instance.failed_with(exc, req.model)
                detail = ErrorDetail(str(error), error.type, error.code)
                yield b"data: " + msgspec.json.encode(ErrorBody(detail)) + b"\n\n"
                yield b"data: [DONE]\n\n"
                completed = True
                return
        yield chunk(Delta(), limiter.finish_reason or "stop")
        if req.stream_options and req.stream_options.include_usage:
            yield chunk(Delta(), usage=_usage(text, "".join(answer)))
        yield b"data: [DONE]\n\n"
        instance.served += 1
        completed = True
    finally:
        # Runs on normal end and when the client goes away (the task is
        # cancelled): either way the page is stopped and freed. Shielded, as
        # Starlette cancels this whole scope on disconnect.
        with anyio.CancelScope(shield=True):
            if not completed:
                log.info("client went away mid-stream; stopping the generation")
            await deltas.aclose()
            await slot.__aexit__(None, None, None)


def _usage(text: str, answer: str) -> Usage:
    p, c = limits.estimate_tokens(text), limits.estimate_tokens(answer)
    return Usage(p, c, p + c)


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
