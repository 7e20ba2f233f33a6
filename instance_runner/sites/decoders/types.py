"""The vocabulary of answer-stream decoders: events out, options in.

A decoder turns the raw bytes of a site's answer response (tapped from the
page's network traffic) into events. It is built from the site file's
`[stream]` table (a `StreamOptions`, or the site file's `Stream`, which
extends it), is fed chunks exactly as they arrive off the wire (any split,
even inside a multi-byte character) and closed when the response ends.
Decoders are pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import msgspec

EventKind = Literal["text", "reasoning", "finish", "error", "heartbeat"]


class Event(msgspec.Struct, frozen=True):
    """One thing the stream said.

    text: a piece of the answer (kind "text") or of the model's thinking
    ("reasoning"), or the message of an "error". data: anything structured
    the kind carries: {"reason": "stop" | "length" | ...} for "finish",
    {"status": int, "code": str} (when known) for "error".
    """

    kind: EventKind
    text: str = ""
    data: dict[str, Any] | None = None


class StreamOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a decoder may be told by the site file (all optional).

    ndjson / sse items are JSON objects; the fields are dotted paths into
    them ("choices.0.delta.content").
    """

    text_field: str = "token"  # ndjson/sse: where a text delta is
    reasoning_field: str = ""  # ndjson/sse: where a reasoning delta is ("" = none)
    error_field: str = "error"  # ndjson/sse: an error object or message
    finish_field: str = ""  # ndjson/sse: a finish reason, when present
    done_data: str = "[DONE]"  # sse: the data line that ends the stream
    # prefix-lines: line prefix -> event kind ({"a0": "text", "ag": "reasoning", ...})
    prefixes: dict[str, str] = {}


class Decoder(Protocol):
    """Incremental: carries partial lines and partial UTF-8 across chunks."""

    def __init__(self, options: StreamOptions) -> None: ...

    def feed(self, chunk: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...
