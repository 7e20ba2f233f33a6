"""Checks across keys that the schema's ranges cannot express.

Each raises ValueError("key.path: what is wrong"); config.load adds the file.
"Loopback" means every address the host resolves to is a loopback address
(ipaddress on the resolved host), not a name that starts with "127.".
"""

from __future__ import annotations

import grp
import ipaddress
import os
import socket
import string

from daemon.config import dns_target, shards
from daemon.config.schema import Config, ConfigError

PLACEHOLDERS = frozenset({"name", "port", "profile", "site", "host", "key_file", "flags"})


def check(config: Config) -> None:
    socket_mode(config.daemon.socket_mode)
    _socket_group(config.daemon.socket_group)
    _command_template(config.profiles.command)
    _site(config.profiles.site)
    _ports(config)
    _exposure(config)
    _fleet(config)
    _aliases(config.aliases)
    _networks(config.profiles.images.allow_networks)
    _upstreams(config)
    try:
        shards.mine(config.profiles)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _upstreams(config: Config) -> None:
    for name, up in config.upstreams.items():
        key = f"upstreams.{name}"
        if bool(up.base_url) == bool(up.discover):
            raise ValueError(f"{key}: set base_url or discover (one of them)")
        if up.discover and up.kind != "mictld":
            raise ValueError(f'{key}.discover: only for kind = "mictld"')
        if up.nameserver and not up.discover:
            raise ValueError(f"{key}.nameserver: only with discover")
        for field, parse in (("discover", dns_target.parse), ("nameserver", dns_target.nameserver)):
            value = getattr(up, field)
            try:
                if value:
                    parse(value)
            except ValueError as exc:
                raise ValueError(f"{key}.{field}: {exc}") from None


def socket_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError("daemon.socket_mode: expected an octal mode like '0600'") from None
    if not 0 <= mode <= 0o777:
        raise ValueError(f"daemon.socket_mode: {text!r} is not a file mode (0000..0777)")
    if mode & 0o600 != 0o600:
        raise ValueError(f"daemon.socket_mode: {text!r} must let the owner read and write (0600)")
    if mode & 0o007:
        raise ValueError(
            f"daemon.socket_mode: {text!r} lets any local user drive mictld; "
            "use socket_group with 0660 instead"
        )
    return mode


def _socket_group(name: str) -> None:
    if not name:
        return
    try:
        grp.getgrnam(name)
    except KeyError:
        raise ValueError(f"daemon.socket_group: no such group {name!r}") from None


def _command_template(template: str) -> None:
    if not template:
        return
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"profiles.command: {exc} (write {{{{ and }}}} for braces)") from None
    for field in fields:
        base = field.split(".", 1)[0].split("[", 1)[0]
        if base not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
            raise ValueError(f"profiles.command: unknown placeholder {{{field}}} (known: {known})")


def _site(value: str) -> None:
    """The site file the instances will drive, by the runner's own loader: a
    bundled name (never a path out of that dir), or a regular file of at
    most 1 MiB that is a valid site file (a FIFO is refused, not waited on)."""
    from instance_runner.sites.loader import SiteFileError, load_site

    try:
        load_site(value)
    except SiteFileError as exc:
        raise ValueError(f"profiles.site: {exc}") from None


def profile_count(directory: str) -> int:
    try:
        return sum(1 for n in os.listdir(directory) if n.endswith(".json"))
    except OSError:
        return 0


def _ports(config: Config) -> None:
    base = config.profiles.base_port
    count = max(profile_count(config.profiles.dir), 1)
    if base + count - 1 > 65535:
        raise ValueError(f"profiles.base_port: {count} instances from port {base} pass 65535")
    r = config.router
    if r.enabled and base <= r.port < base + count:
        raise ValueError(
            f"router.port: {r.port} is also an instance port (profiles.base_port {base}, "
            f"{count} profiles: ports {base}..{base + count - 1}); keep them apart"
        )


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False  # unresolvable: not known to be loopback
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses
    )


def _exposure(config: Config) -> None:
    r = config.router
    keyless = not (r.api_keys or r.api_keys_file or r.allow_public_without_keys)
    if r.enabled and keyless and not is_loopback(r.host):
        raise ValueError(
            f"router.host: {r.host} is not a loopback address and no api_keys are set; "
            "set router.api_keys (or api_keys_file), or allow_public_without_keys = true"
        )
    if not is_loopback(config.profiles.host):
        raise ValueError(
            f"profiles.host: {config.profiles.host} is not a loopback address; instances "
            "answer only mictld, so they listen on loopback only"
        )


def _fleet(config: Config) -> None:
    """Pairs of [fleet] and [scaling] keys that only make sense in one order."""
    s, f = config.scaling, config.fleet
    if s.max_running and s.max_running < s.min_running:
        raise ValueError(
            f"scaling.max_running: {s.max_running} is below min_running {s.min_running} "
            "(0 = every profile)"
        )
    if s.down_below >= s.up_above:
        raise ValueError(
            f"scaling.down_below: {s.down_below:g} is not below up_above {s.up_above:g}; "
            "the pool would scale up and down at once"
        )
    if f.flap_delay_max < f.flap_delay:
        raise ValueError(
            f"fleet.flap_delay_max: {f.flap_delay_max:g} is below flap_delay {f.flap_delay:g}"
        )
    if f.fatal_retry_after and f.fatal_retry_max < f.fatal_retry_after:
        raise ValueError(
            f"fleet.fatal_retry_max: {f.fatal_retry_max:g} is below "
            f"fatal_retry_after {f.fatal_retry_after:g}"
        )


def _aliases(aliases: dict[str, str | list[str]]) -> None:
    """[aliases]: each name maps onto one exact model name or a list of them."""
    for name, value in aliases.items():
        if not name.strip():
            raise ValueError("aliases: an alias name is empty")
        wanted = [value] if isinstance(value, str) else value
        if not wanted:
            raise ValueError(f"aliases.{name}: names no model; give one or a list")
        for target in wanted:
            if not target.strip() or any(c in target for c in "*?["):
                raise ValueError(
                    f"aliases.{name}: {target!r} is not a model name (targets are exact names)"
                )
            if target == name:
                raise ValueError(f"aliases.{name}: maps onto itself")


def _networks(networks: list[str]) -> None:
    for i, net in enumerate(networks):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ValueError(
                f"profiles.images.allow_networks[{i}]: {net!r} is not a network (10.0.0.0/8)"
            ) from None
