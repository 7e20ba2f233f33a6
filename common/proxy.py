"""A profile's proxy: its URL, its credentials, and the words of a failure.

Shared by the daemon (which checks `[profiles.overrides.NAME]` at load) and
the instance (which reads the credentials itself and launches Chromium with
them). A proxy URL never carries credentials: they come from a file
("user:password", 0600) or an environment variable, so that no config,
command line (`/proc/PID/cmdline`), log line or status shows them. Pure
functions except `read_credentials_file`.
"""

from __future__ import annotations

import os
import stat
from urllib.parse import unquote, urlsplit

import msgspec

from common.files import read_regular

SCHEMES = ("http", "https", "socks5")
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080}
MAX_CREDENTIALS_BYTES = 4096
# Chromium's words when the proxy, not the site, is what failed
# (net/base/net_error_list.h): no connection to the proxy, no tunnel through
# it, or the proxy wants credentials it did not get (407).
PROXY_ERRORS = (
    "ERR_PROXY_CONNECTION_FAILED",
    "ERR_TUNNEL_CONNECTION_FAILED",
    "ERR_SOCKS_CONNECTION_FAILED",
    "ERR_SOCKS_CONNECTION_HOST_UNREACHABLE",
    "ERR_PROXY_AUTH_REQUESTED",
    "ERR_PROXY_AUTH_UNSUPPORTED",
    "ERR_PROXY_CERTIFICATE_INVALID",
    "ERR_MANDATORY_PROXY_CONFIGURATION_FAILED",
    "ERR_NO_SUPPORTED_PROXIES",
    "ERR_PROXY_HTTP_1_1_REQUIRED",
)


class ProxyURL(msgspec.Struct, frozen=True):
    scheme: str
    host: str
    port: int

    @property
    def server(self) -> str:
        """What Chromium (Playwright's `proxy.server`) takes, and what status shows."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class Credentials(msgspec.Struct, frozen=True):
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, even in a traceback
        return f"Credentials(username={self.username!r}, password=***)"


def parse_url(text: str) -> ProxyURL:
    """`http://host:port`, `https://host:port` or `socks5://host:port` (the
    port defaults by scheme). Raises ValueError saying what is wrong; a URL
    with a user or password in it is refused, and the message never repeats it."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a proxy URL ({_no_secret(str(exc))})") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(
            f"scheme {parts.scheme or '(none)'!r} is not one of {', '.join(SCHEMES)} "
            "(write e.g. http://proxy.example:3128)"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(
            "credentials in the URL are refused (they would show in logs and status); "
            "put user:password in a file named by proxy_credentials_file (0600), or in "
            "an environment variable named by proxy_credentials_env"
        )
    if not parts.hostname:
        raise ValueError("no host (write e.g. http://proxy.example:3128)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a proxy URL is scheme://host:port, with no path or query")
    scheme = parts.scheme.lower()
    return ProxyURL(scheme, parts.hostname, port or DEFAULT_PORTS[scheme])


def _no_secret(message: str) -> str:
    return message.split(":", 1)[0]


def parse_credentials(text: str) -> Credentials:
    """The first line of a credentials file or variable: `user:password`
    (the password may hold colons; %-escapes are decoded, as in a URL)."""
    line = text.splitlines()[0] if text.strip() else ""
    user, sep, password = line.strip("\r\n").partition(":")
    if not sep or not user:
        raise ValueError("expected one line user:password")
    return Credentials(unquote(user), unquote(password))


def read_credentials_file(path: str) -> Credentials:
    """Read `user:password` from a private regular file (never a FIFO, at most
    4 KiB, mode 0600 or stricter). Raises ValueError or OSError saying why,
    never what the file holds."""
    st = os.stat(path)
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        raise ValueError(
            f"mode {stat.S_IMODE(st.st_mode):04o}: others may read it; chmod 600 {path}"
        )
    data = read_regular(path, MAX_CREDENTIALS_BYTES)
    try:
        return parse_credentials(data.decode())
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def credentials_from_env(name: str, environ: os._Environ[str] | dict[str, str]) -> Credentials:
    value = environ.get(name)
    if value is None:
        raise ValueError(f"${name} is not set")
    return parse_credentials(value)


def is_proxy_error(message: str) -> bool:
    """Whether a navigation error is the proxy's (Chromium's net:: error name)."""
    return any(code in message for code in PROXY_ERRORS)
