"""An OpenAI Responses request -> the internal (Chat Completions) request.

    input (a string, or items: messages, function_call, function_call_output)
    instructions                  -> a first system message
    input_text / input_image      -> text / image_url parts
    tools (function), tool_choice -> tools, tool_choice
    text.format (json_schema, json_object) -> response_format
    max_output_tokens, temperature, top_p, stream, user, parallel_tool_calls

`previous_response_id` is refused: the daemon keeps no conversations (it
never stores prompts or answers), so a client sends the whole input each
time, as `store: false` clients (Codex CLI) do anyway. What has no
counterpart (reasoning settings, store, include...) is named in `ignored`.
Pure.
"""

from __future__ import annotations

from typing import Any

from daemon.router.apis.types import Refused, Translated, text_length

HONOURED = frozenset(
    {"model", "input", "instructions", "tools", "tool_choice", "text", "max_output_tokens"}
    | {"temperature", "top_p", "stream", "user", "parallel_tool_calls", "metadata"}
)
# Anything else (reasoning, store, include, prompt_cache_key...) is named in
# x-mictl-ignored when it is set, rather than refused: clients send new
# fields as soon as the API has them.


def translate(body: Any) -> Translated:
    if not isinstance(body, dict):
        raise Refused("the request body must be a JSON object")
    if body.get("previous_response_id"):
        raise Refused(
            "previous_response_id: mictl keeps no stored responses (it never stores prompts "
            "or answers); send the whole conversation in `input`",
            "previous_response_id",
        )
    ignored = []
    for key, value in body.items():
        if key not in HONOURED and value not in (None, False, [], {}, ""):
            ignored.append(key)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise Refused("model: field required (a model name)", "model")
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    raw = body.get("input")
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    elif isinstance(raw, list) and raw:
        for i, item in enumerate(raw):
            _item(item, f"input.{i}", messages, ignored)
    else:
        raise Refused("input: a string or a non-empty list of items", "input")
    chat: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    _tools(body, chat, ignored)
    _format(body.get("text"), chat)
    return Translated(
        chat=chat, ignored=list(dict.fromkeys(ignored)), prompt_chars=text_length(chat)
    )


def _item(item: Any, at: str, messages: list[dict[str, Any]], ignored: list[str]) -> None:
    if not isinstance(item, dict):
        raise Refused(f"{at}: an input item is an object", at)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise Refused(f"{at}.role: user, assistant, system or developer", f"{at}.role")
        messages.append({"role": role, "content": _content(item.get("content"), at, role)})
    elif kind == "function_call":
        name, call_id = item.get("name"), item.get("call_id")
        if not isinstance(name, str) or not isinstance(call_id, str):
            raise Refused(f"{at}: a function_call needs call_id and name", at)
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": str(item.get("arguments") or "{}")},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and not _answered(messages):
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            raise Refused(f"{at}.call_id: required", f"{at}.call_id")
        output = item.get("output", "")
        if isinstance(output, list):  # content parts: their text
            output = "\n".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
        messages.append({"role": "tool", "tool_call_id": call_id, "content": str(output)})
    elif isinstance(kind, str):
        # reasoning (the site thinks afresh), additional_tools (Codex's
        # namespaced and grammar tools), hosted tools' calls...: named, not sent.
        ignored.append(f"input.{kind}")
    else:
        raise Refused(f"{at}.type: a string", f"{at}.type")


def _answered(messages: list[dict[str, Any]]) -> bool:
    """True when the last message is already a complete turn of its own."""
    last = messages[-1]
    return last["role"] != "assistant"


def _content(content: Any, at: str, role: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise Refused(f"{at}.content: a string or a list of parts", f"{at}.content")
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal", ""))})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            where = f"{at}.content.{i}"
            raise Refused(f"{where}: a {kind!r} part is not taken (file ids need storage)", where)
    if role != "user":  # only a user message carries parts in Chat Completions
        return "".join(p.get("text", "") for p in parts)
    return parts


def _tools(body: dict[str, Any], chat: dict[str, Any], ignored: list[str]) -> None:
    out = []
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise Refused("tools: a list of tools", "tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Refused(f"tools.{i}: a tool is an object", f"tools.{i}")
        if tool.get("type") != "function":
            ignored.append(f"tools.{tool.get('type')}")  # hosted tools: the site has none
            continue
        if not isinstance(tool.get("name"), str):
            raise Refused(f"tools.{i}.name: required", f"tools.{i}.name")
        function: dict[str, Any] = {"name": tool["name"]}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    if out:
        chat["tools"] = out
    choice = body.get("tool_choice")
    if choice is None or not out:
        return
    if choice in ("auto", "none", "required"):
        chat["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise Refused("tool_choice: auto, none, required or a function by name", "tool_choice")


def _format(text: Any, chat: dict[str, Any]) -> None:
    if text is None:
        return
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema = {"name": str(fmt.get("name") or "output"), "schema": fmt["schema"]}
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise Refused("text.format: text, json_object or json_schema with a schema", "text.format")
