"""How the router sees instances and upstreams: `mictl health`, `drain`,
`undrain`, `breaker reset`."""

from __future__ import annotations

from typing import Any

import click

from ctl.base import Ctl, emit_json, pass_ctl
from ctl.errors import Failed, Usage
from ctl.table import columns
from daemon.types import BackendInfo, DrainInfo


def _backend_op(ctl: Ctl, name: str, path: str, **query: Any) -> BackendInfo:
    return ctl.call("POST", f"/v1/backends/{name}/{path}", BackendInfo, **query)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="The whole daemon (a pod's preStop).")
@click.option("--no-wait", is_flag=True, help="Do not wait for in-flight requests to finish.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help="--all: wait at most this many seconds (default: [router] drain_timeout).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (--all).")
@pass_ctl
def drain(
    ctl: Ctl,
    names: tuple[str, ...],
    all_: bool,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Send no new requests to NAMES; wait for their in-flight ones to finish.

    --all drains the whole daemon: every new request gets a 503 that tells
    clients to retry (another host takes it), /readyz answers 503, and the
    command waits until nothing is in flight; exit 1 if requests are still
    running at the timeout. `mictl undrain --all` takes requests again.
    """
    if all_ == bool(names):
        raise Usage("name instances or upstreams, or use --all (the whole daemon)")
    if all_:
        query: dict[str, Any] = {"wait": int(not no_wait)}
        if timeout is not None:
            query["timeout"] = timeout
            ctl.client.timeout = timeout + 30  # the socket waits as long as the drain
        whole = ctl.call("POST", "/v1/drain", DrainInfo, **query)
        if as_json:
            emit_json(whole)
        elif whole.drained:
            click.echo("mictld: drained (nothing in flight; new requests are refused)")
        else:
            click.echo(f"mictld: draining ({whole.in_flight} in flight)")
        if not no_wait and not whole.drained:
            raise Failed(f"{whole.in_flight} request(s) still in flight at the timeout")
        return
    if timeout is not None:
        raise Usage("--timeout goes with --all (an instance waits [router] drain_timeout)")
    for name in names:
        info = _backend_op(ctl, name, "drain", wait=int(not no_wait))
        click.echo(f"{info.name}: draining ({info.in_flight} in flight)")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="The whole daemon, after `drain --all`.")
@pass_ctl
def undrain(ctl: Ctl, names: tuple[str, ...], all_: bool) -> None:
    """Let NAMES take requests again (those the operator drained)."""
    if all_ == bool(names):
        raise Usage("name instances or upstreams, or use --all (the whole daemon)")
    if all_:
        ctl.call("POST", "/v1/undrain", DrainInfo)
        click.echo("mictld: taking requests")
        return
    for name in names:
        info = _backend_op(ctl, name, "undrain")
        state = "routable" if info.routable else f"{info.health} (routable once a probe passes)"
        click.echo(f"{info.name}: {state}")


@click.group()
def breaker() -> None:
    """Circuit breakers of instances and upstreams."""


@breaker.command("reset")
@click.argument("names", nargs=-1, required=True)
@pass_ctl
def breaker_reset(ctl: Ctl, names: tuple[str, ...]) -> None:
    """Close the breaker of NAMES."""
    for name in names:
        info = _backend_op(ctl, name, "breaker/reset")
        click.echo(f"{info.name}: breaker {info.breaker}")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctl
def health(ctl: Ctl, names: tuple[str, ...], as_json: bool) -> None:
    """How the router sees each instance and upstream."""
    backends = ctl.call("GET", "/v1/backends", list[BackendInfo])
    if names:
        unknown = set(names) - {b.name for b in backends}
        if unknown:
            raise Usage(f"no such instance or upstream: {', '.join(sorted(unknown))}")
        backends = [b for b in backends if b.name in names]
    if as_json:
        emit_json(backends)
        return
    header = [
        "NAME",
        "KIND",
        "ROUTABLE",
        "HEALTH",
        "INFLIGHT",
        "PAGES",
        "BREAKER",
        "SERVED",
        "FAILED",
        "LATENCY",
        "COOLING",
    ]
    proxies = any(b.proxy for b in backends)  # a column only when a profile has one
    if proxies:
        header.append("PROXY")
    rows = [
        [
            b.name,
            b.kind,
            "yes" if b.routable else "no",
            b.health,
            f"{b.in_flight}/{b.max_concurrent}",
            pages(b.pages),
            b.breaker,
            str(b.served),
            str(b.failed),
            f"{b.latency_ms:.0f}ms",
            ", ".join(f"{m} {s:.0f}s" for m, s in b.cooling.items()) or "-",
            *([b.proxy or "-"] if proxies else []),
        ]
        for b in backends
    ]
    click.echo(columns(header, rows))


def pages(states: list[str]) -> str:
    """An instance's pages by state: "2 busy, 1 free" ("-" for an upstream)."""
    counts = {s: states.count(s) for s in ("busy", "free", "opening", "broken")}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "-"
