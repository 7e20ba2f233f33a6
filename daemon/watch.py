"""Watch the config file, the profiles dir and the proxies' credentials
files; reload on change.

A change is parsed, validated, planned and applied by `Daemon.reload` (the same
path as SIGHUP and `mictl reload`). An invalid config changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable

import watchfiles

log = logging.getLogger("mictld")


# A Kubernetes Secret or ConfigMap volume: every file is a link through
# `..data`, which the kubelet swaps (a rename) to update them all at once; the
# files' own links do not change when their content does.
ATOMIC_SWAP = "..data"


def _relevant(
    config_path: str, profiles_dir: str, secrets: Callable[[], Iterable[str]]
) -> Callable[[watchfiles.Change, str], bool]:
    config_dir = os.path.dirname(config_path)

    def keep(change: watchfiles.Change, path: str) -> bool:
        now = set(secrets())  # the config's of the moment: a reload may change them
        if path == config_path or path in now:
            return True
        where, name = os.path.split(path)
        if name == ATOMIC_SWAP:
            return where in {profiles_dir, config_dir} | {os.path.dirname(p) for p in now}
        return where == profiles_dir and name.endswith(".json")

    return keep


async def watch(
    config_path: str,
    profiles_dir: str,
    reload: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    *,
    secrets: Callable[[], Iterable[str]] = tuple,
) -> None:
    """Run until `stop` is set. `secrets()`: the credentials files the config
    names now (their folders as they were at the start are watched)."""
    paths = [os.path.dirname(config_path)]
    if os.path.isdir(profiles_dir):
        paths.append(profiles_dir)
    paths += sorted({os.path.dirname(p) for p in secrets() if os.path.isdir(os.path.dirname(p))})
    async for changes in watchfiles.awatch(
        *dict.fromkeys(paths),
        watch_filter=_relevant(config_path, profiles_dir, secrets),
        stop_event=stop,
        debounce=300,
        step=250,  # how often the watcher thread wakes to check for stop
        # No periodic return to the loop while nothing changes (watchfiles'
        # default comes back every 5 s, a thread hop each time); stop_event
        # still ends it within a step.
        rust_timeout=0,
        recursive=False,
    ):
        log.info("change seen: %s", ", ".join(sorted({os.path.basename(p) for _, p in changes})))
        await reload()
