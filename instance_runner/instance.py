"""The state behind one instance's API: the browser session, the queue, and
what the site said (cooling models, logged out, captcha), published on
/health as structured data."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator

import anyio

from instance_runner import state
from instance_runner.browser import BrowserSession
from instance_runner.sites.adapter import SiteAdapter
from instance_runner.sites.errors import (
    Captcha,
    LoggedOut,
    PageCrashed,
    PageJammed,
    RateLimited,
    SiteError,
    SiteProblem,
    Stalled,
    UpstreamError,
)
from instance_runner.state import Phase
from instance_runner.types import Health

log = logging.getLogger("mictl.instance")
# The page the current request holds (slot()), for what failed_with saves.
_held: contextvars.ContextVar[SiteAdapter | None] = contextvars.ContextVar("held", default=None)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type: str,
        code: str,
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.code, self.headers = status, type, code, headers or {}
        self.param = param  # the request field at fault, as OpenAI names it


def rate_limit_error(model: str, seconds: float, text: str = "") -> ApiError:
    retry = max(1, round(seconds))
    message = f"rate limited on {model}; retry after {retry}s" + (f" ({text})" if text else "")
    return ApiError(429, message, "rate_limit_error", "rate_limited", {"Retry-After": str(retry)})


class Instance:
    def __init__(
        self,
        name: str,
        session: BrowserSession,
        *,
        max_queue: int = 8,
        model_default: str | None = None,
    ) -> None:
        self.name = name
        self.model_default = model_default
        self.session = session
        self.account = session.account  # what the account can do (state.py)
        self.max_queue = max_queue
        self.waiting = 0
        self.served = 0
        self.failed = 0
        self.last_error = ""
        # Requests between asking for a page and their first delta, and those
        # of them the proxy's failure has cut short (until_started).
        self._starting: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()

    def entered(self, phase: Phase) -> None:
        """The account entered `phase` (main.py gives this to the Account as
        its on_enter). When the proxy went down, the requests still waiting
        for a page, or for its next chat, fail now (503 proxy_unreachable,
        which the router retries elsewhere), not at that load's own timeout."""
        if phase != Phase.PROXY_DOWN:
            return
        for task in self._starting - self._cut:
            self._cut.add(task)
            task.cancel()

    @contextlib.asynccontextmanager
    async def until_started(self) -> AsyncIterator[None]:
        """Wrap a request's wait for a page and for its first delta: a
        proxy that goes down meanwhile ends it with 503 proxy_unreachable."""
        if self.account.phase == Phase.PROXY_DOWN:  # went down since check_ready
            raise self._proxy_unreachable()
        task = asyncio.current_task()
        assert task is not None
        self._starting.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._cut:
                raise  # not ours (the client went away, shutdown)
            task.uncancel()
            raise self._proxy_unreachable() from None
        finally:
            self._starting.discard(task)
            self._cut.discard(task)

    @property
    def busy(self) -> bool:
        """A generation is running on some page."""
        return "busy" in self.page_states()

    def page_states(self) -> list[str]:
        pages = self.session.pages
        return list(pages.states()) if pages is not None else ["opening"] * self.session.tabs

    def _phase(self) -> Phase:
        s = self.session
        if not s.connected and self.account.phase != Phase.BROKEN:
            return Phase.STARTING if s.browser is None else Phase.BROKEN
        return state.reported(self.account.mem, time.time(), pages_ready=s.page_ready)

    def health(self) -> Health:
        s, mem, now = self.session, self.account.mem, time.time()
        phase = self._phase()
        return Health(
            name=self.name,
            site=s.site.name,
            state=phase.value,
            signed_out_reason=mem.reason if phase == Phase.LOGGED_OUT else "",
            captcha_until=mem.probe_at if phase == Phase.CAPTCHA else 0.0,
            logged_in=s.logged_in,
            cooling=state.cooling(mem, now),
            browser_connected=s.connected,
            page_ready=s.page_ready,
            busy=self.busy,
            queue_length=self.waiting,
            models=s.models,
            served=self.served,
            failed=self.failed,
            last_error=self.last_error,
            capacity=s.tabs,
            pages=self.page_states(),
            proxy=s.proxy.server if s.proxy else "",
            proxy_unreachable=phase == Phase.PROXY_DOWN,
            reason=mem.reason if phase == Phase.PROXY_DOWN else "",
        )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[SiteAdapter]:
        """A free page for one request, held for its generation (FIFO
        beyond the free pages, bounded by max_queue)."""
        pages = self.session.pages
        if pages is None or (not pages.any_free and self.waiting >= self.max_queue):
            raise ApiError(
                503,
                f"instance {self.name} is busy and its queue is full"
                if pages
                else "the browser page is not ready",
                "server_error",
                "queue_full" if pages else "not_ready",
                {"Retry-After": "5"},
            )
        self.waiting += 1
        try:
            held = await pages.acquire()
        finally:
            self.waiting -= 1
        _held.set(held.adapter)
        try:
            yield held.adapter
        finally:
            replacing = pages.release(held)
            if replacing is not None:
                # A page that stopped answering: its request ends once the
                # page is replaced, as the next one may find no other page.
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([replacing])

    def _proxy_unreachable(self) -> ApiError:
        return ApiError(
            503,
            f"instance {self.name}: {self.account.mem.reason}",
            "server_error",
            "proxy_unreachable",
            {"Retry-After": "5"},
        )

    def check_ready(self, model: str) -> None:
        s, phase = self.session, self._phase()
        if phase in (Phase.STARTING, Phase.BROKEN):
            raise ApiError(
                503,
                "the browser page is not ready",
                "server_error",
                "not_ready",
                {"Retry-After": "5"},
            )
        if phase == Phase.LOGGED_OUT:
            raise ApiError(
                503,
                f"instance {self.name} is logged out of {s.site.name}: "
                + (s.login_hint or "refresh its profile"),
                "server_error",
                "logged_out",
            )
        if phase == Phase.PROXY_DOWN:
            raise self._proxy_unreachable()
        if phase == Phase.CAPTCHA:
            retry = str(max(1, round(self.account.mem.probe_at - time.time())))
            raise ApiError(
                503,
                f"instance {self.name} hit a human check on {s.site.name}: a person must solve it",
                "server_error",
                "captcha",
                {"Retry-After": retry},
            )
        until = state.cooling(self.account.mem, time.time()).get(model, 0)
        if until:
            raise rate_limit_error(model, until - time.time())

    def succeeded(self) -> None:
        self.served += 1
        if self.account.answered() and self.session.pages is not None:
            self.session.pages.fill()  # the pages it kept from opening

    async def failed_with(self, exc: SiteProblem, model: str) -> ApiError:
        """Record a site problem, save artifacts, and map it to an HTTP error."""
        self.failed += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("request failed: %s", self.last_error)
        watch = self.session.proxy_watch
        # Was it the proxy? Ask it now: if it is down, the account says so
        # (and the router goes elsewhere) before the next request.
        site_said = isinstance(exc, (RateLimited, LoggedOut, Captcha))
        if watch is not None and not site_said and not await watch.check_now():
            return ApiError(
                503, f"proxy unreachable: {watch.reason}", "server_error", "proxy_unreachable"
            )
        held = _held.get()
        if held is None or not held.jammed:  # a page that answers nothing shows nothing
            await self.session.save_artifacts(self.last_error, held.page if held else None)
        if isinstance(exc, RateLimited):
            self.account.feed(state.RateLimited(model, time.time() + exc.retry_after))
            log.warning("%s cooling down for %.0fs", model, exc.retry_after)
            return rate_limit_error(model, exc.retry_after, str(exc))
        if isinstance(exc, LoggedOut):
            self.account.feed(state.SignedOut(str(exc)))
            log.warning("instance %s is now logged out", self.name)
            return ApiError(503, str(exc), "server_error", "logged_out")
        if isinstance(exc, Captcha):
            hold = self.account.human_check(str(exc))
            return ApiError(
                503, str(exc), "server_error", "captcha", {"Retry-After": str(max(1, round(hold)))}
            )
        if isinstance(exc, Stalled):
            return ApiError(504, f"generation stalled: {exc}", "server_error", "stalled")
        if isinstance(exc, PageJammed):
            return ApiError(502, str(exc), "server_error", "page_jammed")
        if isinstance(exc, PageCrashed):
            return ApiError(502, str(exc), "server_error", "page_crashed")
        if isinstance(exc, UpstreamError):
            return ApiError(502, str(exc), "server_error", "upstream_error")
        assert isinstance(exc, SiteError)
        return ApiError(502, f"the site showed an error: {exc}", "server_error", "site_error")
