"""Whether the calls taken out of an answer can go to the client: known
functions, arguments valid against their schemas, the tool choice kept."""

from __future__ import annotations

import msgspec

from instance_runner.speak import jsonout
from instance_runner.speak.types import Call, NamedChoice, Tool, ToolChoice


class Problem(msgspec.Struct, frozen=True):
    text: str  # what is wrong, said to the model and, at the end, to the client
    tool: Tool | None  # the function meant, when known
    wrote: str  # what the model wrote


def check(calls: list[Call], tools: list[Tool], choice: ToolChoice) -> Problem | None:
    """The first problem with `calls` under `choice`, or None."""
    by_name = {t.function.name: t for t in tools}
    named = choice.function.name if isinstance(choice, NamedChoice) else None
    if not calls:
        if named:
            return Problem(
                f'no call was made; the function "{named}" must be called', by_name.get(named), ""
            )
        if choice == "required":
            return Problem("no call was made; a function must be called", None, "")
        return None
    for call in calls:
        if call.problem:
            return Problem(call.problem, None, call.raw)
        tool = by_name.get(call.name)
        if tool is None:
            return Problem(f'there is no function named "{call.name}"', None, call.raw)
        if named and call.name != named:
            return Problem(
                f'the function "{named}" must be called, not "{call.name}"',
                by_name.get(named),
                call.raw,
            )
        if not isinstance(call.arguments, dict):
            return Problem(f'the arguments of "{call.name}" are not a JSON object', tool, call.raw)
        schema = tool.function.parameters
        if schema:
            wrong = jsonout.schema_problem(call.arguments, schema)
            if wrong:
                return Problem(
                    f'the arguments of "{call.name}" are invalid: {wrong}', tool, call.raw
                )
    return None
