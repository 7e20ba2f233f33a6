"""The request translations and aliases, as pure functions: what each client
API's request becomes in Chat Completions, and that no input, however odd,
raises anything but a 400 naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config import loader as config
from daemon.config.loader import ConfigError
from daemon.router.apis import aliases, anthropic_in, responses_in
from daemon.router.apis.chat_stream import (
    Failure,
    Finish,
    Reasoning,
    Text,
    ToolArgs,
    ToolStart,
    Usage,
    events_of_chunk,
    events_of_completion,
)
from daemon.router.apis.types import Refused

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "role", "content", "text", "source", "name", "id", "input"])
            | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values | st.just("m1"),
        "max_tokens": json_values | st.just(5),
        "messages": json_values,
        "system": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "input": json_values,
        "instructions": json_values,
        "text": json_values,
        "stop_sequences": json_values,
    },
)


@settings(max_examples=400)
@given(bodies | json_values)
def test_any_body_translates_or_is_refused_naming_a_field(body: object) -> None:
    for translate in (anthropic_in.translate, responses_in.translate):
        try:
            translate(body)
        except Refused as exc:
            assert exc.message


def test_a_claude_code_like_request() -> None:
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "system": [
            {"type": "text", "text": "a"},
            {"type": "text", "text": "b", "cache_control": {}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "system", "content": "mid-conversation"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"cmd": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "a.txt",
                        "is_error": True,
                    },
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
        "tools": [
            {"name": "Bash", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "stream": True,
        "metadata": {"user_id": "u"},
    }
    t = anthropic_in.translate(body)
    assert t.chat["messages"] == [
        {"role": "system", "content": "a\n\nb"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "system", "content": "mid-conversation"},
        {
            "role": "assistant",
            "content": "calling",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"cmd":"ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "[tool error] a.txt"},
        {"role": "user", "content": [{"type": "text", "text": "and?"}]},
    ]
    assert t.chat["tools"] == [
        {"type": "function", "function": {"name": "Bash", "parameters": {"type": "object"}}}
    ]
    assert t.chat["tool_choice"] == "required" and t.chat["parallel_tool_calls"] is False
    assert t.chat["stream_options"] == {"include_usage": True} and t.chat["user"] == "u"
    assert t.ignored == [
        "thinking",
        "output_config",
        "cache_control",
        "messages.content.thinking",
        "tools.web_search",
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
            "messages.0.role",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "tool_use"}]}],
            },
            "messages.0.content.0",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "temperature": 3,
            },
            "temperature",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tool_choice": {"type": "x"},
            },
            "tool_choice",
        ),
    ],
)
def test_anthropic_refusals_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(Refused) as caught:
        anthropic_in.translate(body)
    assert caught.value.param == param


def test_a_codex_like_responses_request() -> None:
    body = {
        "model": "gpt-5-codex",
        "instructions": "you are codex",
        "input": [
            {"type": "additional_tools", "tools": []},
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "d"}],
            },
            {"role": "user", "content": "run ls"},
            {"type": "reasoning", "summary": []},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "shell",
                "arguments": '{"cmd":["ls"]}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        ],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object"}, "strict": False}
        ],
        "tool_choice": "auto",
        "text": {
            "format": {
                "type": "json_schema",
                "name": "out",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        "store": False,
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
        "max_output_tokens": 100,
    }
    t = responses_in.translate(body)
    assert t.chat["messages"] == [
        {"role": "system", "content": "you are codex"},
        {"role": "developer", "content": "d"},
        {"role": "user", "content": "run ls"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "shell", "arguments": '{"cmd":["ls"]}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
    ]
    assert t.chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    assert t.chat["tools"][0]["function"] == {
        "name": "shell",
        "parameters": {"type": "object"},
        "strict": False,
    }
    assert t.chat["max_tokens"] == 100 and t.chat["tool_choice"] == "auto"
    assert t.ignored == ["reasoning", "include", "input.additional_tools", "input.reasoning"]


def test_aliases_exact_then_served_then_globs_in_order() -> None:
    table = {"claude-*": ["gone", "b"], "claude-x": "c", "*": "d"}
    served = {"a", "b", "c", "d"}
    assert aliases.resolve(table, "claude-x", served) == "c"  # exact beats glob
    assert aliases.resolve(table, "claude-y", served) == "b"  # first served target
    assert aliases.resolve(table, "claude-y", set()) == "gone"  # none served yet: the first
    assert aliases.resolve(table, "a", served) == "a"  # served under its own name
    assert aliases.resolve(table, "zzz", served) == "d"
    assert aliases.resolve({}, "zzz", served) == "zzz"


def test_the_chat_stream_decoder() -> None:
    chunk = (
        b'{"choices":[{"index":0,"delta":{"reasoning_content":"r","content":"t","tool_calls":'
        b'[{"index":1,"id":"c","function":{"name":"f","arguments":"{"}}]},"finish_reason":"tool_calls"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    )
    assert events_of_chunk(chunk) == [
        Reasoning("r"),
        Text("t"),
        ToolStart(1, "c", "f"),
        ToolArgs(1, "{"),
        Finish("tool_calls"),
        Usage(1, 2),
    ]
    assert events_of_chunk(b"[DONE]") == []
    assert events_of_chunk(b"{nope") == [Failure("the upstream sent a malformed stream event")]
    assert events_of_completion({"choices": [{"message": {"content": "x"}}]}) == [
        Text("x"),
        Finish("stop"),
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[aliases]\n"claude-*" = []', "aliases.claude-*: names no model"),
        ('[aliases]\n"x" = "demo-*"', "aliases.x: 'demo-*' is not a model name"),
        ('[aliases]\n"x" = "x"', "aliases.x: maps onto itself"),
        ('[aliases]\n"x" = 3', "aliases[...]: expected `str | array`"),
    ],
)
def test_bad_aliases_are_refused_naming_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "mictl.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        config.load(path, env={})
    assert where in str(caught.value)
    ok = tmp_path / "ok.toml"
    ok.write_text('[aliases]\n"claude-*" = ["a", "b"]\n"gpt-4o" = "a"\n')
    assert config.load(ok, env={}).aliases == {"claude-*": ["a", "b"], "gpt-4o": "a"}
