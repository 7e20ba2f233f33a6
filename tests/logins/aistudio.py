"""Scripted sign-in for `mictl profile capture` against the AI Studio replica.

A signed-out visit ends on the account chooser at accounts.google.com. A
person's sign-in ends with Google setting its session cookies for
.google.com and sending the browser back to the `continue` URL; this does
the same (the replica has no password form to fill).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Page

# The session the scripted sign-in gets: tests grep recordings for these.
COOKIES = {
    "SID": "g.a000replicaSIDvalue0123456789abcdef",
    "HSID": "AreplicaHSIDvalue42",
    "SSID": "AreplicaSSIDvalue42",
    "SAPISID": "replicaSAPISIDvalue/Aq9zXk",  # read by the page's JS (not HttpOnly)
    "__Secure-1PSID": "g.a000replica1PSIDvalue9876543210fedcba",
}


def cookies(expires: float | None = None) -> list[dict[str, object]]:
    """Half a year ahead by default (Chromium caps cookies at 400 days)."""
    expires = expires or time.time() + 180 * 86400
    return [
        {
            "name": name,
            "value": value,
            "domain": ".google.com",
            "path": "/",
            "expires": expires,
            "httpOnly": name != "SAPISID",
            "secure": True,
            "sameSite": "None",
        }
        for name, value in COOKIES.items()
    ]


async def login(page: Page) -> None:
    await page.wait_for_url("https://accounts.google.com/**")
    await page.click('[data-identifier="someone@example.com"]')  # as a person would
    await page.context.add_cookies(cookies())  # type: ignore[arg-type]
    target = parse_qs(urlsplit(page.url).query).get("continue", [""])[0]
    await page.goto(target or "https://aistudio.google.com/prompts/new_chat")
