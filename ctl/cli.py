"""mictl: control mictld over its Unix socket.

Exit codes: 0 done; 1 the operation failed (e.g. the program ended FATAL);
2 usage or config error (including an unknown program name); 3 the daemon is
not reachable.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import click

from ctl.base import (
    Ctl,
    emit_json,
    expand_patterns,
    names_or_all,
    operate,
    pass_ctl,
    report,
    socket_from,
)
from ctl.errors import EXIT_FAILED, Failed, ProxyFailed, Unreachable, Usage
from ctl.lazy import LazyGroup
from ctl.profile_net import network_for, proxy_options
from ctl.table import fmt_uptime, status_footer, status_table
from daemon import __version__
from daemon.types import DaemonInfo, ProgramInfo, ReloadResult


@click.group(
    cls=LazyGroup,
    lazy={
        "health": "ctl.backends:health",
        "drain": "ctl.backends:drain",
        "undrain": "ctl.backends:undrain",
        "breaker": "ctl.backends:breaker",
        "profile": "ctl.profile_cmd:profile",
        "service": "ctl.service:service",
        "events": "ctl.events_cmd:events",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--socket",
    "socket_path",
    envvar="MICTL_SOCKET",
    help="The daemon's control socket (default: from --config, else the standard path).",
)
@click.option(
    "-c",
    "--config",
    "config_path",
    envvar="MICTL_CONFIG",
    help="Read the socket path from this config.",
)
@click.version_option(  # message and help given: click's defaults go through gettext
    __version__,
    prog_name="mictl",
    message="%(prog)s, version %(version)s",
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, socket_path: str | None, config_path: str | None) -> None:
    """Control mictld, the browser-session supervisor."""
    if ctx.invoked_subcommand in ("config", "site", "service", "profile"):
        return  # these work without a daemon
    ctx.obj = Ctl(socket_path or socket_from(config_path))


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctl
def status(ctl: Ctl, names: tuple[str, ...], as_json: bool) -> None:
    """Show the state of every program (or of NAMES; `grp:*` as in supervisorctl)."""
    names = tuple(expand_patterns(ctl, names))
    programs = ctl.call("GET", "/v1/programs", list[ProgramInfo], name=list(names))
    if as_json:
        emit_json(programs)
        return
    click.echo(status_table(programs, colour=sys.stdout.isatty()))
    if not names:
        info = ctl.call("GET", "/v1/daemon", DaemonInfo)
        for to_stderr, line in status_footer(info):
            click.echo(line, err=to_stderr)


def _verb(verb: str, ok_states: set[str], doc: str) -> Callable[..., None]:
    @click.argument("names", nargs=-1)
    @click.option("--all", "all_", is_flag=True, help="Every program.")
    @click.option("--no-wait", is_flag=True, help="Return at once, do not wait for the result.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctl
    def command(ctl: Ctl, names: tuple[str, ...], all_: bool, no_wait: bool, as_json: bool) -> None:
        operate(ctl, verb, names_or_all(ctl, names, all_), not no_wait, as_json, ok_states)

    command.__doc__ = doc
    return cli.command(verb)(command)


_verb("start", {"RUNNING"}, "Start programs; wait until RUNNING (or FATAL, exit 1).")
_verb("stop", {"STOPPED", "EXITED", "FATAL"}, "Stop programs (remembered across daemon restarts).")


@cli.command("restart")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every program (with --rolling: every instance).")
@click.option("--no-wait", is_flag=True, help="Return at once, do not wait for the result.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--rolling", is_flag=True, help="One batch at a time, each routable before the next.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Instances per batch (--rolling).",
)
@click.option(
    "--max-unavailable",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="At most this many out.",
)
@pass_ctl
def restart(
    ctl: Ctl,
    names: tuple[str, ...],
    all_: bool,
    no_wait: bool,
    as_json: bool,
    rolling: bool,
    batch: int,
    max_unavailable: int,
) -> None:
    """Stop then start programs (drained first); wait until RUNNING. --all,
    as supervisorctl's `restart all`: everything stops, then everything
    starts in priority order."""
    if all_ and not rolling:
        if names:
            raise Usage("give program names or --all, not both")
        results = ctl.call("POST", "/v1/restart", list[ProgramInfo], wait=int(not no_wait))
        report(results, not no_wait, as_json, {"RUNNING"})
        return
    if not rolling:
        operate(ctl, "restart", names_or_all(ctl, names, all_), not no_wait, as_json, {"RUNNING"})
        return
    if all_:
        programs = ctl.call("GET", "/v1/programs", list[ProgramInfo])
        names = tuple(p.name for p in programs if p.kind == "instance")
    from ctl.events_cmd import rolling_restart  # only here: its imports are not free

    rolling_restart(
        ctl, names_or_all(ctl, names, False), batch, max_unavailable, not no_wait, as_json
    )


@cli.command("signal")
@click.argument("sig")
@click.argument("names", nargs=-1, required=True)
@pass_ctl
def signal_(ctl: Ctl, sig: str, names: tuple[str, ...]) -> None:
    """Send signal SIG (HUP, USR1, 15...) to programs; `all`, or a group
    (`g:*`): every running one of them, as supervisorctl (the others are
    skipped); a program named alone must be running."""
    targets: list[str] = []
    for given in names:
        if given == "all" or given.endswith(":") or any(c in given for c in "*?["):
            running = [p.name for p in ctl.call("GET", "/v1/programs", list[ProgramInfo]) if p.pid]
            found = running if given == "all" else expand_patterns(ctl, (given,))
            targets += [n for n in found if n in running and n not in targets]
        elif given not in targets:
            targets.append(given)
    for name in targets:
        info = ctl.call("POST", f"/v1/programs/{name}/signal/{sig}", ProgramInfo)
        click.echo(f"{info.name}: signalled {sig.upper()}")


@cli.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("-n", "--lines", default=50, show_default=True, help="Lines of history.")
@click.option("--stderr", is_flag=True, help="The stderr log instead of stdout.")
@pass_ctl
def logs(ctl: Ctl, name: str, follow: bool, lines: int, stderr: bool) -> None:
    """Print a program's log (tail), optionally following it."""
    query = {"n": lines, "follow": int(follow), "stream": "stderr" if stderr else "stdout"}
    out = click.get_binary_stream("stdout")
    try:
        for chunk in ctl.stream(f"/v1/programs/{name}/logs", **query):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        pass


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctl
def reload(ctl: Ctl, as_json: bool) -> None:
    """Re-read the config and profiles; restart only what changed."""
    result = ctl.call("POST", "/v1/reload", ReloadResult)
    if as_json:
        emit_json(result)
    elif result.ok:
        for key in ("added", "removed", "restarted"):
            if getattr(result, key):
                click.echo(f"{key}: {', '.join(getattr(result, key))}")
        for change in result.changed:
            click.echo(f"changed: {change}")
        if not (result.added or result.removed or result.restarted or result.changed):
            click.echo("nothing changed")
        click.echo("reloaded")
    if not result.ok:
        raise Usage(f"reload refused, config unchanged: {result.error}")


