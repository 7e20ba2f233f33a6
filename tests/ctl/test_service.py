"""`mictl service install|unit` and what systemd sees of mictld."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctl import service_files as files
from ctl.service import Installer
from ctl.service_files import Layout
from tests.helpers import BIN, running

ME = pwd.getpwuid(os.getuid()).pw_name


def verify_unit(path: Path) -> None:
    """systemd-analyze verify, its warnings counted as failures."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze missing in CI (.ci/run installs systemd)")
        pytest.skip("systemd-analyze is not installed")
    out = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stdout + out.stderr


def mictl(*args: str, bin_dir: Path = BIN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "mictl"), *args], capture_output=True, text=True, timeout=600
    )


def test_rendered_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    out = mictl("service", "unit", "--venv", sys.prefix, "--user", ME)
    assert out.returncode == 0, out.stderr
    assert "@" not in out.stdout.replace("@VENV@", "")  # every placeholder filled
    assert f"ExecStart={sys.prefix}/bin/mictld -c /etc/mictl/mictl.toml" in out.stdout
    assert "Type=notify" in out.stdout and "WatchdogSec=" in out.stdout
    unit = tmp_path / "mictld.service"
    unit.write_text(out.stdout)
    verify_unit(unit)


def test_a_broken_unit_fails_verification(tmp_path: Path) -> None:
    """The check can fail: a unit whose command is not there is refused."""
    unit = tmp_path / "mictld.service"
    unit.write_text(files.render_unit(Layout(prefix=str(tmp_path / "nowhere"))))
    with pytest.raises(AssertionError, match="not executable"):
        verify_unit(unit)


def test_dry_run_says_everything_and_changes_nothing(tmp_path: Path) -> None:
    root, prefix = tmp_path / "root", tmp_path / "opt"
    out = mictl("service", "install", "--dry-run", "--prefix", str(prefix), "--root", str(root))
    assert out.returncode == 0, out.stderr
    for what in (
        f"would: create venv {prefix}/venv",
        "would: write /etc/mictl/mictl.toml",
        "would: write /etc/systemd/system/mictld.service",
        "would: directory /var/lib/mictl/profiles (0700, mictl)",
        "systemctl enable --now mictld",
    ):
        assert what in out.stdout, out.stdout
    assert not root.exists() and not prefix.exists()


def test_production_config_is_valid_and_has_production_values(tmp_path: Path) -> None:
    import grp

    from daemon.config import loader as config

    # The service's user names the socket's group; the config check looks the
    # group up, so the test names one that exists here.
    user = grp.getgrgid(os.getgid()).gr_name
    path = tmp_path / "mictl.toml"
    path.write_text(files.render_config(Layout(user=user, site="lmarena")))
    cfg = config.load(path, env={})
    assert cfg.profiles.dir == files.PROFILES_DIR and cfg.profiles.site == "lmarena"
    assert (cfg.daemon.socket, cfg.daemon.socket_group) == (files.SOCKET, user)
    assert cfg.daemon.state_dir == files.STATE_DIR and cfg.daemon.log_dir == files.LOG_DIR
    assert cfg.router.api_keys_file == files.KEYS_FILE and cfg.router.host == "127.0.0.1"
    assert cfg.dashboard.admin_token_file == files.ADMIN_TOKEN_FILE


def test_an_edited_config_is_kept_and_the_new_one_goes_next_to_it(tmp_path: Path) -> None:
    def config_step(site: str) -> None:
        layout = Layout(prefix=str(tmp_path / "opt"), user=ME, site=site)
        step = Installer(layout, tmp_path, ".").config_step(files.render_config(layout))
        if step.act:
            step.act()

    config_step("aistudio")
    path = tmp_path / "etc/mictl/mictl.toml"
    assert 'site = "aistudio"' in path.read_text()
    config_step("lmarena")  # not edited since: replaced
    assert 'site = "lmarena"' in path.read_text()
    path.write_text(path.read_text() + "\n# mine\n")
    config_step("demo")
    assert path.read_text().endswith("# mine\n")
    assert 'site = "demo"' in (tmp_path / "etc/mictl/mictl.toml.new").read_text()


@pytest.mark.slow
def test_install_into_a_temp_prefix_then_again(tmp_path: Path) -> None:
    """A real install (fresh venv, pip) with the files under a staging root;
    the unit verifies, the installed mictld accepts the config, a second run
    changes nothing it must keep."""
    root, prefix = tmp_path / "root", tmp_path / "opt"
    args = ("service", "install", "--prefix", str(prefix), "--root", str(root), "--user", ME)
    first = mictl(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    venv_bin = prefix / "venv" / "bin"
    verify_unit(root / "etc/systemd/system/mictld.service")
    config = root / "etc/mictl/mictl.toml"
    check = subprocess.run(
        [str(venv_bin / "mictld"), "--check-config", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    keys = root / "etc/mictl/keys/api-keys"
    assert keys.stat().st_mode & 0o777 == 0o600 and keys.parent.stat().st_mode & 0o777 == 0o700
    key = keys.read_text()
    token = root / "etc/mictl/keys/admin-token"
    assert token.stat().st_mode & 0o777 == 0o600 and len(token.read_text().strip()) >= 32
    # The wheel carries its own templates: the installed mictl renders the same unit.
    unit = mictl("service", "unit", "--prefix", str(prefix), "--user", ME, bin_dir=venv_bin)
    assert unit.stdout == (root / "etc/systemd/system/mictld.service").read_text()
    assert (prefix / "venv/share/doc/mictl/operations.md").is_file()

    second = mictl(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "ok: /etc/mictl/mictl.toml: up to date" in second.stdout
    assert "ok: /etc/mictl/keys/api-keys: exists, kept" in second.stdout
    assert "ok: /etc/systemd/system/mictld.service: up to date" in second.stdout
    assert keys.read_text() == key


def test_notify_reloading_then_ready_around_a_reload(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(30)
        with running(tmp_path) as d:
            d.start(env={"NOTIFY_SOCKET": path})
            assert listener.recv(256) == b"READY=1"
            before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            assert d.ctl("reload").returncode == 0
            reloading = listener.recv(256).decode().split("\n")
            assert reloading[0] == "RELOADING=1"
            usec = int(reloading[1].removeprefix("MONOTONIC_USEC="))
            assert before <= usec <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            assert listener.recv(256) == b"READY=1"
            assert d.stop() == 0
            assert listener.recv(256) == b"STOPPING=1"
