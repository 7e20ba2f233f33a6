"""The upstream's Chat Completions answer as a list of neutral events.

Both the Anthropic and the Responses encoders read these, so the Chat
Completions wire format is decoded in one place. Pure: bytes in, events out.

    SseDecoder().feed(chunk) -> list of `data:` payloads (bytes), split anywhere
    events_of_chunk(payload) -> list of Event (one SSE chunk of the answer)
    events_of_completion(obj) -> list of Event (a non-streamed answer)
"""

from __future__ import annotations

from typing import Any

import msgspec


class Text(msgspec.Struct, frozen=True):
    text: str


class Reasoning(msgspec.Struct, frozen=True):
    text: str


class ToolStart(msgspec.Struct, frozen=True):
    index: int  # the upstream's tool call index
    id: str
    name: str


class ToolArgs(msgspec.Struct, frozen=True):
    index: int
    text: str  # a piece of the arguments' JSON text


class Finish(msgspec.Struct, frozen=True):
    reason: str  # the upstream's finish_reason: stop, length, tool_calls, content_filter


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int
    output_tokens: int


class Failure(msgspec.Struct, frozen=True):
    """An error event in the upstream's stream (e.g. the router's own
    "failed mid-stream"): the answer is incomplete."""

    message: str
    kind: str = "server_error"


Event = Text | Reasoning | ToolStart | ToolArgs | Finish | Usage | Failure


class SseDecoder:
    """Server-sent events from byte chunks split at any point: the `data:`
    payload of each complete event, `[DONE]` included. Lines may end in
    \\n, \\r\\n or \\r; several `data:` lines join with \\n, as the spec says."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        out: list[bytes] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return out
            line, self._buffer = self._buffer[: cut[0]], self._buffer[cut[1] :]
            if not line:
                if self._data:
                    out.append(b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)

    def close(self) -> list[bytes]:
        """What a stream that ends without a final blank line still held."""
        out = self.feed(b"\n\n") if self._buffer else []
        if self._data:
            out.append(b"\n".join(self._data))
            self._data = []
        return out


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """(end of the first line, start of the next), or None while incomplete.
    A lone \\r at the very end may be the first half of \\r\\n: wait."""
    n, r = buffer.find(b"\n"), buffer.find(b"\r")
    if r == -1 or (n != -1 and n < r):
        return None if n == -1 else (n, n + 1)
    if r + 1 == len(buffer):
        return None
    return (r, r + 2) if buffer[r + 1 : r + 2] == b"\n" else (r, r + 1)


def events_of_chunk(payload: bytes) -> list[Event]:
    """One `data:` payload of a Chat Completions stream ([DONE] gives none)."""
    if payload.strip() == b"[DONE]":
        return []
    try:
        chunk = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return [Failure("the upstream sent a malformed stream event")]
    if not isinstance(chunk, dict):
        return []
    if isinstance(chunk.get("error"), dict):
        error = chunk["error"]
        return [Failure(str(error.get("message", "upstream error")), str(error.get("type", "")))]
    out: list[Event] = []
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue  # n > 1 is refused before it gets here
        out.extend(_delta_events(choice.get("delta") or {}))
        if choice.get("finish_reason"):
            out.append(Finish(str(choice["finish_reason"])))
    usage = _usage(chunk.get("usage"))
    if usage is not None:
        out.append(usage)
    return out


def _delta_events(delta: dict[str, Any]) -> list[Event]:
    out: list[Event] = []
    thinking = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(thinking, str) and thinking:
        out.append(Reasoning(thinking))
    if isinstance(delta.get("content"), str) and delta["content"]:
        out.append(Text(delta["content"]))
    for position, call in enumerate(delta.get("tool_calls") or []):
        if not isinstance(call, dict):
            continue
        index = call.get("index", position)
        function = call.get("function") or {}
        if call.get("id") or function.get("name"):
            out.append(ToolStart(index, str(call.get("id") or ""), str(function.get("name") or "")))
        if function.get("arguments"):
            out.append(ToolArgs(index, str(function["arguments"])))
    return out


def events_of_completion(completion: Any) -> list[Event]:
    """A non-streamed chat.completion, as the events its stream would give."""
    if not isinstance(completion, dict):
        return [Failure("the upstream answered something that is not a chat completion")]
    out: list[Event] = []
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    thinking = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thinking, str) and thinking:
        out.append(Reasoning(thinking))
    if isinstance(message.get("content"), str) and message["content"]:
        out.append(Text(message["content"]))
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        out.append(ToolStart(index, str(call.get("id") or ""), str(function.get("name") or "")))
        out.append(ToolArgs(index, str(function.get("arguments") or "")))
    out.append(Finish(str(choice.get("finish_reason") or "stop")))
    usage = _usage(completion.get("usage"))
    if usage is not None:
        out.append(usage)
    return out


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)


def estimate_tokens(text_length: int) -> int:
    """Characters / 4: an estimate, not the model's tokenizer (said so where shown)."""
    return max(1, (text_length + 3) // 4)
