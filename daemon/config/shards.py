"""Which profiles this mictld serves when several share one profiles dir.

`[profiles] shards = N` (0: every profile) splits the profiles among N
mictlds, each with its own `shard` (0..N-1; "auto": the ordinal a
StatefulSet puts at the end of a pod's hostname, `mictl-accounts-2`). A name
goes to the shard that scores it highest (rendezvous hashing over SHA-256):
the same answer on every host and every run, with no shared store, and one
more shard takes about 1/N of the names from the others and moves none
among them.
"""

from __future__ import annotations

import hashlib
import re
import socket

from daemon.config.schema import ConfigError, ProfilesSection

_ORDINAL = re.compile(r"-(\d+)$")


def shard_of(name: str, shards: int) -> int:
    """The shard (0..shards-1) that serves profile `name`."""
    return max(range(shards), key=lambda i: _score(name, i))


def _score(name: str, shard: int) -> bytes:
    return hashlib.sha256(f"{shard}\0{name}".encode()).digest()


def ordinal(hostname: str) -> int:
    """The StatefulSet ordinal at the end of a pod's hostname."""
    found = _ORDINAL.search(hostname.split(".")[0])
    if found is None:
        raise ConfigError(
            f'profiles.shard = "auto": hostname {hostname!r} does not end in -N '
            "(a StatefulSet pod's does); set profiles.shard"
        )
    return int(found.group(1))


def mine(p: ProfilesSection, hostname: str | None = None) -> tuple[int, int] | None:
    """(this shard, shards), or None to serve every profile."""
    if not p.shards:
        return None
    if p.shard == "auto":
        index = ordinal(hostname if hostname is not None else socket.gethostname())
    elif isinstance(p.shard, int) or str(p.shard).isdigit():
        index = int(p.shard)
    else:
        raise ConfigError(f'profiles.shard: {p.shard!r} is neither "auto" nor a number')
    if index >= p.shards:
        raise ConfigError(f"profiles.shard: {index} is not below profiles.shards = {p.shards}")
    return index, p.shards
