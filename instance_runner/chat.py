"""POST /v1/chat/completions on one instance: the request checked, the
prompt built, the page asked, the answer handed back whole (chat_stream.py
streams it).

A request with tools (tool_choice not "none") or a JSON response format is
checked once answered (speak/outcome.py): a call the client cannot use, or
JSON that does not hold, gets one corrective turn typed into the same chat,
and after that a 422 that says what the model wrote.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.serving import cancel_on_disconnect
from instance_runner import chat_request, chat_stream, timeline
from instance_runner.images.decode import ImageError
from instance_runner.images.fetch import OFF_LOOP, Limits
from instance_runner.images.gather import gather
from instance_runner.instance import ApiError, Instance
from instance_runner.request_log import FIRST_DELTA
from instance_runner.sites import settings
from instance_runner.speak import outcome, transcript
from instance_runner.turn import Turn, joined, tool_call, unusable
from instance_runner.types import ChatCompletion, Choice, ResponseMessage


async def handle(
    request: Request, instance: Instance, max_body: int, image_limits: Limits
) -> Response:
    body = await request.body()
    timeline.begin()
    timeline.mark("request")
    if len(body) > max_body:
        raise ApiError(
            413, f"request body over {max_body} bytes", "invalid_request_error", "body_too_large"
        )
    if len(body) < OFF_LOOP:
        req, ignored = chat_request.decode(body)
    else:  # megabytes (images in data: URLs): decoded in a worker thread
        req, ignored = await asyncio.to_thread(chat_request.decode, body)
    if req.model in ("", "default") and instance.model_default:
        req.model = instance.model_default
    site = instance.session.site
    plan = chat_request.plan(req, template=site.speak_template)
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
    stop = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
    max_tokens = req.max_completion_tokens or req.max_tokens
    wanted = settings.GenSettings(
        temperature=req.temperature, top_p=req.top_p, max_tokens=max_tokens, stop=stop
    )
    messages = req.messages
    if settings.has_system_field(site):
        system = [m for m in messages if m.role in ("system", "developer")]
        wanted.system = "\n\n".join(transcript.text_of(m) for m in system)
        messages = [m for m in messages if m not in system] or messages
    text = transcript.build(messages, plan.template, plan.instructions())
    ignored = settings.unsupported(site, wanted) + ignored
    headers = {"x-mictl-ignored": ", ".join(ignored)} if ignored else {}
    try:
        urls = chat_request.image_urls(req.messages)
        images = await gather(urls, site, model_id, image_limits)
    except ImageError as exc:
        raise ApiError(
            exc.status, str(exc), "invalid_request_error", exc.code, param="messages"
        ) from None
    slot = instance.slot()
    async with cancel_on_disconnect(request.receive), instance.until_started():
        page = await slot.__aenter__()  # the page (tab) this request holds
    turn = Turn(instance, page, req, model_id, wanted, plan, text, images)
    try:
        async with cancel_on_disconnect(request.receive), instance.until_started():
            first = await turn.next()
        request.scope[FIRST_DELTA] = time.monotonic()  # for the request log line
    except BaseException:
        await turn.close()
        turn.end()
        await slot.__aexit__(None, None, None)
        raise
    if req.stream:
        return StreamingResponse(
            chat_stream.stream(first, turn, slot),
            headers={**headers, "Cache-Control": "no-cache"},
            media_type="text/event-stream",
        )
    parts = [first] if first else []
    try:
        async with cancel_on_disconnect(request.receive):
            while (out := await turn.next()) is not None:
                parts.append(out)
            answer, reasoning = joined(parts, "text"), joined(parts, "reasoning")
            turn.answered.append(answer)
            result = outcome.settle(plan, answer) if plan.checked else None
            if result is not None and result.problem:
                answer, more = await turn.follow_up(result.fix)
                turn.answered.append(answer)
                reasoning += more
                result = outcome.settle(plan, answer)
    finally:
        await turn.close()  # stops the page if the answer is not over...
        turn.end()  # ...before the next chat opens on it
        await slot.__aexit__(None, None, None)
    instance.succeeded()
    if result is not None and result.problem:
        raise unusable(result)
    content = result.content if result is not None else answer
    calls = [tool_call(c) for c in result.calls] if result is not None else []
    message = ResponseMessage("assistant", content, reasoning or None, calls or None)
    finish = "tool_calls" if calls else (turn.limiter.finish_reason or "stop")
    completion = ChatCompletion(
        id=completion_id(),
        created=int(time.time()),
        model=req.model,
        choices=[Choice(0, message, finish)],
        usage=turn.usage(),
    )
    return chat_stream.json_response(completion, headers=headers)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
