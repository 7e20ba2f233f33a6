"""The front port: OpenAI's API over every routable backend.

Checks each chat body once (validate.py: a client's bad request is answered
400 here and never reaches a backend) and forwards the bytes unchanged.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from common import http_errors, instance_auth
from common.errors import error_json
from common.files import read_regular
from common.serving import ClientGone, cancel_on_disconnect
from daemon.config.keys import api_keys
from daemon.config.schema import Config, UpstreamSection
from daemon.router import catalog, validate
from daemon.router.apis import aliases
from daemon.router.apis import routes as api_routes
from daemon.router.backend import Backend
from daemon.router.dashboard import routes as dashboard_routes
from daemon.router.dashboard.model import Feed
from daemon.router.discovery import Discovery
from daemon.router.metrics import Metrics
from daemon.router.pool import NoRoute, Pool, PoolHooks
from daemon.router.proxy import Forwarder, Relay, error_body, no_route_response
from daemon.router.routability import Policy, ProcessUp
from daemon.types import ProgramSpec

log = logging.getLogger("mictld.router")


class Router:
    def __init__(
        self, cfg: Config, *, pool_hooks: PoolHooks | None = None, dashboard: Feed | None = None
    ) -> None:
        self.cfg = cfg
        self.pool = Pool(cfg.router, hooks=pool_hooks)
        self.metrics = Metrics(self.pool)
        self.forwarder = Forwarder(self.pool, self.metrics)
        self.keys: list[bytes] = []
        self.dashboard = dashboard  # the daemon's view, when there is a daemon
        self.discovery = Discovery(self.pool, self._discovered)  # upstreams found in DNS
        self.apply_config(cfg)

    def apply_config(self, cfg: Config) -> None:
        """Router settings, keys and upstreams apply live on reload."""
        self.cfg = cfg
        self.keys = [k.encode() for k in api_keys(cfg)]
        self.pool.configure(cfg.router)
        self.pool.policy = Policy(unhealthy_after=cfg.health.unhealthy_after)
        wanted = {n for n, u in cfg.upstreams.items() if not u.discover}
        for name in [
            n
            for n, b in self.pool.backends.items()
            if b.kind != "instance" and n not in wanted and not self.discovery.owns(n)
        ]:
            del self.pool.backends[name]
        self.discovery.configure(cfg)
        for name, up in cfg.upstreams.items():
            if up.discover:
                continue
            key = _upstream_key(name, up.api_key_env, up.api_key_file)
            old = self.pool.backends.get(name)
            kind = "mictld" if up.kind == "mictld" else "upstream"
            # A host's models come from its /v1/models unless the config names them.
            models = set(up.models) if up.models or kind == "upstream" else None
            backend = Backend(
                name,
                up.base_url,
                kind=kind,
                breaker=cfg.router.breaker,
                max_concurrent=up.max_concurrent,
                weight=up.weight,
                priority=up.priority,
                models=models,
                api_key=key,
                rpm=up.rpm,
            )
            if old is not None:  # keep what it learned
                backend.in_flight, backend.breaker = old.in_flight, old.breaker
                backend.cooldowns, backend.ewma_ms = old.cooldowns, old.ewma_ms
                backend.served, backend.failed = old.served, old.failed
            self.pool.backends[name] = backend
            if kind == "mictld":
                if old is not None and old.kind == kind and old.base_url == backend.base_url:
                    backend.mem = old.mem  # still the same host: as routable as it was
                    backend.max_concurrent = min(backend.cap, old.max_concurrent)
                    backend.models = models if models is not None else old.models
                else:  # a new host: routable once its /readyz passes
                    self.pool.feed(backend, ProcessUp())
        self.pool.wake()

    def _discovered(self, upstream: str, name: str, url: str, up: UpstreamSection) -> Backend:
        """A host that `discover` found: probed on /readyz like any mictld upstream."""
        return Backend(
            name,
            url,
            kind="mictld",
            breaker=self.cfg.router.breaker,
            max_concurrent=up.max_concurrent,
            weight=up.weight,
            priority=up.priority,
            models=set(up.models) if up.models else None,
            api_key=_upstream_key(upstream, up.api_key_env, up.api_key_file),
            rpm=up.rpm,
        )

    def sync_instances(self, specs: list[ProgramSpec]) -> list[str]:
        """One backend per instance program (ports come from the supervisor);
        returns the names of the backends it added. A backend whose port
        changed keeps its state and takes the new URL."""
        host = self.cfg.profiles.host
        instances = {s.name: s for s in specs if s.kind == "instance" and s.port}
        for name in [
            n for n, b in self.pool.backends.items() if b.kind == "instance" and n not in instances
        ]:
            del self.pool.backends[name]
        r = self.cfg.router
        added = []
        for name, spec in instances.items():
            url = f"http://{host}:{spec.port}/v1"  # an OpenAI base URL, like upstreams
            key = _instance_key(self.cfg.daemon.state_dir, name)
            current = self.pool.backends.get(name)
            if current is not None:
                current.base_url, current.api_key = url, key
                continue
            self.pool.backends[name] = Backend(
                name,
                url,
                kind="instance",
                breaker=r.breaker,
                max_concurrent=r.max_concurrent,
                weight=r.weights.get(name, 1),
                priority=r.priorities.get(name, 100),
                api_key=key,
            )
            added.append(name)
        self.pool.wake()
        return added

    def authorized(self, given: str) -> bool:
        """`given` is the Authorization header's value."""
        if not self.keys:
            return True
        token = given[7:].encode() if given[:7].lower() == "bearer " else b""
        # Constant time per key, and every key is compared.
        return sum(hmac.compare_digest(token, k) for k in self.keys) > 0

    async def start(self) -> None:
        await self.forwarder.start()
        await self.discovery.start()

    async def close(self) -> None:
        await self.discovery.close()
        await self.forwarder.close()


