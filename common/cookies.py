"""Cookie expiry in a Playwright storage_state: pure functions, no I/O.

mictld warns when a profile's session cookies expire soon; `mictl profile
check` lists the expiry dates. Never a cookie's value.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec


class CookieExpiry(msgspec.Struct, frozen=True):
    name: str
    domain: str
    expires: float | None  # seconds since the epoch; None: ends with the browser session


def expiries(cookies: Iterable[Mapping[str, Any]]) -> list[CookieExpiry]:
    """Name, domain and expiry of each cookie (storage_state or context.cookies())."""
    found = []
    for c in cookies:
        expires = c.get("expires", -1)
        if not isinstance(expires, int | float) or expires <= 0:
            expires = None
        found.append(CookieExpiry(str(c.get("name", "")), str(c.get("domain", "")), expires))
    return sorted(found, key=lambda e: (e.expires is None, e.expires or 0, e.name))


def expiring(
    state: Mapping[str, Any],
    now: float,
    window: float,
    names: Iterable[str] = (),
) -> list[CookieExpiry]:
    """The cookies of a storage_state that expire within `window` seconds of
    `now` (or already have). Only `names` when given, else every cookie that
    has an expiry date: a browser-session cookie never expires on a clock."""
    wanted = set(names)
    return [
        e
        for e in expiries(state.get("cookies") or [])
        if e.expires is not None and (not wanted or e.name in wanted) and e.expires < now + window
    ]


def when(expires: float | None, now: float | None = None) -> str:
    """'2026-12-04 10:00 UTC (in 2 days)', 'expired 3 hours ago', or 'session cookie'."""
    if expires is None:
        return "session cookie (no expiry date)"
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
    delta = expires - now
    span = abs(delta)
    if span >= 2 * 86400:
        ago = f"{span / 86400:.0f} days"
    elif span >= 2 * 3600:
        ago = f"{span / 3600:.0f} hours"
    else:
        ago = f"{span / 60:.0f} minutes"
    return f"{stamp} (in {ago})" if delta >= 0 else f"{stamp} (expired {ago} ago)"


def warning(profile: str, soon: list[CookieExpiry], now: float) -> str:
    """One line naming the cookies that expire soon (no values)."""
    parts = ", ".join(f"{e.name} {when(e.expires, now)}" for e in soon)
    return f"profile {profile}: session cookies expire soon: {parts}; capture it again"


def profile_warning(
    path: str,
    window: float,
    names: Iterable[str] = (),
    *,
    now: float | None = None,
    label: str = "",
) -> str | None:
    """The warning for the storage_state file at `path`, or None (also when
    the file cannot be read: whoever loads it says why)."""
    if window <= 0:
        return None
    try:
        with open(path, "rb") as f:
            state = msgspec.json.decode(f.read())
    except (OSError, msgspec.DecodeError):
        return None
    if not isinstance(state, dict):
        return None
    now = time.time() if now is None else now
    soon = expiring(state, now, window, names)
    return warning(label or path, soon, now) if soon else None
