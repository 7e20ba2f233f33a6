"""mictl-instance: one profile, one headless Chromium, one OpenAI-compatible port.

Exit codes: 0 after SIGTERM; 70 when the browser crashed or disconnected (the
supervisor restarts it); 78 when no browser or site file can be used (fatal:
retrying cannot help).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from common import cookie_check, instance_auth
from common.proxy import (
    Credentials,
    ProxyURL,
    credentials_from_env,
    parse_url,
    read_credentials_file,
)
from common.serving import InLoopServer
from instance_runner import chromium
from instance_runner.auth import InstanceAuth
from instance_runner.browser import BrowserSession
from instance_runner.images.fetch import Limits
from instance_runner.instance import Instance
from instance_runner.request_log import RequestLog
from instance_runner.server import build_app
from instance_runner.sites.loader import SiteFileError, load_site
from instance_runner.state import Account

log = logging.getLogger("mictl.instance")

EXIT_BROWSER_LOST = 70
EXIT_CONFIG = chromium.EXIT_NO_BROWSER


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mictl-instance", description=__doc__)
    p.add_argument("--profile", required=True, help="storage_state JSON (the private copy)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--site", default="demo", help="bundled site name or a site file path")
    p.add_argument("--site-url", default=None, help="override the site file's URL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--name", default=None, help="instance name (default: profile stem)")
    p.add_argument("--pool", default=None, help="also save refreshed cookies here (write_back)")
    p.add_argument("--log-dir", default=None, help="where error screenshots go")
    p.add_argument(
        "--key-file",
        default=os.environ.get("MICTL_INSTANCE_KEY_FILE", ""),
        help="answer only requests with `Authorization: Bearer <this file's key>` "
        "(mictld's; default: $MICTL_INSTANCE_KEY_FILE; none: open to all)",
    )
    p.add_argument("--browser-executable", default="")
    p.add_argument("--browser-arg", action="append", default=[])
    p.add_argument("--headed", action="store_true")
    p.add_argument(
        "--timeout",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="override one of the site file's [timeouts] (first_delta=20, stall=10, ...)",
    )
    p.add_argument(
        "--browser-mode",
        choices=["headless-shell", "headless", "headed"],
        default="",
        help="override the site file's browser mode",
    )
    p.add_argument(
        "--tabs",
        type=int,
        choices=range(1, 17),
        default=1,
        metavar="N",
        help="pages in the browser, each answering its own request with its own chat "
        "(N answers at once per account; a free page opens its next chat ahead, so a "
        "request right after an answer need not wait for a page load; 1..16)",
    )
    p.add_argument(
        "--proxy",
        default="",
        metavar="URL",
        help="the profile's proxy: http://, https:// or socks5://host:port (no credentials "
        "in it: they come from --proxy-credentials-file or --proxy-credentials-env)",
    )
    p.add_argument(
        "--proxy-credentials-file",
        default="",
        metavar="PATH",
        help="a 0600 file holding user:password for the proxy (read here, never shown)",
    )
    p.add_argument(
        "--proxy-credentials-env",
        default="",
        metavar="NAME",
        help="an environment variable holding user:password for the proxy",
    )
    p.add_argument("--locale", default="", help="the browser's locale (en-GB, de-DE...)")
    p.add_argument("--timezone", default="", help="the browser's time zone (Europe/Berlin...)")
    p.add_argument("--max-queue", type=int, default=8)
    p.add_argument(
        "--captcha-probe",
        type=float,
        default=None,
        help="seconds without work after a captcha before one request probes "
        "(default: the site file's timeouts.captcha_probe)",
    )
    p.add_argument("--grace", type=float, default=20.0, help="SIGTERM: seconds to finish")
    p.add_argument("--save-interval", type=float, default=60.0)
    p.add_argument(
        "--model-default",
        default=None,
        help='the model for requests that say "default" or name none',
    )
    p.add_argument(
        "--image-max-bytes", type=int, default=20 * 1024 * 1024, help="per image (and the site's)"
    )
    p.add_argument("--image-timeout", type=float, default=10.0, help="seconds to fetch an image")
    p.add_argument(
        "--image-allow",
        action="append",
        default=[],
        metavar="NETWORK",
        type=_network,
        help="a network an image URL may reach though not public (127.0.0.0/8); repeatable",
    )
    p.add_argument(
        "--timeline",
        action="store_true",
        help="keep where each request's time goes, at GET /debug/timeline "
        "(bench/instance_overhead.py; times and sizes only)",
    )
    return p.parse_args(argv)


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a network: {value!r}") from None


def _proxy(args: argparse.Namespace) -> tuple[ProxyURL | None, Credentials | None]:
    """The proxy and its credentials; a ValueError or OSError names the flag
    at fault, never what the file or variable holds."""
    file, env = args.proxy_credentials_file, args.proxy_credentials_env
    if not args.proxy:
        if file or env:
            raise ValueError("--proxy-credentials-*: without --proxy")
        return None, None
    try:
        proxy = parse_url(args.proxy)
    except ValueError as exc:
        raise ValueError(f"--proxy: {exc}") from None
    if file and env:
        raise ValueError("--proxy-credentials-file and --proxy-credentials-env: one of them")
    credentials = None
    try:
        if file:
            credentials = read_credentials_file(file)
        elif env:
            credentials = credentials_from_env(env, os.environ)
    except (OSError, ValueError) as exc:
        flag = "--proxy-credentials-file" if file else "--proxy-credentials-env"
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ValueError(f"{flag} {file or env}: {why}") from None
    if credentials is not None and proxy.scheme == "socks5":
        raise ValueError("--proxy: Chromium cannot send credentials to a socks5 proxy")
    return proxy, credentials


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.umask(0o077)  # error screenshots and page HTML hold the chat: 0600 in 0700 dirs
    name = args.name or os.path.splitext(os.path.basename(args.profile))[0]
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s {name}: %(message)s")
    try:
        site = load_site(args.site, args.site_url or os.environ.get("MICTL_SITE_URL"))
        for item in args.timeout:
            key, _, value = item.partition("=")
            if key not in site.timeouts.__struct_fields__:
                raise SiteFileError(f"--timeout {item}: no such timeout")
            setattr(site.timeouts, key, float(value))
    except (SiteFileError, ValueError) as exc:
        print(f"mictl-instance: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:  # mictld's key for this instance (its path is said, never its content)
        secret = instance_auth.read_key(args.key_file) if args.key_file else None
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else exc
        print(f"mictl-instance: --key-file {args.key_file}: {why}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        proxy, credentials = _proxy(args)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"mictl-instance: {why}", file=sys.stderr)
        return EXIT_CONFIG
    refused = cookie_check.file_problem(args.profile)
    if refused:  # said now, not after Chromium refused it in a crash loop
        print(f"mictl-instance: profile {args.profile}: {refused}", file=sys.stderr)
        return EXIT_CONFIG
    try:  # before anything starts: a missing browser is a config error
        mode = "headed" if args.headed else (args.browser_mode or site.browser)
        chromium.find(
            args.browser_executable, chromium.playwright_default(), full=mode != "headless-shell"
        )
    except chromium.NoBrowser as exc:
        print(f"mictl-instance: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    exit_code = [0]
    server: InLoopServer | None = None

    def fatal(reason: str) -> None:
        log.error("%s: exiting so the supervisor restarts this instance", reason)
        exit_code[0] = EXIT_BROWSER_LOST
        if server is not None:
            server.should_exit = server.force_exit = True

    artifacts = os.path.join(args.log_dir, f"{name}-errors") if args.log_dir else None
    probe = args.captcha_probe or site.timeouts.captcha_probe
    account = Account(
        name,
        probe_after=probe,
        probe_max=site.timeouts.captcha_probe_max,
        on_enter=lambda phase: instance.entered(phase),  # the instance is built below
    )
    session = BrowserSession(
        site,
        profile=args.profile,
        pool=args.pool,
        executable=args.browser_executable,
        headless=not args.headed,
        mode=args.browser_mode,
        extra_args=args.browser_arg,
        artifacts_dir=artifacts,
        on_fatal=fatal,
        tabs=args.tabs,
        account=account,
        proxy=proxy,
        credentials=credentials,
        locale=args.locale,
        timezone=args.timezone,
    )
    instance = Instance(name, session, max_queue=args.max_queue, model_default=args.model_default)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await session.start(save_interval=args.save_interval)
        except chromium.NoBrowser as exc:
            log.error("%s", exc)
            exit_code[0] = EXIT_CONFIG
            raise
        yield
        await session.close()

    images = Limits(args.image_max_bytes, args.image_timeout, tuple(args.image_allow))
    app = build_app(instance, with_timeline=args.timeline, image_limits=images, lifespan=lifespan)
    config = uvicorn.Config(
        RequestLog(InstanceAuth(app, secret)),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=args.grace,
        # Longer than the daemon's probe interval (5 s by default), so its
        # probes and requests reuse one connection instead of reconnecting.
        timeout_keep_alive=30,
        lifespan="on",
    )
    server = InLoopServer(config)

    async def serve() -> None:
        # Our own handlers: uvicorn's would re-raise SIGTERM after a graceful
        # shutdown, and the runner must exit 0.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        await server.serve()

    asyncio.run(serve())
    if exit_code[0] == 0 and not server.started:
        exit_code[0] = EXIT_CONFIG if session.browser is None else 1
    return exit_code[0]


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
