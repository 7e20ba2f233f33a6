"""The config schema: every section and key, its type, range and default.

The vocabulary of daemon/config/loader.py (which loads, overrides and checks), and
what the rest of the daemon imports. Ranges are msgspec constraints, so a
value the daemon cannot run with is refused naming its key.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from daemon.config.fleet import FleetSection, ScalingSection
from daemon.config.ranges import AtLeastOne, Count, Port, Seconds, SecondsOrZero, Share


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
    shutdown_timeout: SecondsOrZero = 60.0  # whole-daemon stop budget beyond stopwaitsecs
    # Every program's output lines on mictld's stdout too, as `NAME | line`
    # (a container's `podman logs` / `kubectl logs`); the log files still
    # get them. Off: under systemd the journal would hold them twice.
    programs_to_stdout: bool = False


class ProgramOptions(Struct):
    """supervisord's [program:x] keys, with its defaults and its value syntax."""

    command: str = ""
    autostart: bool | str = True
    autorestart: bool | str = "unexpected"
    startsecs: int | float = 1
    startretries: Count = 3
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
    stdout_logfile_backups: Count = 10
    redirect_stderr: bool | str = False
    stderr_logfile: str = "AUTO"  # AUTO = <log_dir>/<name>.err.log
    stderr_logfile_maxbytes: str | int = "50MB"
    stderr_logfile_backups: Count = 10
    user: str = ""  # run as this user (the daemon must be root), like supervisord
    # e.g. "022"; "" = the umask mictld was started with, as supervisord
    # passes on its own (instances: 077, they hold cookies).
    umask: str | int = ""
    # Each output line also goes to mictld's own log (the journal under
    # systemd) as `NAME stdout: line`, as supervisord 4 sends it to syslog.
    # Off by default; never for instances (their output may hold prompts).
    stdout_syslog: bool | str = False
    stderr_syslog: bool | str = False


class GroupSection(Struct):
    """supervisord's [group:x]: its members are named `x:PROGRAM` and are
    addressed together as `x:*` (daemon/config/groups.py)."""

    programs: list[str] | str  # ["a", "b"] or supervisord's "a,b"
    priority: int = 999  # orders the group among the others, as supervisord's


class BrowserSection(Struct):
    executable: str = ""  # "" = headless shell, else system chromium, else Playwright's
    headless: bool = True
    args: list[str] = []
    # N pages per instance, each answering its own request with its own chat
    # (N answers at once per account, one browser: each page costs about a
    # renderer, far less than an instance). A free page opens its next chat
    # ahead, so a request right after an answer does not wait for a page load.
    # The router takes each instance's capacity from its /health.
    tabs: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1


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
        umask="077",  # a runner writes cookies, screenshots and chats
    )


class ImagesSection(Struct):
    """Images in requests (`image_url`): each instance fetches URLs itself."""

    max_bytes: AtLeastOne = 20 * 1024 * 1024  # per image (and the site's own limit)
    timeout: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0  # seconds for one URL
    # Networks an image URL may reach though not public (loopback, private,
    # link-local are refused by default: no SSRF through mictl).
    allow_networks: list[str] = []


class ProfileOverrides(Struct):
    """[profiles.overrides.NAME]: one profile's own settings beside its
    cookies (the storage_state file stays Playwright's). Checked by
    daemon/config/overrides.py; each reaches the instance as a flag, the
    proxy's credentials only as a file path or a variable's name."""

    # http://, https:// or socks5://host:port, with no credentials in it.
    proxy: str = ""
    proxy_credentials_file: str = ""  # "user:password", 0600 (relative: to the config file)
    proxy_credentials_env: str = ""  # or this environment variable of mictld's
    tabs: Annotated[int, msgspec.Meta(ge=1, le=16)] | None = None  # else [profiles.browser]'s
    site: str = ""  # else [profiles] site
    browser_args: list[str] = []  # after [profiles.browser] args
    locale: str = ""  # the browser's, e.g. "en-GB"
    timezone: str = ""  # the browser's, e.g. "Europe/Berlin"


