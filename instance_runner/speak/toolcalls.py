"""Tool calls out of a chat model's answer: a pure parser.

Whatever the prompt asked for, models write calls in a few forms; all are
read:

- `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Hermes, Qwen;
  an unclosed tag at the very end counts when its JSON is whole),
- a fenced block, ```json or ```tool_call, holding `{"name", "arguments"}`,
  a list of them, or `{"tool_calls": [...]}`,
- an object `{"tool_calls": [...]}` anywhere in the text,
- an answer that is nothing but one `{"name", "arguments"}` object.

A call's items may be `{"name", "arguments"|"parameters"}` or OpenAI's own
`{"type": "function", "function": {"name", "arguments"}}`; arguments may be
an object or JSON text. Text outside calls is the answer's content, kept as
written. A block that says it is a call but cannot be read becomes a Call
with `problem` set (the caller asks the model again).
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from instance_runner.speak.types import Call

OPEN_TAG, CLOSE_TAG, FENCE = "<tool_call>", "</tool_call>", "```"
CALL_FENCES = ("tool_call", "tool_calls", "tool-call", "tool-calls", "function_call")
_OBJECT = re.compile(r'\{\s*"tool_calls"\s*:')
_DECODER = json.JSONDecoder()


class Parsed(msgspec.Struct, frozen=True):
    content: str
    calls: list[Call]


def parse(text: str, *, whole: bool = True) -> Parsed:
    """Split `text` into content and calls (`whole`: `text` is the whole
    answer, so a bare `{"name", "arguments"}` object may be the call)."""
    bare = _whole_object(text) if whole else None
    if bare is not None:
        return bare
    content: list[str] = []
    calls: list[Call] = []
    pos = 0
    while True:
        start, kind = next_trigger(text, pos)
        if start < 0:
            content.append(text[pos:])
            break
        end, found = read_at(text, start, kind, final=True)
        assert end is not None  # final: every construct ends somewhere
        if found is None:  # not a call after all: text
            content.append(text[pos:end])
        else:
            content.append(text[pos:start])
            calls.extend(found)
        pos = end
    return Parsed("".join(content), calls)


def next_trigger(text: str, pos: int) -> tuple[int, str]:
    """Where the next thing that may be a call starts, and which kind."""
    best, kind = -1, ""
    for candidate, name in ((text.find(OPEN_TAG, pos), "tag"), (text.find(FENCE, pos), "fence")):
        if candidate >= 0 and (best < 0 or candidate < best):
            best, kind = candidate, name
    match = _OBJECT.search(text, pos)
    if match and (best < 0 or match.start() < best):
        best, kind = match.start(), "object"
    return best, kind


def read_at(
    text: str, start: int, kind: str, *, final: bool
) -> tuple[int | None, list[Call] | None]:
    """Read the construct of `kind` at `start`: (where it ends, its calls or
    None when it is plain text). (None, None) when more text is needed to
    tell (only when not `final`)."""
    if kind == "tag":
        return _tag(text, start, final)
    if kind == "fence":
        return _fence(text, start, final)
    return _object(text, start, final)


def _tag(text: str, start: int, final: bool) -> tuple[int | None, list[Call] | None]:
    body_start = start + len(OPEN_TAG)
    close, value = _first_whole(text, body_start, CLOSE_TAG)
    if value is not None:
        calls = _calls_in(value) or [Call("", None, compact_raw(value), _NOT_A_CALL)]
        return close + len(CLOSE_TAG), calls
    if not final:
        return None, None  # a later close tag may end it (a string may hold one)
    close = text.find(CLOSE_TAG, body_start)
    if close < 0:
        body = text[body_start:]
        value = _decode_all(body)
        calls = _calls_in(value) if value is not None else None
        if calls:  # a model that stopped before closing its tag
            return len(text), calls
        return body_start, None
    body = text[body_start:close]
    return close + len(CLOSE_TAG), [
        Call("", None, body.strip(), "the <tool_call> block is not a JSON call")
    ]


def _first_whole(text: str, body_start: int, marker: str) -> tuple[int, Any | None]:
    """The first `marker` after `body_start` before which the text is one
    whole JSON value: (its position, the value), or (-1, None)."""
    close = text.find(marker, body_start)
    while close >= 0:
        value = _decode_all(text[body_start:close])
        if value is not None:
            return close, value
        close = text.find(marker, close + 1)
    return -1, None


def _fence(text: str, start: int, final: bool) -> tuple[int | None, list[Call] | None]:
    info_end = text.find("\n", start + len(FENCE))
    first = text.find(FENCE, info_end + 1) if info_end >= 0 else -1
    if first < 0:
        if not final:
            return None, None
        return start + len(FENCE), None  # an unclosed fence is text
    info = text[start + len(FENCE) : info_end].strip().lower()
    body_start = info_end + 1
    if info not in ("", "json", *CALL_FENCES) or not text[body_start:first].lstrip().startswith(
        ("{", "[")
    ):
        if info in CALL_FENCES:
            return first + len(FENCE), [Call("", None, text[body_start:first].strip(), _NOT_JSON)]
        return first + len(FENCE), None
    close, value = _first_whole(text, body_start, FENCE)
    if value is not None:
        calls = _calls_in(value)
        if not calls and info in CALL_FENCES:
            calls = [Call("", None, compact_raw(value), _NOT_A_CALL)]
        return close + len(FENCE), (calls or None)
    if not final:
        return None, None  # a later fence may end it (a string may hold one)
    if info in CALL_FENCES:
        return first + len(FENCE), [Call("", None, text[body_start:first].strip(), _NOT_JSON)]
    return first + len(FENCE), None


_NOT_JSON = "the fenced tool call is not a JSON call"
_NOT_A_CALL = 'the call block holds JSON that is not {"name": ..., "arguments": {...}}'


def compact_raw(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _object(text: str, start: int, final: bool) -> tuple[int | None, list[Call] | None]:
    try:
        value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError:
        if not final:
            return None, None
        raw = text[start:]
        return len(text), [Call("", None, raw.strip(), "the tool_calls object is not whole JSON")]
    calls = _calls_in(value)
    if not calls:
        return end, [Call("", None, text[start:end], "tool_calls holds no call")]
    return end, calls


def _whole_object(text: str) -> Parsed | None:
    """An answer that is one bare `{"name", "arguments"}` object."""
    stripped = text.strip()
    if not stripped.startswith("{") or '"tool_calls"' in stripped[:40]:
        return None
    value = _decode_all(stripped)
    if not isinstance(value, dict) or not _is_call(value):
        return None
    calls = _calls_in(value)
    if not calls:
        return None
    lead = text[: len(text) - len(text.lstrip())]
    tail = text[len(text.rstrip()) :]
    return Parsed(lead + tail, calls)


def _decode_all(body: str) -> Any | None:
    body = body.strip()
    try:
        value, end = _DECODER.raw_decode(body)
    except json.JSONDecodeError:
        return None
    return value if end == len(body) else None


def _is_call(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if isinstance(item.get("function"), dict):
        item = item["function"]
    return isinstance(item.get("name"), str) and ("arguments" in item or "parameters" in item)


def _calls_in(value: Any) -> list[Call]:
    """The calls a decoded block holds (empty: none, it is not a call)."""
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        items = value["tool_calls"]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    if not items or not all(_is_call(i) for i in items):
        return []
    return [_call(i) for i in items]


def _call(item: dict[str, Any]) -> Call:
    if isinstance(item.get("function"), dict):
        item = item["function"]
    args = item.get("arguments", item.get("parameters"))
    raw = json.dumps(item, ensure_ascii=False)
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return Call(item["name"], args, raw, "its arguments are not JSON")
    return Call(item["name"], args, raw)


def arguments_json(call: Call) -> str:
    """The arguments as OpenAI sends them: JSON text."""
    if isinstance(call.arguments, str) and call.problem:
        return call.arguments
    return json.dumps(call.arguments if call.arguments is not None else {}, ensure_ascii=False)
