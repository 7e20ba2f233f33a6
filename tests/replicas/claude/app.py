"""A replica of a Claude-style web chat, the third site of docs/sites.md.

Its answer arrives the way claude.ai's web client gets it: the page POSTs
to /api/organizations/{org}/chat_conversations/{uuid}/completion with
`Accept: text/event-stream` (Xerxes-2/clewdr src/claude_web_state/chat.rs)
and reads server-sent events in the Messages API's streaming shape
(Anthropic's "Streaming Messages" documentation): message_start,
content_block_start, content_block_delta whose delta is a `thinking_delta`
(`delta.thinking`) or a `text_delta` (`delta.text`), ping, message_delta with
`delta.stop_reason`, message_stop; an `error` event carries
{"type": "error", "error": {"type": ..., "message": ...}}. A 429 says
Retry-After. The session is the `sessionKey` cookie (clewdr src/config/cookie.rs).

Served under `claude.ai` by tests/replicas/tls.py; prompt markers:
[[429]] rate limit, [[error]] an overloaded error event, [[think]] thinking.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
COOKIE = "sessionKey"
SESSION = "sk-ant-sid01-replica"
ORG = "5f0e6c7a-0d7e-4c57-9d3a-6f3c1a2b9e10"


def answer(prompt: str) -> str:
    return f"You said: *{prompt}*.\n\nHere is a list:\n\n1. one — ✓\n2. two 🌍"


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def delta(kind: str, field: str, value: str) -> bytes:
    body = {"type": "content_block_delta", "delta": {"type": kind, field: value}}
    return event("content_block_delta", body)


async def stream(prompt: str) -> AsyncIterator[bytes]:
    out = [event("message_start", {"type": "message_start", "message": {"role": "assistant"}})]
    index = 0
    if "[[think]]" in prompt:
        out.append(event("content_block_start", {"type": "content_block_start", "index": 0}))
        for word in ["Thinking ", "about ", "it…"]:
            out.append(delta("thinking_delta", "thinking", word))
        index = 1
    out.append(event("content_block_start", {"type": "content_block_start", "index": index}))
    out.append(b": ping\n\n")
    text = answer(prompt)
    for i in range(0, len(text), 5):
        out.append(delta("text_delta", "text", text[i : i + 5]))
        if i == 10 and "[[error]]" in prompt:
            error = {"type": "overloaded_error", "message": "Overloaded"}
            out.append(event("error", {"type": "error", "error": error}))
            break
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    out.append(event("message_delta", stop))
    out.append(event("message_stop", {"type": "message_stop"}))
    data = b"".join(out)
    for i in range(0, len(data), 31):  # chunks that cut events and characters
        yield data[i : i + 31]
        await asyncio.sleep(0.005)


def create_app() -> Starlette:
    async def page(request: Request) -> Response:
        if request.cookies.get(COOKIE) != SESSION:
            return HTMLResponse((STATIC / "login.html").read_text())
        return HTMLResponse((STATIC / "chat.html").read_text().replace("{{org}}", ORG))

    async def completion(request: Request) -> Response:
        if request.cookies.get(COOKIE) != SESSION:
            error = {"type": "permission_error", "message": "Invalid authorization"}
            return JSONResponse({"type": "error", "error": error}, 403)
        prompt = str((await request.json()).get("prompt", ""))
        if "[[429]]" in prompt:
            error = {"type": "rate_limit_error", "message": "Rate limited"}
            return JSONResponse({"type": "error", "error": error}, 429, {"Retry-After": "40"})
        return StreamingResponse(stream(prompt), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/", page),
            Route("/new", page),
            Route("/chat/{id}", page),
            Route(
                "/api/organizations/{org}/chat_conversations/{id}/completion",
                completion,
                methods=["POST"],
            ),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]
    )


app = create_app()
