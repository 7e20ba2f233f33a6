"""A site that moved host keeps its users' sessions: carry old-host cookies over.

LMArena moved from lmarena.ai to arena.ai. A profile captured on the old host
holds its cookies (the session `arena-auth-prod-v1` among them) for
`.lmarena.ai`, which the browser never sends to arena.ai, redirect or not.
The same session value is good on both hosts (godnight10061/LMArenaBridge
src/auth.py scopes `arena-auth-prod-v1` to both origins; src/constants.py
ARENA_COOKIE_DOMAINS = (".lmarena.ai", ".arena.ai")), so a site file that
says `moved_from = ["lmarena.ai"]` gets each old-host cookie copied to the
site's own host (`moved_to`, or the URL's) when the profile is loaded; a
user who still points the instance at the old URL follows the redirect
with the session in place. Cookies the profile already has
on the new host win. When the site still shows the signed-out page, the
instance says plainly that the profile needs a new capture (`hint`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit


def _on(domain: str, host: str) -> bool:
    domain = domain.lstrip(".")
    return domain == host or domain.endswith("." + host)


def _host(target: str) -> str:
    """A host, or the host of a URL."""
    return (urlsplit(target).hostname if "://" in target else target) or target


def carry_over(state: dict[str, Any], target: str, moved_from: list[str]) -> int:
    """Copy cookies of the `moved_from` hosts to `target` (a host, or the
    site's URL), in place.

    Returns how many were copied (0: nothing to carry, or all already there).
    """
    if not moved_from:
        return 0
    host = _host(target).removeprefix("www.")
    cookies: list[dict[str, Any]] = state.setdefault("cookies", [])
    have = {(c.get("name"), c.get("path", "/")) for c in cookies if _on(c.get("domain", ""), host)}
    copied = 0
    for cookie in list(cookies):
        domain = cookie.get("domain", "")
        old = next((h for h in moved_from if _on(domain, h)), None)
        if old is None or _on(domain, host):
            continue
        key = (cookie.get("name"), cookie.get("path", "/"))
        if key in have:
            continue
        # Keep the sub-domain part: ".lmarena.ai" -> ".arena.ai",
        # "www.lmarena.ai" -> "www.arena.ai".
        new_domain = domain[: len(domain) - len(old)] + host
        cookies.append({**cookie, "domain": new_domain})
        have.add(key)
        copied += 1
    return copied


def load_profile(path: str, target: str, moved_from: list[str]) -> tuple[Any, int]:
    """The storage_state to open a context with: the file itself when nothing
    moved, else its content with old-host cookies carried over."""
    if not moved_from:
        return path, 0
    with open(path) as f:
        state = json.load(f)
    copied = carry_over(state, target, moved_from)
    return (state if copied else path), copied


def hint(target: str, moved_from: list[str], copied: int) -> str:
    if not copied:
        return ""
    host = _host(target)
    return (
        f"the profile's session was saved on {', '.join(moved_from)} and {host} did not "
        "accept it after the move: capture the profile again on "
        f"{host} (mictl profile capture)"
    )
