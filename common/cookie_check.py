"""Would Chromium take this cookie? A pure check of a storage_state's cookies.

Playwright and Chromium refuse a whole storage_state for one bad cookie, and
only when the browser context is made: the runner then exits, is restarted,
launches Chromium again, and ends FATAL "Exited too quickly" without saying
which profile or which cookie. mictld checks each cookie where it checks
profiles (before a copy is made, in `--dry-run`) and the runner checks again
before it launches anything, naming the cookie by index and name, never by
value.

The rules, each seen refused by the Chromium and Playwright mictl runs
(tests/instance/test_cookie_check.py tries them in a real browser):
- Playwright's protocol: `sameSite` one of Strict, Lax, None; `expires` a
  number, `httpOnly` and `secure` booleans;
- Playwright's `rewriteCookies`: a domain and a path (not empty); `expires`
  -1 (a session cookie) or from 0 to 253402300799 (9999-12-31);
- Chromium's `CanonicalCookie`: no control character (0x00-0x1F, 0x7F) and
  no ';' in the name or the value, no '=' in the name, not both empty, name
  and value at most 4096 bytes together, a path that starts with '/', a
  domain of at most 1024 bytes.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from common.files import read_regular

SAME_SITE = ("Strict", "Lax", "None")
MAX_EXPIRES = 253402300799  # Playwright's kMaxCookieExpiresDateInSeconds
MAX_NAME_VALUE = 4096  # Chromium: name + value, in bytes
MAX_ATTRIBUTE = 1024  # Chromium: a domain or a path, in bytes
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f;]")


def cookie_problem(cookie: Any) -> str | None:
    """What Chromium or Playwright would refuse in one storage_state cookie
    (never quoting its value), or None."""
    if not isinstance(cookie, dict):
        return "not an object"
    name, value = cookie.get("name"), cookie.get("value")
    if not isinstance(name, str) or not isinstance(value, str):
        return "name and value must be strings"
    for field, kind in (("domain", str), ("path", str), ("expires", float)):
        got = cookie.get(field)
        if field == "expires" and got is None:
            continue
        if kind is float and (isinstance(got, bool) or not isinstance(got, int | float)):
            return f"expires must be a number (got {_shown(got)})"
        if kind is str and not isinstance(got, str):
            return f"{field} must be a string"
    for field in ("httpOnly", "secure"):
        if field in cookie and not isinstance(cookie[field], bool):
            return f"{field} must be true or false (got {_shown(cookie[field])})"
    same_site = cookie.get("sameSite")
    if same_site is not None and same_site not in SAME_SITE:
        return f"sameSite must be Strict, Lax or None (got {_shown(same_site)})"
    domain, path = cookie["domain"], cookie["path"]
    if not domain:
        return "empty domain"
    if len(domain.encode()) > MAX_ATTRIBUTE or _BAD_CHARS.search(domain):
        return "domain too long or with a control character"
    if not path.startswith("/"):
        return "path must start with '/'"
    if len(path.encode()) > MAX_ATTRIBUTE or _BAD_CHARS.search(path):
        return "path too long or with a control character"
    expires = cookie.get("expires")
    if expires is not None and not (
        expires == -1 or (math.isfinite(expires) and 0 <= expires <= MAX_EXPIRES)
    ):
        return f"expires must be -1 or a time from 0 to {MAX_EXPIRES} (got {expires:g})"
    if not name and not value:
        return "empty name and value"
    if _BAD_CHARS.search(name) or "=" in name:
        return "name holds a control character, ';' or '='"
    if _BAD_CHARS.search(value):
        return "value holds a control character or ';'"
    if len(name.encode()) + len(value.encode()) > MAX_NAME_VALUE:
        return f"name and value longer than {MAX_NAME_VALUE} bytes"
    return None


def first_bad_cookie(cookies: Any) -> str | None:
    """'cookie #3 "sid": empty domain' for the first cookie Chromium would
    refuse (and how many more), or None when all are fine."""
    if not isinstance(cookies, list):
        return "cookies must be a list"
    bad = [(i, c, why) for i, c in enumerate(cookies) if (why := cookie_problem(c))]
    if not bad:
        return None
    index, cookie, why = bad[0]
    name = cookie.get("name") if isinstance(cookie, dict) else None
    label = f"cookie #{index}" + (f" {_shown(name)}" if isinstance(name, str) else "")
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{label}: {why}{more}; Chromium would refuse the whole profile"


def profile_problem(data: bytes) -> str | None:
    """What is wrong with a storage_state file's bytes, or None."""
    try:
        state = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(state, dict):
        return "not a Playwright storage_state (not an object)"
    return first_bad_cookie(state.get("cookies", []))


def file_problem(path: str, limit: int = 16 * 2**20) -> str | None:
    """profile_problem of the file at `path` (never blocking on a FIFO)."""
    try:
        return profile_problem(read_regular(path, limit))
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"


def _shown(x: Any) -> str:
    """A name or an attribute for a message: quoted, escaped, cut short."""
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."
