"""A Chat Completions body -> a checked request and what the answer must be.

Every top-level field goes through the table in speak/fields.py: honoured,
listed as ignored (the `x-mictl-ignored` header), or refused with a 400
naming it. Tools, tool choice and response format are checked here (names,
JSON schemas), so a bad one is the client's 400, never a page's time.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import msgspec

from common.text import malformed_json, visible
from instance_runner.instance import ApiError
from instance_runner.speak import catalogue, fields, transcript
from instance_runner.speak.outcome import Plan
from instance_runner.speak.types import ImageUrl, Message, NamedChoice, ToolChoice
from instance_runner.types import ChatRequest

PART_TYPES = ("text", "image_url")


def bad(message: str, param: str | None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, "invalid_request_error", code, param=param)


def decode(body: bytes) -> tuple[ChatRequest, list[str]]:
    """The request, and the fields it names that mictl ignores."""
    try:
        req = msgspec.json.decode(body, type=ChatRequest)
        raw = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `")
        param = where.rstrip("`").removeprefix("$").lstrip(".") or None
        raise bad(f"invalid request: {message}", param) from None
    except (msgspec.DecodeError, RecursionError, UnicodeError) as exc:
        raise bad(malformed_json(body, exc), None, "invalid_json") from None
    light = {k: _value(k, v) for k, v in raw.items()}
    try:
        _, ignored = fields.sort(light)
    except fields.Refused as exc:
        raise bad(str(exc), exc.param, "unsupported") from None
    ignored += _check_messages(req.messages)
    # Only what a chat page would send counts: a prompt of U+FEFF or
    # zero-width spaces is dropped by the page's own trim(), and nothing goes.
    if not any(visible(transcript.text_of(m)) or m.tool_calls for m in req.messages):
        raise bad(
            "messages carry no visible text (whitespace and invisible characters only)",
            "messages",
            "empty_prompt",
        )
    return req, ignored


def _value(name: str, raw: msgspec.Raw) -> Any:
    """A field's value, for the table; the big ones are not decoded again."""
    if name in ("messages", "tools"):
        return True
    return msgspec.json.decode(raw)


def _check_messages(messages: list[Message]) -> list[str]:
    ignored = []
    for i, message in enumerate(messages):
        if isinstance(message.content, list):
            for j, part in enumerate(message.content):
                if part.type not in PART_TYPES:
                    raise bad(
                        f"content parts of type {part.type!r} are not supported "
                        f"(only {', '.join(PART_TYPES)})",
                        f"messages[{i}].content[{j}].type",
                        "unsupported",
                    )
                detail = part.image_url.detail if isinstance(part.image_url, ImageUrl) else None
                if detail not in (None, "auto") and "image_url.detail" not in ignored:
                    ignored.append("image_url.detail")  # a site takes the image as it is
    return ignored


def plan(req: ChatRequest, *, template: str = "") -> Plan:
    """Check tools, tool choice and response format; say what the answer must be."""
    tools = req.tools or []
    names = set()
    for i, tool in enumerate(tools):
        if tool.type != "function":
            raise bad(f"tools of type {tool.type!r} are not supported", f"tools[{i}].type")
        if tool.function.parameters is not None:
            _check_schema(tool.function.parameters, f"tools[{i}].function.parameters")
        names.add(tool.function.name)
    choice: ToolChoice = req.tool_choice if req.tool_choice is not None else "auto"
    if req.tool_choice is not None and not tools:
        raise bad("tool_choice is only allowed when tools are given", "tool_choice")
    if isinstance(choice, NamedChoice) and choice.function.name not in names:
        raise bad(f"tool_choice names an unknown function {choice.function.name!r}", "tool_choice")
    fmt = req.response_format
    schema = None
    if fmt is not None and fmt.type == "json_schema":
        spec = fmt.json_schema
        if spec is None or spec.schema is None:
            raise bad("json_schema needs a schema", "response_format.json_schema")
        _check_schema(spec.schema, "response_format.json_schema.schema")
        schema = spec.schema if spec.strict else None
    try:
        shapes = catalogue.load(template)
    except catalogue.TemplateError as exc:
        raise ApiError(500, str(exc), "server_error", "template_error") from None
    return Plan(
        tools=[] if choice == "none" else tools,
        choice=choice,
        parallel=req.parallel_tool_calls is not False,
        json=fmt is not None and fmt.type != "text",
        schema=schema,
        template=shapes,
    )


def _check_schema(schema: dict[str, Any], param: str) -> None:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise bad(f"invalid JSON schema: {exc.message}", param) from None


def image_urls(messages: list[Message]) -> list[str]:
    """Every image in the conversation, in order (each goes into the page)."""
    found = []
    for m in messages:
        for part in m.content if isinstance(m.content, list) else []:
            if part.type == "image_url" and part.image_url:
                url = part.image_url
                found.append(url if isinstance(url, str) else url.url)
    return found
