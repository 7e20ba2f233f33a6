"""Profile sharding (daemon/config/shards.py): a stable hash, a partition, the ordinal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config import loader as config
from daemon.config import shards
from daemon.config.schema import ConfigError, ProfilesSection
from daemon.profiles import profile_names

NAMES = st.lists(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True), unique=True)


def test_the_hash_is_stable_across_runs_and_hosts() -> None:
    # Fixed answers: Python's hash() would differ between processes.
    assert [shards.shard_of(n, 3) for n in ("alice", "bob", "carol", "dave")] == [2, 0, 0, 0]


@given(NAMES, st.integers(min_value=1, max_value=8))
def test_shards_partition_the_names(names: list[str], count: int) -> None:
    parts = [{n for n in names if shards.shard_of(n, count) == i} for i in range(count)]
    assert set().union(*parts) == set(names)
    assert sum(len(p) for p in parts) == len(names)  # each name in exactly one shard


@given(NAMES, st.integers(min_value=1, max_value=8))
def test_one_more_shard_moves_names_only_to_itself(names: list[str], count: int) -> None:
    for n in names:
        before, after = shards.shard_of(n, count), shards.shard_of(n, count + 1)
        assert after in (before, count)


def test_names_spread_over_the_shards() -> None:
    names = [f"account-{i}" for i in range(600)]
    sizes = [sum(shards.shard_of(n, 3) == i for n in names) for i in range(3)]
    assert all(150 < s < 250 for s in sizes), sizes


def test_the_ordinal_comes_from_a_statefulset_hostname() -> None:
    p = ProfilesSection(shards=3)
    assert shards.mine(p, "mictl-accounts-2") == (2, 3)
    assert shards.mine(p, "mictl-accounts-0.mictl-accounts.mictl.svc") == (0, 3)
    assert shards.mine(ProfilesSection(shards=3, shard=1), "laptop") == (1, 3)
    assert shards.mine(ProfilesSection(), "mictl-accounts-2") is None
    with pytest.raises(ConfigError, match="does not end in -N"):
        shards.mine(p, "laptop")
    with pytest.raises(ConfigError, match="not below"):
        shards.mine(p, "mictl-accounts-3")


def test_two_shards_split_a_profiles_dir(tmp_path: Path) -> None:
    names = [f"acct{i}" for i in range(20)]
    for n in names:
        (tmp_path / f"{n}.json").write_text('{"cookies": [], "origins": []}')
    zero, one = (set(profile_names(str(tmp_path), (i, 2))) for i in (0, 1))
    assert zero and one and not zero & one and zero | one == set(names)
    assert set(profile_names(str(tmp_path))) == set(names)


def test_the_config_takes_shards_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "mictl.toml"
    path.write_text("[router]\nenabled = false\n")
    env = {"MICTL_PROFILES__SHARDS": "4", "MICTL_PROFILES__SHARD": "3"}
    cfg = config.load(path, env=env)
    assert shards.mine(cfg.profiles) == (3, 4)
    with pytest.raises(ConfigError, match=r"profiles\.shard: 4 is not below"):
        config.load(path, env={**env, "MICTL_PROFILES__SHARD": "4"})
