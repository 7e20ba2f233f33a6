"""What crosses the boundaries of the API translations."""

from __future__ import annotations

from typing import Any

import msgspec


class Refused(Exception):
    """A client's request this API cannot take: a 400 naming the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


class Translated(msgspec.Struct, kw_only=True):
    """A client API's request as the one internal request (Chat Completions)."""

    chat: dict[str, Any]  # the Chat Completions body (model already resolved)
    ignored: list[str] = []  # request fields not honoured: the x-mictl-ignored header
    prompt_chars: int = 0  # for the input token estimate
    stop_sequences: list[str] = []  # met by the router (apis/stops.py), not upstream


def text_length(chat: dict[str, Any]) -> int:
    """Characters of text in a chat body's messages and tools (token estimates)."""
    total = 0
    for message in chat.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
        for call in message.get("tool_calls", []):
            total += len(call["function"]["arguments"]) + len(call["function"]["name"])
    if chat.get("tools"):
        total += len(msgspec.json.encode(chat["tools"]))
    return total
