"""The demo chat site: cookie login, model picker, streamed answers, stop
button, rate-limit and error banners, and triggers for the failures real
sites have (see answers.py for the prompt markers).

Run as `mictl-demo-site --port 3100`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import json
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from instance_runner.sites.demo import answers

COOKIE = "demo_session"
# The sessions the bundled profiles (auth_profiles/saved/demo-*.json) carry.
SESSIONS = {
    "mictl-demo-a-5f2b9c1e": "demo-a",
    "mictl-demo-b-8e41d07a": "demo-b",
    "mictl-demo-c-3b7a52f4": "demo-c",
    "mictl-demo-d-c0e9d816": "demo-d",
}
STATIC = Path(__file__).with_name("static")


def create_app(pace: float = 0.015, sessions: dict[str, str] | None = None) -> Starlette:
    valid = dict(SESSIONS if sessions is None else sessions)
    revoked: set[str] = set()
    last: dict[str, str] = {}  # the chat so far, as much as the demo model reads: one prompt

    def user(request: Request) -> str | None:
        token = request.cookies.get(COOKIE, "")
        return None if token in revoked else valid.get(token)

    async def index(request: Request) -> Response:
        who = user(request)
        if who is None:
            return HTMLResponse((STATIC / "login.html").read_text())
        page = (STATIC / "chat.html").read_text()
        options = "".join(f'<option value="{m}">{m}</option>' for m in answers.MODELS)
        page = page.replace("{{models}}", options).replace("{{user}}", html.escape(who))
        return HTMLResponse(page)

    async def models(request: Request) -> Response:
        if user(request) is None:
            return JSONResponse({"error": "logged_out"}, 401)
        return JSONResponse({"models": list(answers.MODELS)})

    async def generate(request: Request) -> Response:
        who = user(request)
        if who is None:
            return JSONResponse({"error": "logged_out", "message": "Please sign in again."}, 401)
        body = await request.json()
        model, prompt = body.get("model", answers.MODELS[0]), body.get("prompt", "")
        if model not in answers.MODELS:
            return JSONResponse({"error": "bad_model", "message": f"No model {model}"}, 400)
        if answers.RATE_LIMIT in prompt:
            seconds = answers.RATE_LIMIT_SECONDS
            message = f"You have reached the rate limit for {model}. Try again in {seconds}s."
            return JSONResponse({"error": "rate_limit", "message": message}, 429)
        if answers.ERROR in prompt:
            message = "Something went wrong. An internal error has occurred."
            return JSONResponse({"error": "internal", "message": message}, 500)
        if answers.LOGOUT in prompt:
            revoked.add(request.cookies.get(COOKIE, ""))
            return JSONResponse({"error": "logged_out", "message": "Session expired."}, 401)
        images = body.get("images") or []
        if images and model not in answers.VISION:
            message = f"{model} does not take images."
            return JSONResponse({"error": "bad_request", "message": message}, 400)
        try:  # the bytes the page sent, as their hashes (the answer names them)
            hashes = tuple(hashlib.sha256(base64.b64decode(i["data"])).hexdigest() for i in images)
        except (KeyError, TypeError, ValueError):
            return JSONResponse({"error": "bad_request", "message": "Bad image."}, 400)
        delay = pace * 20 if answers.SLOW in prompt else pace
        previous, last[who] = last.get(who, ""), prompt
        text = answers.answer(model, prompt, hashes, previous)
        return StreamingResponse(
            _stream(text, delay, hang=answers.HANG in prompt),
            media_type="application/x-ndjson",
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/models", models),
            Route("/api/generate", generate, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )


async def _stream(text: str, delay: float, *, hang: bool) -> AsyncIterator[bytes]:
    for i, token in enumerate(answers.tokens(text)):
        yield json.dumps({"token": token}).encode() + b"\n"
        if hang and i == 0:
            await asyncio.Event().wait()  # a generation that never finishes
        await asyncio.sleep(delay)
    yield b'{"done": true}\n'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mictl-demo-site", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--pace-ms", type=float, default=15.0, help="delay between tokens")
    args = parser.parse_args(argv)
    app = create_app(pace=args.pace_ms / 1000)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
