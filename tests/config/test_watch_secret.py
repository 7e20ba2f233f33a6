"""Profiles and config mounted from a Kubernetes Secret or ConfigMap: the
kubelet updates such a volume by swapping its `..data` link (files are links
through it and never change themselves), and deletes the dated directory the
old link named. mictld sees the swap and reloads, and keeps reading its
config through the link it was given."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from daemon.config import loader as config
from daemon.watch import watch


def _publish(volume: Path, files: dict[str, str], stamp: str) -> None:
    """What the kubelet's AtomicWriter does: a dated dir, `..data` renamed
    onto it, a link per file through `..data`, the old dated dir removed."""
    dated = volume / f"..{stamp}"
    dated.mkdir()
    for name, text in files.items():
        (dated / name).write_text(text)
    old = os.readlink(volume / "..data") if (volume / "..data").is_symlink() else None
    os.symlink(dated.name, volume / "..data_tmp")
    os.rename(volume / "..data_tmp", volume / "..data")
    for name in files:
        if not (volume / name).is_symlink():
            os.symlink(f"..data/{name}", volume / name)
    if old:
        shutil.rmtree(volume / old)


def test_a_secret_update_of_a_profile_reloads(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    _publish(profiles, {"demo-1.json": '{"cookies": []}'}, "2026_12_07_01")
    cfg = tmp_path / "mictl.toml"
    cfg.write_text("")

    async def scenario() -> None:
        stop = asyncio.Event()
        reloaded = asyncio.Event()

        async def reload() -> None:
            reloaded.set()

        task = asyncio.create_task(watch(str(cfg), str(profiles), reload, stop))
        try:
            # Until the watcher is live: a change it always sees.
            for i in range(200):
                (tmp_path / "mictl.toml").write_text(f"# {i}\n")
                try:
                    await asyncio.wait_for(reloaded.wait(), 0.5)
                    break
                except TimeoutError:
                    continue
            assert reloaded.is_set(), "the watcher never started"
            await asyncio.sleep(0.6)  # past the debounce of that change
            reloaded.clear()
            _publish(profiles, {"demo-1.json": '{"cookies": [], "origins": []}'}, "2026_12_07_02")
            await asyncio.wait_for(reloaded.wait(), 30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert (profiles / "demo-1.json").read_text() == '{"cookies": [], "origins": []}'


def test_the_config_path_stays_the_link(tmp_path: Path) -> None:
    """A ConfigMap's mictl.toml is a link into a dated dir that the next
    update deletes: a reload must read the link, not the dir it named."""
    volume = tmp_path / "config"
    volume.mkdir()
    _publish(volume, {"mictl.toml": "[router]\nenabled = false\n"}, "2026_12_07_01")
    loaded = config.load(volume / "mictl.toml")
    assert loaded.path == str(volume / "mictl.toml")
    _publish(volume, {"mictl.toml": "[router]\nenabled = false\n"}, "2026_12_07_02")
    assert config.load(loaded.path).path == loaded.path  # still readable after the update


def test_proxy_credentials_in_a_secret_keep_their_link_and_their_update_reloads(
    tmp_path: Path,
) -> None:
    """A proxy's credentials mounted from a Secret: the config's relative
    path stays the link (the dated dir it names goes at the next update),
    and the kubelet's swap of `..data` in that folder is a reload, which
    restarts the instance when the credentials changed
    (tests/config/test_credentials_rotation.py)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    _publish(secrets, {"alice.proxy": "alice:one"}, "2026_12_08_01")
    cfg = tmp_path / "mictl.toml"
    cfg.write_text(
        "[profiles.overrides.alice]\n"
        'proxy = "http://127.0.0.1:3128"\n'
        'proxy_credentials_file = "secrets/alice.proxy"\n'
    )
    loaded = config.load(cfg, env={})
    creds = loaded.profiles.overrides["alice"].proxy_credentials_file
    assert creds == str(secrets / "alice.proxy")  # the link, not ..2026_12_08_01/
    assert loaded.profiles.credentials_files() == [creds]
    profiles = tmp_path / "profiles"
    profiles.mkdir()

    async def scenario() -> None:
        stop = asyncio.Event()
        reloaded = asyncio.Event()

        async def reload() -> None:
            reloaded.set()

        secret_files = loaded.profiles.credentials_files
        task = asyncio.create_task(
            watch(str(cfg), str(profiles), reload, stop, secrets=secret_files)
        )
        try:
            for i in range(200):  # until the watcher is live: a change it always sees
                cfg.write_text(cfg.read_text() + f"# {i}\n")
                try:
                    await asyncio.wait_for(reloaded.wait(), 0.5)
                    break
                except TimeoutError:
                    continue
            assert reloaded.is_set(), "the watcher never started"
            await asyncio.sleep(0.6)  # past the debounce of that change
            reloaded.clear()
            _publish(secrets, {"alice.proxy": "alice:two"}, "2026_12_08_02")
            await asyncio.wait_for(reloaded.wait(), 30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert (secrets / "alice.proxy").read_text() == "alice:two"
