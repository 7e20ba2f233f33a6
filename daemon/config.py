"""The TOML config: one msgspec schema, loading, env overrides, validation.

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
from typing import Any, Literal

import msgspec
from supervisor import datatypes

from common.names import NAME_RE
from daemon import compat, expansions
from daemon.config_fleet import FleetSection, ScalingSection
from daemon.paths import default_socket_path, default_state_dir, is_root
from daemon.types import AutoRestart, ProgramSpec

ENV_PREFIX = "MICTL_"


class ConfigError(Exception):
    """A config that cannot be used; the message names the file and key path."""


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class DaemonSection(Struct):
    socket: str = ""  # "" = /run/mictl/mictl.sock as root, else under $XDG_RUNTIME_DIR
    socket_mode: str = "0600"
    socket_group: str = ""
    state_dir: str = ""  # "" = /var/lib/mictl as root, else ~/.local/state/mictl
    log_dir: str = ""  # "" = /var/log/mictl as root, else <state_dir>/log
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_timeout: float = 60.0  # whole-daemon stop budget beyond stopwaitsecs


class ProgramOptions(Struct):
    """supervisord's [program:x] keys, with its defaults and its value syntax."""

    command: str = ""
    autostart: bool | str = True
    autorestart: bool | str = "unexpected"
    startsecs: int | float = 1
    startretries: int = 3
    exitcodes: str | int | list[int] = "0"
    stopsignal: str | int = "TERM"
    stopwaitsecs: int | float = 10
    stopasgroup: bool | str = False
    killasgroup: bool | str | None = None  # None: same as stopasgroup, like supervisord
    priority: int = 999
    environment: dict[str, str] | str = {}
    directory: str = ""
    stdout_logfile: str = "AUTO"  # AUTO = <log_dir>/<name>.log, NONE = discard
    stdout_logfile_maxbytes: str | int = "50MB"
    stdout_logfile_backups: int = 10
    redirect_stderr: bool | str = False
    stderr_logfile: str = "AUTO"  # AUTO = <log_dir>/<name>.err.log
    stderr_logfile_maxbytes: str | int = "50MB"
    stderr_logfile_backups: int = 10
    user: str = ""  # run as this user (the daemon must be root), like supervisord
    umask: str | int = ""  # e.g. "022"; "" = the daemon's


class BrowserSection(Struct):
    executable: str = ""  # "" = headless shell, else system chromium, else Playwright's
    headless: bool = True
    args: list[str] = []


def _instance_defaults() -> ProgramOptions:
    # A browser runner: SIGTERM goes to the runner alone, so it can finish or
    # stop the current generation and close its browser cleanly; SIGKILL (and
    # the clean-up after any exit) takes its whole group, Chromium included.
    return ProgramOptions(
        autorestart="true",
        startsecs=2,
        stopasgroup=False,
        killasgroup=True,
        stopwaitsecs=15,
        priority=500,
        redirect_stderr=True,  # runners log to stderr: `mictl logs NAME` shows it
    )


class ProfilesSection(Struct):
    dir: str = "auth_profiles/saved"
    base_port: int = 3001
    host: str = "127.0.0.1"
    site: str = "demo"
    write_back: bool = False
    # Each instance's command: "" runs mictl-instance; tests put any program on {port} here.
    command: str = ""
    browser: BrowserSection = msgspec.field(default_factory=BrowserSection)
    program: ProgramOptions = msgspec.field(default_factory=_instance_defaults)
    # Recycling: restart (drained first, one at a time) an instance after this many
    # requests, seconds, or MB of PSS (its whole tree, Chromium included). 0 = never.
    recycle_after_requests: int = 0
    recycle_after_seconds: float = 0.0
    recycle_above_mb: int = 0
    # Warn (a log line) when a profile's session cookies expire within this many seconds
    # (0 = never); `session_cookies` names them, empty = every cookie with an expiry.
    expiry_warning: float = 3 * 86400.0
    session_cookies: list[str] = []


