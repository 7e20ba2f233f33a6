"""Start a Chromium for the one-shot tools (profile capture/check, site record/replay).

Same executable search and flags as an instance; `full=True` skips the
headless shell, which cannot open a window. `Network` is what one profile's
instance would go out through (its proxy and credentials, locale, time zone):
an account signs in and is checked from the address it will later use.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import msgspec
from playwright.async_api import Browser, Playwright, ProxySettings

from common.proxy import Credentials, ProxyURL, is_proxy_error
from instance_runner import chromium
from instance_runner.proxy import reach

HEADLESS_SHELL = "chromium-headless-shell"


class ProxyUnreachable(Exception):
    """The profile's proxy did not give a tunnel: the message names the proxy
    (scheme://host:port) and why, never the credentials."""


class Network(msgspec.Struct, frozen=True, kw_only=True):
    """One profile's way out, as its instance gets it ([profiles.overrides.NAME])."""

    proxy: ProxyURL | None = None
    credentials: Credentials | None = None  # to Playwright over its pipe: no argv holds it
    locale: str = ""
    timezone: str = ""

    def playwright_proxy(self) -> ProxySettings | None:
        if self.proxy is None:
            return None
        settings = ProxySettings(server=self.proxy.server)
        if self.credentials is not None:
            settings["username"] = self.credentials.username
            settings["password"] = self.credentials.password
        return settings

    def context_options(self) -> dict[str, Any]:
        return {"locale": self.locale or None, "timezone_id": self.timezone or None}

    async def preflight(self, url: str) -> None:
        """Raise ProxyUnreachable unless the proxy opens a tunnel to the site
        (asked as Chromium would), before a browser is started for nothing."""
        if self.proxy is None:
            return
        target = urlsplit(url)
        port = target.port or (443 if target.scheme == "https" else 80)
        reason = await reach(self.proxy, self.credentials, target.hostname or "", port)
        if reason:
            raise ProxyUnreachable(f"proxy {self.proxy.server}: {reason}")

    def failure(self, exc: BaseException) -> ProxyUnreachable | None:
        """A page's error as the proxy's, when Chromium says the proxy failed."""
        if self.proxy is None or not is_proxy_error(str(exc)):
            return None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ProxyUnreachable(f"proxy {self.proxy.server}: the page failed on it ({first})")


def find_full(configured: str = "") -> str | None:
    """A Chromium that can show a window (the configured one if it can)."""
    if configured and HEADLESS_SHELL not in os.path.basename(configured):
        return chromium.find(configured)
    for candidate in chromium.CANDIDATES:
        if HEADLESS_SHELL in candidate:
            continue
        try:
            return chromium.find(candidate)
        except chromium.NoBrowser:
            continue
    return chromium.find("", chromium.playwright_default())


def launch_options(
    *,
    executable: str = "",
    headless: bool = True,
    args: list[str] | None = None,
    net: Network | None = None,
) -> dict[str, Any]:
    """The keyword arguments of `chromium.launch` (a test reads them)."""
    if headless:
        path = chromium.find(executable, chromium.playwright_default())
    else:
        path = find_full(executable)
    return {
        "executable_path": path,
        "headless": headless,
        "args": chromium.flags(list(args or [])),
        "proxy": net.playwright_proxy() if net else None,
        "handle_sigint": False,
        "handle_sigterm": False,
        "handle_sighup": False,
    }


async def launch(
    pw: Playwright,
    *,
    executable: str = "",
    headless: bool = True,
    args: list[str] | None = None,
    net: Network | None = None,
) -> Browser:
    options = launch_options(executable=executable, headless=headless, args=args, net=net)
    return await pw.chromium.launch(**options)
