"""`mictl site check`: open a site with a profile and test its site file.

Checks every selector and marker it can without sending a prompt, reports
what is found and missing, and saves a screenshot. Never writes the profile.
"""

from __future__ import annotations

import asyncio

import msgspec

from instance_runner.browser import BrowserSession
from instance_runner.sites.adapter import CheckResult
from instance_runner.sites.loader import load_site


class CheckReport(msgspec.Struct):
    site: str
    url: str
    notice: str
    logged_in: bool
    models: list[str]
    results: list[CheckResult]
    screenshot: str
    ok: bool


async def run_check(
    profile: str,
    site_name: str,
    screenshot: str,
    *,
    url: str | None = None,
    executable: str = "",
) -> CheckReport:
    site = load_site(site_name, url)
    session = BrowserSession(site, profile=profile, executable=executable, read_only=True)
    try:
        await session.start()
        adapter = session.adapter
        results = await adapter.check()
        models = await adapter.models() if session.logged_in else []
        assert session.page is not None
        await session.page.screenshot(path=screenshot, full_page=True)
    finally:
        await session.close()
    ok = session.logged_in and all(r.found for r in results if r.required)
    return CheckReport(
        site.name, site.url, site.notice, session.logged_in, models, results, screenshot, ok
    )


def check(profile: str, site: str, screenshot: str, **kw: str | None) -> CheckReport:
    return asyncio.run(run_check(profile, site, screenshot, **kw))  # type: ignore[arg-type]
