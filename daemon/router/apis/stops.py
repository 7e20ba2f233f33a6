"""Stop sequences found by the router, so that an answer can say which one
ended it (Anthropic's `stop_reason: "stop_sequence"` and `stop_sequence`):
a Chat Completions upstream that stops at one says only `finish_reason:
"stop"`. The Messages translation therefore keeps the stops to itself and
ends the answer here (closing a stream also stops the generation upstream).

Text is held back only as long as a stop sequence could still be starting
in it (the longest stop's length - 1 characters). Pure.
"""

from __future__ import annotations


class StopScan:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.keep = max((len(s) for s in self.stops), default=1) - 1
        self.held = ""
        self.hit: str | None = None  # the stop sequence met, once met

    def feed(self, text: str) -> str:
        """The part of `text` safe to show now ("" once a stop was met)."""
        if self.hit is not None:
            return ""
        if not self.stops:
            return text
        buffer = self.held + text
        # The stop that completes first ends the answer, as it would in a
        # generation: the earliest end, then the longest, then list order.
        found = [
            (i + len(s), i, n, s) for n, s in enumerate(self.stops) if (i := buffer.find(s)) != -1
        ]
        if found:
            _, at, _, self.hit = min(found)
            self.held = ""
            return buffer[:at]
        cut = max(0, len(buffer) - self.keep)
        self.held = buffer[cut:]
        return buffer[:cut]

    def flush(self) -> str:
        """What was held back, at the end of the text (no stop can start there now)."""
        out, self.held = self.held, ""
        return out
