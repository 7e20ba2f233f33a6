"""One log line per chat request: model, status, time to first token, duration.

Never the prompt or the answer: of the request body only `model` is decoded,
and nothing of the response body is read. The server stamps the moment the
first delta came from the page in the request's scope (FIRST_DELTA); without
it (an error before any text), ttft is "-".
"""

from __future__ import annotations

import logging
import time

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FIRST_DELTA = "mictl.first_delta"
PATHS = frozenset({"/v1/chat/completions"})
_PEEK = 64 * 1024  # "model" is near the start of any client's body

log = logging.getLogger("mictl.instance")


class _Head(msgspec.Struct):
    model: str = ""
    stream: bool = False


def _head(body: bytes) -> _Head:
    try:
        return msgspec.json.decode(body, type=_Head)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Head(model="?")


class RequestLog:
    """ASGI middleware: after each chat request, one INFO line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        body = bytearray()
        status = 0

        async def peek() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < _PEEK:
                body.extend(message.get("body", b""))
            return message

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, peek, watch)
        finally:
            head = _head(bytes(body))
            first = scope.get(FIRST_DELTA)
            ttft = f"{first - start:.3f}s" if first else "-"
            log.info(
                "request model=%s stream=%s status=%s ttft=%s duration=%.3fs",
                head.model or "-",
                "yes" if head.stream else "no",
                status or "-",
                ttft,
                time.monotonic() - start,
            )
