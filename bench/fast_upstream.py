"""A deliberately minimal OpenAI-shaped upstream for the router benchmark: a
raw asyncio protocol with canned answers, so the benchmark measures the
router and not the fake. Plain JSON, or an SSE stream of 10 chunks when the
body asks for "stream": true.

    python bench/fast_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "m1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()
PLAIN = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    % len(COMPLETION)
    + COMPLETION
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


EVENT = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"m1",'
    b'"choices":[{"index":0,"delta":{"content":"ok "},"finish_reason":null}]}\n\n'
)
STREAM = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    + b"".join(_chunk(EVENT) for _ in range(10))
    + _chunk(b"data: [DONE]\n\n")
    + b"0\r\n\r\n"
)
HEALTH = json.dumps({"ok": True, "models": ["m1"]}).encode()
HEALTH_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d"
    b"\r\n\r\n" % len(HEALTH) + HEALTH
)


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"get /health"):
                self.transport.write(HEALTH_RESPONSE)  # type: ignore[attr-defined]
            elif b'"stream": true' in body or b'"stream":true' in body:
                self.transport.write(STREAM)  # type: ignore[attr-defined]
            else:
                self.transport.write(PLAIN)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    run = uvloop.run if uvloop else asyncio.run
    run(serve(int(sys.argv[1])))
