"""The Playwright lifecycle of one instance: one browser, one context, N pages
(pages.py).

A page crash gets a fresh page; a browser crash or disconnect is fatal to the
runner (it exits non-zero and the supervisor restarts it). Refreshed cookies
are saved to the private profile copy periodically and on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ProxySettings,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from common.files import atomic_write
from common.proxy import Credentials, ProxyURL, is_proxy_error
from instance_runner import chromium
from instance_runner.display import Xvfb
from instance_runner.pages import MAX_TABS, Pages
from instance_runner.proxy import ProxyWatch
from instance_runner.sites import moved
from instance_runner.sites.adapter import SiteAdapter
from instance_runner.sites.errors import SiteProblem
from instance_runner.sites.types import SiteFile
from instance_runner.state import Account, Lost, Opened, Phase, ProxyBack, ProxyDown

log = logging.getLogger("mictl.instance")

MAX_ARTIFACTS = 20


class BrowserSession:
    def __init__(
        self,
        site: SiteFile,
        *,
        profile: str,
        pool: str | None = None,
        executable: str = "",
        headless: bool = True,
        mode: str = "",
        extra_args: list[str] | None = None,
        artifacts_dir: str | None = None,
        on_fatal: Callable[[str], None] = lambda reason: None,
        read_only: bool = False,
        tabs: int = 1,
        account: Account | None = None,
        proxy: ProxyURL | None = None,
        credentials: Credentials | None = None,
        locale: str = "",
        timezone: str = "",
    ) -> None:
        self.site = site
        # The profile's own proxy (common/proxy.py), watched (proxy.py);
        # the credentials go to Chromium and the watch, nowhere else.
        self.proxy = proxy
        self._credentials = credentials
        self.proxy_watch: ProxyWatch | None = None
        self.locale, self.timezone = locale, timezone
        # What the account can do (state.py): the pages report to it.
        self.account = account or Account()
        self.profile = profile
        self.pool = pool
        self.executable = executable
        # The operator's --headed wins; else --browser-mode; else the site file's.
        self.mode = "headed" if not headless else (mode or site.browser)
        self._display: Xvfb | None = None
        self.extra_args = extra_args or []
        self.artifacts_dir = artifacts_dir
        self.on_fatal = on_fatal
        self.read_only = read_only  # never write the profile (mictl site check)
        # N pages in one context, each answering its own request (pages.py).
        self.tabs = 1 if read_only else max(1, min(MAX_TABS, tabs))
        self.pages: Pages | None = None
        self.login_hint = ""  # why a signed-out profile cannot work as is
        self.closing = False
        self._pw: Playwright | None = None
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self._saver: asyncio.Task[None] | None = None
        self._carried = 0

    @property
    def adapter(self) -> SiteAdapter:
        """A working page's adapter (models, checks); any page's before."""
        first = self.pages.first if self.pages else None
        if first is None:
            raise LookupError("no page is open")
        return first

    @property
    def page(self) -> Page | None:
        first = self.pages.first if self.pages else None
        return first.page if first else None

    @property
    def logged_in(self) -> bool:
        """Signed in, as far as its pages saw (a human check counts as signed in)."""
        return self.account.phase not in (Phase.STARTING, Phase.LOGGED_OUT)

    @property
    def page_ready(self) -> bool:
        """A page takes or runs requests (a crashed one alone is being replaced)."""
        return self.pages is not None and self.pages.ready

    @property
    def models(self) -> list[str]:
        """The site's models as last read (empty before the page is ready)."""
        first = self.pages.first if self.pages else None
        return first.known_models if first else []

    @property
    def connected(self) -> bool:
        return self.browser is not None and self.browser.is_connected()

    async def start(self, save_interval: float = 60.0) -> None:
        self._pw = await async_playwright().start()
        full = self.mode != "headless-shell"
        executable = chromium.find(self.executable, chromium.playwright_default(), full=full)
        env = None
        if self.mode == "headed" and not os.environ.get("DISPLAY"):
            if Xvfb.available():
                self._display = await asyncio.to_thread(Xvfb.start)
                env = {**os.environ, "DISPLAY": self._display.display}
                log.info("headed browser on Xvfb display %s", self._display.display)
            else:
                # Still full Chromium, the closest thing; said once, loudly.
                log.warning(
                    "the site wants a headed browser but there is no display and no Xvfb "
                    "(apt-get install xvfb): running full Chromium headless instead"
                )
                self.mode = "headless"
        started = time.monotonic()
        proxy: ProxySettings | None = None
        if self.proxy is not None:
            proxy = ProxySettings(server=self.proxy.server)
            if self._credentials is not None:
                proxy["username"] = self._credentials.username
                proxy["password"] = self._credentials.password
        self.browser = await self._pw.chromium.launch(
            executable_path=executable,
            headless=self.mode != "headed",
            env=env,
            proxy=proxy,
            args=chromium.flags(self.extra_args),
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        self.browser.on("disconnected", self._on_disconnected)
        log.info(
            "browser %s up in %.2fs (%s, %s%s)",
            self.browser.version,
            time.monotonic() - started,
            executable or "Playwright's own",
            self.mode,
            f", proxy {self.proxy.server}" if self.proxy else "",  # never its credentials
        )
        target = self.site.moved_to or self.site.url
        state, carried = moved.load_profile(self.profile, target, self.site.moved_from)
        if carried:
            log.info("carried %d cookies over from %s", carried, ", ".join(self.site.moved_from))
        self._carried = carried
        self.context = await self.browser.new_context(
            storage_state=state, locale=self.locale or None, timezone_id=self.timezone or None
        )
        self.pages = Pages(
            self.site,
            self.context,
            tabs=self.tabs,
            read_only=self.read_only,
            on_captcha=self.account.human_check,
            on_fatal=self.on_fatal,
            on_opened=self._first_opened,
        )
        if self.proxy is not None and not self.read_only:
            host = urlsplit(target)
            self.proxy_watch = ProxyWatch(
                self.proxy,
                self._credentials,
                (host.hostname or "", host.port or (443 if host.scheme == "https" else 80)),
                on_down=self._proxy_down,
                on_up=self._proxy_up,
            )
        watch = self.proxy_watch
        # A proxy that is down or refuses the credentials is no reason to
        # exit (the supervisor would only start it into the same proxy): the
        # account says so, and the watch opens the first page once it answers.
        if watch is None or await watch.check_now():
            try:
                await self.pages.open_first()
            except PlaywrightError as exc:
                if watch is None:
                    raise
                if is_proxy_error(str(exc)):
                    watch.failed(_first_line(exc))
                elif await watch.check_now():
                    raise  # the proxy answers: the page failed on its own
        if watch is not None:
            watch.start()
        if not self.read_only:
            self._saver = asyncio.get_running_loop().create_task(self._save_every(save_interval))

    def _proxy_down(self, reason: str) -> None:
        assert self.proxy is not None
        log.warning("proxy %s unreachable: %s", self.proxy.server, reason)
        self.account.feed(ProxyDown(f"proxy unreachable: {reason}"))

    async def _proxy_up(self) -> bool:
        """The proxy answers again: the pages open afresh (what loaded while
        it was down is an error page), then the account is what they see.
        True when the account works again."""
        assert self.proxy is not None and self.pages is not None
        log.info("proxy %s answers again; opening the pages afresh", self.proxy.server)
        try:
            await self.pages.reopen()
        except (PlaywrightError, SiteProblem) as exc:  # tried again on the watch's backoff
            log.warning("the page could not open through the proxy yet: %s", _first_line(exc))
            return False
        self.account.feed(ProxyBack())  # Opened has said READY, unless the account is elsewhere
        return True

    async def _first_opened(self, signed_in: bool) -> None:
        """The first page is open (at start, or again after every page broke)."""
        if signed_in:
            self.account.feed(Opened(True))
            log.info("page ready and signed in at %s", self.site.url)
            return
        reason = await self.adapter.signed_out_reason() or "no sign of a session"
        target = self.site.moved_to or self.site.url
        self.login_hint = moved.hint(target, self.site.moved_from, self._carried)
        self.account.feed(Opened(False, reason))
        log.warning(
            "page ready but NOT signed in at %s (%s): %s",
            self.site.url,
            reason,
            self.login_hint or "the profile's session expired?",
        )

    def _on_disconnected(self, browser: Browser) -> None:
        if not self.closing:
            reason = "the browser disconnected (crashed or was killed)"
            self.account.feed(Lost(reason))
            self.on_fatal(reason)

    # ------------------------------------------------------------ profile

    async def save_state(self) -> None:
        """Write the context's refreshed storage_state to the private copy
        (and the pool file with write_back), atomically."""
        if self.context is None or not self.connected or self.read_only:
            return
        state = await self.context.storage_state()
        data = json.dumps(state, indent=2).encode()
        atomic_write(self.profile, data, 0o600)
        if self.pool:
            mode = os.stat(self.pool).st_mode & 0o777 if os.path.exists(self.pool) else 0o600
            atomic_write(self.pool, data, mode)

    async def _save_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.save_state()
            except (PlaywrightError, OSError) as exc:
                log.warning("could not save the profile: %s", exc)

    # ---------------------------------------------------------- artifacts

    async def save_artifacts(self, reason: str, page: Page | None = None) -> str | None:
        """Screenshot + HTML of `page` (else a working one) next to the
        instance log, keeping the newest few."""
        page = page or self.page
        if not self.artifacts_dir or page is None:
            return None
        directory = Path(self.artifacts_dir)
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03}"
        try:
            await page.screenshot(path=f"{stem}.png", timeout=5000)
            (directory / f"{stem.name}.html").write_text(await page.content())
            (directory / f"{stem.name}.txt").write_text(reason + "\n")
        except PlaywrightError as exc:
            log.warning("could not save error artifacts: %s", exc)
            return None
        stems = sorted({p.stem for p in directory.iterdir()})
        for old in stems[:-MAX_ARTIFACTS]:
            for suffix in (".png", ".html", ".txt"):
                with contextlib.suppress(FileNotFoundError):
                    (directory / f"{old}{suffix}").unlink()
        return str(stem)

    async def close(self) -> None:
        self.closing = True
        if self.proxy_watch is not None:
            self.proxy_watch.stop()
        if self._saver:
            self._saver.cancel()
        if self.pages:
            await self.pages.close()
        with contextlib.suppress(PlaywrightError, OSError):
            await self.save_state()
        with contextlib.suppress(PlaywrightError):
            if self.browser:
                await self.browser.close()
        if self._pw:
            with contextlib.suppress(PlaywrightError):
                await self._pw.stop()
        if self._display is not None:
            self._display.stop()


def _first_line(exc: Exception) -> str:
    """Playwright's message without its call log (which may name URLs)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
