"""`mictl site record`: one real exchange with a site, kept as evidence.

A HAR with bodies, DOM snapshots at the key moments (before send, while
streaming, after done, on error), a screenshot and the site file used. The
browser writes its HAR into a private temporary directory (0700, in memory
under /dev/shm where there is one); everything is scrubbed in memory
(instance_runner/tools/scrub.py) and checked for leaks before the recording is
written, 0600 files in a 0700 directory.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

from instance_runner.sites import sel
from instance_runner.sites.events import NetData, NetResponse, SiteEvent
from instance_runner.sites.types import SiteFile
from instance_runner.tools.launch import Network, launch
from instance_runner.tools.oneshot import adapter_for, answer
from instance_runner.tools.scrub import (
    EMAIL,
    EMAIL_OUT,
    NAME_OUT,
    REDACTED,
    Scrubber,
    Secrets,
    har_secrets,
    leaks,
    names_near_emails,
    scrub_har,
)

HAR, META, SHOT, SITE = "recording.har", "meta.json", "screenshot.png", "site.toml"
MOMENTS = ("before-send", "streaming", "done", "error")


class RecordError(Exception):
    pass


class Meta(msgspec.Struct, kw_only=True):
    site: str
    url: str
    prompt: str
    model: str | None
    answer: str = ""
    error: str = ""
    logged_in: bool = False
    snapshots: list[str] = []
    recorded_at: float = 0.0
    browser: str = ""
    removed: int = 0  # secrets replaced (how many, never which)
    # The profile's cookies without their values: a replay sets stand-ins,
    # so that rules asking for a session cookie hold as they did.
    cookies: list[dict[str, Any]] = []
    # The profile's localStorage items, every string in them a stand-in: a
    # login kept there (DeepSeek's userToken, JSON) keeps its shape, so the
    # page replayed reads it as the recorded page did.
    local_storage: list[dict[str, str]] = []


class Recording(msgspec.Struct):
    meta: Meta
    har: bytes
    snapshots: dict[str, bytes]
    screenshot: bytes | None
    site_text: bytes


def _private_tmp() -> str:
    shm = "/dev/shm"
    where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="mictl-record-", dir=where)  # mode 0700


def profile_secrets(profile: str, secrets: Secrets) -> list[dict[str, Any]]:
    """Collect the profile's secrets; return its cookies without values."""
    state = json.loads(Path(profile).read_bytes())
    for c in state.get("cookies", []):
        secrets.add(c.get("value"))
    for origin in state.get("origins", []):
        for item in origin.get("localStorage", []):
            if any(k in item.get("name", "").lower() for k in ("token", "auth", "session")):
                secrets.add(item.get("value"), *_strings(_json(item.get("value"))))
    keep = ("name", "domain", "path", "secure", "httpOnly", "sameSite")
    return [{k: c[k] for k in keep if k in c} for c in state.get("cookies", [])]


def storage_stand_ins(profile: str, stand_in: str) -> list[dict[str, str]]:
    """The profile's localStorage items with every value (or, in a JSON
    value, every string in it) replaced by `stand_in`, every number by 0."""
    state = json.loads(Path(profile).read_bytes())
    out = []
    for origin in state.get("origins", []):
        for item in origin.get("localStorage", []):
            value = _json(item.get("value"))
            kept = json.dumps(_stand_in(value, stand_in)) if value is not None else stand_in
            out.append({"origin": origin.get("origin", ""), "name": item["name"], "value": kept})
    return out


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _strings(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) and len(data) >= 8 else []


def _stand_in(data: Any, stand_in: str) -> Any:
    if isinstance(data, dict):
        return {k: _stand_in(v, stand_in) for k, v in data.items()}
    if isinstance(data, list):
        return [_stand_in(v, stand_in) for v in data]
    if isinstance(data, str):
        return stand_in
    # (a number may be an account id: 0 instead; true, false and null stay)
    return 0 if isinstance(data, int | float) and not isinstance(data, bool) else data


