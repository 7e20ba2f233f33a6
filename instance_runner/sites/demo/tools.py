"""How the demo model answers tool calls and JSON, deterministically, for
prompts built from mictl's default template (instance_runner/speak/).

- A prompt with a tool catalogue (`<tools>`): after tool results
  (`<tool_response>` after the last user turn) it answers in prose quoting
  them; else it calls every tool whose name the user's last message
  mentions (or the one `tool_choice` names; under "required" with none
  mentioned, the first), in one answer: parallel calls. Arguments are built
  from each schema: numbers from the user's message in order, quoted
  strings likewise, enums their first value. With none to call it answers
  as the demo always does.
- A prompt asking for JSON (`# Answer format`): a JSON value built from the
  schema (or a small object), fenced, with chatter before and after.
- Markers: `[[bad-args]]` writes invalid arguments (or broken JSON) the
  first time, `[[bad-always]]` every time; `[[fence]]` writes calls as a
  fenced ```json block of `{"tool_calls": [...]}` instead of tags.
- A corrective turn ("Your tool call cannot be used", "Your answer cannot
  be used") is answered as the prompt before it was, corrected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

BAD_ARGS = "[[bad-args]]"
BAD_ALWAYS = "[[bad-always]]"
FENCE = "[[fence]]"
FIXES = ("Your tool call cannot be used", "Your answer cannot be used")

_TOOLS = re.compile(r"<tools>\n(.*?)\n</tools>", re.DOTALL)
_SCHEMA = re.compile(r"<schema>\n(.*?)\n</schema>", re.DOTALL)
_NAMED = re.compile(r'You must call the function "([^"]+)"')
_RESULT = re.compile(r"<tool_response>\n(.*?)\n</tool_response>", re.DOTALL)


def wants(prompt: str) -> bool:
    """Whether this module answers `prompt`."""
    return "<tools>" in prompt or "# Answer format" in prompt or prompt.startswith(FIXES)


def answer(model: str, prompt: str, previous: str = "") -> str | None:
    """The demo model's answer, or None to answer as usual."""
    fixing = prompt.startswith(FIXES)
    base = previous if fixing else prompt
    bad = BAD_ALWAYS in base or (BAD_ARGS in base and not fixing)
    catalogue = _TOOLS.search(base)
    if catalogue:
        text = _tools_answer(base, catalogue.group(1), bad)
        if text is not None:
            return text
    if "# Answer format" in base:
        return _json_answer(model, base, bad)
    return None


_NEXT_TURN = re.compile(r"\n\nSystem: ")
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)


def last_user(prompt: str) -> str:
    """The user's last message: after the last `User:` label (a lone
    message has none: the text after the instructions), less the
    `<system-reminder>` blocks an agent adds to it (Claude Code's), which
    are not the user's words."""
    at = prompt.rfind("User: ")
    said = prompt.rsplit("\n\n", 1)[-1] if at < 0 else prompt[at + len("User: ") :]
    said = _NEXT_TURN.split(said, maxsplit=1)[0]  # a system turn after it is not the user's
    return _REMINDER.sub("", said)


def _tools_answer(prompt: str, catalogue: str, bad: bool) -> str | None:
    tools = [json.loads(line) for line in catalogue.splitlines() if line.strip()]
    said = last_user(prompt)

    results = _RESULT.findall(said)
    if results:
        return "The tools said: " + "; ".join(r.strip() for r in results) + "."
    named = _NAMED.search(prompt)
    if named:
        chosen = [t for t in tools if t["name"] == named.group(1)]
    else:
        chosen = [t for t in tools if re.search(rf"\b{re.escape(t['name'])}\b", said)]
        if not chosen and "You must call at least one function" in prompt:
            chosen = tools[:1]
    if not chosen:
        return None
    numbers = iter(re.findall(r"-?\d+(?:\.\d+)?", said))
    quoted = iter(re.findall(r'"([^"\n]*)"', said))
    calls = []
    for tool in chosen:
        schema = tool.get("parameters") or {}
        args = _broken(schema) if bad else build(schema, numbers, quoted)
        calls.append({"name": tool["name"], "arguments": args})
    names = " and ".join(c["name"] for c in calls)
    if FENCE in prompt:
        body = json.dumps({"tool_calls": calls}, indent=2)
        return f"I will call {names}.\n```json\n{body}\n```"
    blocks = "\n".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls)
    return f"I will call {names}.\n{blocks}"


def build(schema: dict[str, Any], numbers: Iterator[str], quoted: Iterator[str]) -> Any:
    """A value valid against `schema`, filled from the user's words."""
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return build(schema[key][0], numbers, quoted)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: build(v, numbers, quoted) for k, v in props.items()}
    if kind == "array":
        return [build(schema.get("items", {}), numbers, quoted)]
    if kind == "integer":
        return int(float(next(numbers, "1")))
    if kind == "number":
        value = float(next(numbers, "1"))
        return int(value) if value.is_integer() else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return next(quoted, "demo")


def _broken(schema: dict[str, Any]) -> Any:
    """Arguments `schema` refuses: the first property of the wrong type."""
    props = schema.get("properties") or {}
    for name, prop in props.items():
        wrong: Any = 12345 if prop.get("type") == "string" else "not a number"
        return {name: wrong}
    return "{not json"


def _json_answer(model: str, prompt: str, bad: bool) -> str:
    found = _SCHEMA.search(prompt)
    said = last_user(prompt)
    if bad:
        body = '{"answer": "unfinished'
    elif found:
        numbers = iter(re.findall(r"-?\d+(?:\.\d+)?", said))
        quoted = iter(re.findall(r'"([^"\n]*)"', said))
        body = json.dumps(build(json.loads(found.group(1)), numbers, quoted), indent=2)
    else:
        words = said.split()
        body = json.dumps({"model": model, "words": len(words)}, indent=2)
    return f"Here is the JSON you asked for:\n```json\n{body}\n```\nAnything else?"
