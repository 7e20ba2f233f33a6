"""Profiles dir -> instance program specs: names, ports, private profile copies.

Every `*.json` in the profiles dir (a Playwright storage_state) is one instance
named after its stem. Each instance runs on a private copy of its profile in
the state dir (mode 0600), which its runner may refresh; the copy is replaced
from the pool only when the pool file itself changes. mictld never writes the
pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from common import cookie_check, cookies, instance_auth
from common.files import atomic_write, private_dir, read_regular
from common.names import instance_name_error
from daemon.config import shards
from daemon.config.loader import Config, ConfigError, program_specs, resolve_program
from daemon.config.overrides import Effective, credentials_check
from daemon.state import StateStore
from daemon.types import ProgramSpec

log = logging.getLogger("mictld")

# A storage_state is a few KB to a few MB; anything far bigger is a mistake
# (or an attack), refused by its size before a byte is read.
MAX_PROFILE_BYTES = 16 * 2**20


class Cookie(msgspec.Struct):
    name: str
    value: str
    domain: str
    path: str


class LocalStorageItem(msgspec.Struct):
    name: str
    value: str


class Origin(msgspec.Struct):
    origin: str
    localStorage: list[LocalStorageItem] = []


class StorageState(msgspec.Struct):
    """The part of Playwright's storage_state format mictl relies on."""

    cookies: list[Cookie]
    origins: list[Origin] = []