REDACT_PAGE_JS = """([literals, names, email, emailOut, redacted, nameOut]) => {
  const re = new RegExp(email, "g");
  const fix = (s) => {
    if (!s) return s;
    for (const v of literals) s = s.split(v).join(redacted);
    for (const n of names) s = s.split(n).join(nameOut);
    return s.replace(re, emailOut);
  };
  const walker = document.createTreeWalker(document.body || document, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) n.nodeValue = fix(n.nodeValue);
  for (const el of document.querySelectorAll("*")) {
    for (const a of [...el.attributes]) el.setAttribute(a.name, fix(a.value));
    if ("value" in el && typeof el.value === "string") el.value = fix(el.value);
  }
}"""


async def _snapshot(page: Page, into: dict[str, str], moment: str) -> None:
    with contextlib.suppress(PlaywrightError):
        into[moment] = await page.content()


async def record(
    site: SiteFile,
    site_text: bytes,
    profile: str,
    prompt: str,
    *,
    model: str | None = None,
    executable: str = "",
    headless: bool = True,
    args: list[str] | None = None,
    net: Network | None = None,
    redact: list[str] | None = None,
) -> Recording:
    """With `net`: through the profile's proxy, in its locale and time zone.
    Raises ProxyUnreachable when that proxy gives no way to the site."""
    net = net or Network()
    await net.preflight(site.moved_to or site.url)
    secrets = Secrets()
    cookies = profile_secrets(profile, secrets)
    secrets.add(*(redact or []))
    secrets.names.update(r for r in (redact or []) if r)
    meta = Meta(site=site.name, url=site.url, prompt=prompt, model=model, recorded_at=time.time())
    meta.cookies = cookies
    meta.local_storage = storage_stand_ins(profile, REDACTED)
    snapshots: dict[str, str] = {}
    shot = None
    tmp = _private_tmp()
    raw_har = os.path.join(tmp, HAR)
    # The browser's own profile (cookies, HTTP cache) goes there too: Playwright
    # makes it under the driver's TMPDIR, which inherits ours.
    saved_tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    try:
        async with async_playwright() as pw:
            browser = await launch(pw, executable=executable, headless=headless, args=args, net=net)
            meta.browser = browser.version
            try:
                context = await browser.new_context(
                    storage_state=profile,
                    record_har_path=raw_har,
                    record_har_content="embed",
                    **net.context_options(),
                )
                tapped: list[bytearray] = []
                page, adapter = await adapter_for(site, context, watch=_spy(tapped))
                try:
                    meta.logged_in = await adapter.open()
                    if not meta.logged_in:
                        raise RecordError("the profile is not signed in to the site")
                    await _snapshot(page, snapshots, "before-send")
                    parts: list[str] = []
                    async for delta in answer(adapter, prompt, model):
                        parts.append(delta)
                        if len(parts) == 1:
                            await _snapshot(page, snapshots, "streaming")
                    meta.answer = "".join(parts)
                    await _settle(page, site)
                    await _snapshot(page, snapshots, "done")
                except Exception as exc:  # any failure is evidence too
                    meta.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    await _snapshot(page, snapshots, "error")
                for c in await context.cookies():
                    secrets.add(c.get("value"))
                secrets.names.update(names_near_emails(snapshots.values()))
                with contextlib.suppress(PlaywrightError):
                    await page.evaluate(REDACT_PAGE_JS, _page_args(secrets))
                    shot = await page.screenshot(full_page=True)
                await context.close()  # writes the HAR
            finally:
                await browser.close()
        har = json.loads(Path(raw_har).read_bytes()) if os.path.exists(raw_har) else {}
        _fill_tapped(har, site, tapped)
    finally:
        if saved_tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_tmpdir
        shutil.rmtree(tmp, ignore_errors=True)
    return _scrubbed(meta, har, snapshots, shot, site_text, secrets)


