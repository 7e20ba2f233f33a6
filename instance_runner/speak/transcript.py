"""OpenAI messages -> the one prompt a chat web app takes, tool turns included.

A lone user message is sent as it is. Anything else becomes a transcript,
one block per message, blank line between (`System:`, `User:`,
`Assistant:`, `Tool:`). An assistant turn's calls are written as the
template's call form; a tool result as its result form, named after the
function of the call it answers (matched by `tool_call_id`). Instructions
(the tool catalogue, the JSON format) come first, as their own blocks.
"""

from __future__ import annotations

import json

from instance_runner.speak import catalogue
from instance_runner.speak.catalogue import Template
from instance_runner.speak.types import Message, ToolCall

LABELS = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
    "function": "Tool",
}


def text_of(message: Message) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(p.text for p in message.content if p.type == "text")


def build(messages: list[Message], template: Template, instructions: list[str]) -> str:
    """The prompt: `instructions` first, then the conversation."""
    if len(messages) == 1 and messages[0].role == "user":
        talk = text_of(messages[0])
    else:
        names = _call_names(messages)
        talk = "\n\n".join(
            f"{LABELS[m.role]}: {_body(m, template, names)}".rstrip() for m in messages
        )
    return "\n\n".join([*instructions, talk])


def _call_names(messages: list[Message]) -> dict[str, str]:
    return {
        call.id: call.function.name
        for m in messages
        if m.tool_calls
        for call in m.tool_calls
        if call.id
    }


def _body(message: Message, template: Template, names: dict[str, str]) -> str:
    text = text_of(message)
    if message.role in ("tool", "function"):
        name = message.name or names.get(message.tool_call_id or "", "")
        return catalogue.fill(template.result, name=name, content=text)
    if message.role == "assistant" and message.tool_calls:
        calls = [_call_text(c, template) for c in message.tool_calls]
        return "\n".join([text, *calls] if text.strip() else calls)
    return text


def _call_text(call: ToolCall, template: Template) -> str:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except json.JSONDecodeError:
        arguments = call.function.arguments
    body = catalogue.compact({"name": call.function.name, "arguments": arguments})
    return catalogue.fill(template.call, call=body)
