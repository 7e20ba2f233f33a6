"""`mictl events [-f] [--json] [NAME...]`: what the daemon did, and why."""

from __future__ import annotations

import time

import click
import msgspec

from ctl.base import Ctl, pass_ctl
from ctl.errors import Failed
from daemon.events import DaemonEvent
from daemon.types import RollStatus


def line(event: DaemonEvent) -> str:
    at = time.strftime("%H:%M:%S", time.localtime(event.at)) + f".{int(event.at % 1 * 1000):03}"
    reason = f" ({event.reason})" if event.reason else ""
    return f"{at}  {event.program or 'mictld':<12} {event.kind:<9} {event.detail}{reason}"


@click.command("events")
@click.argument("names", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Keep printing events as they happen.")
@click.option("-n", "--lines", default=50, show_default=True, help="Recent events to show.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
@pass_ctl
def events(ctl: Ctl, names: tuple[str, ...], follow: bool, lines: int, as_json: bool) -> None:
    """State changes, restarts, drains, breakers, cooldowns, reloads (of NAMES)."""
    query = {"n": lines, "name": list(names)}
    if not follow:
        for event in ctl.call("GET", "/v1/events", list[DaemonEvent], **query):
            click.echo(msgspec.json.encode(event).decode() if as_json else line(event))
        return
    buffered = b""
    try:
        for chunk in ctl.stream("/v1/events", follow=1, **query):
            buffered += chunk
            *complete, buffered = buffered.split(b"\n")
            for raw in complete:
                if as_json:
                    click.echo(raw.decode())
                else:
                    click.echo(line(msgspec.json.decode(raw, type=DaemonEvent)))
    except KeyboardInterrupt:
        pass


def rolling_restart(
    ctl: Ctl, names: list[str], batch: int, max_unavailable: int, wait: bool, as_json: bool
) -> None:
    """Start a roll, then print its steps as they happen until it ends."""
    status = ctl.call(
        "POST", "/v1/roll", RollStatus, name=names, batch=batch, max_unavailable=max_unavailable
    )
    if not as_json:
        click.echo(f"rolling restart: {len(status.batches)} batch(es): {status.batches}")
    if wait:
        buffered = b""
        for chunk in ctl.stream("/v1/events", follow=1, n=200, name=[""]):
            buffered += chunk
            *complete, buffered = buffered.split(b"\n")
            events_ = [msgspec.json.decode(raw, type=DaemonEvent) for raw in complete]
            mine = [e for e in events_ if e.kind == "roll" and e.at >= status.started_at]
            for event in mine:
                if not as_json:
                    click.echo(line(event))
            if any(e.detail in ("done", "stopped") for e in mine):
                break
        status = ctl.call("GET", "/v1/roll", RollStatus)
    if as_json:
        click.echo(msgspec.json.encode(status).decode())
    if status.stopped:
        raise Failed(f"rolling restart stopped: {status.stopped}")
