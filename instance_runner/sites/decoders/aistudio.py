"""Google AI Studio's answer stream (the page's XHR POST to
`.../MakerSuiteService/GenerateContent`).

The body is one JSON array streamed element by element; every element holds
candidates whose content is `[[part, ...], "model"]`. A part `[null, "text"]`
(two items) is answer text; a longer part with a string in position 1 is the
model's thinking; a part of eleven items with null in position 1 and a list
in position 10 is a function call (not handled here). Facts from
CJackHwang/AIstudioProxyAPI stream/interceptors.py (parse_response_from_buffer:
the pattern `[[[null,...]],"model"]`, `len(payload) == 2` body, `> 2` reason,
`== 11` function) and Mag1cFall/AIStudio2API src/proxy/handler.py
(_extract_content, the same rules).

A candidate `[content, finish_reason]` carries Gemini's FinishReason enum
(1 STOP, 2 MAX_TOKENS, 3 SAFETY, 4 RECITATION) in the position after its
content, as the public GenerateContentResponse's Candidate does (content is
field 1, finish_reason field 2, in the JSPB order of position = field - 1).
An error arrives as an element `{"error": {"code", "message", "status"}}` or
as a status tuple `[code, "message"]`; the HTTP status of the response itself
is mapped by the site file's status rules, not here.
"""

from __future__ import annotations

from typing import Any

from instance_runner.sites.decoders.jsonarray import JsonArrayStream
from instance_runner.sites.decoders.types import Event, StreamOptions

FINISH = {1: "stop", 2: "length", 3: "content_filter", 4: "content_filter"}


class AistudioDecoder:
    def __init__(self, options: StreamOptions) -> None:
        self.options = options
        self._array = JsonArrayStream()
        self._finished = False
        self._failed = False

    def feed(self, chunk: bytes) -> list[Event]:
        return self._events(self._array.feed(chunk))

    def close(self) -> list[Event]:
        out = self._events(self._array.close())
        if not self._finished and not self._failed:
            out.append(Event("finish", data={"reason": "stop"}))
            self._finished = True
        return out

    def _events(self, elements: list[Any]) -> list[Event]:
        out: list[Event] = []
        for element in elements:
            error = _error(element)
            if error is not None:
                out.append(error)
                self._failed = True
            else:
                _walk(element, out)
        if any(e.kind == "finish" for e in out):
            if self._finished:
                out = [e for e in out if e.kind != "finish"]
            self._finished = True
        return out


def _is_content(node: Any) -> bool:
    return (
        isinstance(node, list)
        and len(node) >= 2
        and node[1] == "model"
        and isinstance(node[0], list)
        and all(isinstance(part, list) for part in node[0])
    )


def _walk(node: Any, out: list[Event]) -> None:
    if not isinstance(node, list):
        return
    if _is_content(node):
        _parts(node[0], out)
        return
    if node and _is_content(node[0]):  # a candidate: [content, finish_reason, ...]
        _parts(node[0][0], out)
        if len(node) > 1 and isinstance(node[1], int) and node[1]:
            out.append(Event("finish", data={"reason": FINISH.get(node[1], "stop")}))
        return
    for child in node:
        _walk(child, out)


def _parts(parts: list[Any], out: list[Event]) -> None:
    for part in parts:
        if len(part) < 2 or not isinstance(part[1], str) or not part[1]:
            continue  # a function call, an image, an empty piece
        out.append(Event("text" if len(part) == 2 else "reasoning", part[1]))


def _error(element: Any) -> Event | None:
    if isinstance(element, dict):
        err = element.get("error")
        if err is None:
            return None
        if isinstance(err, dict):
            status = err.get("code")
            data = {"status": status, "code": str(err.get("status") or "")}
            return Event("error", str(err.get("message") or err), data)
        return Event("error", str(err))
    if (
        isinstance(element, list)
        and len(element) >= 2
        and isinstance(element[0], int)
        and not isinstance(element[0], bool)
        and isinstance(element[1], str)
    ):
        return Event("error", element[1], {"grpc": element[0]})
    return None
