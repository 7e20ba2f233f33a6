"""What an answer comes to under a request's plan: content and calls to
hand the client, or the problem and the corrective turn to send. Pure."""

from __future__ import annotations

from typing import Any

import msgspec

from instance_runner.speak import catalogue, jsonout, toolcalls, verify
from instance_runner.speak.catalogue import Template
from instance_runner.speak.toolcalls import Parsed
from instance_runner.speak.types import Call, Tool, ToolChoice


class Plan(msgspec.Struct, kw_only=True):
    """What the prompt asks and what the answer must hold."""

    tools: list[Tool]  # offered to the model (empty: none, or tool_choice "none")
    choice: ToolChoice
    parallel: bool
    json: bool  # response_format json_object or json_schema
    schema: dict[str, Any] | None  # json_schema's schema, checked when strict
    template: Template

    @property
    def checked(self) -> bool:
        """The answer is parsed and checked (and may get a corrective turn)."""
        return bool(self.tools) or self.json

    def instructions(self) -> list[str]:
        said = []
        if self.tools:
            t = self.template
            said.append(catalogue.tools_block(t, self.tools, self.choice, parallel=self.parallel))
        if self.json:
            said.append(catalogue.json_block(self.template, self.schema))
        return said


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    content: str | None = None
    calls: list[Call] = []
    problem: str = ""  # empty: the answer can go to the client
    kind: str = ""  # what failed: "tool_call" or "json"
    wrote: str = ""  # what the model wrote, for the client's error
    fix: str = ""  # the corrective turn to send in the same chat


def settle(plan: Plan, answer: str, parsed: Parsed | None = None) -> Outcome:
    """`answer` (or the part of it not yet sent, parsed) under `plan`."""
    if plan.tools:
        parsed = parsed if parsed is not None else toolcalls.parse(answer)
        problem = verify.check(parsed.calls, plan.tools, plan.choice)
        if problem is not None:
            return Outcome(
                problem=problem.text,
                kind="tool_call",
                wrote=problem.wrote or answer,
                fix=catalogue.fix_call(plan.template, problem.text, problem.tool, plan.tools),
            )
        if parsed.calls:
            calls = parsed.calls if plan.parallel else parsed.calls[:1]
            return Outcome(content=parsed.content.strip() or None, calls=calls)
        text = parsed.content
    else:
        text = parsed.content if parsed is not None else answer
    if not plan.json:
        return Outcome(content=text)
    found = jsonout.extract(text)
    wrong = jsonout.check(found, plan.schema)
    if wrong:
        return Outcome(
            problem=wrong,
            kind="json",
            wrote=answer,
            fix=catalogue.fix_json(plan.template, wrong),
        )
    assert found is not None
    return Outcome(content=found.text)
