"""Newline-delimited JSON: one object per line (the demo site's stream)."""

from __future__ import annotations

import msgspec

from instance_runner.sites.decoders.base import LineSplitter, json_item_events
from instance_runner.sites.decoders.types import Event, StreamOptions


class NdjsonDecoder:
    def __init__(self, options: StreamOptions) -> None:
        self.options = options
        self._lines = LineSplitter()
        self._ended = False

    def feed(self, chunk: bytes) -> list[Event]:
        return self._events(self._lines.feed(chunk))

    def close(self) -> list[Event]:
        out = self._events(self._lines.close())
        if not any(e.kind in ("finish", "error") for e in out) and not self._ended:
            out.append(Event("finish", data={"reason": "stop"}))
        self._ended = True
        return out

    def _events(self, lines: list[str]) -> list[Event]:
        out: list[Event] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                item = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue  # not a JSON line (a comment, a keep-alive)
            out.extend(json_item_events(item, self.options))
        if any(e.kind in ("finish", "error") for e in out):
            self._ended = True
        return out
