"""What a decoder yields: one vocabulary for every site's wire format."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

EventKind = Literal["text", "reasoning", "finish", "error", "heartbeat"]


class Event(msgspec.Struct, frozen=True):
    kind: EventKind
    text: str = ""
    data: dict[str, Any] | None = None
