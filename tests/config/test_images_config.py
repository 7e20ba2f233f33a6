"""[profiles.images]: what each instance is told about fetching images, and
a network that is not one refused by --check-config, naming the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

from daemon.config import loader as config_mod
from daemon.profiles import instance_argv
from tests.helpers import BIN


def test_image_limits_reach_the_instance_command(tmp_path: Path) -> None:
    path = tmp_path / "mictl.toml"
    path.write_text(
        "[profiles.images]\nmax_bytes = 1000\ntimeout = 2.5\n"
        'allow_networks = ["127.0.0.0/8", "10.1.0.0/16"]\n'
    )
    config = config_mod.load(str(path))
    argv = instance_argv(config, "a", 3001, str(tmp_path / "a.json"), tmp_path / "a.json")
    joined = " ".join(argv)
    assert "--image-max-bytes 1000" in joined and "--image-timeout 2.5" in joined
    assert "--image-allow=127.0.0.0/8" in argv and "--image-allow=10.1.0.0/16" in argv


def test_a_network_that_is_not_one_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "mictl.toml"
    path.write_text('[profiles.images]\nallow_networks = ["10.0.0.0/8", "lan"]\n')
    done = subprocess.run(
        [str(BIN / "mictld"), "--check-config", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "profiles.images.allow_networks[1]" in done.stderr