@cli.command()
@pass_ctl
def shutdown(ctl: Ctl) -> None:
    """Stop every program and the daemon."""
    ctl.call("POST", "/v1/shutdown", dict)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and os.path.exists(ctl.client.socket_path):
        time.sleep(0.05)
    click.echo("mictld shut down")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctl
def version(ctl: Ctl, as_json: bool) -> None:
    """Versions of mictl and of the running daemon."""
    try:
        info: DaemonInfo | None = ctl.call("GET", "/v1/daemon", DaemonInfo)
    except Unreachable:
        info = None
    if as_json:
        emit_json({"mictl": __version__, "daemon": info})
        return
    click.echo(f"mictl {__version__}")
    if info:
        click.echo(
            f"mictld {info.version} (pid {info.pid}, up {fmt_uptime(info.uptime)}, "
            f"config {info.config})"
        )
    else:
        click.echo("mictld not reachable")


@cli.group()
def config() -> None:
    """Work with config files."""


@config.command("check")
@click.argument("file", required=False)
@click.pass_context
def config_check(ctx: click.Context, file: str | None) -> None:
    """Validate FILE (default: mictl's -c FILE, $MICTL_CONFIG, or /etc/mictl/mictl.toml)."""
    from daemon.config import loader as daemon_config

    # -c (or $MICTL_CONFIG, which -c reads) names the file when FILE does not.
    path = file or ctx.find_root().params.get("config_path") or "/etc/mictl/mictl.toml"
    try:
        daemon_config.load(path)
    except daemon_config.ConfigError as exc:
        raise Usage(str(exc)) from None
    click.echo(f"{path}: ok")


