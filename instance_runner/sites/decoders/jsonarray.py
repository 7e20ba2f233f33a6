"""Pull complete JSON values out of a JSON array that arrives in pieces.

`[v1, v2, ...]` streamed over many chunks: each element is handed out as soon
as its closing bracket arrives (containers only; scalars between them are
skipped). A bare object at the top level (an error body) is handed out too.
An anti-hijacking prefix line such as `)]}'` is skipped.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

import msgspec

_STRUCTURE = re.compile(r'["\[\]{}]')
_IN_STRING = re.compile(r'["\\]')
# Google's JSON responses may start with `)]}'` and a newline (an XSSI guard;
# AIstudioProxyAPI browser_utils/initialization/network.py: ANTI_HIJACK_PREFIX).
_XSSI = ")]}'"


class JsonArrayStream:
    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""  # undecided text: the element being read, from its start
        self._pos = 0  # where scanning resumes in _text
        self._depth = 0
        self._in_string = False
        self._start = -1  # index in _text where the current element began
        self._base = 0  # the depth the current element closes back to
        self._head = True  # still before the first bracket (prefix allowed)
        self.closed = False  # the top-level array has ended

    def feed(self, chunk: bytes) -> list[Any]:
        self._text += self._utf8.decode(chunk)
        return self._scan()

    def close(self) -> list[Any]:
        self._text += self._utf8.decode(b"", final=True)
        return self._scan()

    def _scan(self) -> list[Any]:
        out: list[Any] = []
        text = self._text
        if self._head:
            stripped = text.lstrip()
            if _XSSI.startswith(stripped[:4]) and len(stripped) < 4:
                return out  # could still become the prefix: wait
            if stripped.startswith(_XSSI):
                stripped = stripped[len(_XSSI) :]
            if not stripped.strip():
                self._text = stripped
                return out
            self._head = False
            text = self._text = stripped
        pos = self._pos
        while True:
            if self._in_string:
                found = _IN_STRING.search(text, pos)
                if not found:
                    pos = len(text)
                    break
                if found.group() == "\\":
                    if found.end() >= len(text):
                        pos = found.start()  # the escaped character is still to come
                        break
                    pos = found.end() + 1
                    continue
                self._in_string = False
                pos = found.end()
                continue
            found = _STRUCTURE.search(text, pos)
            if not found:
                pos = len(text)
                break
            char, pos = found.group(), found.end()
            if char == '"':
                self._in_string = True
            elif char in "[{":
                if self._start < 0 and (self._depth == 1 or (self._depth == 0 and char == "{")):
                    self._start, self._base = found.start(), self._depth
                self._depth += 1
            else:
                self._depth -= 1
                if self._start >= 0 and self._depth == self._base:
                    out.append(_loads(text[self._start : pos]))
                    self._start = -1
                elif self._depth <= 0:
                    self.closed = True
                    self._depth = 0
        # Keep only what an element still needs.
        if self._start >= 0:
            self._text, self._pos = text[self._start :], pos - self._start
            self._start = 0
        else:
            self._text, self._pos = text[pos:], 0
        return [x for x in out if x is not None]


def _loads(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
