"""Scripted sign-in for `mictl profile capture` against the DeepSeek replica.

A signed-out visit ends on /sign_in; a person types an e-mail and a
password and logs in, and the page keeps the login in localStorage
(userToken), not in a cookie. This does the same, in the page's own form.
"""

from __future__ import annotations

from playwright.async_api import Page


async def login(page: Page) -> None:
    await page.wait_for_url("https://chat.deepseek.com/sign_in")
    await page.fill("#user", "someone@example.com")
    await page.fill("#password", "not a real password")
    await page.click('button[type="submit"]')
