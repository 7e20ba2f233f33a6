"""`mictl site check`: open a site with a profile and test its site file.

Checks every selector role it can without sending a prompt (and which of
its fallbacks matched), reads the model list, reports what is found and
missing, and saves a screenshot. Never writes the profile.
"""

from __future__ import annotations

import asyncio

import msgspec

from instance_runner.browser import BrowserSession
from instance_runner.sites.checks import CheckResult, check_page
from instance_runner.sites.loader import load_site
from instance_runner.tools.launch import Network


class CheckReport(msgspec.Struct):
    site: str
    url: str
    notice: str
    logged_in: bool
    models: list[str]
    results: list[CheckResult]
    screenshot: str
    ok: bool
    verified: str = ""
    verified_against: str = ""
    signed_out_reason: str = ""


async def run_check(
    profile: str,
    site_name: str,
    screenshot: str,
    *,
    url: str | None = None,
    executable: str = "",
    browser_args: list[str] | None = None,
    net: Network | None = None,
) -> CheckReport:
    """With `net`: through the profile's proxy, in its locale and time zone.
    Raises ProxyUnreachable when that proxy gives no way to the site."""
    site = load_site(site_name, url)
    net = net or Network()
    await net.preflight(site.moved_to or site.url)
    session = BrowserSession(
        site,
        profile=profile,
        executable=executable,
        read_only=True,
        extra_args=list(browser_args or []),
        proxy=net.proxy,
        credentials=net.credentials,
        locale=net.locale,
        timezone=net.timezone,
    )
    reason = ""
    try:
        try:
            await session.start()
        except Exception as exc:
            failed = net.failure(exc)
            if failed:
                raise failed from None
            raise
        adapter = session.adapter
        results = await check_page(adapter.page, site, session.logged_in)
        models = await adapter.models() if session.logged_in else []
        reason = "" if session.logged_in else (await adapter.signed_out_reason() or "")
        assert session.page is not None
        await session.page.screenshot(path=screenshot, full_page=True)
    finally:
        await session.close()
    ok = session.logged_in and all(r.found for r in results if r.required)
    return CheckReport(
        site.name,
        site.url,
        site.notice,
        session.logged_in,
        models,
        results,
        screenshot,
        ok,
        site.verified,
        site.verified_against,
        reason,
    )


def check(profile: str, site: str, screenshot: str, **kw: object) -> CheckReport:
    return asyncio.run(run_check(profile, site, screenshot, **kw))  # type: ignore[arg-type]
