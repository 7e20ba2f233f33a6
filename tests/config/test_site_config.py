"""Issue 28 item 13: `profiles.site` is checked by --check-config and
--dry-run (and at every load), naming the key: unknown names, names that
would leave the bundled dir, FIFOs, devices, oversized and invalid files are
refused; a runner given a FIFO site refuses it instead of hanging."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from instance_runner.sites.loader import BUNDLED
from tests.helpers import BIN, free_port

HEAD = '[daemon]\nsocket = "run/s.sock"\nstate_dir = "state"\nlog_dir = "log"\n'


def config(tmp: Path, site: str) -> Path:
    (tmp / "p").mkdir(exist_ok=True)
    path = tmp / "mictl.toml"
    path.write_text(HEAD + f'[profiles]\ndir = "p"\nsite = "{site}"\n[router]\nenabled = false\n')
    return path


def mictld(*args: str) -> subprocess.CompletedProcess[str]:
    # The timeout is the hang check: a FIFO must be refused, not waited on.
    return subprocess.run([str(BIN / "mictld"), *args], capture_output=True, text=True, timeout=60)


def bad_sites(tmp: Path) -> list[tuple[str, str]]:
    """(site value, what the refusal says)."""
    fifo = tmp / "fifo.toml"
    os.mkfifo(fifo)
    huge = tmp / "huge.toml"
    with open(huge, "wb") as f:
        f.truncate(2 * 2**20)  # sparse
    (tmp / "broken.toml").write_text("name = [\n")
    (tmp / "wrong.toml").write_text('name = "x"\nno_such_key = 1\n')
    return [
        ("no-such-site", "no bundled site 'no-such-site'"),
        ("..", "neither a bundled site"),
        ("demo.bak", "neither a bundled site"),
        # A path, taken as written (no '.toml' added), and not a site file:
        ("../../../../../../etc/passwd", "/etc/passwd: Expected"),
        ("../sites/demo", "cannot read"),
        (str(fifo), "a FIFO"),
        ("/dev/zero", "character device"),
        (str(huge), "limit"),
        (str(tmp / "missing.toml"), "cannot read"),
        ("broken.toml", "broken.toml"),  # relative to the config file
        ("wrong.toml", "no_such_key"),
    ]


@pytest.mark.slow
def test_check_config_and_dry_run_refuse_bad_sites_naming_the_key(tmp_path: Path) -> None:
    for site, says in bad_sites(tmp_path):
        path = config(tmp_path, site)
        for args in (["--check-config", str(path)], ["-c", str(path), "--dry-run"]):
            result = mictld(*args)
            assert result.returncode == 2, (site, args, result.stdout, result.stderr)
            assert "profiles.site:" in result.stderr and says in result.stderr, (site, result)
            assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_bundled_names_and_site_files_beside_the_config_pass(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "mine.toml").write_bytes((BUNDLED / "demo.toml").read_bytes())
    for site in ("demo", "lmarena", "sites/mine.toml", str(sites / "mine.toml")):
        result = mictld("--check-config", str(config(tmp_path, site)))
        assert result.returncode == 0, (site, result.stderr)


def test_the_runner_refuses_a_fifo_site_instead_of_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "site.toml"
    os.mkfifo(fifo)
    profile = tmp_path / "p.json"
    profile.write_text('{"cookies": [], "origins": []}')
    for site, says in ((str(fifo), "a FIFO"), ("../etc/x", "cannot read"), ("a.b", "neither")):
        argv = [str(BIN / "mictl-instance"), "--profile", str(profile), "--site", site]
        result = subprocess.run(
            [*argv, "--port", str(free_port())], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 78 and says in result.stderr, (site, result.stderr)
