"""`mictld --dry-run`: what would start, on which ports, and whether it fits."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from common import ports
from tests.helpers import (
    BIN,
    LISTENER,
    REPO,
    Proc,
    free_port,
    free_port_block,
    port_open,
    wait_until,
)


def demo_config(tmp: Path) -> tuple[Path, int, int, int]:
    """etc/demo.toml as it ships, on ports of this test's own."""
    base, site_port, front = free_port_block(10), free_port(), free_port()
    text = (REPO / "etc" / "demo.toml").read_text()
    text = text.replace("../var/", f"{tmp}/var/")
    text = text.replace("../auth_profiles", str(REPO / "auth_profiles"))
    # (the base port last: one such as 31004 holds "3100", 20480 "port = 2048")
    text = text.replace(":3100/", f":{site_port}/").replace("--port 3100", f"--port {site_port}")
    text = text.replace("\nport = 2048", f"\nport = {front}")
    text = text.replace("base_port = 3001", f"base_port = {base}")
    path = tmp / "demo.toml"
    path.write_text(text)
    return path, base, site_port, front


def dry_run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "mictld"), "--dry-run", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_config_would_start(tmp_path: Path) -> None:
    config, base, site_port, front = demo_config(tmp_path)
    out = dry_run(config)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    row = {line.split()[0]: line.split() for line in lines if line.startswith("  demo")}
    assert row["demo-site"][1:4] == ["program", str(site_port), "free"]
    for i, name in enumerate(("demo-a", "demo-b")):
        assert row[name][1:5] == ["instance", str(base + i), "free", "demo"]
        assert row[name][5] == str(REPO / "auth_profiles" / "saved" / f"{name}.json")
    front_row = next(line.split() for line in lines if "(front router)" in line)
    assert front_row[2:5] == ["front", str(front), "free"]
    assert "memory: 2 instances, about 583 MB" in out.stdout and ": fits" in out.stdout
    assert out.stdout.rstrip().endswith("ok: it would start")
    assert not (tmp_path / "var").exists()  # nothing written


def test_instances_that_would_not_fit_in_memory(tmp_path: Path) -> None:
    config, *_ = demo_config(tmp_path)
    out = dry_run(config, "--instance-mb", str(10**8))
    assert out.returncode == 2
    assert "WOULD NOT FIT" in out.stdout
    assert "memory: 2 instances need about 200000000 MB" in out.stdout


def test_many_profiles_are_counted(tmp_path: Path) -> None:
    config, *_ = demo_config(tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for i in range(40):
        shutil.copy(REPO / "auth_profiles/saved/demo-a.json", profiles / f"p{i:02}.json")
    text = config.read_text().replace(str(REPO / "auth_profiles" / "saved"), str(profiles))
    config.write_text(text)
    out = subprocess.run(
        [str(BIN / "mictld"), "--dry-run", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(out.stdout)
    assert report["instances"] == 40
    assert report["estimate_mb"] == 361 + 39 * 222
    fits = report["estimate_mb"] <= report["available_mb"]
    assert out.returncode == (0 if fits else 2), out.stdout


def test_a_taken_port_is_named_with_its_holder(tmp_path: Path) -> None:
    config, base, *_ = demo_config(tmp_path)
    holder = Proc([sys.executable, LISTENER, str(base + 1)], tmp_path / "listener.log")
    try:
        wait_until(lambda: port_open(base + 1), 30, "the listener")
        out = dry_run(config)
        assert out.returncode == 2, out.stdout
        assert f"demo-b: port {base + 1} is taken by pid {holder.proc.pid} (" in out.stdout
        assert "listener.py" in out.stdout
    finally:
        holder.stop()


def test_holders_finds_this_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen(1)
        assert not ports.is_free(port)
        assert [h.pid for h in ports.holders(port)] == [os.getpid()]
