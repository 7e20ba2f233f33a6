"""Every Chat Completions request field and what mictl does with it: the
one table (docs/api.md shows it). No silent drops: a field is honoured,
listed in the `x-mictl-ignored` response header, or refused with a 400
whose `param` names it. A field not in the table is listed as ignored."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Action = Literal["honoured", "site", "ignored", "refused"]


class Field(msgspec.Struct, frozen=True):
    action: Action  # "site": honoured where the site file has the setting, else ignored
    does: str  # what mictl does with it, for docs/api.md
    neutral: tuple[Any, ...] = (None,)  # values that ask for nothing: never listed or refused


FIELDS: dict[str, Field] = {
    "model": Field("honoured", "picks the site's model (aliases are the router's)"),
    "messages": Field(
        "honoured",
        "the prompt: a transcript with tool calls and tool results; `image_url` parts "
        "(data: or http(s)) go into the page as the site file's [upload] says",
    ),
    "stream": Field("honoured", "server-sent events as OpenAI sends them"),
    "stream_options": Field("honoured", "`include_usage` adds a usage chunk (estimated tokens)"),
    "temperature": Field("site", "set on the page where the site file has the setting"),
    "top_p": Field("site", "set on the page where the site file has the setting"),
    "max_tokens": Field("honoured", "set on the page where it can be; the answer is cut there"),
    "max_completion_tokens": Field("honoured", "as max_tokens"),
    "stop": Field("honoured", "set on the page where it can be; the answer is cut there"),
    "n": Field("refused", "only 1: a page gives one answer", (None, 1)),
    "user": Field("honoured", "sticky routing by the router"),
    "tools": Field("honoured", "emulated: the catalogue in the prompt, calls parsed back"),
    "tool_choice": Field("honoured", "auto, none, required or a named function"),
    "parallel_tool_calls": Field(
        "honoured", "false: at most one call (asked in the prompt, the rest dropped)", (None, True)
    ),
    "response_format": Field(
        "honoured", "json_object and json_schema: asked in the prompt, taken out, checked"
    ),
    "functions": Field("refused", "the deprecated form of tools: send `tools`"),
    "function_call": Field("refused", "the deprecated form of tool_choice: send `tool_choice`"),
    "logprobs": Field("refused", "a chat page shows no token probabilities", (None, False)),
    "top_logprobs": Field("refused", "a chat page shows no token probabilities", (None, 0)),
    "audio": Field("refused", "no audio output from a chat page"),
    "modalities": Field("refused", 'only ["text"]', (None, ["text"])),
    "frequency_penalty": Field("ignored", "a chat page has no such setting", (None, 0, 0.0)),
    "presence_penalty": Field("ignored", "a chat page has no such setting", (None, 0, 0.0)),
    "logit_bias": Field("ignored", "a chat page has no such setting", (None, {})),
    "seed": Field("ignored", "a chat page has no such setting"),
    "reasoning_effort": Field("ignored", "the page's own thinking setting is used"),
    "verbosity": Field("ignored", "a chat page has no such setting"),
    "prediction": Field("ignored", "a chat page takes no predicted output"),
    "web_search_options": Field("ignored", "the page's own search setting is used"),
    "metadata": Field("ignored", "nothing is stored", (None, {})),
    "store": Field("ignored", "nothing is stored", (None, False)),
    "service_tier": Field("ignored", "one tier: the account's", (None, "auto", "default")),
    "prompt_cache_key": Field("ignored", "no prompt cache"),
    "prompt_cache_retention": Field("ignored", "no prompt cache"),
    "safety_identifier": Field("ignored", "not passed on"),
}


class Refused(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def sort(fields: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(fields the site decides on, fields ignored) of a decoded request's
    top-level fields; raises Refused for the first one refused."""
    site: list[str] = []
    ignored: list[str] = []
    for name, value in fields.items():
        field = FIELDS.get(name)
        if field is None:
            ignored.append(name)
            continue
        if value in field.neutral:
            continue
        if field.action == "refused":
            raise Refused(name, f"{name} is not supported: {field.does}")
        if field.action == "ignored":
            ignored.append(name)
        elif field.action == "site":
            site.append(name)
    return site, ignored


SAYS = {
    "honoured": "honoured",
    "site": "honoured where the site can, else listed in `x-mictl-ignored`",
    "ignored": "listed in `x-mictl-ignored`",
    "refused": "400, `param` names it",
}


def table() -> str:
    """The field table as docs/api.md shows it (a test keeps them equal)."""
    rows = ["| field | mictl | what it does |", "| --- | --- | --- |"]
    for name, field in FIELDS.items():
        neutral = [v for v in field.neutral if v is not None]
        said = SAYS[field.action]
        if neutral and field.action != "honoured":
            said += " (not when " + " or ".join(f"`{_json(v)}`" for v in neutral) + ")"
        rows.append(f"| `{name}` | {said} | {field.does} |")
    rows.append(
        "| any other field | listed in `x-mictl-ignored` | a field mictl does not know "
        "is never dropped silently |"
    )
    return "\n".join(rows)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
