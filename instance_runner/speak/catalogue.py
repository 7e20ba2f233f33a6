"""The tool catalogue and the answer protocol, written into the prompt from
a template that is data (template.toml beside this file; a site file's
`speak_template` or MICTL_SPEAK_TEMPLATE replaces any of its keys)."""

from __future__ import annotations

import functools
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from instance_runner.speak.types import NamedChoice, Tool, ToolChoice

DEFAULT = Path(__file__).with_name("template.toml")
ENV = "MICTL_SPEAK_TEMPLATE"


class Template(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tools: str
    choice_auto: str
    choice_required: str
    choice_named: str
    parallel_one: str
    call: str
    result: str
    fix_call: str
    fix_call_unknown: str
    json_object: str
    json_schema: str
    fix_json: str


class TemplateError(Exception):
    """A template file that cannot be read or names keys it does not have."""


@functools.cache
def load(override: str = "") -> Template:
    """The default template with `override`'s keys (a TOML file) over it;
    without one, MICTL_SPEAK_TEMPLATE's file, if set."""
    data = tomllib.loads(DEFAULT.read_text())
    path = override or os.environ.get(ENV, "")
    if path:
        try:
            data.update(tomllib.loads(Path(path).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TemplateError(f"speak template {path}: {exc}") from None
    try:
        return msgspec.convert(data, Template)
    except msgspec.ValidationError as exc:
        raise TemplateError(f"speak template {path or DEFAULT}: {exc}") from None


def fill(text: str, **values: str) -> str:
    """Put `values` in for their {placeholders}; other braces stay."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def tools_block(t: Template, tools: list[Tool], choice: ToolChoice, *, parallel: bool) -> str:
    """The catalogue and the protocol for `tools` under `choice`."""
    lines = "\n".join(
        compact(
            {
                "name": tool.function.name,
                "description": tool.function.description,
                "parameters": tool.function.parameters or {"type": "object", "properties": {}},
            }
        )
        for tool in tools
    )
    if isinstance(choice, NamedChoice):
        said = fill(t.choice_named, name=choice.function.name)
    elif choice == "required":
        said = t.choice_required
    else:
        said = t.choice_auto
    return fill(t.tools, tools=lines, choice=said, parallel="" if parallel else t.parallel_one)


def json_block(t: Template, schema: dict[str, Any] | None) -> str:
    if schema is None:
        return t.json_object
    return fill(t.json_schema, schema=json.dumps(schema, ensure_ascii=False, indent=2))


def fix_call(t: Template, problem: str, tool: Tool | None, tools: list[Tool]) -> str:
    if tool is None:
        names = ", ".join(f'"{x.function.name}"' for x in tools)
        return fill(t.fix_call_unknown, problem=problem, names=names)
    schema = tool.function.parameters or {"type": "object", "properties": {}}
    return fill(
        t.fix_call,
        problem=problem,
        name=tool.function.name,
        schema=json.dumps(schema, ensure_ascii=False, indent=2),
    )


def fix_json(t: Template, problem: str) -> str:
    return fill(t.fix_json, problem=problem)
