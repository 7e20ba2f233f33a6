"""The internal answer (Chat Completions events) -> the Anthropic Messages API.

    message(events, ...)        a non-streamed `message` object
    Stream                      the streamed events, in the API's order:
        message_start, content_block_start, ping, content_block_delta
        (text_delta | thinking_delta | input_json_delta), content_block_stop,
        ..., message_delta (stop_reason, usage), message_stop
    error(status, body)         an OpenAI-shaped error -> Anthropic's shape

Pure: events in, bytes or objects out. Token counts are the upstream's when
it sends usage, else an estimate (characters / 4).
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from daemon.router.apis.chat_stream import (
    Event,
    Failure,
    Finish,
    Reasoning,
    Text,
    ToolArgs,
    ToolStart,
    Usage,
    estimate_tokens,
)
from daemon.router.apis.stops import StopScan

STOP_REASONS = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# An upstream HTTP status -> Anthropic's error type, and the status it sends.
ERRORS = {
    400: ("invalid_request_error", 400),
    401: ("authentication_error", 401),
    403: ("permission_error", 403),
    404: ("not_found_error", 404),
    413: ("request_too_large", 413),
    429: ("rate_limit_error", 429),
    503: ("overloaded_error", 529),  # no capacity now: Anthropic's 529
    529: ("overloaded_error", 529),
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _tool_id(ident: str) -> str:
    return ident or new_id("toolu")


def message(
    events: list[Event], model: str, input_estimate: int, stops: list[str] | None = None
) -> dict[str, Any]:
    """A non-streamed answer; a Failure among the events raises it."""
    content: list[dict[str, Any]] = []
    tools: dict[int, dict[str, Any]] = {}
    args: dict[int, list[str]] = {}
    reason, usage, out_chars = "stop", None, 0
    scan = StopScan(stops or [])
    for event in events:
        if scan.hit is not None and not isinstance(event, Usage | Failure):
            continue  # the answer ended at the stop sequence
        if not isinstance(event, Text | Usage | Finish):  # another block: the held text first
            _add_text(content, scan.flush())
        last = content[-1] if content else {}
        if isinstance(event, Text):
            text = scan.feed(event.text)
            if scan.hit is not None:
                reason = "stop_sequence"
            _add_text(content, text)
            out_chars += len(text)
        elif isinstance(event, Reasoning):
            if last.get("type") == "thinking":
                last["thinking"] += event.text
            else:
                content.append({"type": "thinking", "thinking": event.text, "signature": ""})
        elif isinstance(event, ToolStart):
            block = {"type": "tool_use", "id": _tool_id(event.id), "name": event.name, "input": {}}
            tools[event.index] = block
            content.append(block)
        elif isinstance(event, ToolArgs):
            args.setdefault(event.index, []).append(event.text)
            out_chars += len(event.text)
        elif isinstance(event, Finish):
            reason = event.reason
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Failure):
            raise UpstreamFailed(event.message)
    tail = scan.flush()
    _add_text(content, tail)
    out_chars += len(tail)
    for index, block in tools.items():
        block["input"] = parse_input("".join(args.get(index, [])))
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(reason, "end_turn"),
        "stop_sequence": scan.hit,
        "usage": _usage(usage, input_estimate, out_chars),
    }


def _add_text(content: list[dict[str, Any]], text: str) -> None:
    if not text:
        return
    if content and content[-1]["type"] == "text":
        content[-1]["text"] += text
    else:
        content.append({"type": "text", "text": text})


class UpstreamFailed(Exception):
    pass


def parse_input(text: str) -> Any:
    """A tool call's arguments as the `input` object (an empty text is {})."""
    if not text.strip():
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {"_raw_arguments": text}  # not JSON: kept whole rather than dropped
    return value if isinstance(value, dict) else {"value": value}


def _usage(usage: Usage | None, input_estimate: int, out_chars: int) -> dict[str, int]:
    if usage is not None:
        return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    return {"input_tokens": input_estimate, "output_tokens": estimate_tokens(out_chars)}


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


