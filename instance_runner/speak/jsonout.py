"""JSON out of a chat model's answer, and checked: a pure extractor.

Asked for JSON, models wrap it: a fenced ```json block, or the object with
a sentence before and after. `extract` finds it (a fenced block first, else
the first `{` or `[` that starts a whole JSON value) and returns the JSON
text as written, chatter dropped. `check` says what is wrong with it for
the response format asked: not an object (json_object), or not valid
against the schema (json_schema).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import msgspec

_FENCED = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


class Found(msgspec.Struct, frozen=True):
    text: str  # the JSON as the model wrote it
    value: Any


def extract(answer: str) -> Found | None:
    """The JSON value in `answer`, or None when there is none."""
    for match in _FENCED.finditer(answer):
        found = _decode_whole(match.group(1))
        if found is not None:
            return found
    pos = 0
    while True:
        starts = [i for i in (answer.find("{", pos), answer.find("[", pos)) if i >= 0]
        if not starts:
            return None
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(answer, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        if isinstance(value, dict | list):
            return Found(answer[start:end], value)
        pos = start + 1


def _decode_whole(body: str) -> Found | None:
    text = body.strip()
    try:
        value, end = _DECODER.raw_decode(text)
    except json.JSONDecodeError:
        return None
    return Found(text, value) if end == len(text) else None


def check(found: Found | None, schema: dict[str, Any] | None) -> str:
    """What is wrong with `found` (empty: nothing). `schema` None asks for
    any JSON object."""
    if found is None:
        return "the answer holds no JSON"
    if schema is None:
        return "" if isinstance(found.value, dict) else "the JSON is not an object"
    return schema_problem(found.value, schema)


def schema_problem(value: Any, schema: dict[str, Any]) -> str:
    """The first way `value` breaks `schema`, said in one line (empty: none)."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"the schema itself is invalid: {exc.message}"
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(value))
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at {where})" if where else "")