def main() -> None:
    cli(prog_name="mictl")


@cli.group(
    cls=LazyGroup,
    lazy={"record": "ctl.site_cmd:record_cmd", "replay": "ctl.site_cmd:replay_cmd"},
)
def site() -> None:
    """Work with site files."""


@site.command("check")
@click.option(
    "--profile",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A storage_state JSON to sign in with (it is never written).",
)
@click.option(
    "--site",
    "site_name",
    help="A bundled site name or a site file path [default: the profile's, with -c "
    "CONFIG (profiles.overrides.NAME site, else [profiles] site); else demo].",
)
@click.option("--url", default=None, help="Override the site file's URL.")
@click.option(
    "--screenshot",
    default=None,
    help="Where to save the page's screenshot [default: a new private temp dir, "
    "never the working directory].",
)
@click.option(
    "--browser-arg",
    "browser_args",
    multiple=True,
    help="An extra Chromium flag (repeatable), as [profiles.browser] args gives instances.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@proxy_options
@click.pass_context
def site_check(
    ctx: click.Context,
    profile: str,
    site_name: str | None,
    url: str | None,
    screenshot: str | None,
    browser_args: tuple[str, ...],
    as_json: bool,
    proxy_url: str | None,
    proxy_credentials_file: str | None,
    proxy_credentials_env: str | None,
) -> None:
    """Open the site with PROFILE and check every selector of its site file
    (and which of its fallbacks matched). With -c CONFIG, it goes out as the
    profile's instance does (profiles.overrides.NAME for PROFILE's file name
    NAME: proxy, locale, time zone, flags); --proxy says a proxy here. Exit 4
    when the proxy gives no way to the site."""
    from ctl.local import config_of, site_for, site_path, verified_line
    from instance_runner.chromium import NoBrowser
    from instance_runner.sites.loader import SiteFileError, load_site
    from instance_runner.tools.launch import ProxyUnreachable
    from instance_runner.tools.site_check import check

    stem = os.path.splitext(os.path.basename(profile))[0]  # profile NAME's file
    cfg = config_of(ctx)
    site_name = site_for(site_name, cfg, stem) or "demo"
    net, own_args = network_for(cfg, stem, proxy_url=proxy_url,
                                credentials_file=proxy_credentials_file,
                                credentials_env=proxy_credentials_env)  # fmt: skip

    if screenshot is None:  # the page may show the account: 0700, not the cwd
        import tempfile

        screenshot = os.path.join(tempfile.mkdtemp(prefix="mictl-site-check-"), "site-check.png")
    try:
        args = [*browser_args, *own_args]
        report = check(profile, site_name, screenshot, url=url, browser_args=args, net=net)
    except (SiteFileError, NoBrowser) as exc:
        raise Usage(str(exc)) from None
    except ProxyUnreachable as exc:
        raise ProxyFailed(str(exc)) from None
    except Exception as exc:  # the page could not be opened at all
        raise Failed(f"could not open {site_name}: {exc}".splitlines()[0]) from None
    if as_json:
        emit_json(report)
    else:
        click.echo(verified_line(load_site(site_name), site_path(site_name)))
        if report.notice:
            click.echo(f"note: {report.notice}")
        signed = "signed in" if report.logged_in else "NOT signed in"
        if report.signed_out_reason:
            signed += f" ({report.signed_out_reason})"
        click.echo(f"{report.site} at {report.url}: {signed}")
        for r in report.results:
            mark = "found" if r.found else ("MISSING" if r.required else "absent (ok)")
            if r.found and r.fallbacks > 1:
                mark += f" ({r.fallback + 1}/{r.fallbacks})"
            elif not r.found and r.fallbacks > 1:
                mark += f" (none of {r.fallbacks})"
            click.echo(f"  {r.name:<16} {mark:<22} {r.selector}")
        if report.models:
            click.echo(f"  models: {', '.join(report.models)}")
        click.echo(f"screenshot: {report.screenshot}")
    if not report.ok:
        sys.exit(EXIT_FAILED)