def validate_profile(data: bytes) -> StorageState:
    """Raise ValueError saying what is wrong with a storage_state file (a
    cookie Chromium would refuse by its index and name, never its value)."""
    try:
        state = msgspec.json.decode(data, type=StorageState)
    except msgspec.ValidationError as exc:
        raise ValueError(f"not a Playwright storage_state: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    bad = cookie_check.profile_problem(data)
    if bad:
        raise ValueError(bad)
    return state


def profile_names(profiles_dir: str, shard: tuple[int, int] | None = None) -> dict[str, Path]:
    """name -> pool file, skipping (and saying so) names that are not safe;
    with `shard` (index, count), only the names that hash to it (shards.py)."""
    found: dict[str, Path] = {}
    directory = Path(profiles_dir)
    if not directory.is_dir():
        log.warning("profiles dir %s does not exist; no instances", directory)
        return found
    for path in sorted(directory.glob("*.json")):
        name = path.stem
        refused = instance_name_error(name)
        if refused:
            log.error("profile %s skipped: %s", path, refused)
            continue
        if shard is None or shards.shard_of(name, shard[1]) == shard[0]:
            found[name] = path
    _warn_readable(found.values())
    return found


def _warn_readable(paths: Iterable[Path]) -> None:
    """Profiles hold login cookies: say so (one line) when others may read them.
    Not for a profile that holds no login for any other host (the bundled
    demo's: git cannot keep a file 0600, so they would warn at every start)."""
    loose = []
    for path in paths:
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077 and not _loopback_only(path):
                loose.append(str(path))
    if loose:
        log.warning(
            "profiles readable by group or others (they hold login cookies; chmod 600): %s",
            ", ".join(loose),
        )


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _loopback_only(path: Path) -> bool:
    """Whether every cookie of the profile is for this machine (and there are
    no origins' storage): nothing in it logs anyone in anywhere else."""
    try:
        state = validate_profile(read_regular(path, MAX_PROFILE_BYTES))
    except (OSError, ValueError):
        return False  # unreadable or not a profile: the warning stands
    hosts = {c.domain.lstrip(".").lower() for c in state.cookies}
    hosts |= {(urlsplit(o.origin).hostname or o.origin).lower() for o in state.origins}
    return bool(hosts) and all(h in LOOPBACK or h.endswith(".localhost") for h in hosts)


def assign_ports(
    names: list[str], store: StateStore, base_port: int, router_port: int | None = None
) -> dict[str, int]:
    """Keep every port already assigned; give new names the lowest free ones.
    The router's port is never an instance's, whatever the state file says."""
    if router_port is not None:
        store.release_port(router_port, "the router's port")
    taken = {s.port for s in store.data.programs.values() if s.port is not None}
    if router_port is not None:
        taken.add(router_port)
    ports: dict[str, int] = {}
    candidate = base_port
    for name in sorted(names):
        saved = store.program(name)
        if saved.port is None:
            while candidate in taken:
                candidate += 1
            saved.port = candidate
            taken.add(candidate)
        ports[name] = saved.port
    return ports


def private_copy(name: str, pool: Path, store: StateStore, state_dir: str) -> tuple[str, int]:
    """Return (copy path, profile generation); refresh the copy only if the
    pool file changed. The generation counts the copies made from the pool,
    so an instance restarts when (and only when) it gets new cookies.

    Raises ValueError when the pool file is not a valid profile.
    """
    data = read_regular(pool, MAX_PROFILE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    copy = os.path.join(state_dir, "profiles", f"{name}.json")
    saved = store.program(name)
    validate_profile(data)  # every time: the rules may have grown since the copy
    if saved.profile_digest == digest and os.path.exists(copy):
        return copy, saved.profile_generation
    saved.profile_digest = digest
    if os.path.exists(copy) and read_regular(copy, MAX_PROFILE_BYTES) == data:
        # The runner's own write-back echoed into the pool: nothing new.
        return copy, saved.profile_generation
    private_dir(os.path.dirname(copy))
    atomic_write(copy, data, 0o600)
    saved.profile_generation += 1
    return copy, saved.profile_generation


def instance_argv(config: Config, name: str, port: int, copy: str, pool: Path) -> tuple[str, ...]:
    p = config.profiles
    own = Effective(p, name)  # [profiles.overrides.NAME] over [profiles]
    key_file = instance_auth.key_path(config.daemon.state_dir, name)  # a path, not the key
    if p.command:
        text = p.command.format(
            name=name,
            port=port,
            profile=copy,
            site=own.site,
            host=p.host,
            key_file=key_file,
            flags=shlex.join(own.template_flags()),
        )
        return tuple(shlex.split(text))
    runner = Path(sys.executable).with_name("mictl-instance")
    argv = [str(runner)] if runner.exists() else [sys.executable, "-m", "instance_runner"]
    argv += ["--name", name, "--profile", copy, "--port", str(port), "--site", own.site]
    argv += ["--host", p.host, "--log-dir", config.daemon.log_dir, "--key-file", key_file]
    if p.write_back:
        argv += ["--pool", str(pool)]
    if p.browser.executable:
        argv += ["--browser-executable", p.browser.executable]
    if not p.browser.headless:
        argv += ["--headed"]
    for arg in own.browser_args:
        argv += [f"--browser-arg={arg}"]
    if own.tabs > 1:
        argv += ["--tabs", str(own.tabs)]
    argv += own.flags()  # proxy, locale, timezone: the credentials by path or name only
    argv += ["--image-max-bytes", str(p.images.max_bytes)]
    argv += ["--image-timeout", f"{p.images.timeout:g}"]
    argv += [f"--image-allow={net}" for net in p.images.allow_networks]
    return tuple(argv)


def build(config: Config, store: StateStore) -> list[ProgramSpec]:
    """Every program the config and the profiles dir call for."""
    specs = program_specs(config)
    names = {s.name for s in specs}
    profiles = profile_names(config.profiles.dir, shards.mine(config.profiles))
    for clash in sorted(names & profiles.keys()):
        log.error("profile %s skipped: a [programs.%s] has the same name", clash, clash)
        del profiles[clash]
    unused = config.profiles.overrides.keys() - profiles.keys()
    for name in sorted(unused) if not config.profiles.shards else ():  # else: another shard's
        log.warning("profiles.overrides.%s: no profile %s.json (yet): unused", name, name)
    router_port = config.router.port if config.router.enabled else None
    ports = assign_ports(list(profiles), store, config.profiles.base_port, router_port)
    for name, pool in profiles.items():
        specs.append(_instance_spec(config, store, name, pool, ports[name]))
    store.save()
    return specs


def _instance_spec(
    config: Config, store: StateStore, name: str, pool: Path, port: int
) -> ProgramSpec:
    fatal_reason = None
    generation = 0
    copy = os.path.join(config.daemon.state_dir, "profiles", f"{name}.json")
    try:
        copy, generation = private_copy(name, pool, store, config.daemon.state_dir)
    except OSError as exc:
        fatal_reason = f"profile {pool}: {exc.strerror or exc}"
        log.error("%s: %s", name, fatal_reason)
    except ValueError as exc:
        fatal_reason = f"profile {pool}: {exc}"
        log.error("%s: %s", name, fatal_reason)
    try:  # only mictld may talk to the instance (common/instance_auth.py)
        instance_auth.ensure_key(instance_auth.key_path(config.daemon.state_dir, name))
    except OSError as exc:
        fatal_reason = fatal_reason or f"instance key: {exc.strerror or exc}"
        log.error("%s: cannot make its instance key: %s", name, exc.strerror or exc)
    p = config.profiles
    unreadable, credentials = credentials_check(p, name, os.environ)  # never the content
    if unreadable and not fatal_reason:
        fatal_reason = unreadable
        log.error("%s: %s", name, unreadable)
    soon = cookies.profile_warning(copy, p.expiry_warning, p.session_cookies, label=str(pool))
    if soon:
        log.warning("%s: %s", name, soon)
    store.program(name).warning = soon or ""  # shown by status, and an event
    try:
        spec = resolve_program(
            name,
            config.profiles.program,
            config.daemon.log_dir,
            argv=instance_argv(config, name, port, copy, pool),
            key="profiles.program",
            kind="instance",
            port=port,
            profile=str(pool),
            profile_generation=generation,
            fatal_reason=fatal_reason,
            proxy=Effective(p, name).proxy,
            credentials_stamp=credentials,
        )
    except (KeyError, IndexError, ValueError) as exc:  # a bad command template
        raise ConfigError(f"{config.path}: profiles.command: {exc!r}") from None
    # Also for a profiles.command that runs mictl-instance without {key_file}.
    key_file = ("MICTL_INSTANCE_KEY_FILE", instance_auth.key_path(config.daemon.state_dir, name))
    return msgspec.structs.replace(spec, environment=(*spec.environment, key_file))


def discard(config: Config, name: str) -> None:
    """A removed profile's instance has stopped: delete what it left that holds
    its cookies or its chats (the private copy, the error screenshots and
    page HTML), unless `profiles.keep_removed` says to keep them."""
    if config.profiles.keep_removed:
        return
    copy = os.path.join(config.daemon.state_dir, "profiles", f"{name}.json")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(copy)
    instance_auth.discard(instance_auth.key_path(config.daemon.state_dir, name))
    shutil.rmtree(os.path.join(config.daemon.log_dir, f"{name}-errors"), ignore_errors=True)
    log.info("%s: removed profile's private copy and error pages deleted", name)
