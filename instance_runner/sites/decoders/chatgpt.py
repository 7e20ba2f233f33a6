"""ChatGPT's conversation stream: server-sent events in delta encoding "v1".

chatgpt.com's POST to `/backend-api/conversation` (now `/backend-api/f/
conversation`) answers `text/event-stream`. Sources (facts, not code):
lanqian528/chat2api chatgpt/stream_v1.py @e043fdff, foxhui/WebAI2API
src/backend/adapter/chatgpt_text.js @b985a5da, xtekky/gpt4free
g4f/Provider/needs_auth/OpenaiChat.py @0332c0c0.

- `event: delta_encoding` / `data: "v1"`: the stream patches documents;
- `event: delta` events whose data is `{"p": "", "o": "add", "v": {"message":
  {...}, "conversation_id": ...}, "c": 0}`: a new message (document `c`),
  its `author.role` and `content.content_type` ("text": the answer;
  "thoughts": reasoning, its text under `content.thoughts[i].content`);
- `{"p": "/message/content/parts/0", "o": "append", "v": "..."}`: text
  appended to the message; a bare `{"v": "..."}` continues the last path and
  operation (chat2api keeps current_p / current_o);
- `{"p": "", "o": "patch", "v": [{"p": ..., "o": ..., "v": ...}, ...]}`:
  several operations at once (WebAI2API reads appends and
  `/message/status` "finished_successfully" out of the list);
- `data: {"type": "message_stream_complete"}` and `data: [DONE]`: the end;
  `{"error": "..."}` or a message with `metadata.finish_details`.
Assumed: the thoughts' paths (`/message/content/thoughts/N/content` and an
append of whole thoughts to `/message/content/thoughts`): no project states them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from instance_runner.sites.decoders.base import LineEvents
from instance_runner.sites.decoders.types import Event, StreamOptions

REASONING_TYPES = {"thoughts", "reasoning_recap"}


class ChatgptDecoder(LineEvents):
    def __init__(self, options: StreamOptions | None = None) -> None:
        super().__init__()
        self._data: list[str] = []
        self._kinds: dict[int, str] = {}  # document c -> "text" / "reasoning" / ""
        self._c = 0  # the document the operations apply to
        self._path = ""  # what a bare {"v": ...} continues
        self._op = ""
        self._done = False

    def _line(self, line: str) -> list[Event]:
        if self._done:
            return []
        if not line:
            data, self._data = "\n".join(self._data), []
            return self._dispatch(data) if data else []
        if line.startswith(":"):
            return [Event("heartbeat")]
        if line.startswith("{"):  # not a stream: an error body ({"detail": ...})
            self._data.append(line)
            return []
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value.removeprefix(" "))
        return []

    def _dispatch(self, data: str) -> list[Event]:
        if data.strip() == "[DONE]":
            self._done = True
            return [Event("finish", data={"reason": "stop"})]
        try:
            item = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return []
        if not isinstance(item, dict):
            return []  # "v1", the encoding's name
        out = self._item(item)
        if any(e.kind in ("finish", "error") for e in out):
            self._done = True
        return out

    def _item(self, item: dict[str, Any]) -> list[Event]:
        if item.get("type") == "message_stream_complete":
            return [Event("finish", data={"reason": "stop"})]
        error = item.get("error") or item.get("detail")
        if error and "v" not in item and "message" not in item:
            text = error.get("message", "") if isinstance(error, dict) else str(error)
            return [Event("error", text or "error", data={"code": str(item.get("code", ""))})]
        if isinstance(item.get("c"), int):
            self._c = item["c"]
        if "v" not in item:
            return []
        if "p" in item:
            self._path = str(item["p"])
        if "o" in item:
            self._op = str(item["o"])
        return self._op_on(self._path, self._op, item["v"])

    def _op_on(self, path: str, op: str, value: Any) -> list[Event]:
        if op == "patch" and isinstance(value, list):
            out: list[Event] = []
            for sub in value:
                if isinstance(sub, dict):
                    p, o = str(sub.get("p", "")), str(sub.get("o", ""))
                    out.extend(self._op_on(p, o, sub.get("v")))
            return out
        if path == "" and isinstance(value, dict) and isinstance(value.get("message"), dict):
            return self._message(value["message"])
        if path == "/message/status" and value == "finished_successfully":
            return []  # one message done; the stream may go on with the next
        kind = self._kinds.get(self._c, "")
        if op != "append" or not kind:
            return []
        if path == "/message/content/parts/0" and kind == "text" and isinstance(value, str):
            return [Event("text", value)] if value else []
        if kind != "reasoning":
            return []
        if path.startswith("/message/content/thoughts/") and path.endswith("/content"):
            return [Event("reasoning", value)] if isinstance(value, str) and value else []
        if path == "/message/content/thoughts" and isinstance(value, list):
            return _thoughts(value)
        return []

    def _message(self, message: dict[str, Any]) -> list[Event]:
        author = message.get("author") if isinstance(message.get("author"), dict) else {}
        content = message.get("content") if isinstance(message.get("content"), dict) else {}
        assert isinstance(author, dict) and isinstance(content, dict)
        kind = ""
        if author.get("role") == "assistant":
            ctype = content.get("content_type")
            if ctype == "text" and message.get("recipient", "all") == "all":
                kind = "text"
            elif ctype in REASONING_TYPES:
                kind = "reasoning"
        self._kinds[self._c] = kind
        if kind == "text":
            parts = content.get("parts") or [""]
            text = parts[0] if isinstance(parts[0], str) else ""
            return [Event("text", text)] if text else []
        if kind == "reasoning":
            return _thoughts(content.get("thoughts") or [])
        return []


def _thoughts(thoughts: list[Any]) -> list[Event]:
    out: list[Event] = []
    for thought in thoughts:
        if (
            isinstance(thought, dict)
            and isinstance(thought.get("content"), str)
            and thought["content"]
        ):
            out.append(Event("reasoning", thought["content"]))
    return out
