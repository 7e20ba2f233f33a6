"""Active health probes of each instance's /health and each mictld host's /readyz.

What a probe finds is an event into the backend's routability machine
(routability.py): a passing probe says ok, not ready, logged out or captcha;
no answer counts a failure. M failures in a row ask the supervisor for a
restart (of an instance; another host's mictld is its own supervisor's): a
pure decision, `after_failure`, beside fleet/health_restarts.py's `verdict`
(restart once more, or give up).
What /health says of models and per-model rate limits goes into the pool as
data; a host's models come from its /v1/models, its per-model cooldowns from
its 429s (proxy.py), as for any upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec

from daemon.config.schema import HealthSection
from daemon.router.backend import Backend
from daemon.router.pool import Pool
from daemon.router.routability import Phase, ProbeFailed, ProbePassed, Verdict
from daemon.router.upstream import Client

log = logging.getLogger("mictld.health")


class HealthReport(msgspec.Struct):
    """The fields of an instance's /health the daemon uses."""

    ok: bool
    logged_in: bool = True
    captcha: bool = False
    browser_connected: bool = True
    models: list[str] = []
    rate_limited_until: dict[str, float] = {}
    capacity: int = 0  # its pages: requests it runs at once (0: an older runner)
    pages: list[str] = []  # each page's state: free, busy, opening, broken
    proxy: str = ""  # its profile's proxy, scheme://host:port
    proxy_unreachable: bool = False  # that proxy refuses or fails (it retries by itself)


class Readiness(msgspec.Struct):
    """A mictld's /readyz: ready when any of its backends takes work."""

    ready: bool
    capacity: int = 0  # its routable backends' max_concurrent, summed


class Model(msgspec.Struct):
    id: str
    alias_of: list[str] | None = None  # one of the host's [aliases]


def _served(model: Model) -> bool:
    """A host serves its models and its exact aliases; a glob alias
    ("claude-*") names no model and stays the host's own business."""
    return not (model.alias_of and any(c in model.id for c in "*?["))


class ModelList(msgspec.Struct):
    data: list[Model]


def _auth(b: Backend) -> dict[str, str]:
    """An instance's key (common/instance_auth.py) or a host's API key."""
    return {"Authorization": f"Bearer {b.api_key}"} if b.api_key else {}


class BadAnswer(Exception):
    """A host answered, but not as a mictld does (e.g. 401: a wrong key)."""


class FailedProbe(msgspec.Struct, frozen=True):
    """What one failed probe means (`after_failure`)."""

    failures: int  # failed probes in a row, this one included; 0: excused
    starting_since: float | None  # failing while STARTING since (None: forget it)
    restart: bool  # the restart_after-th in a row: ask for a restart, begin a new row


def after_failure(
    failures: int,
    starting_since: float | None,
    *,
    starting: bool,
    instance: bool,
    now: float,
    cfg: HealthSection,
) -> FailedProbe:
    """Pure: one more failed probe of a backend that had `failures` in a row.

    A backend still STARTING is excused for `start_timeout` from its first
    failure (the supervisor's startsecs and the runner judge a slow start);
    past it, failures count. The `restart_after`-th in a row of an instance
    asks for a restart (another host's mictld is its own supervisor's).
    """
    if starting:
        since = now if starting_since is None else starting_since
        if now - since < cfg.start_timeout:
            return FailedProbe(0, since, restart=False)
        starting_since = since
    failures += 1
    if instance and cfg.restart_after and failures >= cfg.restart_after:
        return FailedProbe(failures, None, restart=True)
    return FailedProbe(failures, starting_since, restart=False)


def verdict(report: HealthReport) -> Verdict:
    if report.ok:
        return "ok"
    if report.proxy_unreachable:
        return "proxy_unreachable"
    if report.captcha:
        return "captcha"
    if not report.logged_in:
        return "logged_out"
    return "not_ready"


