"""[profiles.overrides.NAME]: checks, and what each profile ends up with.

A profile's own settings (its proxy above all) are checked at load like the
rest of the config: each error names its key. The proxy's credentials are
read by mictld only to check them when it builds the instance (a 0600
regular file, or a variable that is set, holding user:password: else that
instance is FATAL with the reason) and to notice new ones (a stamp keyed with
a secret of this process, which says nothing of them); the instance reads
them again itself, and no message says what they hold.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import zoneinfo
from collections.abc import Callable, Mapping

from common.names import instance_name_error
from common.proxy import Credentials, credentials_from_env, parse_url, read_credentials_file
from daemon.config.schema import Config, ProfileOverrides, ProfilesSection

LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Flags that would undo what a key here says (or send traffic around the proxy).
_OWN_FLAGS = ("--proxy-server", "--proxy-pac-url", "--no-proxy-server", "--proxy-bypass-list")
_STAMP_KEY = os.urandom(32)  # this process's: a stamp is only compared with its own
# What reaches the instance only as its own flags ({flags} in a profiles.command).
_FLAG_KEYS = ("proxy", "tabs", "browser_args", "locale", "timezone")


def check(config: Config) -> None:
    """Raise ValueError("profiles.overrides.NAME.key: what is wrong")."""
    command = config.profiles.command
    for name, o in config.profiles.overrides.items():
        key = f"profiles.overrides.{name}"
        refused = instance_name_error(name)
        if refused:
            raise ValueError(f"{key}: {refused}")
        unpassed = [k for k in _FLAG_KEYS if getattr(o, k) not in ("", [], None)]
        if command and "{flags}" not in command and unpassed:
            raise ValueError(
                f"{key}.{unpassed[0]}: profiles.command does not pass it (it would go "
                "unused): put {flags} in the command, the instance's own flags"
            )
        _proxy(key, o)
        if o.site:
            _site(f"{key}.site", o.site)
        for i, arg in enumerate(o.browser_args):
            if not arg.startswith("--"):
                raise ValueError(f"{key}.browser_args[{i}]: {arg!r} is not a Chromium flag (--x)")
            if arg.split("=", 1)[0] in _OWN_FLAGS:
                raise ValueError(f"{key}.browser_args[{i}]: set the proxy with {key}.proxy")
        if o.locale and not LOCALE_RE.match(o.locale):
            raise ValueError(f"{key}.locale: {o.locale!r} is not a locale (en-GB, de-DE, ja)")
        if o.timezone:
            try:
                zoneinfo.ZoneInfo(o.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{key}.timezone: {o.timezone!r} is not a time zone (Europe/Berlin, UTC)"
                ) from None


def _proxy(key: str, o: ProfileOverrides) -> None:
    file, env = o.proxy_credentials_file, o.proxy_credentials_env
    if not o.proxy:
        if file or env:
            field = "proxy_credentials_file" if file else "proxy_credentials_env"
            raise ValueError(f"{key}.{field}: credentials without a proxy (set {key}.proxy)")
        return
    try:
        proxy = parse_url(o.proxy)
    except ValueError as exc:
        raise ValueError(f"{key}.proxy: {exc}") from None
    if file and env:
        raise ValueError(f"{key}.proxy_credentials_file: and proxy_credentials_env: one of them")
    if (file or env) and proxy.scheme == "socks5":
        raise ValueError(
            f"{key}.proxy: Chromium cannot send credentials to a socks5 proxy; use an "
            "http:// or https:// proxy, or a socks5 one without credentials"
        )


def credentials_check(
    profiles: ProfilesSection, name: str, environ: Mapping[str, str]
) -> tuple[str, str]:
    """(why the instance could not read its proxy's credentials, their
    stamp): ("", "") without credentials. Asked when mictld builds the
    instance, in mictld's own environment and with its rights, not at load
    (`mictl -c` reads the config too, as another user, in another shell). A
    problem is that instance's FATAL reason; the others run. A new stamp (new
    credentials in the same file) restarts the instance at the next reload.
    Never what the file or variable holds."""
    o = profiles.overrides.get(name)
    if o is None or not o.proxy:
        return "", ""
    key = f"profiles.overrides.{name}"
    file, env = o.proxy_credentials_file, o.proxy_credentials_env
    try:
        if file:
            return "", stamp(read_credentials_file(file))
        if env:
            return "", stamp(credentials_from_env(env, dict(environ)))
    except OSError as exc:
        return f"{key}.proxy_credentials_file: {file}: {exc.strerror or exc}", ""
    except ValueError as exc:
        field = "proxy_credentials_file" if file else "proxy_credentials_env"
        return f"{key}.{field}: {exc}", ""
    return "", ""


def stamp(credentials: Credentials) -> str:
    """Equal for equal credentials within this process; says nothing of them."""
    pair = f"{credentials.username}\0{credentials.password}".encode()
    return hmac.new(_STAMP_KEY, pair, hashlib.sha256).hexdigest()[:32]


def _site(key: str, value: str) -> None:
    from instance_runner.sites.loader import SiteFileError, load_site

    try:
        load_site(value)
    except SiteFileError as exc:
        raise ValueError(f"{key}: {exc}") from None


def resolve_paths(
    profiles: ProfilesSection, resolve: Callable[[str], str], keep_links: Callable[[str], str]
) -> None:
    """Relative credentials files and site files are relative to the config
    file; a credentials file's links are kept (the instance reads it again
    at each start, through the link a Secret's update swaps)."""
    for o in profiles.overrides.values():
        o.proxy_credentials_file = keep_links(o.proxy_credentials_file)
        if "/" in o.site or o.site.endswith(".toml"):
            o.site = resolve(o.site)


class Effective:
    """What one profile runs with: its overrides over [profiles]."""

    def __init__(self, profiles: ProfilesSection, name: str) -> None:
        o = profiles.overrides.get(name, ProfileOverrides())
        self.site = o.site or profiles.site
        self.tabs = o.tabs if o.tabs is not None else profiles.browser.tabs
        self.browser_args = [*profiles.browser.args, *o.browser_args]
        self.proxy = parse_url(o.proxy).server if o.proxy else ""
        self.overrides = o

    def template_flags(self) -> list[str]:
        """{flags} of a profiles.command: what the override sets, as flags."""
        o = self.overrides
        tabs = ["--tabs", str(o.tabs)] if o.tabs is not None else []
        return [*(f"--browser-arg={a}" for a in o.browser_args), *tabs, *self.flags()]

    def flags(self) -> list[str]:
        """The instance's flags for what only an override sets (never a secret)."""
        o, argv = self.overrides, []
        if self.proxy:
            argv += ["--proxy", self.proxy]
        if o.proxy_credentials_file:
            argv += ["--proxy-credentials-file", o.proxy_credentials_file]
        if o.proxy_credentials_env:
            argv += ["--proxy-credentials-env", o.proxy_credentials_env]
        if o.locale:
            argv += ["--locale", o.locale]
        if o.timezone:
            argv += ["--timezone", o.timezone]
        return argv
