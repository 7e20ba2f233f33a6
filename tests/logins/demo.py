"""Scripted sign-in for `mictl profile capture` tests against the demo site.

The demo's sign-in form is for show (its button is disabled): a person's
sign-in ends with the site setting its session cookie, which this does, then
reloads the page as the site's redirect would.
"""

from __future__ import annotations

from playwright.async_api import Page

SESSION = "mictl-demo-c-3b7a52f4"  # a session the demo site accepts (demo/app.py)


async def login(page: Page) -> None:
    await page.fill("#login input[name=email]", "someone@example.com")
    await page.context.add_cookies([{"name": "demo_session", "value": SESSION, "url": page.url}])
    await page.reload()
