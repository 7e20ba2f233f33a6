"""`mictl profile capture|check`: make a profile from a person's sign-in, and
see whether a profile is still signed in."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import click
import msgspec

from common.cookies import when
from common.files import atomic_write
from common.names import instance_name_error
from ctl.errors import EXIT_FAILED, Failed, ProxyFailed, Usage
from ctl.local import browser_options, config_of, site_of
from ctl.profile_net import network_for, proxy_options

DEFAULT_WINDOW = 3 * 86400.0  # [profiles] expiry_warning

STATE_WORDS = {
    "logged_in": "logged in",
    "logged_out": "LOGGED OUT",
    "captcha": "CAPTCHA (sign in by hand to clear it, then capture again)",
    "unknown": "UNKNOWN (neither the logged-in nor the logged-out rule holds)",
}


@click.group()
def profile() -> None:
    """Make and check auth profiles (Playwright storage_state files)."""


def no_display_line(name: str, site: str, target: Path, port: int) -> str:
    host = socket.gethostname()
    return (
        f"no display here (DISPLAY is not set): either capture on a desktop with "
        f"`mictl profile capture {name} --site {site} --out .` and copy it here with "
        f"`scp {name}.json {host}:{target}`, or run `xvfb-run -a mictl profile capture "
        f"{name} --site {site} --remote-debugging-port {port}` here, forward the port with "
        f"`ssh -L {port}:127.0.0.1:{port} {host}` and sign in through chrome://inspect "
        f"(Configure: localhost:{port}) on your desktop"
    )


@profile.command("capture")
@click.argument("name")
@click.option("--site", "site_name", help="Bundled site or site file (default: the config's).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Directory to save NAME.json in (default: the config's profiles dir).",
)
@click.option("--force", is_flag=True, help="Replace an existing profile of that name.")
@click.option("--url", help="Override the site file's URL.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for a sign-in.")
@click.option(
    "--remote-debugging-port",
    "debug_port",
    type=int,
    help="Also open Chromium's DevTools port on 127.0.0.1 (for xvfb-run over SSH).",
)
@proxy_options
# Tests only: a Python file with `async def login(page)` that signs in.
@click.option("--login-script", hidden=True, envvar="MICTL_CAPTURE_LOGIN_SCRIPT")
@click.pass_context
def capture_cmd(
    ctx: click.Context,
    name: str,
    site_name: str | None,
    out: str | None,
    force: bool,
    url: str | None,
    timeout: float,
    debug_port: int | None,
    proxy_url: str | None,
    proxy_credentials_file: str | None,
    proxy_credentials_env: str | None,
    login_script: str | None,
) -> None:
    """Sign in by hand in a visible Chromium; save the session as NAME.json (0600).

    The browser opens on the site's page; sign in as usual. Once the site file's
    logged-in rule holds, the session is saved where mictld picks it up. It goes
    out as instance NAME will: through the config's profiles.overrides.NAME
    proxy (or --proxy), in its locale and time zone.
    """
    refused = instance_name_error(name)
    if refused:
        raise Usage(f"{refused}: mictld would skip {name}.json")
    cfg = config_of(ctx)
    if cfg and name in cfg.programs:
        raise Usage(f"{name}: a [programs.{name}] in {cfg.path} has that name")
    if not out and not cfg:
        raise Usage("say where the profile goes: --out DIR, or -c CONFIG for its profiles dir")
    directory = Path(out or cfg.profiles.dir).resolve()  # type: ignore[union-attr]
    target = directory / f"{name}.json"
    if target.exists() and not force:
        raise Usage(f"{target} exists: use --force to replace it")
    site = site_of(site_name, cfg, url, profile=name)
    net, own_args = network_for(cfg, name, proxy_url=proxy_url,
                                credentials_file=proxy_credentials_file,
                                credentials_env=proxy_credentials_env)  # fmt: skip
    from instance_runner.chromium import NoBrowser
    from instance_runner.tools.launch import ProxyUnreachable
    from instance_runner.tools.profile_capture import (
        CaptureError,
        capture,
        has_display,
        load_driver,
    )

    if not has_display():
        raise Failed(no_display_line(name, site_name or site.name, directory, debug_port or 9222))
    try:
        driver = load_driver(login_script) if login_script else None
        options = browser_options(cfg)
        data = asyncio.run(
            capture(
                site,
                executable=str(options["executable"]),
                args=[*options["args"], *own_args],  # type: ignore[misc]
                net=net,
                timeout=timeout,
                driver=driver,
                debug_port=debug_port,
                say=click.echo,
            )
        )
    except NoBrowser as exc:
        raise Usage(str(exc)) from None
    except CaptureError as exc:
        raise Failed(str(exc)) from None
    except ProxyUnreachable as exc:
        raise ProxyFailed(f"{exc}; nothing saved") from None
    except Exception as exc:  # no window could be opened (a display that is not there...)
        where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Failed(f"could not open a browser window on display {where}: {first}") from None
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
    atomic_write(str(target), data, 0o600)
    click.echo(f"saved {target} (mode 0600)")
    if cfg and directory == Path(cfg.profiles.dir).resolve():
        click.echo(
            f"mictld -c {cfg.path} picks it up as instance {name} (it watches {directory}; "
            "or run `mictl reload`)"
        )
    else:
        click.echo(
            f"copy it into your mictld's profiles dir ([profiles] dir): it becomes instance {name}"
        )


def _profile_path(name: str, ctx: click.Context) -> str:
    if os.path.sep in name or name.endswith(".json"):
        if not os.path.isfile(name):
            raise Usage(f"no profile file {name}")
        return name
    cfg = config_of(ctx)
    if not cfg:
        raise Usage(f"{name}: give a profile file path, or -c CONFIG to find it by name")
    path = Path(cfg.profiles.dir) / f"{name}.json"
    if not path.is_file():
        raise Usage(f"no profile {name} in {cfg.profiles.dir}")
    return str(path)


@profile.command("check")
@click.argument("name")
@click.option("--site", "site_name", help="Bundled site or site file (default: the config's).")
@click.option("--url", help="Override the site file's URL.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@proxy_options
@click.pass_context
def check_cmd(
    ctx: click.Context,
    name: str,
    site_name: str | None,
    url: str | None,
    as_json: bool,
    proxy_url: str | None,
    proxy_credentials_file: str | None,
    proxy_credentials_env: str | None,
) -> None:
    """Open the site headless with profile NAME (a name in the config's profiles
    dir, or a file): logged in, logged out, captcha or unknown, and when its
    cookies expire. Exit 0 only when logged in; 4 when its proxy gives no way
    to the site. It goes out as instance NAME does (profiles.overrides.NAME,
    or --proxy)."""
    cfg = config_of(ctx)
    path = _profile_path(name, ctx)
    site = site_of(site_name, cfg, url, profile=Path(path).stem)
    net, own_args = network_for(cfg, Path(path).stem, proxy_url=proxy_url,
                                credentials_file=proxy_credentials_file,
                                credentials_env=proxy_credentials_env)  # fmt: skip
    from instance_runner.chromium import NoBrowser
    from instance_runner.tools.launch import ProxyUnreachable
    from instance_runner.tools.profile_check import check_profile

    options = browser_options(cfg)
    try:
        report = asyncio.run(
            check_profile(
                path,
                site,
                executable=str(options["executable"]),
                args=[*options["args"], *own_args],  # type: ignore[misc]
                net=net,
            )
        )
    except NoBrowser as exc:
        raise Usage(str(exc)) from None
    except ProxyUnreachable as exc:
        raise ProxyFailed(str(exc)) from None
    except Exception as exc:  # the page could not be opened at all
        raise Failed(f"could not open {site.name}: {exc}".splitlines()[0]) from None
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(report)).decode())
    else:
        click.echo(f"{path} on {site.name} ({report.url}): {STATE_WORDS[report.state]}")
        for c in report.cookies:
            click.echo(f"  cookie {c.name} ({c.domain}): {when(c.expires, report.checked_at)}")
        window = cfg.profiles.expiry_warning if cfg else DEFAULT_WINDOW
        names = set(cfg.profiles.session_cookies) if cfg else set()
        for c in report.cookies:
            soon = c.expires is not None and c.expires < report.checked_at + window
            if soon and (not names or c.name in names):
                click.echo(f"warning: {c.name} expires within {window / 86400:g} days")
    if report.state != "logged_in":
        sys.exit(EXIT_FAILED)
