"""Tool calling and JSON output end to end: the official `openai` client on
the front port of a real mictld, demo instances in real Chromium, the demo
model answering calls (instance_runner/sites/demo/tools.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.demo_daemon import Demo, demo
from tests.helpers import wait_until
from tests.image_server import PNG

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def function(name: str, properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
            },
        },
    }


WEATHER = function("get_weather", {"city": {"type": "string"}}, "The weather in a city")
INTS = {"a": {"type": "integer"}, "b": {"type": "integer"}}
ADD, MULTIPLY = function("add", INTS), function("multiply", INTS)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo(tmp_path_factory.mktemp("tools")) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 90, "both demo instances")
        yield d


@pytest.fixture
def client(running: Demo) -> Iterator[openai.OpenAI]:
    url = f"http://127.0.0.1:{running.front}/v1"
    with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=90) as c:
        yield c


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_a_tool_round_trip(client: openai.OpenAI) -> None:
    messages = user('What does get_weather say for "Paris"?')
    first = client.chat.completions.create(model="demo-fast", messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert choice.message.content == "I will call get_weather."  # the text around the call
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    final = client.chat.completions.create(model="demo-fast", messages=messages, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "The tools said: 18C and sunny."
    assert not final.choices[0].message.tool_calls


def test_a_streamed_tool_round_trip(client: openai.OpenAI) -> None:
    messages = user('Call get_weather for "Oslo" please')
    chunks = list(
        client.chat.completions.create(
            model="demo-fast", messages=messages, tools=[WEATHER], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    pieces = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    head, rest = pieces[0], pieces[1:]
    assert head.index == 0 and head.id and head.id.startswith("call_")
    assert head.type == "function" and head.function and head.function.name == "get_weather"
    assert rest and all(p.id is None and p.function and p.function.name is None for p in rest)
    arguments = "".join(p.function.arguments or "" for p in pieces if p.function)
    assert json.loads(arguments) == {"city": "Oslo"}
    assert text.strip() == "I will call get_weather."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": head.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": head.id, "content": "rain"},
    ]
    final = client.chat.completions.create(
        model="demo-fast", messages=messages, tools=[WEATHER], stream=True
    )
    said = "".join(c.choices[0].delta.content or "" for c in final if c.choices)
    assert said == "The tools said: rain."


def test_a_plain_answer_still_streams_with_tools_offered(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="demo-long", messages=user("just talk"), tools=[WEATHER], stream=True
    )
    contents = [c.choices[0].delta.content for c in stream if c.choices]
    assert len([c for c in contents if c]) > 20  # word by word, not one piece at the end


def test_two_parallel_calls_and_parallel_off(client: openai.OpenAI) -> None:
    ask = user("Use add on 3 and 4, and multiply 5 by 6")
    both = client.chat.completions.create(model="demo-fast", messages=ask, tools=[ADD, MULTIPLY])
    calls = both.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("add", {"a": 3, "b": 4}),
        ("multiply", {"a": 5, "b": 6}),
    ]
    assert len({c.id for c in calls}) == 2
    one = client.chat.completions.create(
        model="demo-fast", messages=ask, tools=[ADD, MULTIPLY], parallel_tool_calls=False
    )
    assert [c.function.name for c in one.choices[0].message.tool_calls or []] == ["add"]


def test_calls_written_as_a_fenced_block_are_read(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="demo-fast", messages=user("multiply 2 and 9 [[fence]]"), tools=[ADD, MULTIPLY]
    )
    [call] = result.choices[0].message.tool_calls or []
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "multiply",
        {"a": 2, "b": 9},
    )


def test_tool_choice_none_required_and_named(client: openai.OpenAI) -> None:
    ask = user("add 1 and 2")
    none = client.chat.completions.create(
        model="demo-fast", messages=ask, tools=[ADD, MULTIPLY], tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].finish_reason == "stop"
    assert (none.choices[0].message.content or "").startswith("Hello from demo-fast.")
    required = client.chat.completions.create(
        model="demo-fast",
        messages=user("do something"),
        tools=[ADD, MULTIPLY],
        tool_choice="required",
    )
    assert [c.function.name for c in required.choices[0].message.tool_calls or []] == ["add"]
    named = client.chat.completions.create(
        model="demo-fast",
        messages=ask,
        tools=[ADD, MULTIPLY],
        tool_choice={"type": "function", "function": {"name": "multiply"}},
    )
    [call] = named.choices[0].message.tool_calls or []
    assert call.function.name == "multiply"


def test_invalid_arguments_get_one_corrective_turn_then_an_error(client: openai.OpenAI) -> None:
    fixed = client.chat.completions.create(
        model="demo-fast", messages=user("add 2 and 5 [[bad-args]]"), tools=[ADD]
    )
    [call] = fixed.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"a": 2, "b": 5}
    with pytest.raises(openai.UnprocessableEntityError) as failed:
        client.chat.completions.create(
            model="demo-fast", messages=user("add 2 and 5 [[bad-always]]"), tools=[ADD]
        )
    message = failed.value.message
    assert "even after one correction" in message and '"not a number"' in message
    assert failed.value.code == "invalid_tool_call"
    stream = client.chat.completions.create(
        model="demo-fast", messages=user("add 2 and 5 [[bad-always]]"), tools=[ADD], stream=True
    )
    with pytest.raises(openai.APIError, match="even after one correction"):
        list(stream)


def test_json_object_and_json_schema(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(
        model="demo-fast",
        messages=user("three words here"),
        response_format={"type": "json_object"},
    )
    assert json.loads(plain.choices[0].message.content or "") == {
        "model": "demo-fast",
        "words": 3,
    }
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["city", "year"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": schema, "strict": True},
    }
    shaped = client.chat.completions.create(
        model="demo-fast",
        messages=user('"Rome" in 1990 [[bad-args]]'),
        response_format=fmt,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in shaped if c.choices)
    assert json.loads(text) == {"city": "Rome", "year": 1990}
    with pytest.raises(openai.UnprocessableEntityError, match="unfinished"):
        client.chat.completions.create(
            model="demo-fast", messages=user("x [[bad-always]]"), response_format=fmt
        )


def test_every_field_is_honoured_listed_or_refused(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="demo-fast", messages=user("hi"), seed=4, extra_body={"top_k": 3}
    )
    assert raw.headers["x-mictl-ignored"] == "seed, top_k"
    with client.chat.completions.with_streaming_response.create(
        model="demo-fast", messages=user("hi"), seed=4, stream=True
    ) as streamed:
        assert streamed.headers["x-mictl-ignored"] == "seed"
        assert "".join(streamed.iter_lines()).endswith("data: [DONE]")
    png = "data:image/png;base64," + base64.b64encode(PNG).decode()
    image = {"type": "image_url", "image_url": {"url": png, "detail": "high"}}
    with_image = client.chat.completions.with_raw_response.create(
        model="demo-smart",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}],
    )
    assert with_image.headers["x-mictl-ignored"] == "image_url.detail"  # the image goes in
    assert hashlib.sha256(PNG).hexdigest()[:12] in with_image.parse().choices[0].message.content
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="demo-fast", messages=user("hi"), logprobs=True)
    assert refused.value.param == "logprobs"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(
            model="demo-fast",
            messages=user("hi"),
            tools=[ADD],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert unknown.value.param == "tool_choice"


def test_models_say_what_they_take(client: openai.OpenAI) -> None:
    for model in client.models.list():
        assert model.model_extra and model.model_extra["capabilities"] == {
            "tools": "emulated",
            "response_format": "emulated",
            "images": None,  # the front joins many sites: the instance's list knows
        }
