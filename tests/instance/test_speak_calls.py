"""Tool calls out of answers (pure parsers): every form models write,
arbitrary text around them, arbitrary chunk splits of a streamed answer."""

from __future__ import annotations

import json

from hypothesis import assume, given
from hypothesis import strategies as st

from instance_runner.speak import toolcalls
from instance_runner.speak.streamcalls import CallSplitter
from instance_runner.speak.toolcalls import parse

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
SCALARS = st.one_of(st.integers(-1000, 1000), st.text(max_size=12), st.booleans(), st.none())
ARGS = st.dictionaries(st.text(min_size=1, max_size=8), SCALARS, max_size=4)
CALLS = st.tuples(NAMES, ARGS)


def _plain(text: str) -> bool:
    """Text that does not itself open a call or a fence."""
    return not any(t in text for t in ("<tool_call", "</tool_call", "```", "{"))


PROSE = st.text(max_size=40).filter(_plain)


def render(form: str, calls: list[tuple[str, dict]]) -> str:
    items = [{"name": n, "arguments": a} for n, a in calls]
    if form == "tag":
        return "".join(f"<tool_call>\n{json.dumps(i)}\n</tool_call>" for i in items)
    if form == "fence":
        return "```json\n" + json.dumps({"tool_calls": items}) + "\n```"
    if form == "fence_call":
        return "".join(f"```tool_call\n{json.dumps(i)}\n```" for i in items)
    # OpenAI's own shape, arguments as JSON text
    wrapped = [
        {"type": "function", "function": {"name": n, "arguments": json.dumps(a)}} for n, a in calls
    ]
    return json.dumps({"tool_calls": wrapped})


FORMS = st.sampled_from(["tag", "fence", "fence_call", "object"])


@given(PROSE, st.lists(CALLS, min_size=1, max_size=3), PROSE, FORMS)
def test_calls_are_found_in_any_form_with_text_kept_around_them(
    before: str, calls: list[tuple[str, dict]], after: str, form: str
) -> None:
    assume(not before.endswith("`"))  # "````json" is a longer fence, not prose and a fence
    parsed = parse(before + render(form, calls) + after)
    assert [(c.name, c.arguments) for c in parsed.calls] == calls
    assert all(not c.problem for c in parsed.calls)
    assert parsed.content == before + after


@given(PROSE)
def test_prose_is_all_content(text: str) -> None:
    assert parse(text) == toolcalls.Parsed(text, [])


def test_a_bare_call_object_is_a_call_only_as_the_whole_answer() -> None:
    call = '{"name": "f", "arguments": {"x": 1}}'
    assert [c.name for c in parse(f"  {call}\n").calls] == ["f"]
    assert parse(f"say {call}").calls == []


def test_a_json_fence_that_is_no_call_stays_content() -> None:
    text = 'Here:\n```json\n{"a": 1}\n```\nbye'
    assert parse(text) == toolcalls.Parsed(text, [])


def test_an_unreadable_call_block_is_a_broken_call() -> None:
    parsed = parse("ok <tool_call>{name: f}</tool_call>")
    assert parsed.content == "ok "
    assert parsed.calls[0].problem and parsed.calls[0].raw == "{name: f}"
    bad_args = parse('<tool_call>{"name": "f", "arguments": "{oops"}</tool_call>')
    assert bad_args.calls[0].problem == "its arguments are not JSON"


def test_a_closing_marker_inside_an_argument_does_not_end_the_call() -> None:
    args = {"code": "```py\nx = 1\n```", "html": "</tool_call>"}
    for form in ("tag", "fence", "fence_call"):
        parsed = parse("a " + render(form, [("f", args)]) + " b")
        assert [(c.name, c.arguments) for c in parsed.calls] == [("f", args)], form
        assert parsed.content == "a  b"


def test_json_that_is_no_call_in_a_call_block_is_a_broken_call() -> None:
    for text in ('<tool_call>{"x": 1}</tool_call>', '```tool_call\n{"x": 1}\n```'):
        [call] = parse(text).calls
        assert call.problem and call.raw == '{"x": 1}'


def test_an_unclosed_tag_at_the_end_counts_when_its_json_is_whole() -> None:
    parsed = parse('go <tool_call>\n{"name": "f", "arguments": {}}\n')
    assert [c.name for c in parsed.calls] == ["f"] and parsed.content == "go "
    assert parse("I use <tool_call> tags").calls == []


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]


ANSWERS = st.one_of(
    st.builds(
        lambda b, c, a, f: b + render(f, c) + a,
        PROSE,
        st.lists(CALLS, min_size=1, max_size=2),
        PROSE,
        FORMS,
    ),
    st.builds(lambda b, a: b + '```json\n{"a": [1]}\n```' + a, PROSE, PROSE),
    st.builds(lambda c: json.dumps({"name": c[0], "arguments": c[1]}), CALLS),
    st.text(max_size=60),  # anything at all, braces and backticks included
)


@given(ANSWERS, st.lists(st.integers(0, 400), max_size=12))
def test_streamed_in_any_pieces_it_comes_out_as_the_whole_parse(text: str, cuts: list[int]) -> None:
    splitter = CallSplitter()
    sent = "".join(splitter.feed(piece) for piece in split(text, cuts))
    rest = splitter.finish()
    whole = parse(text)
    assert sent + rest.content == whole.content
    assert rest.calls == whole.calls


@given(PROSE.filter(lambda t: t.strip() and t[-1:] not in "<`"), st.lists(st.integers(0, 99)))
def test_prose_streams_at_once(text: str, cuts: list[int]) -> None:
    splitter = CallSplitter()
    pieces = split(text, cuts)
    sent = ""
    for i, piece in enumerate(pieces):
        sent += splitter.feed(piece)
        so_far = "".join(pieces[: i + 1])
        if so_far.strip():  # only a possible call start waits: a `<` tail
            assert len(so_far) - len(sent) <= len(toolcalls.OPEN_TAG)
    assert sent == text


def test_text_before_a_call_streams_and_the_call_waits() -> None:
    splitter = CallSplitter()
    assert splitter.feed("Let me look. <tool") == "Let me look. "
    assert splitter.feed('_call>{"name": "f", "arguments": {}}</tool_call> then') == ""
    rest = splitter.finish()
    assert rest.content == " then" and [c.name for c in rest.calls] == ["f"]