class Stream:
    """One streamed answer's events. Blocks open and close in order: a text,
    thinking or tool_use block ends when a block of another kind (or another
    tool call) begins, or when the answer ends."""

    def __init__(self, model: str, input_estimate: int, stops: list[str] | None = None) -> None:
        self.model, self.input_estimate = model, input_estimate
        self.scan = StopScan(stops or [])
        self.stopped = False  # a stop sequence ended it: read no more upstream
        self.index = -1  # the open block's index, -1 when none is open
        self.open_kind = ""  # "text" | "thinking" | "tool:<upstream index>"
        self.blocks: dict[int, int] = {}  # upstream tool index -> block index
        self.reason = "stop"
        self.usage: Usage | None = None
        self.out_chars = 0
        self.pinged = False
        self.done = False

    def start(self) -> bytes:
        snapshot = {
            "id": new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_estimate, "output_tokens": 1},
        }
        return sse("message_start", {"type": "message_start", "message": snapshot})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.index += 1
        self.open_kind = kind
        out += sse(
            "content_block_start",
            {"type": "content_block_start", "index": self.index, "content_block": block},
        )
        if not self.pinged:
            self.pinged = True
            out += sse("ping", {"type": "ping"})
        return out

    def _close(self) -> bytes:
        if not self.open_kind:
            return b""
        self.open_kind = ""
        return sse("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return sse(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )

    def _text(self, text: str) -> bytes:
        if not text:
            return b""
        self.out_chars += len(text)
        out = b"" if self.open_kind == "text" else self._open("text", {"type": "text", "text": ""})
        return out + self._delta(self.index, {"type": "text_delta", "text": text})

    def feed(self, event: Event) -> bytes:
        if self.done or (self.stopped and not isinstance(event, Usage | Failure)):
            return b""
        if isinstance(event, Text):
            out = self._text(self.scan.feed(event.text))
            if self.scan.hit is not None:
                self.stopped, self.reason = True, "stop_sequence"
            return out
        if not isinstance(event, Usage | Finish):  # another block: the held text first
            return self._text(self.scan.flush()) + self._feed(event)
        return self._feed(event)

    def _feed(self, event: Event) -> bytes:
        if isinstance(event, Reasoning):
            out = b""
            if self.open_kind != "thinking":
                out = self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            return out + self._delta(self.index, {"type": "thinking_delta", "thinking": event.text})
        if isinstance(event, ToolStart):
            if event.index in self.blocks:
                return b""  # a repeated header of a call already open
            block = {"type": "tool_use", "id": _tool_id(event.id), "name": event.name, "input": {}}
            out = self._open(f"tool:{event.index}", block)
            self.blocks[event.index] = self.index
            return out
        if isinstance(event, ToolArgs):
            self.out_chars += len(event.text)
            out = b""
            if event.index not in self.blocks:  # arguments before a name: open it nameless
                out = self.feed(ToolStart(event.index, "", ""))
            delta = {"type": "input_json_delta", "partial_json": event.text}
            return out + self._delta(self.blocks[event.index], delta)
        if isinstance(event, Finish):
            self.reason = event.reason
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Failure):
            return self.fail("api_error", event.message)
        return b""

    def finish(self) -> bytes:
        """The end of a complete answer: the open block closes, then the stop reason."""
        if self.done:
            return b""
        tail = self._text(self.scan.flush())
        self.done = True
        usage = _usage(self.usage, self.input_estimate, self.out_chars)
        reason = STOP_REASONS.get(self.reason, "end_turn")
        delta = {"stop_reason": reason, "stop_sequence": self.scan.hit}
        return (
            tail
            + self._close()
            + sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            + sse("message_stop", {"type": "message_stop"})
        )

    def fail(self, kind: str, text: str) -> bytes:
        """An answer broken off after bytes went out: Anthropic's error event."""
        if self.done:
            return b""
        self.done = True
        return sse("error", {"type": "error", "error": {"type": kind, "message": text}})


def error_body(kind: str, text: str) -> bytes:
    return msgspec.json.encode({"type": "error", "error": {"type": kind, "message": text}})


def error(status: int, body: bytes) -> tuple[int, bytes]:
    """An OpenAI-shaped error (ours or an upstream's) in Anthropic's shape."""
    text = f"upstream error {status}"
    try:
        decoded = msgspec.json.decode(body)
        text = str(decoded["error"]["message"])
    except (msgspec.DecodeError, KeyError, TypeError):
        pass
    fallback = "api_error" if status >= 500 else "invalid_request_error"
    kind, code = ERRORS.get(status, (fallback, status))
    return code, error_body(kind, text)
