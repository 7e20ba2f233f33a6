"""Gemini's answer stream (the page's POST to gemini.google.com
`/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate`).

Not AI Studio's format, though both are Google's nested arrays: AI Studio
streams one JSON array element by element with each piece of text once
(decoders/aistudio.py); Gemini frames its body and repeats the whole answer
so far in every frame. Facts from HanaokaYuzu/Gemini-API @fbe07905:

- The body starts with the XSSI guard `)]}'`, then frames `<length>\\n<json>\\n`
  whose length counts UTF-16 code units (JavaScript's String.length) from
  just after the digits, so both newlines are inside it
  (src/gemini_webapi/utils/parsing.py parse_response_by_frame,
  _get_char_count_for_utf16_units). A frame is a list of envelopes.
- An envelope `["wrb.fr", null, "<inner JSON string>", ...]` carries the
  inner JSON at [2]; an error code sits at [5][2][0][1][0] of the envelope
  (1037 usage limit, 1013 a passing error, 1050/1052 model, 1060 IP
  blocked: client.py _process_parts, constants.py ErrorCode).
- In the inner JSON, [1] is [chat id, reply id] and [4] the candidates;
  a candidate is [rcid, [text], ...] with the answer so far at [1][0], the
  thoughts so far at [37][0][0], and [8][0] == 2 once it is complete
  (client.py _process_parts, _parse_candidate).
- Text is cumulative: the delta is what a frame adds to the last one
  (parsing.py get_delta_by_fp_len). Until the candidate is complete, the
  page's own text may end in a code fence it later takes back ("\\n```") or
  a Markdown marker it escapes for a moment (`\\*`); those ends are held
  back (get_clean_text) and sent once the text moves past them.

Other envelopes ("di", "af.httprm", "e") carry no answer and are skipped.
"""

from __future__ import annotations

import codecs
import difflib
import json
import re
from typing import Any

from instance_runner.sites.decoders.types import Event, StreamOptions

XSSI = ")]}'"
TAIL = 2000  # how far back a rewrite is looked for
LENGTH = re.compile(r"\s*(\d+)\n")
FLICKER = re.compile(r"\\+[`*_~].*$", re.S)  # a Markdown marker escaped for a moment
# The codes' names (constants.py ErrorCode); the site file's [[status]]
# markers say what each means for mictl.
ERRORS = {
    1013: "temporary error (1013)",
    1037: "usage limit exceeded (1037)",
    1050: "model inconsistent with the chat (1050)",
    1052: "model header invalid (1052)",
    1060: "IP temporarily blocked (1060)",
}


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def at(node: Any, *path: int) -> Any:
    """`node` at a path of list indexes; None when absent."""
    for key in path:
        if not isinstance(node, list) or not -len(node) <= key < len(node):
            return None
        node = node[key]
    return node


def stable(text: str) -> str:
    """The part of a not yet complete answer the page will not take back."""
    if text.endswith("\n```"):
        text = text[:-4]
    return FLICKER.sub("", text)


class Frames:
    """Bytes in, the envelopes of every complete frame out."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._guard = False  # the XSSI guard is behind us

    def feed(self, chunk: bytes, final: bool = False) -> list[Any]:
        self._buffer += self._utf8.decode(chunk, final=final)
        if not self._guard:
            head = self._buffer.lstrip()
            if len(head) < len(XSSI) and XSSI.startswith(head) and not final:
                return []
            self._buffer = head.removeprefix(XSSI)
            self._guard = True
        out: list[Any] = []
        while True:
            match = LENGTH.match(self._buffer)
            if not match:
                break
            start, want = match.start(1) + len(match.group(1)), int(match.group(1))
            end, units = start, 0
            while units < want and end < len(self._buffer):
                units += _units(self._buffer[end])
                end += 1
            if units < want:
                break  # the rest of this frame is still on its way
            body, self._buffer = self._buffer[start:end].strip(), self._buffer[end:]
            try:
                frame = json.loads(body) if body else []
            except ValueError:
                continue
            out.extend(frame if isinstance(frame, list) else [frame])
        return out


class GeminiDecoder:
    def __init__(self, options: StreamOptions) -> None:
        self.options = options
        self._frames = Frames()
        self._sent = {"text": "", "reasoning": ""}  # what went out so far, per kind
        self._finished = False
        self._failed = False

    def feed(self, chunk: bytes) -> list[Event]:
        return self._events(self._frames.feed(chunk))

    def close(self) -> list[Event]:
        out = self._events(self._frames.feed(b"", final=True))
        if not self._finished and not self._failed:
            out.append(Event("finish", data={"reason": "stop"}))
            self._finished = True
        return out

    def _events(self, envelopes: list[Any]) -> list[Event]:
        out: list[Event] = []
        for envelope in envelopes:
            if self._failed or self._finished:
                break
            code = at(envelope, 5, 2, 0, 1, 0)
            if isinstance(code, int) and code:
                message = ERRORS.get(code, f"error code {code}")
                out.append(Event("error", f"Gemini: {message}", {"code": str(code)}))
                self._failed = True
                break
            if at(envelope, 0) != "wrb.fr" or not isinstance(at(envelope, 2), str):
                continue
            try:
                inner = json.loads(envelope[2])
            except ValueError:
                continue
            candidate = at(inner, 4, 0)
            if isinstance(candidate, list):
                out.extend(self._candidate(candidate))
        return out

    def _candidate(self, candidate: list[Any]) -> list[Event]:
        done = at(candidate, 8, 0) == 2
        out: list[Event] = []
        for kind, value in (("reasoning", at(candidate, 37, 0, 0)), ("text", at(candidate, 1, 0))):
            if not isinstance(value, str):
                continue
            now = value if done else stable(value)
            before = self._sent[kind]
            # (not a continuation: the page rewrote what was sent)
            piece = now[len(before) :] if now.startswith(before) else _after_realigned(before, now)
            if piece:
                out.append(Event(kind, piece))  # type: ignore[arg-type]
                self._sent[kind] = now
            elif len(now) > len(before):
                self._sent[kind] = now
        if done:
            out.append(Event("finish", data={"reason": "stop"}))
            self._finished = True
        return out


def _after_realigned(before: str, now: str) -> str:
    """What `now` adds after the last stretch it shares with the end of
    `before` (a few characters the page rewrote, an escape it took back):
    a sent piece cannot be taken back, so only what is new goes out."""
    tail = min(len(before), len(now), TAIL)
    if not tail:
        return now
    old, new = before[-tail:], now[-tail:]
    blocks = [
        b
        for b in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks()
        if b.size
    ]
    return new[blocks[-1].b + blocks[-1].size :] if blocks else ""