class ProfilesSection(Struct):
    dir: str = "auth_profiles/saved"
    base_port: Port = 3001
    host: str = "127.0.0.1"
    site: str = "demo"
    write_back: bool = False
    # Template for each instance's command. "" runs mictl-instance; tests may
    # put any program that listens on {port} here. {key_file}: the instance's
    # key (mictl-instance --key-file), which mictld sends as a Bearer token.
    # {flags}: what [profiles.overrides.NAME] sets (proxy, tabs, browser_args,
    # locale, timezone) as mictl-instance's flags; a template without it is
    # refused while an override sets one of those.
    command: str = ""
    browser: BrowserSection = msgspec.field(default_factory=BrowserSection)
    images: ImagesSection = msgspec.field(default_factory=ImagesSection)
    program: ProgramOptions = msgspec.field(default_factory=_instance_defaults)
    # Recycling: restart (drained first, one at a time) an instance after this
    # many requests, this many seconds, or above this much memory (PSS of its
    # whole process tree, Chromium included). 0 = never.
    recycle_after_requests: Count = 0
    recycle_after_seconds: SecondsOrZero = 0.0
    recycle_above_mb: Count = 0
    # A removed profile's private copy and error pages are deleted once its
    # instance stopped; true keeps them.
    keep_removed: bool = False
    # Warn (a log line when profiles are loaded) when a profile's session
    # cookies expire within this many seconds (0 = never); `session_cookies`
    # names them, empty = every cookie that has an expiry date.
    expiry_warning: SecondsOrZero = 3 * 86400.0
    session_cookies: list[str] = []
    # Several mictlds on one profiles dir (a Kubernetes StatefulSet): each
    # serves the profiles whose name hashes to its `shard` of `shards`
    # (daemon/config/shards.py). 0 = every profile. "auto": the ordinal at the end
    # of the hostname (mictl-accounts-2 is shard 2).
    shards: Count = 0
    shard: int | str = "auto"
    # name -> that profile's own proxy, tabs, site, browser args, locale, timezone.
    overrides: dict[str, ProfileOverrides] = {}

    def credentials_files(self) -> list[str]:
        """The proxies' credentials files (the watcher reloads when one changes)."""
        return [
            o.proxy_credentials_file for o in self.overrides.values() if o.proxy_credentials_file
        ]


class BreakerSection(Struct):
    failures: AtLeastOne = 3  # consecutive failures that open the breaker
    failure_rate: Share = 0.0  # or: this share of failures over `window` (0 = off)
    window: Seconds = 60.0
    min_requests: AtLeastOne = 10  # in the window, before failure_rate counts
    cooldown: Seconds = 5.0  # open -> half-open; doubles on each re-open
    cooldown_max: Seconds = 300.0


