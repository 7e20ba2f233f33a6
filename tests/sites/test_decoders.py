"""The answer-stream decoders: the same events whatever the chunking.

Every body is cut at arbitrary byte offsets (so also inside a multi-byte
character, an escape or a prefix) and fed piece by piece; the events must
equal those of the whole body fed at once, and spell the expected text.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from instance_runner.sites.decoders import DECODERS, Event, StreamOptions, make

# Text with multi-byte characters, quotes, backslashes, brackets and newlines.
texts = st.text(
    alphabet=st.sampled_from(list('ab \n"\\[]{},:é中😀\u2028'))
    | st.characters(exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
pieces = st.lists(st.tuples(st.sampled_from(["text", "reasoning"]), texts), max_size=8)


def feed_split(name: str, body: bytes, cuts: list[int], options: StreamOptions) -> list[Event]:
    decoder = make(name, options)
    events: list[Event] = []
    start = 0
    for cut in [*sorted({c % (len(body) + 1) for c in cuts}), len(body)]:
        events += decoder.feed(body[start:cut])
        start = cut
    return events + decoder.close()


def merged(events: list[Event]) -> list[tuple[str, str]]:
    """Adjacent pieces of one kind joined (chunking may split a text)."""
    out: list[tuple[str, str]] = []
    for e in events:
        if e.kind in ("text", "reasoning") and out and out[-1][0] == e.kind:
            out[-1] = (e.kind, out[-1][1] + e.text)
        else:
            out.append((e.kind, e.text))
    return out


def expected(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [*merged([Event(k, t) for k, t in items]), ("finish", "")]  # type: ignore[arg-type]


def aistudio_body(items: list[tuple[str, str]], prefix: bool) -> bytes:
    elements = []
    for kind, text in items:
        part = [None, text] if kind == "text" else [None, text, *[None] * 10, 1]
        elements.append([[[[[part], "model"]]]])
    elements.append([[[[[[None, ""]], "model"], 1]]])  # the finishing candidate
    body = "[" + ",\r\n".join(json.dumps(e, ensure_ascii=False) for e in elements) + "]"
    return ((")]}'\n" if prefix else "") + body).encode()


@given(pieces, st.lists(st.integers(0, 10_000), max_size=20), st.booleans())
def test_aistudio_any_split(items: list[tuple[str, str]], cuts: list[int], prefix: bool) -> None:
    body = aistudio_body(items, prefix)
    events = feed_split("aistudio", body, cuts, StreamOptions())
    assert events == feed_split("aistudio", body, [], StreamOptions())
    assert merged(events) == expected(items)


@given(pieces, st.lists(st.integers(0, 10_000), max_size=20))
def test_ndjson_any_split(items: list[tuple[str, str]], cuts: list[int]) -> None:
    options = StreamOptions(text_field="token", reasoning_field="thinking")
    lines = [json.dumps({"token" if k == "text" else "thinking": t}) for k, t in items]
    body = ("\n".join(lines) + "\n").encode()
    events = feed_split("ndjson", body, cuts, options)
    assert merged(events) == expected(items)


@given(pieces, st.lists(st.integers(0, 10_000), max_size=20), st.booleans())
def test_sse_any_split(items: list[tuple[str, str]], cuts: list[int], crlf: bool) -> None:
    options = StreamOptions(
        text_field="choices.0.delta.content", reasoning_field="choices.0.delta.reasoning_content"
    )
    nl = "\r\n" if crlf else "\n"
    frames = [": keep-alive" + nl + nl]
    for kind, text in items:
        key = "content" if kind == "text" else "reasoning_content"
        data = json.dumps({"choices": [{"delta": {key: text}}]}, ensure_ascii=False)
        frames.append(f"data: {data}{nl}{nl}")
    frames.append(f"data: [DONE]{nl}{nl}")
    body = "".join(frames).encode()
    events = feed_split("sse", body, cuts, options)
    assert events[0] == Event("heartbeat")
    assert merged(events[1:]) == expected(items)


@given(st.lists(st.integers(0, 200), max_size=10))
def test_aistudio_error_element_is_an_error_event(cuts: list[int]) -> None:
    error = {"code": 429, "message": "You've exceeded your quota", "status": "RESOURCE_EXHAUSTED"}
    body = json.dumps({"error": error}).encode()
    events = feed_split("aistudio", body, cuts, StreamOptions())
    assert events == [
        Event(
            "error",
            "You've exceeded your quota",
            {"status": 429, "code": "RESOURCE_EXHAUSTED"},
        )
    ]


def test_aistudio_finish_reason_and_function_call_part() -> None:
    call = [None, None, None, None, None, None, None, None, None, None, ["f", []]]
    body = json.dumps([[[[[[[None, "a"], call], "model"], 2]]]]).encode()
    events = feed_split("aistudio", body, [], StreamOptions())
    assert events == [Event("text", "a"), Event("finish", data={"reason": "length"})]


def test_a_character_split_inside_its_bytes_is_whole() -> None:
    body = aistudio_body([("text", "😀")], prefix=False)
    at = body.index("😀".encode()) + 2
    assert merged(feed_split("aistudio", body, [at], StreamOptions()))[0] == ("text", "😀")


def test_registry_names() -> None:
    assert {"ndjson", "sse", "aistudio"} <= set(DECODERS)
