"""`mictl site replay`: a recording served back to the browser, the site
file checked against it.

Two checks. Static: every selector role against the DOM snapshot of each
moment (before send, while streaming, after done, on error), saying which of
its fallbacks matched: a role whose first choice no longer matches has
moved. Live: the instance's own adapter drives the recorded page, every
request answered from the HAR, and must give the recorded answer.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from playwright.async_api import Browser, Request, Route, async_playwright

from instance_runner.sites import sel
from instance_runner.sites.types import SiteFile
from instance_runner.tools.launch import launch
from instance_runner.tools.oneshot import adapter_for, answer
from instance_runner.tools.site_record import HAR, META, SITE, Meta

STAND_IN = "redacted"  # a cookie's value in a replay
DROP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "set-cookie"}


class RoleCheck(msgspec.Struct):
    moment: str
    role: str
    options: list[str]
    matched: int | None  # index of the fallback that matched
    expected: bool  # must be on the page at that moment
    status: str  # ok, moved, missing, absent


class ReplayReport(msgspec.Struct, kw_only=True):
    site: str
    recording: str
    logged_in: bool = False
    answer_matches: bool = False
    answer: str = ""
    recorded_answer: str = ""
    error: str = ""
    recorded_error: str = ""
    roles: list[RoleCheck] = []
    moved: list[str] = []  # roles whose first choice no longer matches
    missing: list[str] = []  # roles that match nowhere they must
    unserved: list[str] = []  # requests the recording had no answer for
    ok: bool = False


def roles_at(site: SiteFile, moment: str) -> list[tuple[str, Any, bool]]:
    """(role, selector, must be present) for a moment of the exchange."""
    s = site.selectors
    picker = str(getattr(getattr(site, "models", None), "pick", "") or site.model_pick) in (
        "select",
        "click",
        "type",
    )
    idle = [("idle", s.idle, True)]
    if moment == "before-send":
        return [
            ("logged_in", s.logged_in, True),
            ("prompt", s.prompt, True),
            ("send", s.send, True),
            ("model_picker", s.model_picker, picker),
            ("new_chat", s.new_chat, site.reset == "new_chat"),
            *idle,
        ]
    if moment == "streaming":
        return [("answer", s.answer, True), ("stop", s.stop, False)]
    if moment == "done":
        return [
            ("answer", s.answer, True),
            ("answer_done", s.answer_done, True),
            ("prompt", s.prompt, True),
            *idle,
        ]
    return [("error", s.error, False), ("rate_limit", s.rate_limit, False)]


async def check_snapshot(
    browser: Browser, html: str, site: SiteFile, moment: str
) -> list[RoleCheck]:
    context = await browser.new_context(java_script_enabled=False)
    await context.route("**/*", lambda route: route.abort())  # a snapshot loads nothing
    try:
        page = await context.new_page()
        await page.set_content(html, wait_until="domcontentloaded")
        results = []
        for role, selector, expected in roles_at(site, moment):
            options = sel.options(selector)
            if not options:
                continue
            matched = None
            for i, option in enumerate(options):
                try:
                    if await page.query_selector(option):
                        matched = i
                        break
                except Exception:  # an invalid selector matches nothing
                    continue
            if matched is None:
                status = "missing" if expected else "absent"
            else:
                status = "ok" if matched == 0 else "moved"
            results.append(RoleCheck(moment, role, options, matched, expected, status))
        return results
    finally:
        await context.close()


class HarServer:
    """Answers the page's requests from the HAR: same method and URL first,
    then same method and path (query strings carry timestamps), in order."""

    def __init__(self, har: dict[str, Any]) -> None:
        self.entries = har.get("log", {}).get("entries", [])
        self.used: set[int] = set()
        self.unserved: list[str] = []

    def find(self, method: str, url: str, body: str | None) -> dict[str, Any] | None:
        path = urlsplit(url)._replace(query="", fragment="").geturl()
        tiers: list[list[int]] = [[], [], []]
        for i, e in enumerate(self.entries):
            req = e.get("request", {})
            if req.get("method") != method:
                continue
            if req.get("url") == url:
                same_body = (req.get("postData") or {}).get("text") == body
                tiers[0 if same_body or body is None else 1].append(i)
            elif urlsplit(req.get("url", ""))._replace(query="", fragment="").geturl() == path:
                tiers[2].append(i)
        for tier in tiers:
            fresh = [i for i in tier if i not in self.used] or tier
            if fresh:
                self.used.add(fresh[0])
                return self.entries[fresh[0]]
        return None

    async def handle(self, route: Route, request: Request) -> None:
        entry = self.find(request.method, request.url, request.post_data)
        if entry is None:
            if request.method == "OPTIONS":  # a CORS preflight the HAR does not hold
                h = request.headers
                await route.fulfill(status=204, headers=_preflight(h))
                return
            self.unserved.append(f"{request.method} {request.url.split('?')[0]}")
            await route.fulfill(status=404, body="not in the recording")
            return
        res = entry.get("response", {})
        content = res.get("content", {})
        text = content.get("text", "") or ""
        body = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()
        headers = {}
        for h in res.get("headers", []):
            name = h.get("name", "").lower()
            if name in DROP_HEADERS or name.startswith(":"):
                continue
            headers[name] = f"{headers[name]}, {h['value']}" if name in headers else h["value"]
        await route.fulfill(status=res.get("status", 200) or 200, headers=headers, body=body)


def _preflight(h: dict[str, str]) -> dict[str, str]:
    return {
        "access-control-allow-origin": h.get("origin", "*"),
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": h.get("access-control-request-method", "GET, POST"),
        "access-control-allow-headers": h.get("access-control-request-headers", "*"),
    }


async def replay(
    directory: str,
    site: SiteFile,
    *,
    executable: str = "",
    args: list[str] | None = None,
) -> ReplayReport:
    root = Path(directory)
    meta = msgspec.json.decode((root / META).read_bytes(), type=Meta)
    site = msgspec.structs.replace(site, url=meta.url)  # where the recording was made
    har = json.loads((root / HAR).read_bytes())
    report = ReplayReport(
        site=site.name,
        recording=str(root),
        recorded_answer=meta.answer,
        recorded_error=meta.error,
    )
    async with async_playwright() as pw:
        browser = await launch(pw, executable=executable, headless=True, args=args)
        try:
            for moment in meta.snapshots:
                html = (root / "dom" / f"{moment}.html").read_text()
                report.roles += await check_snapshot(browser, html, site, moment)
            server = HarServer(har)
            context = await browser.new_context()
            if meta.cookies:  # stand-ins for the profile's cookies, by name
                await context.add_cookies([{**c, "value": STAND_IN} for c in meta.cookies])
            if meta.local_storage:  # stand-ins for its localStorage, likewise
                await context.add_init_script(_storage_script(meta.local_storage))
            await context.route("**/*", server.handle)
            _, adapter = await adapter_for(site, context)
            try:
                report.logged_in = await adapter.open()
                if report.logged_in:
                    parts = [d async for d in answer(adapter, meta.prompt, meta.model)]
                    report.answer = "".join(parts)
            except Exception as exc:
                report.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            report.unserved = server.unserved
            await context.close()
        finally:
            await browser.close()
    report.moved = sorted({r.role for r in report.roles if r.status == "moved"})
    report.missing = sorted({r.role for r in report.roles if r.status == "missing"})
    report.answer_matches = report.answer == meta.answer and not meta.error
    same_failure = bool(meta.error) and report.error.split(":")[0] == meta.error.split(":")[0]
    report.ok = not report.missing and (report.answer_matches or same_failure)
    return report


def _storage_script(items: list[dict[str, str]]) -> str:
    """Page script that puts the recorded localStorage stand-ins in place
    (on their origin, before the page's own scripts run)."""
    return f"""(() => {{
        for (const i of {json.dumps(items)}) {{
            if (location.origin === i.origin && localStorage.getItem(i.name) === null) {{
                localStorage.setItem(i.name, i.value);
            }}
        }}
    }})();"""


def site_text(directory: str) -> str:
    return (Path(directory) / SITE).read_text()
