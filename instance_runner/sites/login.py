"""Is the page signed in? By URL, title, cookies, selectors and texts: the
site file's login rule (its `logged_in` / `logged_out` / `captcha` selectors,
the logged-out and captcha markers, and the [login] table), the one module
that reads it.

Everything the page can tell is read in one page script (`look`), alongside
the context's cookies: each page round trip costs 2-10 ms on a loaded
machine, and the checks run after every fresh chat. What it finds is judged
by pure functions: `judge` for an instance (`signed_out_reason_of`,
`challenge_reason_of`), `state_of` for the one-shot tools (`mictl profile
capture` waits until a person has signed in, `mictl profile check` says
which of four states a profile is in).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

import msgspec
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites import sel
from instance_runner.sites.types import SiteFile

LoginState = Literal["logged_in", "logged_out", "captcha", "unknown"]
NOT_CSS = "?"  # a fallback the page's querySelector refused: Playwright's own syntax

# [{role: [selectors]}, body wanted, localStorage keys] -> what the page shows, for Seen.
_LOOK = """([roles, wantBody, keys]) => {
    const found = {};
    for (const [role, sels] of Object.entries(roles)) {
        found[role] = null;
        for (const s of sels) {
            let el;
            try { el = document.querySelector(s); } catch (e) { found[role] = "?"; break; }
            if (el) { found[role] = s; break; }
        }
    }
    const check = roles.check && found.check && found.check !== "?"
        ? document.querySelector(found.check).textContent.trim() : "";
    const body = wantBody && document.body ? document.body.innerText : "";
    let storage = [];
    try { storage = keys.filter((k) => localStorage.getItem(k) !== null); } catch (e) {}
    return {title: document.title, found, check, body, storage};
}"""


class Seen(msgspec.Struct):
    """One look at the page: its title, the first matching fallback of each
    role (None: none matched), the model check's text, the body's text (only
    when a site's markers need it)."""

    title: str = ""
    found: dict[str, str | None] = {}
    check: str = ""
    body: str = ""
    url: str = ""
    cookies: list[str] = []
    storage: list[str] = []  # the [login] local_storage keys the page holds


class Look(msgspec.Struct, frozen=True):
    signed_out: str | None  # why the page is signed out
    challenge: str | None  # why it is a human check
    ready: bool  # it has settled: signed in, signed out or a human check shows
    signed_in: bool
    label: str  # the model check's text ("" without one)


def _roles(site: SiteFile) -> dict[str, list[str]]:
    s = site.selectors
    roles = {
        "logged_out": sel.options(s.logged_out),
        "captcha": sel.options(s.captcha),
        "signed_in": sel.options(s.logged_in or s.prompt),
        "ready": sel.options(ready_selector(site)),
        "check": sel.options(site.model_config.check),
    }
    return {role: sels for role, sels in roles.items() if sels}


async def _read(
    page: Page, context: BrowserContext, site: SiteFile, want_body: bool
) -> tuple[Any, list[Any]]:
    script = page.evaluate(_LOOK, [_roles(site), want_body, site.login.local_storage])
    if not site.login.cookies:
        return await script, []
    raw, cookies = await asyncio.gather(script, context.cookies())
    return raw, list(cookies)


async def _seen(
    page: Page, context: BrowserContext, site: SiteFile, *, want_body: bool | None = None
) -> Seen:
    m, s = site.markers, site.selectors
    if want_body is None:
        want_body = bool(m.logged_out and not s.logged_in)
    try:
        raw, cookies = await _read(page, context, site, want_body)
    except PlaywrightError as exc:
        if "context was destroyed" not in str(exc):
            raise
        await page.wait_for_load_state()  # it was navigating: read the new page
        raw, cookies = await _read(page, context, site, want_body)
    seen = msgspec.convert(raw, Seen)
    seen.url, seen.cookies = page.url, [str(c.get("name")) for c in cookies]
    for role, hit in seen.found.items():
        if hit == NOT_CSS:  # Playwright's selector engine, the slow way
            found = await sel.first(page, _roles(site)[role])
            seen.found[role] = found[0] if found else None
    return seen


def signed_out_reason_of(seen: Seen, site: SiteFile) -> str | None:
    """Why the page is signed out, or None when nothing says so."""
    login, m = site.login, site.markers
    for pattern in login.url_patterns:
        if re.search(pattern, seen.url):
            return f"the page went to a sign-in URL ({seen.url.split('?')[0]})"
    if any(x.lower() in seen.title.lower() for x in login.title_markers):
        return f"the page is a sign-in page ({seen.title!r})"
    missing = [c for c in login.cookies if c not in seen.cookies]
    if missing:
        return f"the session cookie is missing ({', '.join(missing)})"
    gone = [k for k in login.local_storage if k not in seen.storage]
    if gone:
        return f"the login is missing from the page's local storage ({', '.join(gone)})"
    if seen.found.get("logged_out"):
        return "the sign-in form is showing"
    if seen.body and any(x.lower() in seen.body.lower() for x in m.logged_out):
        return "the page asks to sign in"
    return None


def challenge_reason_of(seen: Seen, site: SiteFile) -> str | None:
    """Why the page is a human check (a Cloudflare interstitial, a captcha),
    or None. Told apart from a logout: the cookies may be fine."""
    if hit := seen.found.get("captcha"):
        return f"a human check is on the page ({hit})"
    if any(x.lower() in seen.title.lower() for x in site.markers.captcha):
        return f"the page is a human check ({seen.title!r})"
    return None


def judge(seen: Seen, site: SiteFile) -> Look:
    signed_out = signed_out_reason_of(seen, site)
    return Look(
        signed_out=signed_out,
        challenge=challenge_reason_of(seen, site),
        ready=bool(seen.found.get("ready")),
        signed_in=signed_out is None and bool(seen.found.get("signed_in")),
        label=seen.check,
    )


async def look(page: Page, context: BrowserContext, site: SiteFile) -> Look:
    """What the page says now (one page script, with the cookies alongside).
    A URL that is a sign-in page is enough: the page is not read then."""
    if any(re.search(p, page.url) for p in site.login.url_patterns):
        return judge(Seen(url=page.url), site)
    return judge(await _seen(page, context, site), site)


async def settle(page: Page, context: BrowserContext, site: SiteFile) -> Look:
    """Look at a page just loaded, waiting first for it to settle unless it
    is signed out (a sign-in page may show none of the site's selectors)."""
    found = await look(page, context, site)
    if found.signed_out or found.ready:
        return found
    await page.wait_for_selector(ready_selector(site), timeout=site.timeouts.ready * 1000)
    return await look(page, context, site)


async def signed_out_reason(page: Page, context: BrowserContext, site: SiteFile) -> str | None:
    return (await look(page, context, site)).signed_out


async def signed_in(page: Page, context: BrowserContext, site: SiteFile) -> bool:
    return (await look(page, context, site)).signed_in


def has_rule(site: SiteFile) -> bool:
    """Whether the site file can tell a signed-in page (a selector, cookie
    or localStorage key that must be there), not only a signed-out one."""
    s, login = site.selectors, site.login
    return bool(
        sel.options(s.logged_in) or sel.options(s.prompt) or login.cookies or login.local_storage
    )


def state_of(seen: Seen, site: SiteFile) -> LoginState:
    """What a page shows, for the one-shot tools: a human check first, then
    signed out (by URL, title or the sign-in form), unknown when the site
    file cannot tell signed in, signed out by a missing session cookie or
    localStorage key, signed in when its selector shows (else signed out by
    the body's markers, or unknown)."""
    s, m, login = site.selectors, site.markers, site.login
    body = seen.body.lower()
    if seen.found.get("captcha") or any(x.lower() in body for x in m.captcha):
        return "captcha"
    title = seen.title.lower()
    if (
        any(re.search(p, seen.url) for p in login.url_patterns)
        or any(t.lower() in title for t in login.title_markers)
        or seen.found.get("logged_out")
    ):
        return "logged_out"
    if not has_rule(site):
        return "unknown"
    if not set(login.cookies) <= set(seen.cookies):
        return "logged_out"
    if not set(login.local_storage) <= set(seen.storage):
        return "logged_out"
    if sel.options(s.logged_in or s.prompt) and not seen.found.get("signed_in"):
        if any(x.lower() in body for x in m.logged_out):
            return "logged_out"
        return "unknown"
    return "logged_in"


async def state(page: Page, context: BrowserContext, site: SiteFile) -> LoginState:
    """What the page shows now (`state_of`), the body read when a marker needs it."""
    m = site.markers
    seen = await _seen(page, context, site, want_body=bool(m.captcha or m.logged_out))
    return state_of(seen, site)


def ready_selector(site: SiteFile) -> str:
    """What shows once the page has settled: signed in, signed out, or a human check."""
    s = site.selectors
    parts = (s.logged_in, s.logged_out, s.prompt, s.captcha)
    return ", ".join(x for x in (sel.any_of(p) for p in parts) if x)
