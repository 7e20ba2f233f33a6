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

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from common.files import atomic_write
from instance_runner import chromium
from instance_runner.display import Xvfb
from instance_runner.pages import MAX_TABS, Pages
from instance_runner.sites import moved
from instance_runner.sites.adapter import SiteAdapter, prepare_context
from instance_runner.sites.types import SiteFile
from instance_runner.state import Account, Lost, Opened, Phase

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
    ) -> None:
        self.site = site
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
        self._adapter_ref: list[SiteAdapter] = []
        self._saver: asyncio.Task[None] | None = None
        self._carried = 0

    @property
    def adapter(self) -> SiteAdapter:
        """A working page's adapter (models, checks); any page's before."""
        first = self.pages.first if self.pages else None
        return first if first is not None else self._adapter_ref[0]

    @property
    def page(self) -> Page | None:
        return self.adapter.page if self._adapter_ref else None

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
        return self.adapter.known_models if self._adapter_ref else []

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
        self.browser = await self._pw.chromium.launch(
            executable_path=executable,
            headless=self.mode != "headed",
            env=env,
            args=chromium.flags(self.extra_args),
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        self.browser.on("disconnected", self._on_disconnected)
        log.info(
            "browser %s up in %.2fs (%s, %s)",
            self.browser.version,
            time.monotonic() - started,
            executable or "Playwright's own",
            self.mode,
        )
        target = self.site.moved_to or self.site.url
        state, carried = moved.load_profile(self.profile, target, self.site.moved_from)
        if carried:
            log.info("carried %d cookies over from %s", carried, ", ".join(self.site.moved_from))
        self._carried = carried
        self.context = await self.browser.new_context(storage_state=state)
        await prepare_context(self.context, self._adapter_ref)
        self.pages = Pages(
            self.site,
            self.context,
            self._adapter_ref,
            tabs=self.tabs,
            read_only=self.read_only,
            on_captcha=self.account.human_check,
            on_fatal=self.on_fatal,
            on_opened=self._first_opened,
        )
        await self.pages.open_first()
        if not self.read_only:
            self._saver = asyncio.get_running_loop().create_task(self._save_every(save_interval))

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