def _spy(bodies: list[bytearray]) -> Callable[[SiteEvent], None]:
    """Keep in `bodies` the answer requests' bodies the adapter's network
    tap streams.

    Once the tap streams a response, the browser keeps no copy of it, and
    the HAR would hold an empty body; these fill it in (_fill_tapped).
    """

    def watch(event: SiteEvent) -> None:
        if isinstance(event, NetResponse):
            bodies.append(bytearray())
        elif isinstance(event, NetData) and bodies:
            bodies[-1] += event.data

    return watch


def _fill_tapped(har: dict[str, Any], site: SiteFile, bodies: list[bytearray]) -> None:
    wanted = str(getattr(site.stream, "url_contains", "") or "")
    excludes = list(getattr(site.stream, "url_excludes", []) or [])
    if not wanted or not bodies:
        return
    todo = iter(bodies)
    for entry in har.get("log", {}).get("entries", []):
        url = entry.get("request", {}).get("url", "")
        if wanted not in url or any(x in url for x in excludes):
            continue
        if entry["request"].get("method") == "OPTIONS":
            continue
        body = next(todo, None)
        if body is None:
            return
        content = entry.setdefault("response", {}).setdefault("content", {})
        if body and not content.get("text"):
            content.update(text=base64.b64encode(bytes(body)).decode(), encoding="base64")
            content["size"] = len(body)


async def _settle(page: Page, site: SiteFile) -> None:
    """After the answer: until the page shows it is idle again (briefly)."""
    idle = sel.options(site.selectors.idle)
    if not idle:
        return
    shown = page.locator(idle[0])
    for option in idle[1:]:
        shown = shown.or_(page.locator(option))
    with contextlib.suppress(PlaywrightError):
        await shown.first.wait_for(timeout=min(site.timeouts.stall, 10) * 1000)


def _page_args(secrets: Secrets) -> list[Any]:
    literals = sorted(secrets.literals, key=len, reverse=True)
    names = sorted(secrets.names, key=len, reverse=True)
    return [literals, names, EMAIL.pattern, EMAIL_OUT, REDACTED, NAME_OUT]


def _scrubbed(
    meta: Meta,
    har: dict[str, Any],
    snapshots: dict[str, str],
    shot: bytes | None,
    site_text: bytes,
    secrets: Secrets,
) -> Recording:
    har_secrets(har, secrets)
    strings: list[str] = []
    _collect_strings(har, strings)
    secrets.names.update(names_near_emails(strings))
    scrub = Scrubber(secrets)
    clean_har = json.dumps(scrub_har(har, scrub), indent=1, ensure_ascii=False).encode()
    clean_snaps = {k: scrub.text(v).encode() for k, v in snapshots.items()}
    meta.answer, meta.prompt = scrub.text(meta.answer), scrub.text(meta.prompt)
    meta.error = scrub.text(meta.error)
    meta.snapshots = [m for m in MOMENTS if m in clean_snaps]
    meta.removed = scrub.count
    found = leaks([clean_har, *clean_snaps.values(), msgspec.json.encode(meta)], secrets)
    if found:  # never write a recording that still holds one
        raise RecordError(f"refusing to write the recording: {', '.join(found)} survived scrubbing")
    return Recording(meta, clean_har, clean_snaps, shot, site_text)


def _collect_strings(data: Any, into: list[str]) -> None:
    if isinstance(data, dict):
        for v in data.values():
            _collect_strings(v, into)
    elif isinstance(data, list):
        for v in data:
            _collect_strings(v, into)
    elif isinstance(data, str) and ("@" in data or "%40" in data or "\\u0040" in data):
        into.append(data)


def write(recording: Recording, out: str) -> list[str]:
    """The recording's files, 0600 in a 0700 directory."""
    directory = Path(out)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    (directory / "dom").mkdir(mode=0o700, exist_ok=True)
    files = {
        HAR: recording.har,
        META: msgspec.json.format(msgspec.json.encode(recording.meta)),
        SITE: recording.site_text,
        **{f"dom/{k}.html": v for k, v in recording.snapshots.items()},
    }
    if recording.screenshot:
        files[SHOT] = recording.screenshot
    for name, data in files.items():
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
    return sorted(files)
