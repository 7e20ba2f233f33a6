"""A tiny OpenAI-shaped server standing in for an instance in router tests.

It answers with its own name, so a test knows who served a request, and it
can be told to misbehave through POST /_control (fail, rate-limit, go slow,
break off mid-stream, hang up, or hold every answer until told to let go:
{"hold": true} then {"hold": false}). GET /_stats says what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def create_app(name: str, models: list[str]) -> Starlette:
    state = {"mode": "ok", "delay": 0.0, "models": models, "retry_after": 7, "health": "ok"}
    stats = {"requests": 0, "cancelled": 0, "completed": 0, "order": [], "auth": ""}
    # Open unless held: a held request is busy for as long as the test says,
    # however slow the machine (a delay can run out before the check).
    gate = asyncio.Event()
    gate.set()

    def completion(model: str) -> dict:
        return {
            "id": f"chatcmpl-{name}-{stats['requests']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": name},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def chunk(model: str, content: str | None, finish: str | None = None) -> bytes:
        delta = {} if content is None else {"content": content}
        body = {
            "id": f"chatcmpl-{name}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def chat(request: Request) -> Response:
        body = await request.json()
        stats["requests"] += 1
        stats["auth"] = request.headers.get("authorization", "")
        stats["order"].append(body["messages"][-1]["content"])
        model, mode = body["model"], state["mode"]
        if model not in state["models"]:
            return JSONResponse(
                {"error": {"message": "no such model", "type": "x", "code": "model_not_found"}}, 404
            )
        if mode == "fail":
            return JSONResponse(
                {
                    "error": {
                        "message": f"{name} broken",
                        "type": "server_error",
                        "code": "site_error",
                    }
                },
                502,
            )
        if mode == "rate_limit":
            return JSONResponse(
                {
                    "error": {
                        "message": "slow down",
                        "type": "rate_limit_error",
                        "code": "rate_limited",
                    }
                },
                429,
                {"Retry-After": str(state["retry_after"])},
            )
        if mode == "leak":  # an upstream that echoes the key it was sent
            auth = stats["auth"]
            message = f"Incorrect API key provided: {auth} (also sk-proj-{'q' * 24})"
            return JSONResponse({"error": {"message": message, "type": "auth"}}, 401)
        if mode == "hangup":
            raise ConnectionResetError  # uvicorn drops the connection
        try:
            if not body.get("stream"):
                await gate.wait()
                await asyncio.sleep(state["delay"])
                stats["completed"] += 1
                return JSONResponse(completion(model))
        except asyncio.CancelledError:
            stats["cancelled"] += 1
            raise

        async def events():
            try:
                yield chunk(model, name)
                for i in range(10):
                    await asyncio.sleep(state["delay"] / 10)
                    if mode == "break" and i == 3:
                        raise ConnectionResetError  # mid-stream
                    yield chunk(model, f" {i}")
                yield chunk(model, None, "stop")
                yield b"data: [DONE]\n\n"
                stats["completed"] += 1
            except (asyncio.CancelledError, GeneratorExit):
                stats["cancelled"] += 1
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    async def health(request: Request) -> Response:
        if state["health"] == "fail":
            return Response(b"sick", 500)
        pages = {k: state[k] for k in ("capacity", "pages") if k in state}  # as tabs = N
        return JSONResponse(
            {"ok": True, "logged_in": True, "models": state["models"], "rate_limited_until": {}}
            | pages
        )

    async def control(request: Request) -> Response:
        state.update(await request.json())
        if "hold" in state:
            (gate.clear if state.pop("hold") else gate.set)()
        return JSONResponse(state)

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/health", health),
            Route("/_control", control, methods=["POST"]),
            Route("/_stats", get_stats),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--models", default="m1,m2")
    args = parser.parse_args()
    # A slow starter (a browser loading its site): the port opens late.
    time.sleep(float(os.environ.get("FAKE_START_DELAY", "0")))
    app = create_app(args.name, args.models.split(","))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
