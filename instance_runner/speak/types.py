"""The Chat Completions request vocabulary that carries more than text:
messages with tool turns and content parts, tools, tool choice, response
format. Imports nothing else from the instance runner."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ImageUrl(msgspec.Struct):
    url: str
    detail: str | None = None


class Part(msgspec.Struct):
    type: str
    text: str = ""
    image_url: ImageUrl | str | None = None  # type image_url: put into the page


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str = "{}"  # JSON text, as OpenAI sends it


class ToolCall(msgspec.Struct):
    function: FunctionCall
    id: str = ""
    type: str = "function"


class Message(msgspec.Struct):
    role: Role
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None  # an assistant's earlier calls
    tool_call_id: str | None = None  # a tool result: the call it answers


class FunctionDef(msgspec.Struct):
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct):
    function: FunctionDef
    type: str = "function"


class NamedFunction(msgspec.Struct):
    name: str


class NamedChoice(msgspec.Struct):
    function: NamedFunction
    type: str = "function"


ToolChoice = Literal["auto", "none", "required"] | NamedChoice


class JsonSchemaSpec(msgspec.Struct):
    name: str = "answer"
    schema: dict[str, Any] | None = None
    description: str = ""
    strict: bool | None = None


class ResponseFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class Call(msgspec.Struct, frozen=True):
    """A call taken out of an answer. `arguments` is what the model wrote
    once decoded (a dict when it is a JSON object); `problem` says why the
    call is broken when it could not be read at all."""

    name: str
    arguments: Any
    raw: str
    problem: str = ""
