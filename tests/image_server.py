"""A small HTTP server on loopback that serves the tests' images, with the
ways such a server misbehaves (not an image, too large, too slow, a
redirect), in a thread with a loop of its own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import Iterator

from aiohttp import web

from tests.helpers import free_port

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@contextlib.contextmanager
def serving(host: str = "127.0.0.1") -> Iterator[str]:
    """The base URL: /a.png, /page (HTML), /big (100 KB), /hang (3 s),
    /moved?to=URL (a 302)."""
    port = free_port()

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>not an image</html>", content_type="text/html")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=PNG + b"\0" * 100_000, content_type="image/png")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(body=PNG)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.add_routes([web.get("/a.png", png), web.get("/page", text), web.get("/big", big),
                    web.get("/hang", hang), web.get("/moved", moved)])  # fmt: skip
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, host, port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
