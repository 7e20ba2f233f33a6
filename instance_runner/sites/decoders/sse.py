"""Server-sent events whose data lines are JSON objects (OpenAI-style APIs).

An event's data lines are joined with newlines and dispatched at the blank
line that ends it (the EventSource rules); comment lines (":") are
heartbeats; `data: [DONE]` ends the stream.
"""

from __future__ import annotations

import msgspec

from instance_runner.sites.decoders.base import LineEvents, json_item_events
from instance_runner.sites.decoders.types import Event, StreamOptions


class SseDecoder(LineEvents):
    def __init__(self, options: StreamOptions) -> None:
        self.options = options
        super().__init__()
        self._data: list[str] = []
        self._done = False

    def _line(self, line: str) -> list[Event]:
        if self._done:
            return []
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return [Event("heartbeat")]
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value.removeprefix(" "))
        return []

    def _dispatch(self) -> list[Event]:
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []
        if data.strip() == self.options.done_data:
            self._done = True
            return [Event("finish", data={"reason": "stop"})]
        try:
            item = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return []
        events = json_item_events(item, self.options)
        if any(e.kind in ("finish", "error") for e in events):
            self._done = True
        return events
