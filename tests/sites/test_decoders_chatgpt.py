"""The chatgpt decoder (chatgpt.com's delta-encoded "v1" SSE) on any chunking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from instance_runner.sites.decoders import Event
from tests import site_kit
from tests.replicas.chatgpt.answers import answer, events, thinking
from tests.site_kit import joined, split_at

# The shapes of chat2api's stream_v1.py and WebAI2API's chatgpt_text.js: the
# encoding's name, a user message echoed, a thoughts message, the answer
# added, appended by path, bare continuations, a patch list, the end.
SAMPLE = "\n".join(
    [
        "event: delta_encoding",
        'data: "v1"',
        "",
        'data: {"type":"input_message","input_message":{"author":{"role":"user"},'
        '"content":{"content_type":"text","parts":["hi"]}},"conversation_id":"x"}',
        "",
        "event: delta",
        'data: {"p":"","o":"add","v":{"message":{"author":{"role":"assistant"},'
        '"content":{"content_type":"thoughts","thoughts":[{"summary":"s","content":"Hm"}]},'
        '"recipient":"all"},"conversation_id":"x"},"c":0}',
        "",
        "event: delta",
        'data: {"p":"/message/content/thoughts/0/content","o":"append","v":"m, caf\u00e9"}',
        "",
        'data: {"v":" \u2713"}',
        "",
        'data: {"p":"/message/content/thoughts","o":"append","v":[{"summary":"t","content":"!"}]}',
        "",
        'data: {"p":"","o":"patch","v":[{"p":"/message/status","o":"replace",'
        '"v":"finished_successfully"}]}',
        "",
        'data: {"p":"","o":"add","v":{"message":{"author":{"role":"assistant"},'
        '"content":{"content_type":"text","parts":["## Hi"]},"recipient":"all"}},"c":1}',
        "",
        'data: {"p":"/message/content/parts/0","o":"append","v":"\\n\\n- a \U0001f600"}',
        "",
        ": ping",
        "",
        'data: {"v":"\\n```py\\nx\\n```"}',
        "",
        'data: {"p":"","o":"patch","v":[{"p":"/message/content/parts/0","o":"append","v":"\\n"},'
        '{"p":"/message/status","o":"replace","v":"finished_successfully"}]}',
        "",
        'data: {"type":"message_stream_complete","conversation_id":"x"}',
        "",
        "data: [DONE]",
        "",
        "",
    ]
).encode()


def decode_all(chunks: list[bytes]) -> list[Event]:
    return site_kit.decode_all("chatgpt", chunks)


def test_thoughts_and_answer_are_told_apart() -> None:
    found = decode_all([SAMPLE])
    assert joined(found, "reasoning") == "Hmm, café ✓!"
    assert joined(found, "text") == "## Hi\n\n- a 😀\n```py\nx\n```\n"
    assert [e for e in found if e.kind == "finish"] == [Event("finish", data={"reason": "stop"})]
    assert [e.kind for e in found].count("heartbeat") == 1


def test_the_replicas_own_stream_decodes_to_its_answer() -> None:
    body = b"".join(events(thinking("p"), answer("p", "o3"), "conv"))
    found = decode_all([body])
    assert joined(found, "text") == answer("p", "o3")
    assert joined(found, "reasoning") == thinking("p")


def test_a_tool_message_or_a_user_echo_is_not_text() -> None:
    body = (
        b'data: {"p":"","o":"add","v":{"message":{"author":{"role":"assistant"},'
        b'"content":{"content_type":"code","text":""},"recipient":"python"}},"c":0}\n\n'
        b'data: {"p":"/message/content/text","o":"append","v":"print(1)"}\n\n'
        b'data: {"p":"","o":"add","v":{"message":{"author":{"role":"assistant"},'
        b'"content":{"content_type":"text","parts":[""]},"recipient":"all"}},"c":1}\n\n'
        b'data: {"p":"/message/content/parts/0","o":"append","v":"ok"}\n\n'
        b"data: [DONE]\n\n"
    )
    found = decode_all([body])
    assert joined(found, "text") == "ok" and not joined(found, "reasoning")


def test_an_error_in_the_stream_or_a_detail_body_is_an_error() -> None:
    found = decode_all([b'data: {"error":"Something went wrong","code":"x"}\n\n'])
    assert found == [Event("error", "Something went wrong", data={"code": "x"})]
    limit = b'{"detail":"You\'ve reached our limit of messages per hour."}'
    assert decode_all([limit])[0].kind == "error"
    assert "limit of messages" in decode_all([limit])[0].text


def test_a_stream_cut_short_still_finishes_once() -> None:
    found = decode_all([SAMPLE[: SAMPLE.index(b"data: [DONE]")]])
    assert [e.kind for e in found].count("finish") == 1


@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert decode_all(split_at(SAMPLE, cuts)) == decode_all([SAMPLE])


def test_every_split_point_multibyte_characters_included() -> None:
    site_kit.every_split_gives_the_same("chatgpt", SAMPLE)
