"""Check a chat request body before any backend sees it.

A client's bad request is the client's fault: it is answered 400 here, so it
never reaches a backend and never counts against a breaker (two requests with
invalid UTF-8 used to open every breaker of the pool). Pure: bytes in, a
ChatInfo or a BadRequest out.

Nesting depth is bounded before decoding (msgspec would raise RecursionError
on `[[[[...`), with C-speed byte operations only.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

import msgspec

from common.text import malformed_json, visible

MAX_DEPTH = 32  # a chat body needs about 5 (body, messages, message, parts, part)
MAX_TOKENS = 1_000_000
MAX_N = 16
MAX_MODEL_CHARS = 256

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class BadRequest(Exception):
    """An OpenAI-shaped 400: `param` names the offending field when there is one."""

    def __init__(self, message: str, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


class Part(msgspec.Struct):
    type: str
    text: str | None = None


Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class Message(msgspec.Struct):
    role: Role
    content: str | list[Part] | None = None
    tool_calls: msgspec.Raw = msgspec.Raw(b"null")  # not read: the instance reads calls


class ChatBody(msgspec.Struct):
    """The fields checked here; every other field passes through unread."""

    model: str
    messages: list[Message]
    stream: bool = False
    user: str | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None


class ChatInfo(msgspec.Struct, frozen=True):
    """What routing needs from a valid body."""

    model: str
    stream: bool
    user: str | None


def depth(body: bytes) -> int | None:
    """How deeply `[` / `{` nest outside strings (MAX_DEPTH + 1 once deeper),
    or None when they do not balance (no JSON text does that)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    level = 0
    while brackets:
        if level > MAX_DEPTH:
            return level
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return None
        brackets = shorter
        level += 1
    return level


def check(body: bytes) -> ChatInfo:
    """Raise BadRequest saying what is wrong with a chat completion body."""
    if not body.strip():
        raise BadRequest("the request body is empty; send a JSON object", "invalid_json")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"the request body is not valid UTF-8 (byte {exc.start})", "invalid_encoding"
        ) from None
    nesting = depth(body)
    if nesting is None:
        raise BadRequest("malformed JSON: brackets do not balance", "invalid_json")
    if nesting > MAX_DEPTH:
        raise BadRequest(f"JSON nested deeper than {MAX_DEPTH} levels", "invalid_json")
    if not body.lstrip().startswith(b"{"):
        raise BadRequest("the request body must be a JSON object", "invalid_json")
    try:
        req = msgspec.json.decode(body, type=ChatBody)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `")
        param = where.rstrip("`").removeprefix("$").lstrip(".") or None
        raise BadRequest(f"invalid request: {message}", "invalid_request", param) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _malformed(body, exc) from None
    _check_fields(req)
    return ChatInfo(req.model, req.stream, req.user)


def _malformed(body: bytes, exc: Exception) -> BadRequest:
    return BadRequest(malformed_json(body, exc), "invalid_json")


def _check_fields(req: ChatBody) -> None:
    if not req.model.strip():
        raise BadRequest("model must name a model", param="model")
    if len(req.model) > MAX_MODEL_CHARS:
        raise BadRequest(f"model is longer than {MAX_MODEL_CHARS} characters", param="model")
    if not req.messages:
        raise BadRequest("messages must be a non-empty array", param="messages")
    if not any(_has_text(m) for m in req.messages):
        raise BadRequest(
            "messages carry no text: an empty prompt (only whitespace, invisible "
            "characters or image parts) cannot be sent to a chat page",
            "empty_prompt",
            "messages",
        )
    for field in ("max_tokens", "max_completion_tokens"):
        value = getattr(req, field)
        if value is not None and not 1 <= value <= MAX_TOKENS:
            raise BadRequest(f"{field} must be between 1 and {MAX_TOKENS}", param=field)
    if req.n is not None and not 1 <= req.n <= MAX_N:
        raise BadRequest(f"n must be between 1 and {MAX_N}", param="n")
    if req.temperature is not None and not 0 <= req.temperature <= 2:
        raise BadRequest("temperature must be between 0 and 2", param="temperature")
    if req.top_p is not None and not 0 <= req.top_p <= 1:
        raise BadRequest("top_p must be between 0 and 1", param="top_p")


def _has_text(message: Message) -> bool:
    """Text to send, or an assistant's earlier tool calls (the transcript
    carries them)."""
    if bytes(message.tool_calls) not in (b"null", b"[]"):
        return True
    content = message.content
    if isinstance(content, str):
        return visible(content)
    if content is None:
        return False
    return any(p.type == "text" and p.text and visible(p.text) for p in content)


OFF_LOOP_BYTES = 256 * 1024  # bigger bodies are checked in a thread


async def check_off_loop(body: bytes) -> ChatInfo:
    """`check`, in a worker thread when the body is big enough to matter."""
    if len(body) <= OFF_LOOP_BYTES:
        return check(body)
    return await asyncio.to_thread(check, body)
