"""One reload pipeline: a pure `plan`, then `apply` in one fixed order.

    plan(old config, new config, old specs, new specs) -> Plan
    apply(plan) : drain -> stop -> pool sync -> start

`plan` decides what a reload does and touches nothing: programs added,
removed, restarted (their spec changed) and unchanged, and the settings that
change in place (router strategy, breakers, health, upstreams...), named key by
key. `apply` drains and stops what goes away or changes, syncs the router's
pool, then starts what is new or changed, and returns what it did. SIGHUP,
`mictl reload` and the file watcher all come here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from daemon.config.loader import Config, ConfigError
from daemon.supervise.supervisor import Supervisor
from daemon.types import ProgramSpec, ReloadResult

log = logging.getLogger("mictld")

# Sections whose changes show up as program specs, not as settings in place.
_PROGRAM_KEYS = ("programs", "groups", "profiles.program")
# Values never printed: a changed key is named, its value is not.
_SECRET_WORDS = ("key", "token", "secret", "password")


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    add: tuple[ProgramSpec, ...] = ()
    remove: tuple[str, ...] = ()
    restart: tuple[ProgramSpec, ...] = ()  # the new spec of each changed program
    unchanged: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # settings applied in place, "key: old -> new"


def plan(
    old: Config, new: Config, old_specs: list[ProgramSpec], new_specs: list[ProgramSpec]
) -> Plan:
    before = {s.name: s for s in old_specs}
    after = {s.name: s for s in new_specs}
    return Plan(
        add=tuple(after[n] for n in sorted(after.keys() - before.keys())),
        remove=tuple(sorted(before.keys() - after.keys())),
        restart=tuple(
            after[n] for n in sorted(after.keys() & before.keys()) if after[n] != before[n]
        ),
        unchanged=tuple(sorted(n for n in after.keys() & before.keys() if after[n] == before[n])),
        changed=tuple(settings_changed(old, new)),
    )


def settings_changed(old: Config, new: Config) -> list[str]:
    """Every setting that differs, as `section.key: old -> new` (secrets named only)."""
    a, b = _flatten(msgspec.to_builtins(old)), _flatten(msgspec.to_builtins(new))
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key == "path" or key.startswith(_PROGRAM_KEYS) or a.get(key) == b.get(key):
            continue
        if any(word in key.rsplit(".", 1)[-1] for word in _SECRET_WORDS):
            out.append(f"{key}: changed")
        else:
            out.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return out


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


async def apply(
    p: Plan,
    supervisor: Supervisor,
    sync: Callable[[], None],
) -> ReloadResult:
    """Drain -> stop -> pool sync -> start. `sync` applies the new config to
    the router (settings, upstreams, one backend per instance)."""
    # 1-2. Drain and stop what goes away, and what changes (each changed
    # program's restart waits at its gate, stopped, until the pool is synced).
    await asyncio.gather(*(supervisor.remove(name) for name in p.remove))
    gate = asyncio.Event()
    stopped: list[asyncio.Event] = []

    def gated(spec: ProgramSpec) -> asyncio.Task[object]:
        at_gate = asyncio.Event()
        stopped.append(at_gate)

        async def wait_gate() -> None:
            at_gate.set()
            await gate.wait()

        return asyncio.get_running_loop().create_task(
            supervisor.request_restart(
                spec.name, "reload: config changed", spec=spec, gate=wait_gate, wait=False
            )
        )

    restarts = [gated(spec) for spec in p.restart]
    for task, at_gate in zip(restarts, stopped, strict=True):
        waiter = asyncio.ensure_future(at_gate.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    # 3. The pool: settings in place, backends of removed instances gone, new ones added.
    sync()
    # 4. Start.
    gate.set()
    for spec in p.add:
        supervisor.add_and_start(spec)
    results = await asyncio.gather(*restarts, return_exceptions=True)
    for spec, result in zip(p.restart, results, strict=True):
        if isinstance(result, BaseException):
            log.error("%s: restart after reload failed: %s", spec.name, result)
    result = ReloadResult(
        ok=True,
        at=time.time(),
        added=[s.name for s in p.add],
        removed=list(p.remove),
        restarted=[s.name for s in p.restart],
        unchanged=list(p.unchanged),
        changed=list(p.changed),
    )
    log.info(
        "reloaded: added %s, removed %s, restarted %s, changed %s",
        result.added or "-",
        result.removed or "-",
        result.restarted or "-",
        "; ".join(result.changed) or "-",
    )
    return result


def check_reloadable(old: Config, new: Config) -> None:
    """Raise ConfigError for a change that only a restart of mictld can make."""
    for key in ("socket", "state_dir"):
        if getattr(new.daemon, key) != getattr(old.daemon, key):
            raise ConfigError(f"daemon.{key} cannot change on reload; restart mictld")
    r, o = new.router, old.router
    if (r.enabled, r.host, r.port) != (o.enabled, o.host, o.port):
        raise ConfigError("router.enabled/host/port cannot change on reload; restart mictld")
