"""JSON out of answers (a pure extractor) and the field table."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instance_runner.speak import fields, jsonout

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
OBJECTS = st.dictionaries(st.text(max_size=6), JSON, min_size=1, max_size=4)
CHATTER = st.text(max_size=40).filter(lambda t: not any(c in t for c in "{[`"))


@given(CHATTER, OBJECTS, CHATTER, st.booleans(), st.booleans())
def test_the_json_is_taken_out_of_any_chatter(
    before: str, value: dict, after: str, fenced: bool, indent: bool
) -> None:
    body = json.dumps(value, indent=2 if indent else None)
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"{before}{body}{after}"
    found = jsonout.extract(text)
    assert found is not None and found.value == value and found.text == body


@given(CHATTER)
def test_no_json_is_said(text: str) -> None:
    assert jsonout.extract(text) is None
    assert jsonout.check(None, None) == "the answer holds no JSON"


def test_a_false_start_is_skipped() -> None:
    found = jsonout.extract('Use {braces} like {"a": 1} this')
    assert found is not None and found.value == {"a": 1}


def test_the_schema_is_checked() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert jsonout.check(jsonout.extract('{"n": 3}'), schema) == ""
    assert "'n' is a required property" in jsonout.check(jsonout.extract("{}"), schema)
    assert "(at n)" in jsonout.check(jsonout.extract('{"n": "x"}'), schema)
    assert jsonout.check(jsonout.extract("[1]"), None) == "the JSON is not an object"


def test_every_field_is_sorted_and_unknown_ones_are_listed() -> None:
    site, ignored = fields.sort(
        {"model": "m", "temperature": 1, "seed": 3, "logprobs": False, "top_k": 5}
    )
    assert site == ["temperature"] and ignored == ["seed", "top_k"]
    with pytest.raises(fields.Refused) as refused:
        fields.sort({"logprobs": True})
    assert refused.value.param == "logprobs"
    assert fields.sort({"n": 1, "parallel_tool_calls": True, "store": False}) == ([], [])
