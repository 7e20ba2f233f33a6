"""Client-side `stop` sequences and `max_tokens` for sites that have no control
for them: cut the streamed text exactly where OpenAI's API would."""

from __future__ import annotations

import math

CHARS_PER_TOKEN = 4  # the usual rough estimate; usage is marked as estimated


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class Limiter:
    """Feed deltas in; get out what may be sent, and whether to stop.

    Text that could be the start of a stop sequence is held back until the
    next delta shows it is not, so a stop sequence split across deltas is
    still found and never sent.
    """

    def __init__(self, stop: list[str] | None = None, max_tokens: int | None = None) -> None:
        self.stop = [s for s in (stop or []) if s]
        self.max_chars = max_tokens * CHARS_PER_TOKEN if max_tokens else None
        self.finish_reason: str | None = None
        self._held = ""
        self._sent = 0

    def feed(self, delta: str) -> str:
        """Return the text to send now; `finish_reason` is set once it must end."""
        if self.finish_reason:
            return ""
        text = self._held + delta
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, self.finish_reason = text[:cut], "stop"
            self._held = ""
        else:
            keep = self._holdback(text)
            text, self._held = text[: len(text) - keep], text[len(text) - keep :]
        return self._cap(text)

    def flush(self) -> str:
        """At the natural end of the answer: what is still held back."""
        text, self._held = self._held, ""
        out = self._cap(text)
        self.finish_reason = self.finish_reason or "stop"
        return out

    def _holdback(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a prefix of a stop sequence."""
        best = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(text)), best, -1):
                if text.endswith(s[:n]):
                    best = n
                    break
        return best

    def _cap(self, text: str) -> str:
        if self.max_chars is not None and self._sent + len(text) >= self.max_chars:
            text = text[: self.max_chars - self._sent]
            if self.finish_reason is None:
                self.finish_reason = "length"
        self._sent += len(text)
        return text
