"""common/text.py: the one "would a chat page send this?" rule, and lone
surrogate escapes found in JSON text. Pure functions, property-tested."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.text import lone_surrogate, visible

# What String.prototype.trim() removes (ECMA-262 WhiteSpace + LineTerminator).
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
JS_WHITESPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NAMED = "\u200b\u200c\u200d\u2060\u00ad\u180e\u2061\u034f\ufe0f\u3164\U000e0041"


def invisible_by_unicodedata(ch: str) -> bool:
    return ch.isspace() or ch in JS_WHITESPACE or unicodedata.category(ch) in ("Cc", "Cf")


invisible_chars = st.sampled_from(JS_WHITESPACE + NAMED) | st.characters(
    categories=("Cc", "Cf", "Zs", "Zl", "Zp")
)


def test_every_format_control_and_space_character_is_invisible() -> None:
    """The hard-coded Cf table against this Python's unicodedata, exhaustively."""
    missed = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and invisible_by_unicodedata(chr(cp)) and visible(chr(cp))
    ]
    assert missed == []


@pytest.mark.parametrize("ch", list(JS_WHITESPACE + NAMED))
def test_what_a_page_would_drop_is_not_visible(ch: str) -> None:
    assert not visible(ch * 3)
    assert visible(ch + "a" + ch)


@given(st.text(invisible_chars))
def test_only_invisible_characters_are_never_visible(text: str) -> None:
    assert not visible(text)


@given(st.text(), st.characters(categories=("L", "N", "P", "S")), st.text())
def test_a_letter_digit_or_sign_anywhere_is_visible(before: str, ch: str, after: str) -> None:
    if _default_ignorable(ch):  # the Hangul fillers are letters that show nothing
        return
    assert visible(before + ch + after)


@given(st.text(), st.text())
def test_visible_is_any_visible_part(a: str, b: str) -> None:
    assert visible(a + b) == (visible(a) or visible(b))


@given(st.text())
def test_visible_agrees_with_the_per_character_oracle(text: str) -> None:
    expected = any(
        not (invisible_by_unicodedata(ch) or unicodedata.category(ch) == "Cf")
        and not _default_ignorable(ch)
        for ch in text
    )
    assert visible(text) == expected


def _default_ignorable(ch: str) -> bool:
    cp = ord(ch)
    return cp in (0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180F, 0x2065, 0x3164, 0xFFA0) or (
        0x180B <= cp <= 0x180D
        or 0xFE00 <= cp <= 0xFE0F
        or 0xFFF0 <= cp <= 0xFFF8
        or 0xE0000 <= cp <= 0xE0FFF
    )


# ---------------------------------------------------------------- surrogates


@given(st.text())
def test_json_of_any_string_has_no_lone_surrogate(text: str) -> None:
    assert lone_surrogate(json.dumps(text).encode()) is None  # pairs for astral chars
    assert lone_surrogate(json.dumps(text, ensure_ascii=False).encode("utf-8", "replace")) is None


@given(st.text(), st.integers(0xD800, 0xDFFF), st.text())
def test_a_lone_surrogate_escape_is_found_where_it_is(a: str, unit: int, b: str) -> None:
    head = json.dumps(a)[:-1].encode()  # '"a' without its closing quote
    escape = f"\\u{unit:04x}"
    tail = json.dumps(b)[1:].encode()
    if 0xD800 <= unit < 0xDC00 and tail.startswith(b"\\ud") and tail[4:5] in b"cdef":
        return  # b began with a low surrogate escape: a valid pair after all
    body = head + escape.encode() + tail
    assert lone_surrogate(body) == (len(head), escape)


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b'"\\ud800"', (1, "\\ud800")),
        (b'"\\uD83D\\uDE00"', None),  # a pair
        (b'"\\\\ud800"', None),  # an escaped backslash, then text
        (b'"\\\\\\ud800"', (3, "\\ud800")),
        (b'"\\udc00\\ud800"', (1, "\\udc00")),
        (b'"\\ud800\\u0041"', (1, "\\ud800")),
        (b'"\\ud800\\ud800"', (1, "\\ud800")),
        (b'"\\ud800', (1, "\\ud800")),
    ],
)
def test_surrogate_escapes(raw: bytes, found: tuple[int, str] | None) -> None:
    assert lone_surrogate(raw) == found
