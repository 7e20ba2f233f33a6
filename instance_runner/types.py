"""The OpenAI wire format an instance speaks, and its health record."""

from __future__ import annotations

from typing import Any

import msgspec

from common.capabilities import Capabilities
from instance_runner.speak.types import (
    FunctionCall,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class ChatRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None
    n: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated: bool = True  # counted as characters / 4, not by the model's tokenizer


class ResponseMessage(msgspec.Struct, omit_defaults=True):
    role: str
    content: str | None  # None beside tool calls with no text around them
    reasoning_content: str | None = None  # the model's thinking (DeepSeek's field)
    tool_calls: list[ToolCall] | None = None


class DeltaFunction(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    arguments: str = ""


class DeltaToolCall(msgspec.Struct, omit_defaults=True):
    """A piece of a streamed call: index, id, type and name first, then
    its arguments in pieces (OpenAI's shape)."""

    index: int
    function: DeltaFunction
    id: str | None = None
    type: str | None = None


class Choice(msgspec.Struct):
    index: int
    message: ResponseMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    object: str = "chat.completion"
    system_fingerprint: None = None


class Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None  # thinking deltas, as DeepSeek and LiteLLM send them
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(msgspec.Struct):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatChunk(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    usage: Usage | None = None
    system_fingerprint: None = None


class Model(msgspec.Struct):
    id: str
    name: str = ""  # the site's display name
    created: int = 0
    owned_by: str = "mictl"
    object: str = "model"
    capabilities: Capabilities = msgspec.field(default_factory=Capabilities)


class ModelList(msgspec.Struct):
    data: list[Model]
    object: str = "list"


class Health(msgspec.Struct, kw_only=True):
    """What one instance can do now (its account's phase, state.py), and
    what it is doing."""

    name: str
    site: str
    # The account's phase: "ok", "starting", "browser_lost", "logged_out" or
    # "captcha" (state.Phase); why, when logged out; until when, a captcha.
    state: str = "ok"
    signed_out_reason: str = ""
    captcha_until: float = 0.0
    logged_in: bool  # signed in, as far as its pages saw (a captcha counts as in)
    cooling: dict[str, float] = {}  # model -> unix time it may be used again
    browser_connected: bool
    page_ready: bool
    busy: bool
    queue_length: int
    models: list[str] = []
    served: int = 0
    failed: int = 0
    last_error: str = ""
    # The pages (tabs): requests it runs at once, and each page's state:
    # "free", "busy", "opening" (loading, or replacing a broken one) or "broken".
    capacity: int = 1
    pages: list[str] = []
    # The profile's proxy as scheme://host:port (never its credentials), and
    # whether it fails (state "proxy_unreachable"; reason says how).
    proxy: str = ""
    proxy_unreachable: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def wire(self) -> dict[str, Any]:
        """/health's JSON: the fields, and the flags the router reads
        (daemon/router/health.py), each derived from them here only."""
        return {
            **msgspec.to_builtins(self),
            "ok": self.ok,
            "logged_out": self.state == "logged_out",
            "captcha": self.state == "captcha",
            "rate_limited_until": self.cooling,
        }


__all__ = ["FunctionCall", "Message"]
