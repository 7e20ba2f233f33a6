"""The Anthropic and Responses event streams, read by the official SDKs' own
stream parsers (their clients over an in-memory transport that plays back
what our encoders wrote): for any answer (text in any pieces, thinking, tool
calls whose JSON arguments are split anywhere) both parse, the text is the
answer's, and each tool's input JSON reassembles exactly. The same answer
non-streamed gives the same content. Pure encoders: no sockets needed."""

from __future__ import annotations

import itertools
import json

import anthropic
import httpx2 as httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.router.apis import anthropic_out, responses_out
from daemon.router.apis.chat_stream import (
    Event,
    Finish,
    Reasoning,
    SseDecoder,
    Text,
    ToolArgs,
    ToolStart,
    Usage,
    events_of_chunk,
)
from instance_runner.sites.demo.answers import answer, tokens

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[list[Event], str, str, list[dict]]:
    """Events of one answer: thinking?, text?, then tool calls (args split anywhere)."""
    events: list[Event] = []
    thought = draw(st.text(max_size=30))
    if thought:
        events += [Reasoning(p) for p in _split(draw, thought)]
    text = draw(st.text(max_size=60))
    if text:
        events += [Text(p) for p in _split(draw, text)]
    calls = []
    for index in range(draw(st.integers(0, 2))):
        args = draw(st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=4))
        name = draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
        encoded = json.dumps(args, ensure_ascii=draw(st.booleans()))
        events.append(ToolStart(index, f"call_{index}", name))
        events += [ToolArgs(index, p) for p in _split(draw, encoded)]
        calls.append({"name": name, "input": args, "arguments": encoded})
    events.append(Finish("tool_calls" if calls else "stop"))
    events.append(Usage(3, 5))
    return events, thought, text, calls


def _split(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=6)))
    edges = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges) if text[a:b]]


def _anthropic_bytes(events: list[Event]) -> bytes:
    stream = anthropic_out.Stream("m", 3)
    return stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()


def _responses_bytes(events: list[Event]) -> bytes:
    stream = responses_out.Stream(responses_out.Builder({"model": "m"}, "m", 3))
    return stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()


def _client(kind: type, body: bytes, **kw: object):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return kind(base_url="http://front", api_key="k", http_client=http, max_retries=0, **kw)