class BreakerSection(Struct):
    failures: int = 3  # consecutive failures that open the breaker
    failure_rate: float = 0.0  # or: this share of failures over `window` (0 = off)
    window: float = 60.0
    min_requests: int = 10  # in the window, before failure_rate counts
    cooldown: float = 5.0  # open -> half-open; doubles on each re-open
    cooldown_max: float = 300.0


class RouterSection(Struct):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2048
    strategy: Literal[
        "round_robin", "least_busy", "response_time", "random", "weighted", "primary_first"
    ] = "round_robin"
    sticky: Literal["none", "user", "header"] = "none"
    sticky_header: str = "x-mictl-session"
    max_body_bytes: int = 4 * 1024 * 1024
    max_concurrent: int = 1  # per instance: one page, one generation
    queue_size: int = 256  # requests waiting for a free instance
    queue_timeout: float = 60.0  # longest wait in the queue
    max_retries: int = 2  # other instances tried when one fails before the first byte
    request_timeout: float = 600.0  # a whole request, queueing and retries included
    connect_timeout: float = 5.0
    drain_timeout: float = 60.0  # in-flight requests finish before a stop/restart
    api_keys: list[str] = []  # clients send `Authorization: Bearer KEY`
    api_keys_file: str = ""  # one key per line
    allow_public_without_keys: bool = False  # bind beyond loopback with no keys
    weights: dict[str, int] = {}  # strategy "weighted": name -> weight (default 1)
    priorities: dict[str, int] = {}  # strategy "primary_first": lower goes first
    breaker: BreakerSection = msgspec.field(default_factory=BreakerSection)


class UpstreamSection(Struct):
    """Any OpenAI-compatible endpoint (a paid API account as spill-over), or
    another host's mictld front port (kind = "mictld": probed on /readyz)."""

    base_url: str  # e.g. https://api.openai.com/v1, or http://hostb:2048/v1
    kind: Literal["openai", "mictld"] = "openai"
    api_key_env: str = ""  # the key is read from this environment variable...
    api_key_file: str = ""  # ...or from this file; never from the config itself
    models: list[str] = []  # models it serves ([] = any)
    weight: int = 1
    priority: int = 100
    max_concurrent: int = 8
    rpm: int = 0  # requests per minute budget (0 = none)


class HealthSection(Struct):
    interval: float = 5.0  # seconds between probes of each instance's /health
    timeout: float = 3.0
    unhealthy_after: int = 2  # consecutive failed probes: no more requests
    restart_after: int = 6  # consecutive failed probes: restart it (0 = never)


class DashboardSection(Struct):
    admin_token: str = ""  # enables the page's actions; "" and no file: read-only
    admin_token_file: str = ""  # or the first line of this file (0600)


class Config(Struct):
    daemon: DaemonSection = msgspec.field(default_factory=DaemonSection)
    profiles: ProfilesSection = msgspec.field(default_factory=ProfilesSection)
    programs: dict[str, ProgramOptions] = {}
    router: RouterSection = msgspec.field(default_factory=RouterSection)
    health: HealthSection = msgspec.field(default_factory=HealthSection)
    upstreams: dict[str, UpstreamSection] = {}
    dashboard: DashboardSection = msgspec.field(default_factory=DashboardSection)
    fleet: FleetSection = msgspec.field(default_factory=FleetSection)
    scaling: ScalingSection = msgspec.field(default_factory=ScalingSection)
    path: str = ""  # the file this came from (set by the loader, not the file)


# ------------------------------------------------------------------ loading