def _upstream_key(name: str, env: str, path: str) -> str:
    if env:
        key = os.environ.get(env, "")
        if not key:
            log.warning("upstream %s: environment variable %s is empty", name, env)
        return key
    if path:
        try:
            return read_regular(path, 2**16).decode(errors="replace").strip()  # never a FIFO
        except OSError as exc:
            log.warning("upstream %s: cannot read api_key_file: %s", name, exc.strerror)
    return ""


def _instance_key(state_dir: str, name: str) -> str:
    """The key mictld made for an instance (daemon/profiles.py), sent on every request
    and probe; "" when there is none (the instance is FATAL then)."""
    try:
        return instance_auth.read_key(instance_auth.key_path(state_dir, name))
    except (OSError, ValueError):
        return ""


def _error(status: int, message: str, code: str) -> Response:
    return Response(error_body(message, code, status), status, media_type="application/json")


def build_app(router: Router) -> ASGIApp:
    """The chat endpoint is plain ASGI (the hot path: no routing table, no
    middleware stack); the rest is an ordinary Starlette app."""

    async def chat(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await _chat(Headers(raw=scope["headers"]), receive)
        except ClientGone:  # hung up mid-body: the client's doing, not an error
            response = Response(status_code=499)
        except Exception as exc:  # never a plain-text 500 (nothing was sent yet)
            log.error("chat request failed", exc_info=exc)
            response = _error(500, f"internal error ({type(exc).__name__})", "internal_error")
        await response(scope, receive, send)

    async def _chat(headers: Headers, receive: Receive) -> Response | Relay:
        if not router.authorized(headers.get("authorization", "")):
            return _error(
                401, "Incorrect or missing API key (Authorization: Bearer ...)", "invalid_api_key"
            )
        limit = router.cfg.router.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            if int(declared) <= 4 * limit:
                await _discard(receive, 4 * limit)
            return _error(413, f"request body over {limit} bytes", "body_too_large")
        body = await _read_body(receive, limit)
        if body is None:
            await _discard(receive, 4 * limit)
            return _error(413, f"request body over {limit} bytes", "body_too_large")
        try:
            info = await validate.check_off_loop(body)
        except validate.BadRequest as exc:
            return Response(
                error_json(exc.message, "invalid_request_error", exc.code, exc.param),
                400,
                media_type="application/json",
            )
        if router.cfg.aliases:  # a client's name for a model the pool serves
            model = aliases.resolve(router.cfg.aliases, info.model, router.pool.known_models())
            if model != info.model:
                body = aliases.with_model(body, model)
                info = validate.ChatInfo(model, info.stream, info.user)
        sticky = None
        if router.cfg.router.sticky == "user":
            sticky = info.user
        elif router.cfg.router.sticky == "header":
            sticky = headers.get(router.cfg.router.sticky_header)
        try:
            async with cancel_on_disconnect(receive):
                return await router.forwarder.forward(body, info.model, info.stream, sticky)
        except ClientGone:
            return Response(status_code=499)
        except NoRoute as exc:
            return no_route_response(exc)

    async def models(request: Request) -> Response:
        key = request.headers.get("x-api-key")  # the Anthropic SDKs' header
        if not router.authorized(
            f"Bearer {key}" if key else request.headers.get("authorization", "")
        ):
            return _error(401, "Incorrect or missing API key", "invalid_api_key")
        served = router.pool.known_models()
        extra = aliases.listing(router.cfg.aliases, served)
        return Response(catalog.listing(served, extra), media_type="application/json")

    async def model(request: Request) -> Response:
        key = request.headers.get("x-api-key")
        if not router.authorized(
            f"Bearer {key}" if key else request.headers.get("authorization", "")
        ):
            return _error(401, "Incorrect or missing API key", "invalid_api_key")
        served, wanted = router.pool.known_models(), request.path_params["model"]
        for entry in aliases.listing(router.cfg.aliases, served):
            if entry["id"] == wanted:
                return Response(msgspec.json.encode(entry), media_type="application/json")
        try:
            found = catalog.retrieve(served, wanted)
        except catalog.UnknownModel as exc:
            return _error(404, str(exc), "model_not_found")
        return Response(found, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def readyz(request: Request) -> Response:
        now = router.pool.clock()
        draining = router.pool.draining  # going away: out of every Service and front
        up = [] if draining else [b for b in router.pool.backends.values() if b.up(now)]
        # capacity: what a front mictld may hand this one at once (multi-host).
        body = msgspec.json.encode(
            {
                "ready": bool(up),
                "routable": sorted(b.name for b in up),
                "capacity": sum(b.max_concurrent for b in up),
                "draining": draining,
            }
        )
        return Response(body, 200 if up else 503, media_type="application/json")

    async def metrics(request: Request) -> Response:
        wanted = router.cfg.router.metrics_auth
        if wanted and not router.authorized(request.headers.get("authorization", "")):
            return _error(401, "Incorrect or missing API key (metrics_auth)", "invalid_api_key")
        await router.metrics.refresh()
        return Response(router.metrics.render(), media_type="text/plain; version=0.0.4")

    async def not_chat(request: Request) -> Response:
        return _error(405, "use POST for /v1/chat/completions", "method_not_allowed")

    def keyed(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
        """With API keys configured the dashboard wants one too (?key= in a browser)."""

        async def guarded(request: Request) -> Response:
            key = request.query_params.get("key", "")
            if not router.authorized(request.headers.get("authorization") or f"Bearer {key}"):
                return _error(401, "add ?key=YOUR_API_KEY", "invalid_api_key")
            return await endpoint(request)

        return guarded

    rest = Starlette(
        exception_handlers=http_errors.handlers(),
        routes=[
            *dashboard_routes(router, keyed),
            Route("/v1/chat/completions", not_chat),
            Route("/v1/models", models),
            Route("/v1/models/{model:path}", model),
            *api_routes.routes(router),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/v1/chat/completions"
        ):
            await chat(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return app


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it grows past `limit` (stop reading)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _discard(receive: Receive, most: int) -> None:
    """Read and drop the rest of a refused body (up to `most` bytes), so the
    client reads our 413 instead of a reset connection."""
    size = 0
    while size <= most:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return
        size += len(message.get("body", b""))
