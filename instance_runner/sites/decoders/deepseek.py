"""DeepSeek's chat stream: server-sent events that patch a response object by path.

chat.deepseek.com's `/api/v0/chat/completion` answers `text/event-stream`.
Each event's data is one JSON patch of the answer being built (sources:
xtekky/gpt4free g4f/Provider/needs_auth/deepseek/stream.py @49c7e19e,
foxhui/WebAI2API src/backend/adapter/deepseek_text.js @940efdda):

- `{"v": {"response": {..., "status": "WIP", "fragments": [...]}}}`: the
  whole response (a snapshot);
- `{"p": "response/fragments", "o": "APPEND", "v": [{"type": "THINK",
  "content": "..."}]}`: a new fragment (THINK: thinking, RESPONSE: answer);
- `{"p": "response/fragments/-1/content", "o": "APPEND", "v": "..."}`: text
  appended to a fragment, and then bare `{"v": "..."}` continuing the same path;
- `{"p": "response", "o": "BATCH", "v": [{"p": "fragments", ...}, ...]}`:
  several patches relative to `response`;
- `{"p": "response/status", "o": "SET", "v": "FINISHED"}` (or `quasi_status`
  in a batch): the end; `event: close` ends the stream.

A reply that is not a stream carries DeepSeek's business envelope
(`{"code", "msg", "data": {"biz_code", "biz_msg"}}`, gpt4free DeepSeek.py
_unwrap_biz_response): a non-zero code is an error event with its message.
"""

from __future__ import annotations

from typing import Any

import msgspec

from instance_runner.sites.decoders.base import LineEvents
from instance_runner.sites.decoders.types import Event, StreamOptions

# Fragment types, as gpt4free's stream.py sorts them; search results and
# tool calls are neither thinking nor answer text here.
TEXT = {"RESPONSE", "TEMPLATE_RESPONSE"}
REASONING = {"THINK", "THINKING", "REASONING"}
# Message statuses -> finish reasons (gpt4free stream.py DEEPSEEK_FINISH_REASONS).
FINISH = {
    "FINISHED": "stop",
    "CONTENT_FILTER": "content_filter",
    "CONTEXT_LENGTH_EXCEEDED": "length",
    "INCOMPLETE": "length",
    "TIMEOUT": "timeout",
}


class DeepseekDecoder(LineEvents):
    def __init__(self, options: StreamOptions | None = None) -> None:
        super().__init__()
        self._event = "message"
        self._data: list[str] = []
        self._kinds: list[str] = []  # the kind of each fragment so far ("" = neither)
        self._path = ""  # the path a bare {"v": ...} continues
        self._done = False

    def _line(self, line: str) -> list[Event]:
        if self._done:
            return []
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return [Event("heartbeat")]
        if line.startswith("{"):  # not a stream: the business envelope
            self._data.append(line)
            return []
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value or "message"
        elif field == "data":
            self._data.append(value)
        return []

    def _dispatch(self) -> list[Event]:
        event, self._event = self._event, "message"
        data, self._data = "\n".join(self._data), []
        if event == "close":
            self._done = True
            return [Event("finish", data={"reason": "stop"})]
        if not data or event not in ("message", "ready"):
            return []
        try:
            item = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return []
        if not isinstance(item, dict):
            return []
        if "code" in item and "v" not in item:
            return self._envelope(item)
        out = self._patch(item, "")
        if any(e.kind in ("finish", "error") for e in out):
            self._done = True
        return out

    def _envelope(self, item: dict[str, Any]) -> list[Event]:
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        assert isinstance(data, dict)
        ok = (None, 0, "0")
        if item.get("code") in ok and data.get("biz_code") in ok:
            return []
        self._done = True
        code = item.get("code") if item.get("code") not in ok else data.get("biz_code")
        message = data.get("biz_msg") or item.get("msg") or f"error {code}"
        return [Event("error", str(message), data={"code": str(code)})]

    def _patch(self, item: dict[str, Any], base: str) -> list[Event]:
        value, op = item.get("v"), item.get("o")
        path = item.get("p")
        if path is None:
            if isinstance(value, dict) and isinstance(value.get("response"), dict):
                return self._snapshot(value["response"])
            if isinstance(value, str) and self._path:  # a bare continuation
                return self._content(self._path, value)
            return []
        full = f"{base}/{path}" if base else str(path)
        if op == "BATCH" and isinstance(value, list):
            return [e for sub in value if isinstance(sub, dict) for e in self._patch(sub, full)]
        self._path = full
        if full == "response/fragments" and isinstance(value, list):
            if op == "SET":
                self._kinds = []
            return self._fragments(value)
        if full in ("response/status", "response/quasi_status") and value in FINISH:
            return [Event("finish", data={"reason": FINISH[str(value)]})]
        if isinstance(value, str) and full.endswith("/content"):
            return self._content(full, value)
        return []

    def _snapshot(self, response: dict[str, Any]) -> list[Event]:
        self._kinds = []
        out = self._fragments(response.get("fragments") or [])
        if response.get("status") in FINISH:
            out.append(Event("finish", data={"reason": FINISH[response["status"]]}))
        return out

    def _fragments(self, fragments: list[Any]) -> list[Event]:
        out: list[Event] = []
        for fragment in fragments:
            if not isinstance(fragment, dict):
                continue
            kind = _kind(str(fragment.get("type", "")).upper())
            self._kinds.append(kind)
            content = fragment.get("content")
            if kind and isinstance(content, str) and content:
                out.append(Event(kind, content))  # type: ignore[arg-type]
        self._path = "response/fragments/-1/content"
        return out

    def _content(self, path: str, text: str) -> list[Event]:
        parts = path.split("/")
        if len(parts) != 4 or parts[:2] != ["response", "fragments"]:
            return []
        index = parts[2]
        if not index.lstrip("-").isdigit() or not self._kinds:
            return []
        i = int(index)
        kind = self._kinds[i] if -len(self._kinds) <= i < len(self._kinds) else ""
        return [Event(kind, text)] if kind and text else []  # type: ignore[arg-type]


def _kind(fragment_type: str) -> str:
    if fragment_type in TEXT:
        return "text"
    if fragment_type in REASONING:
        return "reasoning"
    return ""