def load(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> Config:
    """Read, override from the environment, validate and resolve paths."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    environ = os.environ if env is None else env
    _apply_env(raw, environ, path)
    config = _decode(raw, path, environ)
    _resolve_paths(config, path.resolve().parent)
    config.path = str(path.resolve())
    try:  # every program option must parse
        program_specs(config)
        resolve_program("*", config.profiles.program, "", argv=("-",), key="profiles.program")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    socket_mode(config)
    _check_exposure(config)
    return config


LOOPBACK = ("127.", "::1", "localhost")


def _check_exposure(config: Config) -> None:
    r = config.router
    public = not r.host.startswith(LOOPBACK)
    if r.enabled and public and not (r.api_keys or r.api_keys_file or r.allow_public_without_keys):
        raise ConfigError(
            f"{config.path}: router.host: {r.host} is beyond loopback and no api_keys are set; "
            "set router.api_keys (or api_keys_file), or allow_public_without_keys = true"
        )


def api_keys(config: Config) -> list[str]:
    """The client keys: inline ones plus the keys file's lines."""
    keys = list(config.router.api_keys)
    if config.router.api_keys_file:
        try:
            with open(config.router.api_keys_file) as f:
                keys += [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except OSError as exc:
            raise ConfigError(f"router.api_keys_file: cannot read: {exc.strerror}") from None
    return keys


def _decode(raw: dict[str, Any], path: Path, environ: Mapping[str, str]) -> Config:
    programs = raw.pop("programs", {})
    if not isinstance(programs, dict):
        raise ConfigError(f"{path}: programs: expected a table of [programs.NAME]")
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {_key_path(exc)}") from None
    for name, options in programs.items():
        if not NAME_RE.match(name):
            raise ConfigError(f"{path}: programs.{name}: name must match {NAME_RE.pattern}")
        if isinstance(options, dict):  # supervisord's %(program_name)s and friends
            here = str(path.resolve().parent)
            found = expansions.program_expansions(name, here, environ)
            try:
                options = expansions.expand_program(options, found, f"programs.{name}")
            except ValueError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            options = compat.drop_ignored(options, f"programs.{name}")
        try:
            config.programs[name] = msgspec.convert(options, ProgramOptions, strict=False)
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


def _resolve_paths(config: Config, here: Path) -> None:
    """Relative paths in the file are relative to the file, like %(here)s."""

    def resolve(value: str) -> str:
        return str((here / value).resolve()) if value else value

    d = config.daemon
    d.socket = resolve(d.socket) if d.socket else default_socket_path()
    d.state_dir = resolve(d.state_dir) if d.state_dir else default_state_dir()
    if d.log_dir:
        d.log_dir = resolve(d.log_dir)
    else:
        d.log_dir = "/var/log/mictl" if is_root() else os.path.join(d.state_dir, "log")
    config.profiles.dir = resolve(config.profiles.dir)
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
        stdout_logfile=_logfile(options.stdout_logfile, log_dir, f"{name}.log", f"{key}.stdout"),
        stdout_logfile_maxbytes=parse("stdout_logfile_maxbytes", _byte_size),
        stdout_logfile_backups=options.stdout_logfile_backups,
        redirect_stderr=parse("redirect_stderr", datatypes.boolean),
        stderr_logfile=_logfile(
            options.stderr_logfile, log_dir, f"{name}.err.log", f"{key}.stderr"
        ),
        stderr_logfile_maxbytes=parse("stderr_logfile_maxbytes", _byte_size),
        stderr_logfile_backups=options.stderr_logfile_backups,
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


def _logfile(value: str, log_dir: str, default_name: str, key: str) -> str | None:
    if value.upper() == "NONE":
        return None
    if value.lower() == "syslog":  # supervisord's deprecated magic name
        raise ConfigError(
            f"{key}_logfile: 'syslog' is not supported (mictld's own log goes to the "
            "journal under systemd); give a file, AUTO or NONE"
        )
    if value.upper() == "AUTO":
        return os.path.join(log_dir, default_name)
    return value


def program_specs(config: Config) -> list[ProgramSpec]:
    """The [programs.NAME] entries as specs (instances come from programs.py)."""
    return [
        resolve_program(name, options, config.daemon.log_dir)
        for name, options in sorted(config.programs.items())
    ]


def socket_mode(config: Config) -> int:
    try:
        return int(config.daemon.socket_mode, 8)
    except ValueError:
        raise ConfigError(
            f"{config.path}: daemon.socket_mode: expected an octal mode like '0600'"
        ) from None
