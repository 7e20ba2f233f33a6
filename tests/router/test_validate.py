"""The router's check of a chat body: pure, bytes in, ChatInfo or a typed 400 out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.router import validate
from daemon.router.validate import BadRequest, check, depth


def body(**fields: object) -> bytes:
    base: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    base.update(fields)
    return json.dumps(base).encode()


def test_a_good_body_gives_what_routing_needs() -> None:
    info = check(body(stream=True, user="u1", max_tokens=10, n=1, temperature=0.5))
    assert (info.model, info.stream, info.user) == ("m", True, "u1")


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        (b"", "invalid_json", None),
        (b"   \n", "invalid_json", None),
        (b"\xff\xfe{}", "invalid_encoding", None),
        (body()[:-2] + b'\xc3"}', "invalid_encoding", None),  # a cut multi-byte character
        (b"[" * 100_000, "invalid_json", None),  # unbalanced: no RecursionError
        (b"[" * 40 + b"]" * 40, "invalid_json", None),  # balanced, too deep
        (b'{"model": "m", "messages": ' + b"[" * 60 + b"]" * 60 + b"}", "invalid_json", None),
        (b'"a string"', "invalid_json", None),
        (b"[1, 2]", "invalid_json", None),
        (b"{not json", "invalid_json", None),
        (b'{"model": "m"}', "invalid_request", None),
        (body(model=7), "invalid_request", "model"),
        (body(model=" "), "invalid_request", "model"),
        (body(model="x" * 300), "invalid_request", "model"),
        (body(messages=[]), "invalid_request", "messages"),
        (body(messages="hi"), "invalid_request", "messages"),
        (body(messages=[{"role": "user", "content": ""}]), "empty_prompt", "messages"),
        (body(messages=[{"role": "user", "content": "  \n"}]), "empty_prompt", "messages"),
        (body(messages=[{"role": "user"}]), "empty_prompt", "messages"),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
            "empty_prompt",
            "messages",
        ),
        (body(messages=[{"role": "hacker", "content": "x"}]), "invalid_request", None),
        (body(stream="yes"), "invalid_request", "stream"),
        (body(max_tokens=0), "invalid_request", "max_tokens"),
        (body(max_tokens=-5), "invalid_request", "max_tokens"),
        (body(max_tokens=10**9), "invalid_request", "max_tokens"),
        (body(max_tokens="10"), "invalid_request", "max_tokens"),
        (body(max_completion_tokens=0), "invalid_request", "max_completion_tokens"),
        (body(n=0), "invalid_request", "n"),
        (body(n=1000), "invalid_request", "n"),
        (body(temperature=5), "invalid_request", "temperature"),
        (body(top_p=-1), "invalid_request", "top_p"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(raw: bytes, code: str, param: str | None) -> None:
    with pytest.raises(BadRequest) as info:
        check(raw)
    assert info.value.code == code
    assert info.value.message
    if param is not None:
        assert info.value.param is not None and info.value.param.startswith(param)


def test_text_parts_and_a_conversation_pass() -> None:
    parts = [{"type": "image_url", "image_url": {}}, {"type": "text", "text": "what is it?"}]
    check(body(messages=[{"role": "user", "content": parts}]))
    check(body(messages=[{"role": "system", "content": "be brief"}, {"role": "user"}]))


def test_tool_turns_pass_to_the_instance() -> None:
    """An assistant turn with only calls, and tool results: the instance
    writes them into the transcript."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    only_calls = {"role": "assistant", "content": None, "tool_calls": [call]}
    check(body(messages=[only_calls]))
    check(body(messages=[only_calls, {"role": "tool", "tool_call_id": "c1", "content": "42"}]))
    with pytest.raises(BadRequest):
        check(body(messages=[{"role": "assistant", "content": None, "tool_calls": None}]))


def test_depth_ignores_brackets_inside_strings() -> None:
    assert depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"]"}') == 1
    assert depth(b"[" * 32 + b"]" * 32) == 32
    assert depth(b"[" * 33 + b"]" * 33) == validate.MAX_DEPTH + 1
    assert depth(b"[{]}") is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_bytes_give_a_verdict_never_an_exception(raw: bytes) -> None:
    try:
        check(raw)
    except BadRequest as exc:
        assert exc.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["model", "messages", "stream", "n", "max_tokens", "x"]), json_values
    )
)
def test_wrong_typed_fields_give_a_verdict(fields: dict[str, object]) -> None:
    try:
        check(json.dumps(fields).encode())
    except BadRequest:
        return
    assert isinstance(fields["model"], str) and fields["messages"]


@pytest.mark.parametrize(
    "content",
    [
        "\ufeff",  # what Python's strip() keeps and a page's trim() drops
        "\ufeff\u200b\u00a0\u2028\u3000",
        "\u200b\u200c\u200d\u2060\u00ad",
        " \u1680\u2003\u202f\u205f\u180e ",
        [{"type": "text", "text": "\ufeff"}, {"type": "image_url", "image_url": {}}],
    ],
)
def test_invisible_only_prompts_are_refused(content: object) -> None:
    with pytest.raises(BadRequest) as info:
        check(body(messages=[{"role": "user", "content": content}]))
    assert (info.value.code, info.value.param) == ("empty_prompt", "messages")


def test_an_invisible_character_beside_text_passes() -> None:
    check(body(messages=[{"role": "user", "content": "\ufeffhi\u200b"}]))


@pytest.mark.parametrize(
    ("text", "escape"),
    [('"\\ud800"', "\\ud800"), ('"\\ud800x"', "\\ud800"), ('"a\\udc00"', "\\udc00")],
)
def test_a_lone_surrogate_is_named(text: str, escape: str) -> None:
    raw = b'{"model": "m", "messages": [{"role": "user", "content": ' + text.encode() + b"}]}"
    with pytest.raises(BadRequest) as info:
        check(raw)
    assert info.value.code == "invalid_json"
    assert f"invalid {escape} escape" in info.value.message
    assert "lone UTF-16 surrogate" in info.value.message
    assert "truncated" not in info.value.message
