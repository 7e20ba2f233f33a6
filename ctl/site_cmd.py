"""`mictl site record|replay`: turn one live exchange into a regression test."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
import msgspec

from ctl.errors import EXIT_FAILED, Failed, ProxyFailed, Usage
from ctl.local import browser_options, config_of, site_for, site_of, site_path, verified_line
from ctl.profile_net import network_for, proxy_options


@click.command("record")
@click.option(
    "--profile",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A storage_state JSON to sign in with (it is never written).",
)
@click.option("--site", "site_name", help="Bundled site or site file (default: the config's).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Where to save.")
@click.option("--prompt", default="Say hello in five words.", show_default=True)
@click.option("--model", help="The model to ask (default: the page's own).")
@click.option("--url", help="Override the site file's URL.")
@click.option("--redact", multiple=True, help="Also remove this text (e.g. your name).")
@proxy_options
@click.pass_context
def record_cmd(
    ctx: click.Context,
    profile: str,
    site_name: str | None,
    out: str,
    prompt: str,
    model: str | None,
    url: str | None,
    redact: tuple[str, ...],
    proxy_url: str | None,
    proxy_credentials_file: str | None,
    proxy_credentials_env: str | None,
) -> None:
    """Record one exchange with the site: a HAR with bodies, DOM snapshots, a
    screenshot and the site file, secrets removed before anything is written.
    With -c CONFIG it goes out as the profile's instance does
    (profiles.overrides.NAME for PROFILE's file name NAME: site, proxy,
    locale, time zone, flags); --proxy says a proxy here. Exit 4 when the
    proxy gives no way to the site.

    Send the directory to the site file's maintainers: `mictl site replay DIR`
    serves it back and shows what the site file matches there.
    """
    cfg = config_of(ctx)
    stem = Path(profile).stem  # profile NAME's file
    site = site_of(site_name, cfg, url, profile=stem)
    name = site_for(site_name, cfg, stem) or site.name
    click.echo(verified_line(site, site_path(name)))
    if Path(out).exists() and any(Path(out).iterdir()):
        raise Usage(f"{out} is not empty: give a new directory")
    net, own_args = network_for(cfg, stem, proxy_url=proxy_url,
                                credentials_file=proxy_credentials_file,
                                credentials_env=proxy_credentials_env)  # fmt: skip
    from instance_runner.chromium import NoBrowser
    from instance_runner.tools.launch import ProxyUnreachable
    from instance_runner.tools.site_record import RecordError, record, write

    options = browser_options(cfg)
    try:
        recording = asyncio.run(
            record(
                site,
                site_path(name).read_bytes(),
                profile,
                prompt,
                model=model,
                headless=cfg.profiles.browser.headless if cfg else True,
                executable=str(options["executable"]),
                args=[*options["args"], *own_args],  # type: ignore[misc]
                net=net,
                redact=list(redact),
            )
        )
    except NoBrowser as exc:
        raise Usage(str(exc)) from None
    except ProxyUnreachable as exc:
        raise ProxyFailed(str(exc)) from None
    except RecordError as exc:
        raise Failed(str(exc)) from None
    files = write(recording, out)
    meta = recording.meta
    click.echo(f"recorded {site.name} into {out}: {', '.join(files)}")
    click.echo(f"{meta.removed} secret values removed (cookies, tokens, e-mail addresses, names)")
    if meta.error:
        click.echo(f"the exchange failed: {meta.error} (recorded: that is evidence too)")
        sys.exit(EXIT_FAILED)
    click.echo(f"answer: {len(meta.answer)} characters")


@click.command("replay")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--site", "site_name", help="Check this site file (default: the recording's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def replay_cmd(ctx: click.Context, directory: str, site_name: str | None, as_json: bool) -> None:
    """Serve a recording back and run the site file against it: which selector
    (and which fallback) matched at each moment, and whether the adapter gets
    the recorded answer. Exit 0 when everything matched."""
    cfg = config_of(ctx)
    name = site_name or os.path.join(directory, "site.toml")
    site = site_of(name, cfg)
    from instance_runner.chromium import NoBrowser
    from instance_runner.tools.site_replay import replay

    try:
        report = asyncio.run(
            replay(
                directory,
                site,
                **browser_options(cfg),
            )
        )
    except NoBrowser as exc:
        raise Usage(str(exc)) from None
    except (OSError, ValueError, msgspec.DecodeError) as exc:
        raise Usage(f"{directory} is not a recording: {exc}") from None
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(report)).decode())
    else:
        click.echo(f"replay of {directory} with site file {site.name}")
        for r in report.roles:
            which = "-" if r.matched is None else r.options[r.matched]
            mark = {"ok": "found", "moved": f"MOVED (fallback {r.matched})"}.get(
                r.status, r.status.upper() if r.status == "missing" else "absent (ok)"
            )
            click.echo(f"  {r.moment:<12} {r.role:<13} {mark:<22} {which}")
        click.echo(f"  signed in: {'yes' if report.logged_in else 'NO'}")
        if report.answer_matches:
            click.echo(f"  answer: same as recorded ({len(report.answer)} characters)")
        elif report.recorded_error:
            now = report.error or "none"
            click.echo(f"  recorded failure: {report.recorded_error}; now: {now}")
        else:
            why = f": {report.error}" if report.error else ""
            click.echo(f"  answer: DIFFERS from the recording{why}")
        if report.unserved:
            click.echo(f"  not in the recording: {', '.join(report.unserved)}")
        if report.moved:
            click.echo(f"moved: {', '.join(report.moved)}")
        if report.missing:
            click.echo(f"missing: {', '.join(report.missing)}")
        click.echo("ok" if report.ok else "FAILED")
    if not report.ok:
        sys.exit(EXIT_FAILED)
