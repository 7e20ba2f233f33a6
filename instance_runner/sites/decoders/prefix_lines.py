"""The prefix-lines stream (the Vercel AI SDK data stream), as LMArena sends it.

The answer to POST /nextjs-api/stream/create-evaluation is one record a line,
`<prefix>:<json>`:

    ag:"Let me think..."            reasoning, a JSON string
    a0:"Hello"                      answer text, a JSON string
    a2:[{"type":"heartbeat"}]       a heartbeat (or generated images)
    a3:"An error occurred"          an error (the model provider's)
    ae:{"message":"..."}            an error (the arena platform's)
    ad:{"finishReason":"stop"}      the finish object (finishReason, usage)

Sources of these facts (studied, not copied):
- xtekky/gpt4free g4f/Provider/needs_auth/LMArena.py: a0/ag/a2/a3/ad, the
  heartbeat line `a2:[{"type":"heartbeat"}]`, images as `a2:[{"image": url}]`,
  `a0:"hasArenaError"` as an error, `b*` lines for battle mode's model B.
- godnight10061/LMArenaBridge src/main.py: lines may come SSE-framed
  (`data: a0:"..."`), `ac:` citations, `ad:` finishReason defaulting to stop.
- foxhui/WebAI2API src/backend/adapter/lmarena_text.js: the same five
  prefixes; src/backend/adapter/lmarena.js: `ae:` platform errors.

Events follow decoders/types.py: finish carries {"reason": ..., "usage": ...};
a stream that ends without `ad:` is finished by close(), like the other
decoders' ends of stream.

Bytes are split on b"\\n" before decoding, so a chunk boundary inside a
multi-byte character never corrupts text (0x0A never occurs inside one).
"""

from __future__ import annotations

from typing import Any

import msgspec

from instance_runner.sites.decoders.types import Event, EventKind

# prefix -> the event kind its JSON payload becomes ("heartbeat" payloads
# are lists that may carry images instead)
DEFAULT_PREFIXES: dict[str, str] = {
    "a0": "text",
    "ag": "reasoning",
    "a2": "heartbeat",
    "a3": "error",
    "ae": "error",
    "ad": "finish",
}
ARENA_ERROR = "hasArenaError"  # a0 payload the site sends instead of text on failure


class PrefixLinesDecoder:
    def __init__(self, options: object | None = None) -> None:
        prefixes = getattr(options, "prefixes", None) or DEFAULT_PREFIXES
        self.prefixes: dict[str, str] = dict(prefixes)
        self._buffer = b""
        self._finished = False

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        if b"\n" not in self._buffer:
            return []
        *lines, self._buffer = self._buffer.split(b"\n")
        events: list[Event] = []
        for line in lines:
            events.extend(self._line(line))
        return events

    def close(self) -> list[Event]:
        rest, self._buffer = self._buffer, b""
        events = self._line(rest) if rest else []
        if not self._finished:
            self._finished = True
            events.append(Event("finish", data={"reason": "stop"}))
        return events

    def _line(self, raw: bytes) -> list[Event]:
        line = raw.decode("utf-8", errors="replace").strip()
        if line.startswith("data:"):  # SSE-framed variant
            line = line[5:].lstrip()
        prefix, sep, payload = line.partition(":")
        kind = self.prefixes.get(prefix)
        if not sep or kind is None:
            return []  # b* (battle mode), ac (citations), comments, blank lines
        try:
            value: Any = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            return []  # a torn or foreign line: the projects above skip it too
        if kind in ("text", "reasoning"):
            return _text(kind, value)
        if kind == "heartbeat":
            return _data(value)
        if kind == "error":
            return [Event("error", _message(value) or "the site reported an error")]
        if kind == "finish":
            self._finished = True
            data = value if isinstance(value, dict) else {}
            finish: dict[str, Any] = {"reason": str(data.get("finishReason") or "stop")}
            if "usage" in data:
                finish["usage"] = data["usage"]
            return [Event("finish", data=finish)]
        return []


def _text(kind: EventKind, value: Any) -> list[Event]:
    if not isinstance(value, str) or not value:
        return []
    if kind == "text" and value == ARENA_ERROR:
        return [Event("error", "the site reported an error (hasArenaError)")]
    return [Event(kind, value)]


def _message(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _data(value: Any) -> list[Event]:
    events: list[Event] = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "heartbeat":
            events.append(Event("heartbeat"))
        elif isinstance(item.get("image"), str):
            # Image models answer with a URL; it goes out as Markdown, as
            # LMArenaBridge does.
            events.append(Event("text", f"![image]({item['image']})", item))
    return events
