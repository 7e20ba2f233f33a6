"""A streamed answer split as it comes: text that cannot be part of a call
goes out at once; from the first thing that may start a call, text waits.

Plain prose streams with no delay beyond a few characters (a trailing `<`,
a backtick or `{` that may open a call). A fenced block waits until it
closes, then goes out if it holds no call. Once a call is seen, the rest
waits for the end, where `finish` parses it. Pure and incremental: the
text fed plus `finish()` gives what `toolcalls.parse` gives for the whole
answer, however it was cut (tests/test_speak_calls.py).
"""

from __future__ import annotations

from instance_runner.speak import toolcalls
from instance_runner.speak.toolcalls import Parsed

_PREFIXES = (toolcalls.OPEN_TAG, toolcalls.FENCE)
_KEY = '"tool_calls"'


class CallSplitter:
    def __init__(self) -> None:
        self._buf = ""
        self._started = False  # something not blank went out
        self._held = False  # a call (or a bare object answer) began: hold to the end

    def feed(self, piece: str) -> str:
        """Take the next piece of the answer; return the text safe to send."""
        self._buf += piece
        if self._held:
            return ""
        out: list[str] = []
        while True:
            buf = self._buf
            if not self._started:
                lead = buf.lstrip()
                if not lead:
                    break  # blank so far: it may precede a bare call object
                if lead.startswith("{"):
                    self._held = True
                    break
            start, kind = toolcalls.next_trigger(buf, 0)
            if start < 0:
                cut = len(buf) - _partial_tail(buf)
                self._send(out, cut)
                break
            self._send(out, start)
            end, found = toolcalls.read_at(self._buf, 0, kind, final=False)
            if end is None:
                break  # wait for more text
            if found is not None:
                self._held = True
                break
            self._send(out, end)  # a fence with no call in it
        return "".join(out)

    def _send(self, out: list[str], upto: int) -> None:
        text, self._buf = self._buf[:upto], self._buf[upto:]
        if text:
            out.append(text)
            self._started = self._started or bool(text.strip())

    def finish(self) -> Parsed:
        """The end of the answer: the content not yet sent, and the calls."""
        buf, self._buf = self._buf, ""
        return toolcalls.parse(buf, whole=not self._started)


def _partial_tail(text: str) -> int:
    """How many characters at the end may be the start of a call."""
    for size in range(min(len(text), len(toolcalls.OPEN_TAG) - 1), 0, -1):
        tail = text[-size:]
        if any(p.startswith(tail) for p in _PREFIXES):
            return size
    brace = text.rfind("{")
    if brace < 0:
        return 0
    rest = text[brace + 1 :].lstrip()
    if _KEY.startswith(rest) or (rest.startswith(_KEY) and not rest[len(_KEY) :].strip()):
        return len(text) - brace
    return 0
