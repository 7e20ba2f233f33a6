"""The deepseek decoder (chat.deepseek.com's patch-by-path SSE) on any chunking."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from instance_runner.sites.decoders import Event
from tests import site_kit
from tests.site_kit import joined, split_at

# The shapes of gpt4free's deepseek/stream.py and WebAI2API's
# deepseek_text.js: a snapshot, a THINK fragment with path appends and bare
# continuations, a RESPONSE fragment, a batch, the status, close.
SAMPLE = "\n".join(
    [
        "event: ready",
        'data: {"request_message_id":1,"response_message_id":2}',
        "",
        'data: {"v":{"response":{"message_id":2,"status":"WIP","fragments":[]}}}',
        "",
        'data: {"p":"response/fragments","o":"APPEND",'
        '"v":[{"id":1,"type":"THINK","content":"Hm"}]}',
        "",
        'data: {"p":"response/fragments/-1/content","o":"APPEND","v":"m, caf\u00e9"}',
        "",
        'data: {"v":" \u2713"}',
        "",
        'data: {"p":"response/fragments/-1/elapsed_secs","o":"SET","v":1.5}',
        "",
        'data: {"p":"response/fragments","o":"APPEND",'
        '"v":[{"id":2,"type":"RESPONSE","content":"## Hi"}]}',
        "",
        'data: {"p":"response/fragments/-1/content","v":"\\n\\n- a \U0001f600"}',
        "",
        'data: {"v":"\\n```py\\nx\\n```\\n"}',
        "",
        ": keep-alive",
        "",
        'data: {"p":"response","o":"BATCH","v":[{"p":"accumulated_token_usage","v":9},'
        '{"p":"quasi_status","v":"FINISHED"}]}',
        "",
        'data: {"p":"response/status","o":"SET","v":"FINISHED"}',
        "",
        "event: close",
        'data: {"click_behavior":"none","auto_resume":false}',
        "",
        "",
    ]
).encode()


def decode_all(chunks: list[bytes]) -> list[Event]:
    return site_kit.decode_all("deepseek", chunks)


def test_thinking_and_answer_are_told_apart() -> None:
    events = decode_all([SAMPLE])
    assert joined(events, "reasoning") == "Hmm, café ✓"
    assert joined(events, "text") == "## Hi\n\n- a 😀\n```py\nx\n```\n"
    finishes = [e for e in events if e.kind == "finish"]
    assert finishes == [Event("finish", data={"reason": "stop"})]  # the batch's quasi_status
    assert [e.kind for e in events].count("heartbeat") == 1


def test_a_fragment_in_the_snapshot_and_by_index() -> None:
    body = (
        b'data: {"v":{"response":{"status":"WIP","fragments":['
        b'{"type":"THINK","content":"t"},{"type":"SEARCH","content":"s"}]}}}\n\n'
        b'data: {"p":"response/fragments/0/content","o":"APPEND","v":"1"}\n\n'
        b'data: {"p":"response/fragments/-1/content","o":"APPEND","v":"search, not text"}\n\n'
        b'data: {"v":{"response":{"status":"FINISHED",'
        b'"fragments":[{"type":"RESPONSE","content":"x"}]}}}\n\n'
    )
    events = decode_all([body])
    assert joined(events, "reasoning") == "t1"
    assert joined(events, "text") == "x"
    assert events[-1] == Event("finish", data={"reason": "stop"})


def test_a_business_error_envelope_is_an_error() -> None:
    busy = "服务器繁忙\uff0c请稍后再试\u3002"  # "server busy, try again later"
    envelope = {"code": 0, "msg": "", "data": {"biz_code": 3, "biz_msg": busy, "biz_data": None}}
    events = decode_all([json.dumps(envelope, ensure_ascii=False).encode()])
    assert events == [Event("error", busy, data={"code": "3"})]
    bad = decode_all([b'{"code":40003,"msg":"Authorization Failed","data":null}\n'])
    assert bad == [Event("error", "Authorization Failed", data={"code": "40003"})]
    assert decode_all([b'{"code":0,"msg":"","data":{"biz_code":0}}']) == [
        Event("finish", data={"reason": "stop"})
    ]


def test_a_stream_cut_short_still_finishes_once() -> None:
    events = decode_all([SAMPLE[: SAMPLE.index(b"event: close")]])
    assert [e.kind for e in events].count("finish") == 1


@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert decode_all(split_at(SAMPLE, cuts)) == decode_all([SAMPLE])


def test_every_split_point_multibyte_characters_included() -> None:
    site_kit.every_split_gives_the_same("deepseek", SAMPLE)
