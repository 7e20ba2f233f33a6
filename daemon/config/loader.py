"""The TOML config: loading, env overrides, checks, program resolution.

The schema itself (sections, keys, ranges) is schema.py; its names are
re-exported here, so `from daemon.config.loader import RouterSection` keeps working.

Values that supervisord users know (`stopsignal = "TERM"`, `exitcodes = "0,2"`,
`stdout_logfile_maxbytes = "50MB"`) are parsed with supervisor's own
`datatypes` converters, so they mean here what they mean there.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from supervisor import datatypes

from common.files import read_regular
from common.names import NAME_RE
from daemon.config import checks as config_checks
from daemon.config import compat, expansions
from daemon.config import defaults as config_defaults
from daemon.config import groups as config_groups
from daemon.config import overrides as config_overrides
from daemon.config.fleet import FleetSection, ScalingSection
from daemon.config.keys import api_keys
from daemon.config.schema import (
    BreakerSection,
    BrowserSection,
    Config,
    ConfigError,
    DaemonSection,
    DashboardSection,
    HealthSection,
    ProfileOverrides,
    ProfilesSection,
    ProgramOptions,
    RouterSection,
    UpstreamSection,
)
from daemon.paths import default_socket_path, default_state_dir, is_root
from daemon.types import AutoRestart, ProgramSpec

__all__ = [
    "NAME_RE",
    "BreakerSection",
    "BrowserSection",
    "Config",
    "ConfigError",
    "DaemonSection",
    "DashboardSection",
    "FleetSection",
    "HealthSection",
    "ProfilesSection",
    "ProgramOptions",
    "RouterSection",
    "ScalingSection",
    "UpstreamSection",
    "api_keys",
    "load",
    "program_specs",
    "resolve_program",
    "socket_mode",
]

ENV_PREFIX = "MICTL_"
MAX_CONFIG_BYTES = 4 * 2**20


# ------------------------------------------------------------------ loading


def load(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> Config:
    """Read, override from the environment, validate and resolve paths."""
    path = Path(path)
    try:
        raw = tomllib.loads(read_regular(path, MAX_CONFIG_BYTES).decode())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); TOML is UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    environ = os.environ if env is None else env
    _apply_env(raw, environ, path)
    config = _decode(raw, path, environ)
    _resolve_paths(config, path.resolve().parent, Path(os.path.abspath(path)).parent)
    # Absolute, symlinks kept: a Kubernetes ConfigMap's file is a link into a
    # dated directory that the next update deletes; a reload reads the link.
    config.path = os.path.abspath(path)
    try:  # every program option must parse
        program_specs(config)
        instance = resolve_program(
            "*", config.profiles.program, "", argv=("-",), key="profiles.program"
        )
        if instance.stdout_syslog or instance.stderr_syslog:
            stream = "stdout" if instance.stdout_syslog else "stderr"
            raise ConfigError(
                f"profiles.program.{stream}_syslog: not for instances "
                "(a runner's output may hold prompts; mictld's log never does)"
            )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        config_checks.check(config)
        config_overrides.check(config)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def _decode(raw: dict[str, Any], path: Path, environ: Mapping[str, str]) -> Config:
    programs = raw.pop("programs", {})
    if not isinstance(programs, dict):
        raise ConfigError(f"{path}: programs: expected a table of [programs.NAME]")
    # Decoded one by one below, so that an error names the profile's key.
    profiles = raw.get("profiles")
    overrides = profiles.pop("overrides", {}) if isinstance(profiles, dict) else {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{path}: profiles.overrides: expected tables [profiles.overrides.NAME]")
    config_defaults.fill(raw, Config)
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {_key_path(exc)}") from None
    for name, table in overrides.items():
        try:
            config.profiles.overrides[name] = msgspec.convert(table, ProfileOverrides, strict=False)
        except msgspec.ValidationError as exc:
            key = f"profiles.overrides.{name}"
            raise ConfigError(f"{path}: {_key_path(exc, key)}") from None
    try:
        member_of = config_groups.members(config.groups, programs)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for name, options in programs.items():
        if not NAME_RE.match(name):
            raise ConfigError(f"{path}: programs.{name}: name must match {NAME_RE.pattern}")
        processes = [(name, options)]
        if isinstance(options, dict):  # numprocs, groups; %(program_name)s and friends
            options = compat.drop_ignored(options, f"programs.{name}")
            try:
                here = str(path.resolve().parent)
                group = member_of.get(name, "")
                processes = expansions.copies(name, options, here, environ, group)
            except ValueError as exc:
                raise ConfigError(f"{path}: {exc}") from None
        for process, opts in processes:
            if process in config.programs:
                raise ConfigError(f"{path}: programs.{name}: a second process named {process}")
            try:
                config.programs[process] = msgspec.convert(opts, ProgramOptions, strict=False)
            except msgspec.ValidationError as exc:
                raise ConfigError(f"{path}: {_key_path(exc, f'programs.{name}')}") from None
    return config


def _key_path(exc: msgspec.ValidationError, prefix: str = "") -> str:
    """'Expected `int`, got `str` - at `$.router.port`' -> 'router.port: expected `int`...'."""
    message, _, where = str(exc).partition(" - at `")
    key = where.rstrip("`").removeprefix("$").lstrip(".")
    key = ".".join(p for p in (prefix, key) if p)
    message = message[:1].lower() + message[1:]
    return f"{key}: {message}" if key else message


def _apply_env(raw: dict[str, Any], env: dict[str, str] | os._Environ[str], path: Path) -> None:
    """MICTL_ROUTER__STRATEGY=least_busy sets router.strategy (any scalar key)."""
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        keys = var[len(ENV_PREFIX) :].lower().split("__")
        if keys[0] not in Config.__struct_fields__:
            continue  # MICTL_SOCKET and friends belong to the CLI
        table = raw
        for key in keys[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: {var}: {key} is not a table")
        table[keys[-1]] = value


def _resolve_paths(config: Config, here: Path, beside: Path) -> None:
    """Relative paths in the file are relative to the file, like %(here)s.
    A secret's path keeps its links (`beside`: the folder the config is read
    from): a Kubernetes Secret's file is a link through `..data`, whose
    dated target the next update deletes."""

    def resolve(value: str) -> str:
        return str((here / value).resolve()) if value else value

    def keep_links(value: str) -> str:
        return os.path.normpath(beside / value) if value else value

    d = config.daemon
    d.socket = resolve(d.socket) if d.socket else default_socket_path()
    d.state_dir = resolve(d.state_dir) if d.state_dir else default_state_dir()
    if d.log_dir:
        d.log_dir = resolve(d.log_dir)
    else:
        d.log_dir = "/var/log/mictl" if is_root() else os.path.join(d.state_dir, "log")
    config.profiles.dir = resolve(config.profiles.dir)
    site = config.profiles.site
    if "/" in site or site.endswith(".toml"):  # a path, not a bundled name (sites/loader.py)
        config.profiles.site = resolve(site)
    config_overrides.resolve_paths(config.profiles, resolve, keep_links)
    config.router.api_keys_file = resolve(config.router.api_keys_file)
    config.dashboard.admin_token_file = resolve(config.dashboard.admin_token_file)
    for upstream in config.upstreams.values():
        upstream.api_key_file = resolve(upstream.api_key_file)
    for options in [*config.programs.values(), config.profiles.program]:
        options.directory = resolve(options.directory)
        # A log file path is relative to the config file, like %(here)s.
        for field in ("stdout_logfile", "stderr_logfile"):
            value = getattr(options, field)
            if value.upper() not in ("AUTO", "NONE") and value.lower() != "syslog":
                setattr(options, field, resolve(value))


# ------------------------------------------------------ program resolution


def resolve_program(
    name: str,
    options: ProgramOptions,
    log_dir: str,
    *,
    argv: tuple[str, ...] | None = None,
    key: str = "",
    **extra: Any,
) -> ProgramSpec:
    """supervisord's option syntax -> a typed ProgramSpec. Raises ConfigError."""
    key = key or f"programs.{name}"

    def parse(field: str, convert: Any) -> Any:
        try:
            return convert(getattr(options, field))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{key}.{field}: {exc}") from None

    if argv is None:
        if not options.command.strip():
            raise ConfigError(f"{key}.command: a program needs a command")
        argv = tuple(parse("command", shlex.split))
    stopasgroup = parse("stopasgroup", datatypes.boolean)
    killasgroup = (
        stopasgroup if options.killasgroup is None else parse("killasgroup", datatypes.boolean)
    )
    if stopasgroup and not killasgroup:  # supervisord refuses it too
        raise ConfigError(f"{key}.killasgroup: cannot be false when stopasgroup is true")
    env = options.environment
    if isinstance(env, str):
        env = parse("environment", datatypes.dict_of_key_value_pairs)
    for field in (
        "startsecs",
        "startretries",
        "stopwaitsecs",
        "stdout_logfile_backups",
        "stderr_logfile_backups",
    ):
        if getattr(options, field) < 0:
            raise ConfigError(f"{key}.{field}: must be >= 0")
    return ProgramSpec(
        name=name,
        argv=argv,
        autostart=parse("autostart", datatypes.boolean),
        autorestart=parse("autorestart", _auto_restart),
        startsecs=float(options.startsecs),
        startretries=options.startretries,
        exitcodes=tuple(parse("exitcodes", _exitcodes)),
        stopsignal=parse("stopsignal", datatypes.signal_number),
        stopwaitsecs=float(options.stopwaitsecs),
        stopasgroup=stopasgroup,
        killasgroup=killasgroup,
        priority=options.priority,
        environment=tuple(sorted(env.items())),
        directory=options.directory or None,
        stdout_logfile=_logfile(options.stdout_logfile, log_dir, f"{name}.log"),
        stdout_logfile_maxbytes=parse("stdout_logfile_maxbytes", _byte_size),
        stdout_logfile_backups=options.stdout_logfile_backups,
        redirect_stderr=parse("redirect_stderr", datatypes.boolean),
        stderr_logfile=_logfile(options.stderr_logfile, log_dir, f"{name}.err.log"),
        stderr_logfile_maxbytes=parse("stderr_logfile_maxbytes", _byte_size),
        stderr_logfile_backups=options.stderr_logfile_backups,
        # supervisord's deprecated `stdout_logfile = syslog` means stdout_syslog.
        stdout_syslog=parse("stdout_syslog", datatypes.boolean)
        or options.stdout_logfile.lower() == "syslog",
        stderr_syslog=parse("stderr_syslog", datatypes.boolean)
        or options.stderr_logfile.lower() == "syslog",
        identity=parse("user", compat.identity),
        umask=parse("umask", compat.umask),
        **extra,
    )


