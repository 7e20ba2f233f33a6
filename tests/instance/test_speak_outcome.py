"""What an answer comes to under a request's plan (pure): calls checked
against the functions and the tool choice, the corrective turn's text."""

from __future__ import annotations

from typing import Any

from instance_runner.speak import catalogue
from instance_runner.speak.outcome import Plan, settle
from instance_runner.speak.types import (
    FunctionDef,
    NamedChoice,
    NamedFunction,
    Tool,
    ToolChoice,
)

INTS = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
TOOLS = [Tool(FunctionDef("add", "", INTS)), Tool(FunctionDef("ping", "", None))]


def plan(choice: ToolChoice = "auto", *, parallel: bool = True, **kw: Any) -> Plan:
    fields: dict[str, Any] = {"json": False, "schema": None, **kw}
    tools = fields.pop("tools", TOOLS)
    return Plan(tools=tools, choice=choice, parallel=parallel, template=catalogue.load(), **fields)


def call(name: str, args: str = '{"a": 1}') -> str:
    return f'<tool_call>{{"name": "{name}", "arguments": {args}}}</tool_call>'


def test_good_calls_go_out_with_the_text_around_them() -> None:
    result = settle(plan(), "Sure. " + call("add") + call("ping", "{}"))
    assert not result.problem and result.content == "Sure."
    assert [c.name for c in result.calls] == ["add", "ping"]
    assert [c.name for c in settle(plan(parallel=False), call("add") + call("ping")).calls] == [
        "add"
    ]


def test_an_unknown_function_gets_a_corrective_turn_naming_the_real_ones() -> None:
    result = settle(plan(), call("subtract"))
    assert result.problem == 'there is no function named "subtract"'
    assert '"add", "ping"' in result.fix and result.kind == "tool_call"


def test_invalid_arguments_get_the_schema_in_the_corrective_turn() -> None:
    result = settle(plan(), call("add", '{"a": "one"}'))
    assert "'one' is not of type 'integer'" in result.problem
    assert '"type": "integer"' in result.fix and '"a": "one"' in result.wrote


def test_the_tool_choice_is_kept() -> None:
    named: ToolChoice = NamedChoice(NamedFunction("ping"))
    assert "must be called" in settle(plan(named), call("add")).problem
    assert settle(plan(named), call("ping", "{}")).calls
    assert "no call was made" in settle(plan("required"), "I would rather not.").problem
    assert settle(plan("auto"), "I would rather not.").content == "I would rather not."


def test_json_answers_are_taken_out_and_checked() -> None:
    fmt = plan(tools=[], json=True)
    assert settle(fmt, 'Here: {"x": 1} ok').content == '{"x": 1}'
    assert settle(fmt, "no json at all").problem == "the answer holds no JSON"
    strict = plan(tools=[], json=True, schema=INTS)
    assert "'a' is a required property" in settle(strict, '{"x": 1}').problem
