"""The prefix-lines decoder (LMArena's create-evaluation stream) on any chunking."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from instance_runner.sites.decoders import DECODERS, Event
from instance_runner.sites.decoders.prefix_lines import PrefixLinesDecoder

# A recorded-shape exchange (format from gpt4free's LMArena.py and
# WebAI2API's lmarena_text.js): reasoning, heartbeat, text, finish.
SAMPLE = (
    b'ag:"Let me think"\n'
    b'a2:[{"type":"heartbeat"}]\n'
    b'a0:"Hello"\n'
    b'a0:" w\xc3\xb6rld \xf0\x9f\x8c\x8d\\n"\n'
    b'b0:"model B, ignored"\n'
    b'ac:{"toolCallId":"x"}\n'
    b'ad:{"finishReason":"stop","usage":{"promptTokens":3,"completionTokens":2}}\n'
)


def decode_all(chunks: list[bytes]) -> list[Event]:
    decoder = DECODERS["prefix-lines"](None)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.close()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


def test_sample_decodes_to_each_kind() -> None:
    events = decode_all([SAMPLE])
    assert [e.kind for e in events] == ["reasoning", "heartbeat", "text", "text", "finish"]
    assert events[0].text == "Let me think"
    assert events[3].text == " wörld 🌍\n"
    assert events[4].data == {
        "reason": "stop",
        "usage": {"promptTokens": 3, "completionTokens": 2},
    }


def test_split_inside_a_multibyte_character() -> None:
    cut = SAMPLE.index(b"\xf0\x9f") + 2  # between the 2nd and 3rd byte of the emoji
    assert decode_all([SAMPLE[:cut], SAMPLE[cut:]]) == decode_all([SAMPLE])
    cut = SAMPLE.index(b"\xc3\xb6") + 1  # inside the two-byte 'ö'
    assert decode_all([SAMPLE[:cut], SAMPLE[cut:]]) == decode_all([SAMPLE])


def test_errors_images_and_framing() -> None:
    events = decode_all(
        [
            b'data: a0:"framed"\r\n',
            b'a0:"hasArenaError"\n',
            b'a3:"An error occurred"\n',
            b'a3:{"message":"boom"}\n',
            b'ae:{"message":"blocked by moderation"}\n',
            b'a3:{"code":1}\n',
            b'a2:[{"type":"image","image":"https://x/y.png"}]\n',
            b"a0:not json\n",
            b"\n",
            b'ad:{"finishReason":"length"}',  # no newline at the end: close() has it
        ]
    )
    assert [(e.kind, e.text) for e in events] == [
        ("text", "framed"),
        ("error", "the site reported an error (hasArenaError)"),
        ("error", "An error occurred"),
        ("error", "boom"),
        ("error", "blocked by moderation"),
        ("error", '{"code":1}'),
        ("text", "![image](https://x/y.png)"),
        ("finish", ""),
    ]
    assert events[-1].data == {"reason": "length"}


def test_prefixes_come_from_the_options() -> None:
    class Options:
        prefixes = {"0": "text", "g": "reasoning", "d": "finish"}

    decoder = PrefixLinesDecoder(Options())
    events = decoder.feed(b'g:"hm"\n0:"hi"\na0:"not mine"\nd:{}\n') + decoder.close()
    assert [(e.kind, e.text) for e in events] == [
        ("reasoning", "hm"),
        ("text", "hi"),
        ("finish", ""),
    ]


def test_a_stream_cut_short_still_finishes_once() -> None:
    assert decode_all([b'a0:"partial"']) == [
        Event("text", "partial"),
        Event("finish", data={"reason": "stop"}),
    ]


records = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["a0", "ag", "a3", "b0"]), st.text(min_size=1)),
        st.tuples(st.just("a2"), st.just("heartbeat")),
    ),
    max_size=12,
)


@given(records, st.lists(st.integers(min_value=0), max_size=20))
def test_any_chunking_gives_the_same_events(recs: list[tuple[str, str]], cuts: list[int]) -> None:
    lines = []
    for prefix, text in recs:
        payload = [{"type": "heartbeat"}] if prefix == "a2" else text
        lines.append(prefix.encode() + b":" + msgspec.json.encode(payload) + b"\n")
    lines.append(b'ad:{"finishReason":"stop"}\n')
    wire = b"".join(lines)
    whole = decode_all([wire])
    assert decode_all(split_at(wire, cuts)) == whole
    # every record comes back, in order, with its exact text
    expected = []
    for prefix, text in recs:
        if prefix == "a0":
            expected.append(("text", text) if text != "hasArenaError" else ("error", None))
        elif prefix == "ag":
            expected.append(("reasoning", text))
        elif prefix == "a3":
            expected.append(("error", text))
        elif prefix == "a2":
            expected.append(("heartbeat", ""))
    expected.append(("finish", ""))
    assert len(whole) == len(expected)
    pairs = zip(whole, expected, strict=True)
    got = [(e.kind, e.text if want is not None else None) for e, (_, want) in pairs]
    assert got == expected


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0), max_size=10))
def test_garbage_never_raises(data: bytes, cuts: list[int]) -> None:
    assert decode_all(split_at(data, cuts)) == decode_all([data])