def _auto_restart(value: bool | str) -> AutoRestart:
    parsed = datatypes.auto_restart(str(value).lower() if isinstance(value, bool) else value)
    if parsed is datatypes.RestartUnconditionally:
        return "true"
    if parsed is datatypes.RestartWhenExitUnexpected:
        return "unexpected"
    return "false"


def _exitcodes(value: str | int | list[int]) -> list[int]:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return datatypes.list_of_exitcodes(str(value))


def _byte_size(value: str | int) -> int:
    return value if isinstance(value, int) else datatypes.byte_size(value)


def _logfile(value: str, log_dir: str, default_name: str) -> str | None:
    if value.upper() == "NONE" or value.lower() == "syslog":  # syslog: see stdout_syslog
        return None
    if value.upper() == "AUTO":
        return os.path.join(log_dir, default_name)
    return value


def program_specs(config: Config) -> list[ProgramSpec]:
    """The [programs.NAME] entries as specs (instances come from daemon/profiles.py)."""
    return [
        resolve_program(
            name,
            options,
            config.daemon.log_dir,
            group_priority=config_groups.group_priority(config.groups, name),
        )
        for name, options in sorted(config.programs.items())
    ]


def socket_mode(config: Config) -> int:
    """The control socket's mode (checked at load: an octal within 0600..0770)."""
    return config_checks.socket_mode(config.daemon.socket_mode)