class RouterSection(Struct):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 2048
    strategy: Literal[
        "round_robin", "least_busy", "response_time", "random", "weighted", "primary_first"
    ] = "round_robin"
    sticky: Literal["none", "user", "header"] = "none"
    sticky_header: str = "x-mictl-session"
    max_body_bytes: AtLeastOne = 32 * 1024 * 1024  # images in data: URLs fit
    max_concurrent: AtLeastOne = 1  # per instance, until its /health reports its pages (tabs)
    queue_size: Count = 256  # requests waiting for a free instance
    queue_timeout: Seconds = 60.0  # longest wait in the queue
    max_retries: Count = 2  # other instances tried when one fails before the first byte
    request_timeout: Seconds = 600.0  # a whole request, queueing and retries included
    connect_timeout: Seconds = 5.0
    drain_timeout: SecondsOrZero = 60.0  # in-flight requests finish before a stop/restart
    api_keys: list[str] = []  # clients send `Authorization: Bearer KEY`
    api_keys_file: str = ""  # one key per line
    allow_public_without_keys: bool = False  # bind beyond loopback with no keys
    metrics_auth: bool = True  # /metrics wants an API key when keys are set (health never)
    # The front port's defences against slow, idle and greedy clients: a
    # request head and body must arrive within header_timeout, an idle
    # keep-alive connection closes after keepalive_timeout; past
    # max_connections_per_client from one address (0 = no cap) or
    # max_connections in all, the longest idle connection (of the address
    # holding the most) is closed to make room, and when none is idle a new
    # one gets 429 (its address) or 503 (the port) at once. A request line
    # and headers over max_header_bytes get 431.
    header_timeout: Seconds = 10.0
    keepalive_timeout: Seconds = 5.0
    max_connections: AtLeastOne = 512
    max_connections_per_client: Count = 256
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * 1024)] = 16 * 1024
    weights: dict[str, Count] = {}  # strategy "weighted": name -> weight (default 1)
    priorities: dict[str, int] = {}  # strategy "primary_first": lower goes first
    breaker: BreakerSection = msgspec.field(default_factory=BreakerSection)


class UpstreamSection(Struct):
    """Any OpenAI-compatible endpoint (a paid API account as spill-over), or
    another host's mictld front port (kind = "mictld": probed on /readyz)."""

    base_url: str = ""  # e.g. https://api.openai.com/v1, or http://hostb:2048/v1
    kind: Literal["openai", "mictld"] = "openai"
    # kind = "mictld" only, instead of base_url: every host a DNS name lists
    # ("dns:NAME:PORT", A/AAAA; "dns:_SERVICE._tcp.NAME", SRV), re-resolved
    # on the answer's TTL (router/discovery.py); `nameserver` "IP[:PORT]"
    # asks that server instead of the system's resolver.
    discover: str = ""
    nameserver: str = ""
    api_key_env: str = ""  # the key is read from this environment variable...
    api_key_file: str = ""  # ...or from this file; never from the config itself
    models: list[str] = []  # models it serves ([] = any)
    weight: Count = 1
    priority: int = 100
    max_concurrent: AtLeastOne = 8
    rpm: Count = 0  # requests per minute budget (0 = none)


class HealthSection(Struct):
    interval: Annotated[float, msgspec.Meta(ge=0.1)] = (
        5.0  # seconds between probes of each instance's /health
    )
    timeout: Seconds = 3.0
    unhealthy_after: AtLeastOne = 2  # consecutive failed probes: no more requests
    restart_after: Count = 6  # consecutive failed probes: restart it (0 = never)
    # An instance that has not passed a probe this long after (re)starting
    # is restarted; each such restart counts, FATAL after startretries.
    start_timeout: Seconds = 60.0


class DashboardSection(Struct):
    admin_token: str = ""  # enables the page's actions; "" and no file: read-only
    admin_token_file: str = ""  # or the first line of this file (0600)


class Config(Struct):
    daemon: DaemonSection = msgspec.field(default_factory=DaemonSection)
    profiles: ProfilesSection = msgspec.field(default_factory=ProfilesSection)
    programs: dict[str, ProgramOptions] = {}
    groups: dict[str, GroupSection] = {}
    router: RouterSection = msgspec.field(default_factory=RouterSection)
    health: HealthSection = msgspec.field(default_factory=HealthSection)
    upstreams: dict[str, UpstreamSection] = {}
    dashboard: DashboardSection = msgspec.field(default_factory=DashboardSection)
    fleet: FleetSection = msgspec.field(default_factory=FleetSection)
    scaling: ScalingSection = msgspec.field(default_factory=ScalingSection)
    # A client's model name (exact, or a glob such as "claude-*") -> the model
    # the pool serves, or a list of them in fallback order (live on reload).
    aliases: dict[str, str | list[str]] = {}
    path: str = ""  # the file this came from (set by the loader, not the file)
