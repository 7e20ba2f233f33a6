"""The Playwright lifecycle of one instance: one browser, one context, one page.

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
from instance_runner.sites import moved
from instance_runner.sites.adapter import SiteAdapter, prepare_context
from instance_runner.sites.errors import Captcha, SiteProblem
from instance_runner.sites.types import SiteFile

log = logging.getLogger("mictl.instance")

MAX_ARTIFACTS = 20
# Two tabs share the cores: a tab that has answered waits this long for the
# client's next request before loading its next chat, and then until that
# request (on the other tab) has its first delta, at most QUIET_MAX.
QUIET_GRACE = 0.1
QUIET_MAX = 10.0


def pick_tab(current_ready: bool, spare_ready: bool) -> tuple[bool, bool]:
    """Two tabs, a request to place: (take the spare, hold the other tab's
    next-chat load until this request's first delta). A request that starts
    at once holds the other tab back; one that must wait for its own tab's
    next chat holds nothing (its own load may be the one waiting)."""
    swap = spare_ready and not current_ready
    return swap, current_ready or swap


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
    ) -> None:
        self.site = site
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
        # Two tabs: each request goes to the one whose next chat is open, so
        # a request right after an answer does not wait for a page load.
        self.tabs = 1 if read_only else max(1, min(2, tabs))
        self._spare: SiteAdapter | None = None  # the other tab (tabs = 2)
        self._spare_task: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()  # no request between take() and its first delta
        self._quiet.set()
        self.logged_in = False
        self.login_hint = ""  # why a signed-out profile cannot work as is
        self.on_captcha: Callable[[str], object] = lambda reason: None
        self.page_ready = False
        self.closing = False
        self._pw: Playwright | None = None
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self._adapter_ref: list[SiteAdapter] = []
        self._saver: asyncio.Task[None] | None = None
        self._carried = 0

    @property
    def adapter(self) -> SiteAdapter:
        return self._adapter_ref[0]

    def take(self) -> SiteAdapter:
        """The tab for the next request: with two, the one whose next chat
        is open (the other is still loading its own)."""
        spare, current = self._spare, self.adapter
        if spare is None:
            return current
        swap, hold = pick_tab(current.next_chat_ready, spare.next_chat_ready)
        if swap:
            self._spare = current
            self._adapter_ref[:] = [spare, current]
            self.page = spare.page
        if hold:
            self._quiet.clear()
            self.adapter.on_started = self._quiet.set
        else:
            self._quiet.set()
        return self.adapter

    async def _until_quiet(self) -> None:
        """Before a tab loads its next chat (two tabs): let the request that
        follows at once, on the other tab, get its first delta first."""
        await asyncio.sleep(QUIET_GRACE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), QUIET_MAX)

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
        await self.new_page()
        if not self.read_only:
            self._saver = asyncio.get_running_loop().create_task(self._save_every(save_interval))

    async def new_page(self) -> None:
        assert self.context is not None
        if self.page is not None:
            with contextlib.suppress(PlaywrightError):
                await self.page.close()
        self.page_ready = False
        self.page = await self.context.new_page()
        self.page.on("crash", self._on_crash)
        spare = [self._spare] if self._spare else []
        self._adapter_ref[:] = [SiteAdapter(self.site, self.page, self.context), *spare]
        self.adapter.reset_ahead = not self.read_only  # an instance, not `site check`
        try:
            self.logged_in = await self.adapter.open()
        except Captcha as exc:
            # A human check in front of the site: the session may be fine.
            # The instance holds work and probes later (instance.py).
            self.logged_in, self.page_ready = True, True
            self.on_captcha(str(exc))
            return
        if self.logged_in:
            await self.adapter.load_models()
        self.page_ready = True
        if self.logged_in:
            log.info("page ready and signed in at %s", self.site.url)
            if self.tabs > 1:
                self._two_tabs()
        else:
            reason = await self.adapter.signed_out_reason() or "no sign of a session"
            target = self.site.moved_to or self.site.url
            self.login_hint = moved.hint(target, self.site.moved_from, self._carried)
            log.warning(
                "page ready but NOT signed in at %s (%s): %s",
                self.site.url,
                reason,
                self.login_hint or "the profile's session expired?",
            )

    def _two_tabs(self) -> None:
        """Both tabs open their next chat ahead: the one the site opened on
        too, which else would open it when its first request comes."""
        self.adapter.before_reset = self._until_quiet
        if self.site.reset != "none":
            self.adapter.open_next_chat()
        if self._spare is None and self._spare_task is None:
            self._spare_task = asyncio.get_running_loop().create_task(self._open_spare())

    async def _open_spare(self) -> None:
        """The second tab: signed in, models read, its next chat open."""
        assert self.context is not None
        page = await self.context.new_page()
        page.on("crash", self._on_crash)
        adapter = SiteAdapter(self.site, page, self.context)
        adapter.reset_ahead = True
        adapter.before_reset = self._until_quiet
        self._adapter_ref.append(adapter)  # page.js events find it
        try:
            if not await adapter.open():
                raise SiteProblem("not signed in")
            await adapter.load_models()
            if self.site.reset != "none":
                adapter.open_next_chat()
            self._spare = adapter
            await asyncio.gather(adapter.next_chat(), self.adapter.next_chat())
            log.info("second tab ready")
        except (PlaywrightError, SiteProblem) as exc:
            log.warning("could not open a second tab (one tab it is): %s", exc)
            self._drop(adapter)
        finally:
            self._spare_task = None

    def _drop(self, adapter: SiteAdapter) -> None:
        if adapter in self._adapter_ref[1:]:
            self._adapter_ref.remove(adapter)
        if self._spare is adapter:
            self._spare = None
        asyncio.get_running_loop().create_task(_close(adapter.page))

    def _on_crash(self, page: Page) -> None:
        if self._spare is not None and page is self._spare.page:
            log.error("the second tab crashed; opening another")
            self._drop(self._spare)
            if not self.closing:
                self._spare_task = asyncio.get_running_loop().create_task(self._open_spare())
            return
        if page is not self.page:
            return
        log.error("page crashed; opening a fresh one")
        self.page_ready = False
        asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        try:
            await self.new_page()
        except PlaywrightError as exc:
            self.on_fatal(f"could not recover from a page crash: {exc}")

    @property
    def jammed(self) -> bool:
        """A page stopped answering (sites/adapter.py): replace it first."""
        return any(a.jammed for a in self._adapter_ref)

    async def replace_jammed(self) -> None:
        """Close each page that stopped answering (its renderer goes with it)
        and open a fresh one in its place; the other tab keeps its own."""
        for adapter in [a for a in self._adapter_ref if a.jammed]:
            if adapter is not self.adapter:  # the second tab
                log.error("the second tab stopped answering; opening another")
                self._drop(adapter)
                if not self.closing and self._spare_task is None:
                    loop = asyncio.get_running_loop()
                    self._spare_task = loop.create_task(self._open_spare())
                continue
            log.error("the page stopped answering; opening a fresh one")
            try:
                await self.new_page()
            except PlaywrightError as exc:
                self.on_fatal(f"could not replace a page that stopped answering: {exc}")

    def _on_disconnected(self, browser: Browser) -> None:
        if not self.closing:
            self.on_fatal("the browser disconnected (crashed or was killed)")

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

    async def save_artifacts(self, reason: str) -> str | None:
        """Screenshot + HTML next to the instance log, keeping the newest few."""
        if not self.artifacts_dir or self.page is None:
            return None
        directory = Path(self.artifacts_dir)
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03}"
        try:
            await self.page.screenshot(path=f"{stem}.png", timeout=5000)
            (directory / f"{stem.name}.html").write_text(await self.page.content())
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
        for task in (self._saver, self._spare_task):
            if task:
                task.cancel()
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


async def _close(page: Page) -> None:
    with contextlib.suppress(PlaywrightError):
        await page.close()
