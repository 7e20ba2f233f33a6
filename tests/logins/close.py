"""A person who closes the window instead of signing in."""

from __future__ import annotations

from playwright.async_api import Page


async def login(page: Page) -> None:
    await page.close()
