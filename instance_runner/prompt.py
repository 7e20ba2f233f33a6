"""OpenAI messages -> the one prompt a chat web app takes.

A lone user message is sent as it is. Anything else (a system message, or a
conversation) becomes a transcript, one block per message, blank line between:

    System: <system content>

    User: <first question>

    Assistant: <earlier answer>

    User: <the question to answer now>

Content given as a list of parts keeps its text parts, joined by newlines.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Role = Literal["system", "developer", "user", "assistant", "tool"]
LABELS = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
}


class ImageUrl(msgspec.Struct):
    url: str
    detail: str | None = None  # OpenAI's "auto" | "low" | "high": a page has no such choice


class Part(msgspec.Struct):
    type: str
    text: str = ""
    image_url: ImageUrl | str | None = None  # type "image_url" (a bare string, as some send)


class Message(msgspec.Struct):
    role: Role
    content: str | list[Part] | None = None
    name: str | None = None


def text_of(message: Message) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(p.text for p in message.content if p.type == "text")


def image_urls(messages: list[Message]) -> list[str]:
    """Every image in the conversation, in order (each goes into the page)."""
    found = []
    for m in messages:
        for p in m.content if isinstance(m.content, list) else []:
            if p.type == "image_url" and p.image_url:
                found.append(p.image_url if isinstance(p.image_url, str) else p.image_url.url)
    return found


def ignored_in_parts(messages: list[Message]) -> list[str]:
    """What content parts ask for that a page cannot do (x-mictl-ignored)."""
    for m in messages:
        for p in m.content if isinstance(m.content, list) else []:
            if isinstance(p.image_url, ImageUrl) and p.image_url.detail not in (None, "auto"):
                return ["image_url.detail"]  # a site takes the image as it is
    return []


def build(messages: list[Message]) -> str:
    if len(messages) == 1 and messages[0].role == "user":
        return text_of(messages[0])
    return "\n\n".join(f"{LABELS[m.role]}: {text_of(m)}" for m in messages)
