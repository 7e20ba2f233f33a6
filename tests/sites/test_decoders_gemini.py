"""The gemini decoder (StreamGenerate's length-prefixed frames of cumulative
answers) on any chunking, multi-byte characters included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from instance_runner.sites.decoders import Event
from tests import site_kit
from tests.replicas.gemini import answers
from tests.site_kit import joined, split_at

THOUGHTS = "**Plan** — naïve ✓ 🤔"
TEXT = "## Hi 😀\n\n- a é\n\n```py\nx = '日本'\n```\n\nend 👍🏽"


def decode_all(chunks: list[bytes]) -> list[Event]:
    return site_kit.decode_all("gemini", chunks)


SAMPLE = b"".join(answers.body("c_1", THOUGHTS, TEXT))


def test_whole_body_gives_thoughts_then_text_then_one_finish() -> None:
    events = decode_all([SAMPLE])
    assert joined(events, "reasoning") == THOUGHTS
    assert joined(events, "text") == TEXT
    assert [e.kind for e in events].count("finish") == 1 and events[-1].kind == "finish"
    kinds = [e.kind for e in events if e.kind != "finish"]
    assert kinds.index("text") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    assert sum(1 for e in events if e.kind == "text") > 3  # streamed, not at the end


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert decode_all(split_at(SAMPLE, cuts)) == decode_all([SAMPLE])


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=60),
    st.text(max_size=40),
    st.lists(st.integers(min_value=0, max_value=5_000), max_size=20),
)
def test_any_text_round_trips_on_any_chunking(text: str, thoughts: str, cuts: list[int]) -> None:
    data = b"".join(answers.body("c", thoughts, text))
    events = decode_all(split_at(data, cuts))
    assert joined(events, "text") == text and joined(events, "reasoning") == thoughts


def test_every_byte_split_of_a_four_byte_character_and_a_length_line() -> None:
    data = b"".join(answers.body("c", "", "a😀b"))
    for i in range(len(data) + 1):
        events = decode_all([data[:i], data[i:]])
        assert joined(events, "text") == "a😀b", i


def test_the_fence_the_page_takes_back_is_never_sent() -> None:
    events = decode_all([SAMPLE])
    texts = [e.text for e in events if e.kind == "text"]
    so_far = ""
    for piece in texts:
        so_far += piece
        assert TEXT.startswith(so_far)  # no piece is taken back later


def test_usage_limit_is_an_error_event_naming_1037() -> None:
    data = b")]}'\n" + answers.frame([answers.error(1037)])
    events = decode_all([data])
    assert events == [Event("error", "Gemini: usage limit exceeded (1037)", {"code": "1037"})]


def test_an_unknown_code_still_fails_and_stops_the_answer() -> None:
    head = answers.frame([answers.wrb("c", [answers.candidate("partial", "", False)])])
    data = b")]}'\n" + head + answers.frame([answers.error(4242)])
    events = decode_all([data])
    assert [e.kind for e in events] == ["text", "error"]
    assert events[-1].text == "Gemini: error code 4242"


def test_envelopes_without_an_answer_are_skipped() -> None:
    data = b")]}'\n" + answers.frame([["di", 70], ["af.httprm", 70, "-1", 4], ["e", 4]])
    assert decode_all([data]) == [Event("finish", data={"reason": "stop"})]


def test_a_rewritten_answer_goes_on_after_the_part_both_share() -> None:
    """The page takes back a few characters it showed (Gemini-API
    get_delta_by_fp_len aligns on what both end alike in): nothing is sent
    twice, and the rest follows the realigned part."""
    first = answers.frame([answers.wrb("c", [answers.candidate("Hello wor", "", False)])])
    final = answers.frame([answers.wrb("c", [answers.candidate("Hello, world!", "", True)])])
    events = decode_all([b")]}'\n" + first + final])
    assert [e.text for e in events if e.kind == "text"] == ["Hello wor", "ld!"]
