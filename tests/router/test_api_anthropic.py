"""The Anthropic Messages API on the front port, driven with the official
`anthropic` SDK, over a fake tool-capable upstream (real sockets, a real mictld)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import anthropic
import pytest

from tests.agent_front import KEY, Front, agent_front
from tests.fake_agent_upstream import ARGS, TEXT, THOUGHT
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"  # 1x1 PNG
PIXEL += "AAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    with agent_front(tmp_path_factory.mktemp("anthropic"), router="queue_size = 0\n") as f:
        yield f


@pytest.fixture
def client(front: Front) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=front.url, api_key=KEY, max_retries=0, timeout=60) as c:
        yield c


def ask(**kw: object) -> dict:
    return {"model": "m1", "max_tokens": 100, **kw}


def test_create_and_stream_give_the_same_text(client: anthropic.Anthropic, front: Front) -> None:
    hi = [{"role": "user", "content": "say hello"}]
    message = client.messages.create(**ask(messages=hi, system="be brief"))
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == TEXT
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 11 and message.usage.output_tokens == 7
    assert front.last()["messages"][0] == {"role": "system", "content": "be brief"}
    with client.messages.stream(**ask(messages=hi)) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) > 3  # it streamed, piece by piece
    assert "".join(deltas) == final.content[0].text == TEXT
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7


def test_the_api_key_goes_in_x_api_key_or_bearer(front: Front) -> None:
    hi = [{"role": "user", "content": "hi"}]
    with anthropic.Anthropic(base_url=front.url, auth_token=KEY, max_retries=0) as bearer:
        assert bearer.messages.create(**ask(messages=hi)).content[0].text == TEXT
    wrong = anthropic.Anthropic(base_url=front.url, api_key="wrong", max_retries=0)
    with wrong, pytest.raises(anthropic.AuthenticationError) as caught:
        wrong.messages.create(**ask(messages=hi))
    assert caught.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_round_trip(client: anthropic.Anthropic, front: Front, stream: bool) -> None:
    first = [{"role": "user", "content": "weather in Zürich?"}]
    kw = ask(messages=first, tools=[TOOL], tool_choice={"type": "auto"})
    if stream:
        with client.messages.stream(**kw) as s:
            partials = [e.partial_json for e in s if e.type == "input_json"]
            message = s.get_final_message()
        assert len(partials) > 3 and json.loads("".join(partials)) == ARGS  # reassembled exactly
    else:
        message = client.messages.create(**kw)
    sent = front.last()
    assert sent["tools"][0]["function"]["parameters"] == TOOL["input_schema"]
    assert sent["tool_choice"] == "auto"
    assert message.stop_reason == "tool_use"
    (use,) = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == ARGS and use.id == "call_fake1"
    turn = [
        *first,
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21°C"}],
        },
    ]
    answer = client.messages.create(**ask(messages=turn, tools=[TOOL]))
    assert answer.content[0].text == "The tool said: sunny, 21°C"
    sent = front.last()["messages"]
    assert sent[1]["tool_calls"][0]["id"] == use.id
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == ARGS
    assert sent[2] == {"role": "tool", "tool_call_id": use.id, "content": "sunny, 21°C"}


def test_tool_choice_forms_translate(client: anthropic.Anthropic, front: Front) -> None:
    hi = [{"role": "user", "content": "hi"}]
    wanted = {
        "any": "required",
        "none": "none",
        "tool": {"type": "function", "function": {"name": "get_weather"}},
    }
    for kind, chat in wanted.items():
        choice = {"type": kind, "name": "get_weather"} if kind == "tool" else {"type": kind}
        client.messages.create(**ask(messages=hi, tools=[TOOL], tool_choice=choice))
        assert front.last()["tool_choice"] == chat


def test_an_image_block_becomes_an_image_url_part(
    client: anthropic.Anthropic, front: Front
) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "what is this?"},
    ]
    client.messages.create(**ask(messages=[{"role": "user", "content": content}]))
    parts = front.last()["messages"][-1]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    assert parts[1]["image_url"]["url"] == "https://example.com/cat.png"
    assert parts[2] == {"type": "text", "text": "what is this?"}


def test_thinking_streams_as_a_thinking_block(client: anthropic.Anthropic) -> None:
    hi = [{"role": "user", "content": "think"}]
    with client.messages.stream(**ask(model="thinker", messages=hi)) as s:
        thoughts = [e.thinking for e in s if e.type == "thinking"]
        message = s.get_final_message()
    assert "".join(thoughts) == THOUGHT
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].text == TEXT


def test_count_tokens_is_an_estimate(client: anthropic.Anthropic) -> None:
    text = "x" * 400
    counted = client.messages.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": text}]
    )
    assert 100 <= counted.input_tokens <= 110
    assert counted.model_extra == {"estimated": True}


def test_a_bad_request_is_an_invalid_request_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="m1", max_tokens=0, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in caught.value.body["error"]["message"]


def test_an_unknown_model_is_not_found_and_names_the_aliases(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(**ask(model="gpt-9", messages=[{"role": "user", "content": "x"}]))
    error = caught.value.body["error"]
    assert error["type"] == "not_found_error"
    assert "m1" in error["message"] and "claude-*" in error["message"]


def test_an_alias_maps_claude_names_onto_the_pool(
    client: anthropic.Anthropic, front: Front
) -> None:
    hi = [{"role": "user", "content": "hi"}]
    message = client.messages.create(**ask(model="claude-opus-4-8", messages=hi))
    assert message.model == "claude-opus-4-8"  # the client's name, answered by m1
    assert front.last()["model"] == "m1"  # "nope" is not served: the fallback


def test_no_capacity_is_an_overloaded_error(client: anthropic.Anthropic, front: Front) -> None:
    """max_concurrent 1 and queue_size 0: a second request while one runs
    has no capacity, which Anthropic calls overloaded (529)."""
    before = front.requests()
    slow = threading.Thread(
        target=lambda: client.messages.create(
            **ask(model="slow", messages=[{"role": "user", "content": "x"}])
        )
    )
    slow.start()
    try:
        wait_until(lambda: front.requests() > before, 30, "the slow request upstream")
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(**ask(model="slow", messages=[{"role": "user", "content": "x"}]))
    finally:
        slow.join()
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_fields_not_sent_upstream_are_named_in_a_header(client: anthropic.Anthropic) -> None:
    hi = [{"role": "user", "content": "hi"}]
    raw = client.messages.with_raw_response.create(**ask(messages=hi), extra_body={"top_k": 5})
    assert raw.headers["x-mictl-ignored"] == "top_k"
    assert raw.parse().content[0].text == TEXT
    plain = client.messages.with_raw_response.create(**ask(messages=hi))
    assert "x-mictl-ignored" not in plain.headers


def test_a_stop_sequence_ends_the_answer_and_is_named(
    client: anthropic.Anthropic, front: Front
) -> None:
    kw = ask(messages=[{"role": "user", "content": "hi"}], stop_sequences=["zzz", "ünï"])
    message = client.messages.create(**kw)
    assert "stop" not in front.last()  # met by the router, which can say which one
    with client.messages.stream(**kw) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    for m in (message, final):
        assert m.stop_reason == "stop_sequence" and m.stop_sequence == "ünï"
    assert message.content[0].text == streamed == TEXT[: TEXT.index("ünï")]


def test_the_model_list_takes_the_anthropic_key_header(client: anthropic.Anthropic) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"m1", "claude-*", "gpt-x"} <= ids


def test_a_big_request_is_translated_off_the_loop(
    client: anthropic.Anthropic, front: Front
) -> None:
    big = "word " * 80_000  # 400 kB: decoded and translated in a worker thread
    message = client.messages.create(**ask(messages=[{"role": "user", "content": big}]))
    assert message.content[0].text == TEXT
    assert front.last()["messages"][0]["content"] == big
    too_big = "x" * (33 * 1024 * 1024)  # over router.max_body_bytes (32 MiB)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(**ask(messages=[{"role": "user", "content": too_big}]))
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"
