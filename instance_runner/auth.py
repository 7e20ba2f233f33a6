"""ASGI middleware: an instance answers only whoever holds its key (mictld).

Every HTTP request (the API, /health, /v1/models, /debug/timeline) must
carry `Authorization: Bearer KEY`; anything else gets an OpenAI-shaped 401
before the app sees it. Without a key (a runner started by hand, tests,
`mictl site` tools) every request passes, as before. See
common/instance_auth.py for how the key is made and handed over.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from common import instance_auth


class InstanceAuth:
    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key.encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan, or no key set
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if instance_auth.authorized(self.key, given):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = instance_auth.REFUSED
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
