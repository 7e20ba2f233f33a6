"""The OpenAI-compatible API of one instance: one generation per page at a time.

Requests queue in order in front of the page (bounded: beyond it, 503 with
Retry-After). A streamed request answers with its first delta or with an
error status, so a router can still fail over; after the first byte, errors
become an error event in the stream. Thinking goes out as
`reasoning_content` (in each delta, and in the whole message).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from common import http_errors
from common.errors import ErrorBody, ErrorDetail
from common.serving import ClientGone, cancel_on_disconnect
from instance_runner import limits, prompt, timeline
from instance_runner.images.decode import ImageError
from instance_runner.images.fetch import Limits
from instance_runner.images.gather import gather
from instance_runner.instance import ApiError, Instance
from instance_runner.request_log import FIRST_DELTA
from instance_runner.sites import settings
from instance_runner.sites.decoders import Event
from instance_runner.sites.errors import SiteProblem
from instance_runner.types import (
    ChatChunk,
    ChatCompletion,
    ChatRequest,
    Choice,
    ChunkChoice,
    Delta,
    Model,
    ModelList,
    ResponseMessage,
    Usage,
)

log = logging.getLogger("mictl.instance")
Out = tuple[str, str]  # ("text" | "reasoning", piece)


def error_response(exc: ApiError) -> Response:
    body = msgspec.json.encode(
        ErrorBody(ErrorDetail(str(exc), exc.type, exc.code, param=exc.param))
    )
    return Response(body, exc.status, exc.headers, media_type="application/json")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(data), status, headers, media_type="application/json")


def build_app(
    instance: Instance,
    *,
    max_body: int = 40 * 1024 * 1024,
    with_timeline: bool = False,
    image_limits: Limits | None = None,
) -> Starlette:
    image_limits = image_limits or Limits()

    async def chat(request: Request) -> Response:
        try:
            return await _chat(request)
        except ApiError as exc:
            return error_response(exc)
        except ClientGone:
            log.info("client disconnected; generation stopped")
            return Response(status_code=499)
        except Exception as exc:  # never a bare 500 with a traceback
            log.exception("unexpected failure")
            message = f"the instance failed: {type(exc).__name__}: {exc}".splitlines()[0]
            return error_response(ApiError(502, message, "server_error", "instance_error"))

    async def _chat(request: Request) -> Response:
        body = await request.body()
        timeline.begin()
        timeline.mark("request")
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
        adapter = instance.session.adapter if instance.session.page_ready else None
        known = await adapter.load_models() if adapter else []
        chosen = adapter.resolve(req.model) if adapter else None
        if known and chosen is None:
            served = ", ".join(m.id for m in known)
            raise ApiError(
                404,
                f"The model '{req.model}' does not exist here (served: {served})",
                "invalid_request_error",
                "model_not_found",
            )
        model_id = chosen.id if chosen else req.model
        instance.check_ready(model_id)
        site = instance.session.site
        stop = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
        max_tokens = req.max_completion_tokens or req.max_tokens
        wanted = settings.GenSettings(
            temperature=req.temperature, top_p=req.top_p, max_tokens=max_tokens, stop=stop
        )
        messages = req.messages
        if settings.has_system_field(site):
            system = [m for m in messages if m.role in ("system", "developer")]
            wanted.system = "\n\n".join(prompt.text_of(m) for m in system)
            messages = [m for m in messages if m not in system] or messages
        text = prompt.build(messages)
        limiter = limits.Limiter(stop or None, max_tokens)
        ignored = settings.unsupported(site, wanted) + prompt.ignored_in_parts(req.messages)
        headers = {"x-mictl-ignored": ", ".join(ignored)} if ignored else {}
        try:
            images = await gather(prompt.image_urls(req.messages), site, model_id, image_limits)
        except ImageError as exc:
            raise ApiError(
                exc.status, str(exc), "invalid_request_error", exc.code, param="messages"
            ) from None
        slot = instance.slot()
        async with cancel_on_disconnect(request.receive):
            page = await slot.__aenter__()
        try:
            deltas = page.generate(text, model_id, wanted, images)
            outs = _outputs(deltas, limiter)
            async with cancel_on_disconnect(request.receive):
                first = await _next(outs, instance, model_id)
            request.scope[FIRST_DELTA] = time.monotonic()  # for the request log line
        except BaseException:
            await slot.__aexit__(None, None, None)
            raise
        if req.stream:
            return StreamingResponse(
                _stream(first, outs, deltas, limiter, instance, req, model_id, text, slot),
                headers={**headers, "Cache-Control": "no-cache"},
                media_type="text/event-stream",
            )
        parts = [first] if first else []
        try:
            async with cancel_on_disconnect(request.receive):
                while (out := await _next(outs, instance, model_id)) is not None:
                    parts.append(out)
        finally:
            await outs.aclose()
            await deltas.aclose()
            await slot.__aexit__(None, None, None)
        instance.succeeded()
        answer = "".join(p for k, p in parts if k == "text")
        reasoning = "".join(p for k, p in parts if k == "reasoning") or None
        message = ResponseMessage("assistant", answer, reasoning)
        completion = ChatCompletion(
            id=_id(),
            created=int(time.time()),
            model=req.model,
            choices=[Choice(0, message, limiter.finish_reason or "stop")],
            usage=_usage(text, answer),
        )
        return json_response(completion, headers=headers)

    async def models(request: Request) -> Response:
        adapter = instance.session.adapter if instance.session.page_ready else None
        found = await adapter.load_models() if adapter else []
        return json_response(ModelList([Model(id=m.id, name=m.name) for m in found]))

    async def health(request: Request) -> Response:
        report = instance.health()
        return json_response(report, 200 if report.ok else 503)

    async def last_timeline(request: Request) -> Response:
        return json_response(timeline.last())

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models),
        Route("/health", health),
    ]
    if with_timeline:  # a bench aid (timeline.py): times and sizes, no text
        timeline.enable()
        routes.append(Route("/debug/timeline", last_timeline))
    return Starlette(exception_handlers=http_errors.handlers(), routes=routes)


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


async def _outputs(deltas: AsyncIterator[Event], limiter: limits.Limiter) -> AsyncIterator[Out]:
    """The answer after stop sequences and max tokens; thinking passes as it is."""
    async for event in deltas:
        if event.kind == "reasoning":
            yield ("reasoning", event.text)
            continue
        out = limiter.feed(event.text)
        if out:
            yield ("text", out)
        if limiter.finish_reason:
            return
    tail = limiter.flush()
    if tail:
        yield ("text", tail)


async def _next(outs: AsyncIterator[Out], instance: Instance, model: str) -> Out | None:
    try:
        return await anext(outs, None)
    except SiteProblem as exc:
        raise await instance.failed_with(exc, model) from None


def _delta(out: Out) -> Delta:
    kind, piece = out
    return Delta(reasoning_content=piece) if kind == "reasoning" else Delta(content=piece)


async def _stream(
    first: Out | None,
    outs: AsyncIterator[Out],
    deltas: AsyncIterator[Event],
    limiter: limits.Limiter,
    instance: Instance,
    req: ChatRequest,
    model_id: str,
    text: str,
    slot: contextlib.AbstractAsyncContextManager[object],
) -> AsyncIterator[bytes]:
    chunk_id, created = _id(), int(time.time())

    def chunk(delta: Delta, finish: str | None = None, usage: Usage | None = None) -> bytes:
        choices = [ChunkChoice(0, delta, finish)] if usage is None else []
        payload = ChatChunk(chunk_id, created, req.model, choices, usage=usage)
        return b"data: " + msgspec.json.encode(payload) + b"\n\n"

    answer: list[str] = []
    length = 0  # answer characters handed to the server (timeline marks)
    completed = False
    try:
        opening = _delta(first) if first else Delta(content="")
        opening.role = "assistant"
        if first and first[0] == "text":
            answer.append(first[1])
            length += len(first[1])
        data = chunk(opening)
        timeline.mark("sent", size=length)
        yield data
        try:
            while (out := await _next_raw(outs)) is not None:
                if out[0] == "text":
                    answer.append(out[1])
                    length += len(out[1])
                data = chunk(_delta(out))
                timeline.mark("sent", size=length)
                yield data
        except SiteProblem as exc:
            error = await instance.failed_with(exc, model_id)
            detail = ErrorDetail(str(error), error.type, error.code)
            yield b"data: " + msgspec.json.encode(ErrorBody(detail)) + b"\n\n"
            yield b"data: [DONE]\n\n"
            completed = True
            return
        yield chunk(Delta(), limiter.finish_reason or "stop")
        if req.stream_options and req.stream_options.include_usage:
            yield chunk(Delta(), usage=_usage(text, "".join(answer)))
        yield b"data: [DONE]\n\n"
        instance.succeeded()
        completed = True
    finally:
        # Runs on normal end and when the client goes away (the task is
        # cancelled): either way the page is stopped and freed. Shielded, as
        # Starlette cancels this whole scope on disconnect.
        with anyio.CancelScope(shield=True):
            if not completed:
                log.info("client went away mid-stream; stopping the generation")
            await outs.aclose()  # type: ignore[attr-defined]
            await deltas.aclose()  # type: ignore[attr-defined]
            await slot.__aexit__(None, None, None)


async def _next_raw(outs: AsyncIterator[Out]) -> Out | None:
    return await anext(outs, None)


def _usage(text: str, answer: str) -> Usage:
    p, c = limits.estimate_tokens(text), limits.estimate_tokens(answer)
    return Usage(p, c, p + c)


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
