"""Shared pieces of the decoders: UTF-8 across chunks, lines, JSON paths."""

from __future__ import annotations

import codecs
from typing import Any

from instance_runner.sites.decoders.types import Event


class LineSplitter:
    """Bytes in, complete text lines out; a character or line split across
    chunks is held until its end arrives. CRLF and LF both end a line."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, chunk: bytes) -> list[str]:
        text = self._partial + self._utf8.decode(chunk)
        lines = text.split("\n")
        self._partial = lines.pop()
        return [line.removesuffix("\r") for line in lines]

    def close(self) -> list[str]:
        rest = (self._partial + self._utf8.decode(b"", final=True)).removesuffix("\r")
        self._partial = ""
        return [rest] if rest else []


class LineEvents:
    """feed() and close() for a decoder of server-sent events, which works
    a line at a time: `_line` is the decoder's own, an empty line ends an
    event (close() sends one more), and a stream that ends without saying
    so finishes with "stop". The decoder sets `_done` once it has."""

    _done: bool = False

    def __init__(self) -> None:
        self._lines = LineSplitter()

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for line in self._lines.feed(chunk):
            out.extend(self._line(line))
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for line in [*self._lines.close(), ""]:
            out.extend(self._line(line))
        if not self._done:
            self._done = True
            out.append(Event("finish", data={"reason": "stop"}))
        return out

    def _line(self, line: str) -> list[Event]:
        raise NotImplementedError


def at_path(item: Any, path: str) -> Any:
    """`item` at a dotted path ("choices.0.delta.content"); None when absent."""
    if not path:
        return None
    for key in path.split("."):
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, list) and key.lstrip("-").isdigit():
            index = int(key)
            item = item[index] if -len(item) <= index < len(item) else None
        else:
            return None
        if item is None:
            return None
    return item


def error_text(value: Any) -> str:
    """The message of an error payload: a string, or {"message": ...}."""
    if isinstance(value, dict):
        return str(value.get("message") or value.get("error") or value)
    return str(value)


def json_item_events(item: Any, o: Any) -> list[Event]:
    """Events from one JSON object of an ndjson or SSE stream."""
    out: list[Event] = []
    if not isinstance(item, dict):
        return out
    err = at_path(item, o.error_field)
    if err:
        return [Event("error", error_text(err))]
    reasoning = at_path(item, o.reasoning_field)
    if isinstance(reasoning, str) and reasoning:
        out.append(Event("reasoning", reasoning))
    text = at_path(item, o.text_field)
    if isinstance(text, str) and text:
        out.append(Event("text", text))
    finish = at_path(item, o.finish_field)
    if isinstance(finish, str) and finish:
        out.append(Event("finish", data={"reason": finish}))
    return out