def parse_anthropic(body: bytes) -> anthropic.types.Message:
    with (
        _client(anthropic.Anthropic, body) as client,
        client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        for _ in stream:
            pass
        return stream.get_final_message()


def parse_responses(body: bytes) -> tuple[openai.types.responses.Response, dict[str, str]]:
    """The final response, and what the deltas reassemble to: "text", and
    each function call's arguments by item id."""
    pieces: dict[str, str] = {}
    with (
        _client(openai.OpenAI, body) as client,
        client.responses.stream(model="m", input="x") as stream,
    ):
        for event in stream:
            if event.type == "response.output_text.delta":
                pieces["text"] = pieces.get("text", "") + event.delta
            elif event.type == "response.function_call_arguments.delta":
                pieces[event.item_id] = pieces.get(event.item_id, "") + event.delta
        return stream.get_final_response(), pieces


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_both_streams_parse_with_the_sdks_and_agree(case: tuple) -> None:
    events, thought, text, calls = case
    message = parse_anthropic(_anthropic_bytes(events))
    blocks = [b for b in message.content]
    assert "".join(b.thinking for b in blocks if b.type == "thinking") == thought
    assert "".join(b.text for b in blocks if b.type == "text") == text
    uses = [b for b in blocks if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [(c["name"], c["input"]) for c in calls]
    assert message.stop_reason == ("tool_use" if calls else "end_turn")
    assert message.usage.output_tokens == 5
    # The same answer non-streamed: the same content.
    whole = anthropic_out.message(events, "m", 3)
    assert [b.model_dump(exclude_none=True) for b in blocks] == whole["content"]

    response, pieces = parse_responses(_responses_bytes(events))
    assert response.output_text == pieces.get("text", "") == text
    got = [(i.name, i.arguments) for i in response.output if i.type == "function_call"]
    assert got == [(c["name"], c["arguments"]) for c in calls]  # byte for byte
    streamed = [pieces.get(i.id, "") for i in response.output if i.type == "function_call"]
    assert streamed == [c["arguments"] for c in calls]  # the deltas alone, too
    summary = [s.text for i in response.output if i.type == "reasoning" for s in i.summary]
    assert "".join(summary) == thought
    non_stream = responses_out.response(responses_out.Builder({}, "m", 3), events)
    assert [i["type"] for i in non_stream["output"]] == [i.type for i in response.output]


def test_the_demo_answer_streams_the_same_through_both_apis() -> None:
    """The demo site's answer, cut the way the site streams it, as both APIs."""
    text = answer("demo-long", "say hello")
    events: list[Event] = [Text(t) for t in tokens(text)] + [Finish("stop")]
    message = parse_anthropic(_anthropic_bytes(events))
    response, pieces = parse_responses(_responses_bytes(events))
    assert message.content[0].text == response.output_text == pieces["text"] == text


def test_the_anthropic_events_come_in_the_api_order() -> None:
    events = [
        Text("a"),
        Text("b"),
        ToolStart(0, "c1", "f"),
        ToolArgs(0, "{}"),
        Finish("tool_calls"),
    ]
    body = _anthropic_bytes(events)
    kinds = [line[7:] for line in body.decode().splitlines() if line.startswith("event: ")]
    assert kinds == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_a_failure_mid_stream_is_an_error_event() -> None:
    stream = anthropic_out.Stream("m", 3)
    body = stream.start() + stream.feed(Text("par"))
    body += b"".join(stream.feed(e) for e in events_of_chunk(b'{"error": {"message": "gone"}}'))
    body += stream.finish()
    assert body.endswith(b'event: error\ndata: {"type":"error","error":{"type":"api_error",'
                         b'"message":"gone"}}\n\n')  # fmt: skip


@given(st.lists(st.text(max_size=12), max_size=6), st.data())
def test_the_sse_decoder_takes_any_split(datas: list[str], data: st.DataObject) -> None:
    eol = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    body = b"".join(
        b"event: x" + eol + b"data: " + d.replace("\n", " ").replace("\r", " ").encode() + eol + eol
        for d in datas
    )
    cuts = sorted(data.draw(st.sets(st.integers(0, len(body)), max_size=8)))
    decoder = SseDecoder()
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True):
        got += decoder.feed(body[a:b])
    got += decoder.close()
    assert got == [d.replace("\n", " ").replace("\r", " ").encode() for d in datas]


def _first_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """What a generation that stops at the first completed stop sequence shows."""
    found = [(i + len(s), i, n, s) for n, s in enumerate(stops) if (i := text.find(s)) != -1]
    if not found:
        return text, None
    _, at, _, stop = min(found)
    return text[:at], stop


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_stop_sequences_end_the_answer_the_same_streamed_or_not(data: st.DataObject) -> None:
    alphabet = st.sampled_from("ab🎉é")
    text = data.draw(st.text(alphabet, max_size=30))
    stops = data.draw(st.lists(st.text(alphabet, min_size=1, max_size=4), max_size=3))
    events: list[Event] = [Text(p) for p in _split(data.draw, text)] + [Finish("stop")]
    shown, stop = _first_stop(text, stops)
    stream = anthropic_out.Stream("m", 3, stops)
    body = stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()
    message = parse_anthropic(body)
    whole = anthropic_out.message(events, "m", 3, stops)
    streamed = "".join(b.text for b in message.content if b.type == "text")
    assert streamed == "".join(b["text"] for b in whole["content"]) == shown
    assert message.stop_sequence == whole["stop_sequence"] == stop
    assert message.stop_reason == whole["stop_reason"] == ("stop_sequence" if stop else "end_turn")


def test_an_answer_broken_off_fails_loudly_in_both_sdks() -> None:
    events: list[Event] = [Text("par"), *events_of_chunk(b'{"error": {"message": "gone"}}')]
    anthropic_stream = anthropic_out.Stream("m", 3)
    body = anthropic_stream.start() + b"".join(anthropic_stream.feed(e) for e in events)
    with pytest.raises(anthropic.APIStatusError, match="gone"):
        parse_anthropic(body + anthropic_stream.finish())
    responses_stream = responses_out.Stream(responses_out.Builder({}, "m", 3))
    body = responses_stream.start() + b"".join(responses_stream.feed(e) for e in events)
    body += responses_stream.finish()
    assert b"event: error\n" in body and b"event: response.failed\n" in body
    assert b"response.completed" not in body
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        parse_responses(body)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.lists(st.text(st.sampled_from('ab🎉{"'), min_size=1, max_size=3), max_size=2))
def test_streamed_and_whole_messages_agree_with_stop_sequences(case: tuple, stops: list) -> None:
    events = case[0]
    stream = anthropic_out.Stream("m", 3, stops)
    body = stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()
    message = parse_anthropic(body)
    whole = anthropic_out.message(events, "m", 3, stops)
    assert [b.model_dump(exclude_none=True) for b in message.content] == whole["content"]
    assert (message.stop_reason, message.stop_sequence) == (
        whole["stop_reason"],
        whole["stop_sequence"],
    )
