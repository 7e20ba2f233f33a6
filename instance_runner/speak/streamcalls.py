"""A streamed answer split as it comes: text that cannot be part of a call
goes out at once; from the first thing that may start a call, text waits.

Plain prose streams with no delay beyond a few characters (a trailing `<`,
a backtick or `{` that may open a call). A fenced block waits until it
closes, then goes out if it holds no call. Once a call (a `<tool_call>`
tag, `{"tool_calls":`, a bare object answer) begins, the rest waits for
the end, where `finish` parses it. Each piece costs time in its own size,
not the answer's: a long held block is not read again as it grows. Pure and incremental: the
text fed plus `finish()` gives what `toolcalls.parse` gives for the whole
answer, however it was cut (tests/instance/test_speak_calls.py).
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
        self._fence_seen = False  # the fence the buffer starts with was read once
        self._later: list[str] = []  # pieces after the hold began

    def feed(self, piece: str) -> str:
        """Take the next piece of the answer; return the text safe to send."""
        if self._held:
            self._later.append(piece)
            return ""
        self._buf += piece
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
            if self._fence_seen:  # the buffer starts with a fence still open
                start, kind = 0, "fence"
            else:  # (the buffer is short here: only what may start a call)
                start, kind = toolcalls.next_trigger(buf, 0)
            if start < 0:
                cut = len(buf) - _partial_tail(buf)
                self._send(out, cut)
                break
            self._send(out, start)
            if kind != "fence":
                # A tag or {"tool_calls": is a call (or a broken one) once
                # closed; held at once, so a long one is not read again and
                # again as it grows (finish parses it once).
                self._held = True
                break
            if not self._may_close(len(piece)):
                break  # no closing fence in what just came: nothing to read yet
            end, found = toolcalls.read_at(self._buf, 0, kind, final=False)
            if end is None:
                break  # wait for more text
            if found is not None:
                self._held = True
                break
            self._send(out, end)  # a fence with no call in it
        return "".join(out)

    def _may_close(self, fed: int) -> bool:
        """Whether the open fence at the start of the buffer may have closed
        with the last `fed` characters (a fence's first read looks at all)."""
        if not self._fence_seen:
            self._fence_seen = True
            return True
        tail = self._buf[max(len(toolcalls.FENCE), len(self._buf) - fed - 3) :]
        if toolcalls.FENCE in tail:
            return True
        # The info line ends with the first newline; only then can it close.
        return "\n" in tail and self._buf.find("\n", len(toolcalls.FENCE)) >= len(self._buf) - fed

    def _send(self, out: list[str], upto: int) -> None:
        text, self._buf = self._buf[:upto], self._buf[upto:]
        if upto:
            self._fence_seen = False  # the buffer starts somewhere new
        if text:
            out.append(text)
            self._started = self._started or bool(text.strip())

    def finish(self) -> Parsed:
        """The end of the answer: the content not yet sent, and the calls."""
        buf, self._buf = self._buf + "".join(self._later), ""
        self._later = []
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