class Prober:
    def __init__(
        self,
        pool: Pool,
        cfg: HealthSection,
        restart: Callable[[str, str], Awaitable[object]],
        after_round: Callable[[], None] = lambda: None,
        on_pass: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.pool = pool
        self.cfg = cfg
        self.restart = restart  # async callable(name, reason)
        self.after_round = after_round  # e.g. recycling checks
        self.on_pass = on_pass  # a probe passed (health_restarts.py clears its count)
        self._starting_since: dict[str, float] = {}  # failing while STARTING, since
        # Kept-alive connections to each backend, the router's own small
        # client: no session, no per-probe objects beyond a request and its
        # response (aiohttp's client cost about 1 ms of CPU per probe).
        self.client: Client | None = None
        self.failures: dict[str, int] = {}  # failed probes in a row, by backend
        self._fast: dict[str, asyncio.Task[None]] = {}

    def configure(self, cfg: HealthSection) -> None:
        """Settings that apply live (reload)."""
        self.cfg = cfg

    async def run(self, stop: asyncio.Event) -> None:
        self.client = Client(connect_timeout=self.cfg.timeout)
        try:
            while not stop.is_set():
                backends = [b for b in self.pool.backends.values() if b.probed and b.process_up]
                await asyncio.gather(*(self.probe(b) for b in backends))
                self.after_round()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.cfg.interval)
        finally:
            for task in self._fast.values():
                task.cancel()
            self.client.close()

    def probe_soon(self, backend: Backend) -> None:
        """Probe now, and quickly until one passes (after a start, an undrain,
        or a 5xx): a fresh instance takes requests within moments."""
        if self.client is None or backend.name in self._fast:
            return

        async def fast() -> None:
            try:
                deadline = time.monotonic() + 120
                while backend.process_up and time.monotonic() < deadline:
                    if await self.probe(backend, count_failures=False) == "ok":
                        break
                    await asyncio.sleep(0.2)
            finally:
                self._fast.pop(backend.name, None)

        self._fast[backend.name] = asyncio.get_running_loop().create_task(fast())

    async def probe(self, b: Backend, *, count_failures: bool = True) -> Verdict | None:
        """One probe of one backend; what it said, or None without an answer."""
        if b.kind == "mictld":
            return await self._probe_host(b, count_failures)
        try:
            root = b.base_url.removesuffix("/v1")
            async with asyncio.timeout(self.cfg.timeout):
                status, body = await self._get(f"{root}/health", _auth(b))
            if status == 401:  # its key is not the one mictld holds
                raise BadAnswer("/health refused the instance key (401)")
            report = msgspec.json.decode(body, type=HealthReport)
        except (TimeoutError, msgspec.DecodeError, OSError) as exc:
            if count_failures:
                self._failed(b, self._why(exc))
            return None
        except BadAnswer as exc:
            if count_failures:
                self._failed(b, str(exc))
            return None
        if b.name not in self.pool.backends or not b.process_up:
            return None  # gone or stopped while the probe was out
        self.failures[b.name] = 0
        now_wall, now = time.time(), self.pool.clock()
        b.models = set(report.models) if report.models else b.models
        b.pages = report.pages
        b.proxy = report.proxy
        if report.capacity > 0 and report.capacity != b.reported:
            # Its pages are its capacity (`tabs`), whatever [router] max_concurrent says.
            b.reported = b.max_concurrent = report.capacity
            self.pool.wake()
        for model, until in report.rate_limited_until.items():
            b.cooldowns[model] = max(b.cooldowns.get(model, 0.0), now + (until - now_wall))
        said = verdict(report)
        if said == "ok":
            self._starting_since.pop(b.name, None)
            self.on_pass(b.name)
        self.pool.feed(b, ProbePassed(said))
        return said

    async def _probe_host(self, b: Backend, count_failures: bool) -> Verdict | None:
        """Another host's mictld: its /readyz, then (ready) its /v1/models."""
        headers = _auth(b)
        models: set[str] = set()
        try:
            root = b.base_url.removesuffix("/v1")
            async with asyncio.timeout(self.cfg.timeout):
                _, body = await self._get(f"{root}/readyz", headers)
                readiness = msgspec.json.decode(body, type=Readiness)
                ready = readiness.ready
                if ready:
                    status, body = await self._get(f"{b.base_url}/models", headers)
                    if status != 200:
                        raise BadAnswer(f"/v1/models answered {status}")
                    listed = msgspec.json.decode(body, type=ModelList)
                    models = {m.id for m in listed.data if _served(m)}
        except (TimeoutError, msgspec.DecodeError, OSError) as exc:
            if count_failures:
                self._failed(b, self._why(exc))
            return None
        except BadAnswer as exc:
            if count_failures:
                self._failed(b, str(exc))
            return None
        if self.pool.backends.get(b.name) is not b:
            return None  # removed or replaced by a reload while the probe was out
        self.failures[b.name] = 0
        if models:  # a ready host lists what its routable accounts serve
            b.models = models
        if readiness.capacity > 0:  # the front's queue waits, not the host's
            b.max_concurrent = min(b.cap, readiness.capacity)
        said: Verdict = "ok" if ready and b.models is not None else "not_ready"
        self.pool.feed(b, ProbePassed(said))
        return said

    async def _get(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """GET on a kept-alive connection; the caller bounds the time."""
        assert self.client is not None
        self.client.connect_timeout = self.cfg.timeout  # the live [health] (a reload)
        resp = await self.client.request("GET", url, b"", headers, self.cfg.timeout)
        try:
            body = await resp.read()
        except BaseException:
            resp.close()
            raise
        resp.release()
        return resp.status, body

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.cfg.timeout:g}s"
        if isinstance(exc, msgspec.DecodeError):
            return f"not a health answer: {exc}"
        return str(exc) or exc.__class__.__name__

    def _failed(self, b: Backend, why: str) -> None:
        d = after_failure(
            self.failures.get(b.name, 0),
            self._starting_since.get(b.name),
            starting=b.phase == Phase.STARTING,
            instance=b.kind == "instance",
            now=time.monotonic(),
            cfg=self.cfg,
        )
        self.failures[b.name] = 0 if d.restart else d.failures
        if d.starting_since is None:
            self._starting_since.pop(b.name, None)
        else:
            self._starting_since[b.name] = d.starting_since
        if not d.failures:
            return  # excused: still starting
        self.pool.feed(b, ProbeFailed(d.failures, why))
        if d.restart:
            reason = f"health: {d.failures} failed probes ({why})"
            asyncio.get_running_loop().create_task(self.restart(b.name, reason))
