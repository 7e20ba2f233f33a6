"""The `mictl` command: `mictl status` without click and msgspec, anything
else through the click CLI (ctl/cli.py).

Python's start-up, click (~50 ms) and msgspec (~16 ms) were most of
`mictl status`'s time; issue 15 wants it under 100 ms with 40 programs. So
the common read, `mictl [--socket PATH] status [--json] [NAME...]` with plain
names, is done here with the standard library's basics only: the same
requests as the click command, over ctl/http1.py, decoded by the C scanner
of the standard library's json (the `json` package itself imports `re`,
~12 ms), printed by ctl/table.py, which the click command prints with too.

Anything else, and any outcome but the happy one (no socket, a refused
connection, an error status, an answer that does not decode, an argument
this parser does not know), goes to the click CLI, which does it all again
and gives the proper message and exit code: errors are defined in one place.
Nothing is printed before the fast path knows it succeeded.
"""

from __future__ import annotations

import _json
import _socket
import os
import sys

from ctl import http1
from ctl.table import status_footer, status_table

TYPE_CHECKING = False  # not typing's: importing typing (and re with it) costs ~20 ms
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


class _Decoding:
    """What json.JSONDecoder gives _json.make_scanner: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = None  # NaN / Infinity: not from mictld; fails the scan


_scan = _json.make_scanner(_Decoding())


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, list[str], bool] | None:
    """(socket path, names, --json) when argv is a status the fast path can
    do exactly as the click command would; else None."""
    socket_path = environ.get("MICTL_SOCKET") or None  # click takes an empty value as unset
    i = 0
    if argv[:1] == ["--socket"] and len(argv) > 1:
        socket_path, i = argv[1] or None, 2
    elif argv[:1] and argv[0].startswith("--socket="):
        socket_path, i = argv[0].partition("=")[2] or None, 1
    if argv[i : i + 1] != ["status"]:
        return None
    names, as_json = [], False
    for arg in argv[i + 1 :]:
        if arg == "--json":
            as_json = True
        elif arg.startswith("-") or arg.endswith(":") or any(c in arg for c in "*?["):
            return None  # options, `--`, globs and `group:`: click's to handle
        else:
            names.append(arg)
    if socket_path is None:
        if environ.get("MICTL_CONFIG"):
            return None  # the socket comes from the config: its loader is the click path's
        from daemon.paths import default_socket_path

        socket_path = default_socket_path()
    return socket_path, names, as_json


def get(socket_path: str, path: str) -> Any:
    """GET `path` from the daemon, decoded; None unless a 200 with JSON."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(600.0)  # as ctl/client.py's Client
        sock.connect(socket_path)
        response = http1.request(sock, "GET", path)
        body = response.read().decode()
    finally:
        sock.close()
    if response.status != 200:
        return None
    value, end = _scan(body, 0)
    return value if end == len(body) else None


def _query(names: list[str]) -> str:
    """`?name=a&name=b`, each name percent-encoded as urllib.parse.quote would."""
    parts = ("".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in n.encode()) for n in names)
    return "?" + "&".join(f"name={p}" for p in parts) if names else ""


def status(socket_path: str, names: list[str], as_json: bool) -> list[tuple[bool, str]] | None:
    """What `mictl status` prints, in order: (to stderr?, line); or None to
    leave it to the click CLI."""
    programs = get(socket_path, f"/v1/programs{_query(names)}")
    if not isinstance(programs, list) or not all(isinstance(p, dict) for p in programs):
        return None
    if as_json:
        import json  # only here: its encoder imports re

        return [(False, json.dumps(programs, indent=2, ensure_ascii=False))]
    lines = [(False, status_table(programs, colour=sys.stdout.isatty()))]
    if not names:
        info = get(socket_path, "/v1/daemon")
        if not isinstance(info, dict):
            return None
        lines += status_footer(info)
    return lines


def main() -> None:
    """The `mictl` console script."""
    try:
        request = parse(sys.argv[1:], os.environ)
        lines = status(*request) if request else None
    except Exception:  # whatever it was, the click CLI says it properly
        lines = None
    except KeyboardInterrupt:  # Ctrl-C while the daemon is slow: as click's main says it
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
    if lines is None:
        from ctl.cli import main as click_main

        click_main()
        return
    try:
        for to_stderr, line in lines:  # as click.echo: the line, a newline, a flush
            stream = sys.stderr if to_stderr else sys.stdout
            stream.write(f"{line}\n")
            stream.flush()
    except BrokenPipeError:  # `mictl status | head -1`: exit 1 as click's main does, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
