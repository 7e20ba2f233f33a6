"""An OpenAI-compatible upstream that answers the way a tool-capable model
does, for the router tests of the Anthropic and Responses translations:

- with `tools` and no tool result yet: a tool call to the first tool, whose
  arguments (ARGS, multi-byte characters included) stream in small pieces;
- after a tool result: text quoting it;
- with a JSON `response_format`: a JSON object (JSON_ANSWER);
- model "thinker": reasoning deltas (`reasoning_content`) before the text;
- model "slow": waits `delay` seconds first (a busy backend);
- otherwise TEXT, streamed a few characters at a time.

GET /_last returns the last request body it saw (what the router sent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

TEXT = "Hello from the fake upstream: ünïcödé ✓ 🎉."
THOUGHT = "Let me think about that… 🤔"
ARGS = {"city": "Zürich", "days": 3, "units": ["°C", "mm"], "note": 'a "quoted" 🎉 word'}
JSON_ANSWER = {"name": "mictl", "ok": True, "tags": ["a", "b"]}


def pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def create_app() -> Starlette:
    seen: dict[str, object] = {"last": None, "requests": 0}
    state = {"delay": 3.0}

    async def chat(request: Request) -> Response:
        body = await request.json()
        seen["last"], seen["requests"] = body, int(seen["requests"]) + 1  # type: ignore[call-overload]
        model, messages = body["model"], body["messages"]
        if model == "slow":
            await asyncio.sleep(state["delay"])
        reasoning = THOUGHT if model == "thinker" else ""
        text, call = TEXT, None
        fmt = (body.get("response_format") or {}).get("type")
        if messages[-1]["role"] == "tool":
            text = f"The tool said: {messages[-1]['content']}"
        elif body.get("tools") and body.get("tool_choice") != "none":
            tool = body["tools"][0]["function"]["name"]
            call = {"id": "call_fake1", "name": tool, "arguments": json.dumps(ARGS)}
            text = ""
        elif fmt in ("json_schema", "json_object"):
            text = json.dumps(JSON_ANSWER)
        finish = "tool_calls" if call else "stop"
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            message: dict[str, object] = {"role": "assistant", "content": text or None}
            if reasoning:
                message["reasoning_content"] = reasoning
            if call:
                message["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ]
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )

        def chunk(delta: dict, finish: str | None = None, **extra: object) -> bytes:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""})
            for piece in pieces(reasoning):
                yield chunk({"reasoning_content": piece})
            for piece in pieces(text):
                yield chunk({"content": piece})
            if call:
                head = {"index": 0, "id": call["id"], "type": "function"}
                yield chunk({"tool_calls": [{**head, "function": {"name": call["name"]}}]})
                for piece in pieces(call["arguments"], 5):
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield chunk({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": []}
                yield b"data: " + json.dumps({**data, "usage": usage}).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def last(request: Request) -> Response:
        return JSONResponse(seen)

    async def control(request: Request) -> Response:
        state.update(await request.json())
        return JSONResponse(state)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/_last", last),
            Route("/_control", control, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
