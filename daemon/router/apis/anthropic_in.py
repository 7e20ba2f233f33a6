"""An Anthropic Messages request -> the internal (Chat Completions) request.

    system (string or text blocks)          -> a first system message
    text / image (base64, url) blocks       -> text / image_url parts (data: URL)
    tool_use (assistant)                    -> message.tool_calls
    tool_result (user)                      -> a tool message per result
    tools / tool_choice (auto, any, tool, none) -> tools / tool_choice
    max_tokens, temperature, top_p, stop_sequences, stream, metadata.user_id

What has no counterpart (thinking blocks in history, cache_control hints,
top_k, server tools...) is named in `ignored`, never dropped silently;
what cannot be honoured at all is refused naming its field. Pure.
"""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.router.apis.types import Refused, Translated, text_length

# Fields honoured, or knowingly not (named in x-mictl-ignored when present).
HONOURED = frozenset(
    {"model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences"}
    | {"stream", "tools", "tool_choice", "metadata"}
)
# Anything else (thinking, top_k, output_config, context_management...: the
# API grows a field a month and agents send them at once) is named in
# x-mictl-ignored rather than refused, so a new client version keeps working.


def translate(body: Any) -> Translated:
    if not isinstance(body, dict):
        raise Refused("the request body must be a JSON object")
    ignored: list[str] = []
    ignored.extend(key for key in body if key not in HONOURED)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise Refused("model: field required (a model name)", "model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise Refused("max_tokens: field required (an integer >= 1)", "max_tokens")
    messages = _system(body.get("system"), ignored)
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise Refused("messages: a non-empty list of messages", "messages")
    for i, message in enumerate(raw):
        messages.extend(_message(message, f"messages.{i}", ignored))
    chat: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise Refused(f"{key}: a number between 0 and 1", key)
            chat[key] = value
    # stop_sequences are not sent upstream: the router meets them itself, to
    # say which one ended the answer (apis/stops.py).
    stops = body.get("stop_sequences")
    if stops and (not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)):
        raise Refused("stop_sequences: a list of non-empty strings", "stop_sequences")
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    _tools(body, chat, ignored)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    return Translated(
        chat=chat,
        ignored=_unique(ignored),
        prompt_chars=text_length(chat),
        stop_sequences=list(stops or []),
    )


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _system(system: Any, ignored: list[str]) -> list[dict[str, Any]]:
    if system is None or system == "" or system == []:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise Refused("system: a string or a list of text blocks", "system")
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise Refused(f"system.{i}: only text blocks go in system", f"system.{i}")
        if "cache_control" in block:
            ignored.append("cache_control")
        texts.append(str(block.get("text", "")))
    return [{"role": "system", "content": "\n\n".join(texts)}]


def _message(message: Any, where: str, ignored: list[str]) -> list[dict[str, Any]]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise Refused(f"{where}.role: 'user' or 'assistant'", f"{where}.role")
    role, content = message["role"], message.get("content")
    if role == "system":  # a system message mid-conversation (Claude Code sends them)
        return _system(content, ignored)
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise Refused(f"{where}.content: a string or a list of blocks", f"{where}.content")
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        at = f"{where}.content.{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if isinstance(block, dict) and "cache_control" in block:
            ignored.append("cache_control")
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image" and role == "user":
            parts.append(_image(block, at))
        elif kind == "document" and role == "user":
            parts.append(_document(block, at))
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_call(block, at))
        elif kind == "tool_result" and role == "user":
            results.append(_tool_result(block, at, ignored))
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            ignored.append(f"messages.content.{kind}")  # the site thinks afresh
        else:
            raise Refused(f"{at}: a {kind!r} block is not taken in a {role} message", at)
    out: list[dict[str, Any]] = list(results)  # tool results answer the calls before
    if role == "assistant":
        text = "".join(p["text"] for p in parts)
        reply: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            reply["tool_calls"] = calls
        if text or calls:
            out.append(reply)
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def _image(block: dict[str, Any], at: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise Refused(f"{at}.source: media_type and data are required", f"{at}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if isinstance(source, dict) and source.get("type") == "url":
        if not isinstance(source.get("url"), str):
            raise Refused(f"{at}.source.url: a URL", f"{at}.source.url")
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise Refused(f"{at}.source: a base64 or url image source", f"{at}.source")


def _document(block: dict[str, Any], at: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    raise Refused(f"{at}: only plain-text documents can be sent to a chat page", at)


def _tool_call(block: dict[str, Any], at: str) -> dict[str, Any]:
    name, ident = block.get("name"), block.get("id")
    if not isinstance(name, str) or not isinstance(ident, str):
        raise Refused(f"{at}: a tool_use block needs an id and a name", at)
    arguments = msgspec.json.encode(block.get("input") or {}).decode()
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tool_result(block: dict[str, Any], at: str, ignored: list[str]) -> dict[str, Any]:
    ident = block.get("tool_use_id")
    if not isinstance(ident, str):
        raise Refused(f"{at}.tool_use_id: required", f"{at}.tool_use_id")
    content = block.get("content", "")
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            else:
                ignored.append("tool_result.content.image")  # a tool message holds text
        content = "\n".join(texts)
    text = str(content)
    if block.get("is_error"):
        text = f"[tool error] {text}"
    return {"role": "tool", "tool_call_id": ident, "content": text}


def _tools(body: dict[str, Any], chat: dict[str, Any], ignored: list[str]) -> None:
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise Refused("tools: a list of tools", "tools")
        out = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise Refused(f"tools.{i}: a tool needs a name", f"tools.{i}")
            if tool.get("type") not in (None, "custom") or "input_schema" not in tool:
                ignored.append(f"tools.{tool['name']}")  # a server tool: the site has none
                continue
            function = {"name": tool["name"], "parameters": tool["input_schema"]}
            if tool.get("description"):
                function["description"] = tool["description"]
            out.append({"type": "function", "function": function})
        if out:
            chat["tools"] = out
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise Refused("tool_choice: auto, any, tool (with a name) or none", "tool_choice")
    if choice.get("disable_parallel_tool_use"):
        chat["parallel_tool_calls"] = False
    if "tools" not in chat:  # a choice among no tools: nothing to say upstream
        chat.pop("tool_choice", None)
        chat.pop("parallel_tool_calls", None)
