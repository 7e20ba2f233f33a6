"""Is there anything a chat page would send? And where JSON text hides a
lone UTF-16 surrogate.

A chat page trims its input (`String.prototype.trim()`, whitespace
collapsed) and sends nothing when nothing is left; Python's `strip()` keeps
U+FEFF, so a prompt of only U+FEFF passed the router's check, the page sent
nothing, and every try stalled into a 504 that opened breakers. `visible` is
the one rule, used by the front router and by each instance: a text is
visible when something is left after removing

- whitespace: JavaScript's `\\s` set (U+FEFF, U+00A0, U+1680, U+2000-200A,
  U+2028/2029, U+202F, U+205F, U+3000, ...) and Python's (U+001C-001F, U+0085);
- control characters (category Cc) and format characters (category Cf: zero
  width space and joiners, U+2060, soft hyphen, bidi marks, tags, ...);
- the other default-ignorable code points (Unicode's
  Default_Ignorable_Code_Point: U+034F, Hangul fillers, variation selectors,
  ...), which render as nothing.

Pure, and C speed: one regular expression search for the first visible
character.
"""

from __future__ import annotations

import re

# Category Cf (Unicode 14, Python 3.11's unicodedata; tests/router/test_text.py
# checks this table against unicodedata, so a newer Python says when it moved).
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Default_Ignorable_Code_Point beyond Cf (DerivedCoreProperties.txt).
_IGNORABLE = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u2065\u3164\ufe00-\ufe0f"
    "\uffa0\ufff0-\ufff8\U000e0000-\U000e0fff"
)
_CONTROL = "\x00-\x1f\x7f-\x9f"
# Python's \s is str.isspace(); JavaScript's adds only U+FEFF (in _FORMAT).
_SHOWN = re.compile(f"[^\\s{_CONTROL}{_FORMAT}{_IGNORABLE}]")

# A \uXXXX escape in JSON text: preceded by an even number of backslashes.
_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u([dD][89a-fA-F][0-9a-fA-F]{2})")


def visible(text: str) -> bool:
    """True when `text` has a character a chat page would send and show."""
    return _SHOWN.search(text) is not None


def lone_surrogate(body: bytes) -> tuple[int, str] | None:
    """The first `\\uD800`-`\\uDFFF` escape in JSON text that is not half of a
    pair (a high one followed at once by a low one): (byte offset of the
    backslash, the escape as written), or None. Strings cannot hold one, and
    decoders say odd things about it (msgspec: "Input data was truncated")."""
    pos = 0
    while (m := _ESCAPE.search(body, pos)) is not None:
        start = m.end() - 6
        unit = int(m.group(1), 16)
        if unit >= 0xDC00:  # a low one with no high one before it
            return start, body[start : m.end()].decode()
        low = body[m.end() : m.end() + 6]
        if not (
            len(low) == 6
            and low[:2] == b"\\u"
            and low[2:3] in b"dD"
            and low[3:4] in b"cdefCDEF"
            and all(c in b"0123456789abcdefABCDEF" for c in low[4:])
        ):
            return start, body[start : m.end()].decode()
        pos = m.end() + 6  # the pair is fine: go on after its low half
    return None


def malformed_json(body: bytes, exc: Exception) -> str:
    """What to tell a client whose body did not decode: a lone surrogate by
    name, else the decoder's own words."""
    lone = lone_surrogate(body)
    if lone is None:
        return f"malformed JSON: {exc}"
    at, escape = lone
    return (
        f"malformed JSON: invalid {escape} escape at byte {at}: a lone UTF-16 surrogate "
        "(a high surrogate \\uD800-\\uDBFF must be followed by a low one \\uDC00-\\uDFFF)"
    )
