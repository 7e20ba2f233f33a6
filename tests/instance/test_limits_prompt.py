"""Client-side stop/max_tokens, and messages -> prompt (pure parsers)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from instance_runner import prompt
from instance_runner.limits import Limiter


def feed_all(limiter: Limiter, pieces: list[str]) -> str:
    out = []
    for piece in pieces:
        out.append(limiter.feed(piece))
        if limiter.finish_reason:
            return "".join(out)
    out.append(limiter.flush())
    return "".join(out)


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]


@given(
    st.text(alphabet="abc XY", max_size=60),
    st.text(alphabet="abcXY", min_size=1, max_size=4),
    st.lists(st.integers(0, 100), max_size=8),
)
def test_stop_sequence_cuts_exactly_however_the_stream_is_split(
    text: str, stop: str, cuts: list[int]
) -> None:
    got = feed_all(Limiter([stop]), split(text, cuts))
    expected = text[: text.index(stop)] if stop in text else text
    assert got == expected


@given(st.text(max_size=80), st.integers(1, 30), st.lists(st.integers(0, 100), max_size=8))
def test_max_tokens_caps_the_length(text: str, max_tokens: int, cuts: list[int]) -> None:
    limiter = Limiter(None, max_tokens)
    got = feed_all(limiter, split(text, cuts))
    assert got == text[: max_tokens * 4]
    if len(text) > max_tokens * 4:
        assert limiter.finish_reason == "length"


def test_a_lone_user_message_is_sent_as_is() -> None:
    assert prompt.build([prompt.Message("user", "hello")]) == "hello"


def test_conversation_becomes_a_transcript_with_text_parts() -> None:
    messages = [
        prompt.Message("system", "Be brief."),
        prompt.Message("user", [prompt.Part("text", "look"), prompt.Part("image_url")]),
        prompt.Message("assistant", "ok"),
        prompt.Message("user", "again"),
    ]
    assert (
        prompt.build(messages) == "System: Be brief.\n\nUser: look\n\nAssistant: ok\n\nUser: again"
    )
