"""Start a Chromium for the one-shot tools (profile capture/check, site record/replay).

Same executable search and flags as an instance; `full=True` skips the
headless shell, which cannot open a window.
"""

from __future__ import annotations

import os

from playwright.async_api import Browser, Playwright

from instance_runner import chromium

HEADLESS_SHELL = "chromium-headless-shell"


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


async def launch(
    pw: Playwright,
    *,
    executable: str = "",
    headless: bool = True,
    args: list[str] | None = None,
) -> Browser:
    if headless:
        path = chromium.find(executable, chromium.playwright_default())
    else:
        path = find_full(executable)
    return await pw.chromium.launch(
        executable_path=path,
        headless=headless,
        args=chromium.flags(list(args or [])),
        handle_sigint=False,
        handle_sigterm=False,
        handle_sighup=False,
    )
