"""A chat answer as server-sent events, OpenAI's way.

The opening chunk goes out with the first event of the answer, so a router
can still fail over before it. A plain answer streams as it comes. With
tools, text streams until something may start a call (speak/streamcalls.py);
calls go out at the end as `tool_calls` deltas (index, id, type and name
first, then the arguments in pieces) with `finish_reason: "tool_calls"`.
A JSON answer is checked whole, so it goes out at the end. A corrective
turn's answer is never streamed as it comes: only what it settles to.
After the first byte, errors become an error event in the stream.
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
from starlette.responses import Response

from common.errors import ErrorBody, ErrorDetail
from instance_runner import timeline
from instance_runner.instance import ApiError
from instance_runner.sites.errors import SiteProblem
from instance_runner.speak import outcome, toolcalls
from instance_runner.speak.streamcalls import CallSplitter
from instance_runner.turn import Out, Turn, tool_call, unusable
from instance_runner.types import (
    ChatChunk,
    ChunkChoice,
    Delta,
    DeltaFunction,
    DeltaToolCall,
    Usage,
)

log = logging.getLogger("mictl.instance")
ARGUMENT_PIECE = 24  # characters of arguments per delta, about what OpenAI sends


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(data), status, headers, media_type="application/json")


class Chunks:
    """Encodes the chunks of one streamed completion."""

    def __init__(self, model: str) -> None:
        self.id, self.created, self.model = _id(), int(time.time()), model

    def __call__(
        self, delta: Delta, finish: str | None = None, usage: Usage | None = None
    ) -> bytes:
        choices = [ChunkChoice(0, delta, finish)] if usage is None else []
        payload = ChatChunk(self.id, self.created, self.model, choices, usage=usage)
        return b"data: " + msgspec.json.encode(payload) + b"\n\n"


def error_event(error: ApiError) -> bytes:
    detail = ErrorDetail(str(error), error.type, error.code)
    return b"data: " + msgspec.json.encode(ErrorBody(detail)) + b"\n\n"


async def stream(
    first: Out | None, turn: Turn, slot: contextlib.AbstractAsyncContextManager[Any]
) -> AsyncIterator[bytes]:
    plan, req = turn.plan, turn.req
    chunk = Chunks(req.model)
    splitter = CallSplitter() if plan.tools and not plan.json else None
    plain = not plan.checked
    raw: list[str] = []
    length = 0  # answer characters handed to the server (timeline marks)
    completed = False

    def delta_of(out: Out) -> Delta | None:
        nonlocal length
        kind, piece = out
        if kind == "reasoning":
            return Delta(reasoning_content=piece)
        raw.append(piece)
        if plain:
            length += len(piece)
            return Delta(content=piece)
        safe = splitter.feed(piece) if splitter else ""
        length += len(safe)
        return Delta(content=safe) if safe else None

    try:
        opening = (delta_of(first) if first else None) or Delta(content="")
        opening.role = "assistant"
        data = chunk(opening)
        timeline.mark("sent", size=length)
        yield data
        try:
            while (out := await turn.next()) is not None:
                delta = delta_of(out)
                if delta is not None:
                    data = chunk(delta)
                    timeline.mark("sent", size=length)
                    yield data
            answer = "".join(raw)
            turn.answered.append(answer)
            finish = turn.limiter.finish_reason or "stop"
            if not plain:
                parsed = splitter.finish() if splitter else None
                result = outcome.settle(plan, answer, parsed)
                if result.problem:
                    again, thought = await turn.follow_up(result.fix)
                    turn.answered.append(again)
                    if thought:
                        yield chunk(Delta(reasoning_content=thought))
                    result = outcome.settle(plan, again)
                if result.problem:
                    turn.instance.succeeded()  # the page worked; the model's answer did not
                    yield error_event(unusable(result))
                    yield b"data: [DONE]\n\n"
                    completed = True
                    return
                if result.content:
                    yield chunk(Delta(content=result.content))
                for i, call in enumerate(result.calls):
                    for piece in call_deltas(i, call):
                        yield chunk(Delta(tool_calls=[piece]))
                if result.calls:
                    finish = "tool_calls"
        except SiteProblem as exc:
            yield error_event(await turn.instance.failed_with(exc, turn.model_id))
            yield b"data: [DONE]\n\n"
            completed = True
            return
        except ApiError as exc:
            yield error_event(exc)
            yield b"data: [DONE]\n\n"
            completed = True
            return
        yield chunk(Delta(), finish)
        if req.stream_options and req.stream_options.include_usage:
            yield chunk(Delta(), usage=turn.usage())
        yield b"data: [DONE]\n\n"
        turn.instance.succeeded()
        completed = True
    finally:
        # Runs on normal end and when the client goes away (the task is
        # cancelled): either way the page is stopped and freed. Shielded, as
        # Starlette cancels this whole scope on disconnect.
        with anyio.CancelScope(shield=True):
            if not completed:
                log.info("client went away mid-stream; stopping the generation")
            await turn.close()
            turn.end()
            await slot.__aexit__(None, None, None)


def call_deltas(index: int, call: toolcalls.Call) -> list[DeltaToolCall]:
    """One call as OpenAI streams it: id, type and name, then the arguments."""
    whole = tool_call(call)
    args = whole.function.arguments
    pieces = [
        DeltaToolCall(index, DeltaFunction(call.name, ""), id=whole.id, type="function"),
    ]
    for start in range(0, len(args), ARGUMENT_PIECE):
        piece = args[start : start + ARGUMENT_PIECE]
        pieces.append(DeltaToolCall(index, DeltaFunction(arguments=piece)))
    return pieces


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
