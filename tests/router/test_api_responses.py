"""The OpenAI Responses API on the front port, driven with the official
`openai` SDK, over a fake tool-capable upstream (real sockets, a real mictld)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from tests.agent_front import KEY, Front, agent_front
from tests.fake_agent_upstream import ARGS, JSON_ANSWER, TEXT, THOUGHT

pytestmark = pytest.mark.slow

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class Answer(BaseModel):
    name: str
    ok: bool
    tags: list[str]


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    with agent_front(tmp_path_factory.mktemp("responses")) as f:
        yield f


@pytest.fixture
def client(front: Front) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{front.url}/v1", api_key=KEY, max_retries=0) as c:
        yield c


def test_create_and_stream_give_the_same_text(client: openai.OpenAI, front: Front) -> None:
    response = client.responses.create(model="m1", input="say hello", instructions="be brief")
    assert response.status == "completed" and response.output_text == TEXT
    assert response.usage is not None and response.usage.output_tokens == 7
    assert front.last()["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hello"},
    ]
    with client.responses.stream(model="m1", input="say hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 3 and "".join(deltas) == final.output_text == TEXT


def test_raw_stream_events_come_in_the_api_order(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="m1", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))


@pytest.mark.parametrize("stream", [False, True])
def test_a_function_call_round_trip(client: openai.OpenAI, front: Front, stream: bool) -> None:
    first = [{"role": "user", "content": "weather in Zürich?"}]
    if stream:
        with client.responses.stream(model="m1", input=first, tools=[TOOL]) as s:
            pieces = [e.delta for e in s if e.type == "response.function_call_arguments.delta"]
            response = s.get_final_response()
        assert len(pieces) > 3 and json.loads("".join(pieces)) == ARGS
    else:
        response = client.responses.create(model="m1", input=first, tools=[TOOL])
    assert front.last()["tools"][0]["function"]["parameters"] == TOOL["parameters"]
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == ARGS
    assert call.call_id == "call_fake1"
    turn = [
        *first,
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21°C"},
    ]  # fmt: skip
    answer = client.responses.create(model="m1", input=turn, tools=[TOOL])
    assert answer.output_text == "The tool said: sunny, 21°C"
    sent = front.last()["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.call_id
    assert sent[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny, 21°C"}


def test_a_json_schema_output(client: openai.OpenAI, front: Front) -> None:
    parsed = client.responses.parse(model="m1", input="describe", text_format=Answer)
    assert parsed.output_parsed == Answer(**JSON_ANSWER)
    fmt = front.last()["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Answer"
    assert fmt["json_schema"]["schema"]["properties"]["tags"]["type"] == "array"
    with client.responses.stream(model="m1", input="describe", text_format=Answer) as s:
        final = s.get_final_response()
    assert final.output_parsed == Answer(**JSON_ANSWER)


def test_reasoning_streams_as_a_reasoning_item(client: openai.OpenAI) -> None:
    with client.responses.stream(model="thinker", input="think") as s:
        thoughts = [e.delta for e in s if e.type == "response.reasoning_summary_text.delta"]
        final = s.get_final_response()
    assert "".join(thoughts) == THOUGHT
    assert [item.type for item in final.output] == ["reasoning", "message"]


def test_an_image_part_becomes_an_image_url_part(client: openai.OpenAI, front: Front) -> None:
    content = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
    ]
    client.responses.create(model="m1", input=[{"role": "user", "content": content}])
    parts = front.last()["messages"][-1]["content"]
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
    }


def test_previous_response_id_is_refused_saying_what_to_send(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="m1", input="more", previous_response_id="resp_1")
    error = caught.value.body
    assert error["param"] == "previous_response_id" and "whole conversation" in error["message"]


def test_an_alias_serves_a_codex_name(client: openai.OpenAI, front: Front) -> None:
    assert client.responses.create(model="gpt-x", input="hi").output_text == TEXT
    assert front.last()["model"] == "m1"
    models = {m.id for m in client.models.list()}
    assert {"m1", "gpt-x", "claude-*"} <= models


def test_the_chat_completions_path_takes_aliases_too(client: openai.OpenAI, front: Front) -> None:
    answer = client.chat.completions.create(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == TEXT
    assert front.last()["model"] == "m1"


def test_an_unknown_model_is_a_404_naming_what_exists(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-9", input="hi")
    assert "m1" in caught.value.body["message"] and "gpt-x" in caught.value.body["message"]


def test_aliases_change_live_on_reload(client: openai.OpenAI, front: Front) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="brand-new", input="hi")
    config = front.mictld.config
    config.write_text(
        config.read_text().replace('"gpt-x" = "m1"', '"gpt-x" = "m1"\n"brand-new" = "m1"')
    )
    result = front.mictld.ctl("reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert client.responses.create(model="brand-new", input="hi").output_text == TEXT
