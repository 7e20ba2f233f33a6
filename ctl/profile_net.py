"""The one-shot tools' way out for one profile (capture, profile check, site
check): as its instance goes out, so that an account signs in and is checked
from the address it will later use.

`[profiles.overrides.NAME]` of the config (-c) gives the proxy and its
credentials, locale, time zone and browser flags of profile NAME; `--proxy
URL` with `--proxy-credentials-file PATH` or `--proxy-credentials-env NAME`
says the proxy on the command line instead, under the config's rules (no
credentials in the URL; a private regular file of at most 4 KiB). The
credentials are read here and go to Playwright over its pipe: never on a
command line, never in a message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import click

from common.proxy import (
    Credentials,
    ProxyURL,
    credentials_from_env,
    parse_url,
    read_credentials_file,
)
from ctl.errors import Usage

if TYPE_CHECKING:
    from daemon.config.loader import Config
    from instance_runner.tools.launch import Network

F = TypeVar("F", bound=Callable[..., object])


def proxy_options(f: F) -> F:
    """--proxy, --proxy-credentials-file, --proxy-credentials-env."""
    f = click.option(
        "--proxy-credentials-env",
        metavar="NAME",
        help="...or the environment variable holding user:password.",
    )(f)
    f = click.option(
        "--proxy-credentials-file",
        metavar="PATH",
        help="The proxy's user:password, in a file only you may read (0600).",
    )(f)
    return click.option(  # type: ignore[return-value]
        "--proxy",
        "proxy_url",
        metavar="URL",
        help="Go out through this proxy (http://, https:// or socks5://host:port, no "
        "credentials in it) [default: the config's profiles.overrides.NAME proxy].",
    )(f)


def network_for(
    cfg: Config | None,
    name: str,
    *,
    proxy_url: str | None = None,
    credentials_file: str | None = None,
    credentials_env: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> tuple[Network, list[str]]:
    """Profile NAME's network and its own extra browser flags. The command
    line's proxy wins over the config's. Raises Usage saying which option or
    key is wrong, never what the credentials are."""
    from instance_runner.tools.launch import Network

    o = cfg.profiles.overrides.get(name) if cfg else None
    locale, timezone = (o.locale, o.timezone) if o else ("", "")
    args = list(o.browser_args) if o else []
    if proxy_url or credentials_file or credentials_env:
        proxy, creds = _from_flags(proxy_url, credentials_file, credentials_env, environ)
    elif o and o.proxy:
        proxy, creds = _from_config(name, o.proxy, o.proxy_credentials_file,
                                    o.proxy_credentials_env, environ)  # fmt: skip
    else:
        proxy, creds = None, None
    return Network(proxy=proxy, credentials=creds, locale=locale, timezone=timezone), args


def _from_flags(
    url: str | None, file: str | None, env: str | None, environ: Mapping[str, str]
) -> tuple[ProxyURL, Credentials | None]:
    if not url:
        raise Usage("--proxy-credentials-file/--proxy-credentials-env: say the proxy with --proxy")
    try:
        proxy = parse_url(url)
    except ValueError as exc:  # its words never repeat a user or password
        raise Usage(f"--proxy: {exc}") from None
    return proxy, _credentials(proxy, file, env, environ, "--proxy-credentials-")


def _from_config(
    name: str, url: str, file: str, env: str, environ: Mapping[str, str]
) -> tuple[ProxyURL, Credentials | None]:
    key = f"profiles.overrides.{name}"
    proxy = parse_url(url)  # checked at load already
    return proxy, _credentials(proxy, file, env, environ, f"{key}.proxy_credentials_")


def _credentials(
    proxy: ProxyURL, file: str | None, env: str | None, environ: Mapping[str, str], key: str
) -> Credentials | None:
    if file and env:
        raise Usage(f"{key}file and {key}env: give one of them")
    if (file or env) and proxy.scheme == "socks5":
        raise Usage(f"{key}{'file' if file else 'env'}: Chromium cannot send credentials "
                    "to a socks5 proxy")  # fmt: skip
    try:
        if file:
            return read_credentials_file(file)
        if env:
            return credentials_from_env(env, dict(environ))
    except OSError as exc:
        raise Usage(f"{key}file: {file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise Usage(f"{key}{'file' if file else 'env'}: {exc}") from None
    return None
