"""The internal answer (Chat Completions events) -> the OpenAI Responses API.

response(events, ...)   a non-streamed `response` object
Stream                  the streamed events, in the API's order:
    response.created, response.in_progress,
    per output item: response.output_item.added, then
      text: response.content_part.added, response.output_text.delta...,
            response.output_text.done, response.content_part.done
      call: response.function_call_arguments.delta..., ...arguments.done
      reasoning: response.reasoning_summary_part.added,
            response.reasoning_summary_text.delta..., ...text.done, ...part.done
    response.output_item.done; then response.completed (or .incomplete)
An answer broken off after bytes went out ends with `error` and
response.failed. Pure.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from daemon.router.apis.chat_stream import (
    Event,
    Failure,
    Finish,
    Reasoning,
    Text,
    ToolArgs,
    ToolStart,
    Usage,
    estimate_tokens,
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Builder:
    """The output items of one answer, and the response object around them."""

    def __init__(self, request: dict[str, Any], model: str, input_estimate: int) -> None:
        self.request, self.model, self.input_estimate = request, model, input_estimate
        self.id, self.created = new_id("resp"), int(time.time())
        self.output: list[dict[str, Any]] = []
        self.reason = "stop"
        self.usage: Usage | None = None
        self.out_chars = 0

    def snapshot(self, status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        r = self.request
        text = r.get("text") if isinstance(r.get("text"), dict) else {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            "instructions": r.get("instructions"),
            "max_output_tokens": r.get("max_output_tokens"),
            "model": self.model,
            "output": output if output is not None else [],
            "parallel_tool_calls": r.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": False,  # never stored: see responses_in
            "temperature": r.get("temperature", 1.0),
            "text": {"format": text.get("format") or {"type": "text"}},
            "tool_choice": r.get("tool_choice", "auto"),
            "tools": r.get("tools") or [],
            "top_p": r.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self.usage_object() if status != "in_progress" else None,
            "user": r.get("user"),
            "metadata": r.get("metadata") or {},
        }

    def usage_object(self) -> dict[str, Any]:
        if self.usage is not None:
            inp, out = self.usage.input_tokens, self.usage.output_tokens
        else:
            inp, out = self.input_estimate, estimate_tokens(self.out_chars)
        return {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": inp + out,
        }

    def final_status(self) -> str:
        return "incomplete" if self.reason == "length" else "completed"


def _message_item(ident: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "type": "message",
        "id": ident,
        "status": status,
        "role": "assistant",
        "content": [part] if status == "completed" else [],
    }


def _call_item(ident: str, call_id: str, name: str, args: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": ident,
        "call_id": call_id or new_id("call"),
        "name": name,
        "arguments": args,
        "status": status,
    }


def _reasoning_item(ident: str, text: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"type": "reasoning", "id": ident, "summary": summary}


def response(b: Builder, events: list[Event]) -> dict[str, Any]:
    """A non-streamed answer; a Failure among the events raises it."""
    calls: dict[int, list[str]] = {}  # index -> [id, name, args...]
    texts, thoughts = [], []
    for event in events:
        if isinstance(event, Text):
            texts.append(event.text)
        elif isinstance(event, Reasoning):
            thoughts.append(event.text)
        elif isinstance(event, ToolStart):
            calls.setdefault(event.index, [event.id, event.name])
        elif isinstance(event, ToolArgs):
            calls.setdefault(event.index, ["", ""]).append(event.text)
        elif isinstance(event, Finish):
            b.reason = event.reason
        elif isinstance(event, Usage):
            b.usage = event
        elif isinstance(event, Failure):
            raise UpstreamFailed(event.message)
    if thoughts:
        b.output.append(_reasoning_item(new_id("rs"), "".join(thoughts)))
    if texts:
        text = "".join(texts)
        b.out_chars += len(text)
        b.output.append(_message_item(new_id("msg"), text, "completed"))
    for ident, name, *args in calls.values():
        b.out_chars += sum(map(len, args))
        b.output.append(_call_item(new_id("fc"), ident, name, "".join(args), "completed"))
    return b.snapshot(b.final_status(), b.output)


class UpstreamFailed(Exception):
    pass


class Stream:
    """One streamed answer's events; items open and close in order."""

    def __init__(self, builder: Builder) -> None:
        self.b = builder
        self.seq = 0
        self.item: dict[str, Any] | None = None  # the open output item
        self.kind = ""  # "text" | "reasoning" | "call:<upstream index>"
        self.buffer: list[str] = []
        self.calls: dict[int, int] = {}  # upstream tool index -> output index
        self.done = False
        self.stopped = False  # (the Responses API has no stop sequences)

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + msgspec.json.encode(payload) + b"\n\n"

    def start(self) -> bytes:
        return self._event(
            "response.created", {"response": self.b.snapshot("in_progress")}
        ) + self._event("response.in_progress", {"response": self.b.snapshot("in_progress")})

    def _where(self) -> dict[str, Any]:
        assert self.item is not None
        return {"item_id": self.item["id"], "output_index": len(self.b.output)}

    def _open(self, kind: str, item: dict[str, Any]) -> bytes:
        out = self._close()
        self.item, self.kind, self.buffer = item, kind, []
        out += self._event(
            "response.output_item.added", {"output_index": len(self.b.output), "item": item}
        )
        if kind == "text":
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                "response.content_part.added", {**self._where(), "content_index": 0, "part": part}
            )
        elif kind == "reasoning":
            part = {"type": "summary_text", "text": ""}
            out += self._event(
                "response.reasoning_summary_part.added",
                {**self._where(), "summary_index": 0, "part": part},
            )
        return out

    def _close(self) -> bytes:
        item, kind = self.item, self.kind
        if item is None:
            return b""
        text, where, out = "".join(self.buffer), self._where(), b""
        if kind == "text":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out += self._event(
                "response.output_text.done",
                {**where, "content_index": 0, "text": text, "logprobs": []},
            )
            out += self._event(
                "response.content_part.done", {**where, "content_index": 0, "part": part}
            )
            item = _message_item(item["id"], text, "completed")
        elif kind == "reasoning":
            part = {"type": "summary_text", "text": text}
            out += self._event(
                "response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}
            )
            out += self._event(
                "response.reasoning_summary_part.done", {**where, "summary_index": 0, "part": part}
            )
            item = _reasoning_item(item["id"], text)
        else:
            out += self._event(
                "response.function_call_arguments.done",
                {**where, "name": item["name"], "arguments": text},
            )
            item = {**item, "arguments": text, "status": "completed"}
        out += self._event(
            "response.output_item.done", {"output_index": where["output_index"], "item": item}
        )
        self.b.output.append(item)
        self.item, self.kind = None, ""
        return out

    def feed(self, event: Event) -> bytes:
        if self.done:
            return b""
        if isinstance(event, Text):
            self.b.out_chars += len(event.text)
            out = b""
            if self.kind != "text":
                out = self._open("text", _message_item(new_id("msg"), "", "in_progress"))
            self.buffer.append(event.text)
            delta = {**self._where(), "content_index": 0, "delta": event.text, "logprobs": []}
            return out + self._event("response.output_text.delta", delta)
        if isinstance(event, Reasoning):
            out = b""
            if self.kind != "reasoning":
                out = self._open("reasoning", _reasoning_item(new_id("rs"), ""))
            self.buffer.append(event.text)
            delta = {**self._where(), "summary_index": 0, "delta": event.text}
            return out + self._event("response.reasoning_summary_text.delta", delta)
        if isinstance(event, ToolStart):
            if event.index in self.calls:
                return b""
            item = _call_item(new_id("fc"), event.id, event.name, "", "in_progress")
            out = self._open(f"call:{event.index}", item)
            self.calls[event.index] = len(self.b.output)
            return out
        if isinstance(event, ToolArgs):
            self.b.out_chars += len(event.text)
            out = b""
            if self.kind != f"call:{event.index}":
                if event.index in self.calls:  # interleaved calls are not expected upstream
                    return self.fail("the upstream interleaved two tool calls' arguments")
                out = self.feed(ToolStart(event.index, "", ""))
            self.buffer.append(event.text)
            delta = {**self._where(), "delta": event.text}
            return out + self._event("response.function_call_arguments.delta", delta)
        if isinstance(event, Finish):
            self.b.reason = event.reason
        elif isinstance(event, Usage):
            self.b.usage = event
        elif isinstance(event, Failure):
            return self.fail(event.message)
        return b""

    def finish(self) -> bytes:
        if self.done:
            return b""
        self.done = True
        out = self._close()
        status = self.b.final_status()
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, {"response": self.b.snapshot(status, self.b.output)})

    def fail(self, text: str, code: str = "server_error") -> bytes:
        if self.done:
            return b""
        self.done = True
        snapshot = self.b.snapshot("failed", self.b.output)
        snapshot["error"] = {"code": code, "message": text}
        return self._event("error", {"code": code, "message": text, "param": None}) + self._event(
            "response.failed", {"response": snapshot}
        )
