"""compose.yaml (issue 27): the demo image, the front port published on the
host's loopback only, volumes for profiles and state. Its structure always;
`podman-compose config` when podman-compose is installed; and, with podman
and the image (slow), `podman-compose up` answering the openai client on
the published port with the volumes mounted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import yaml

from instance_runner.sites.demo.answers import answer
from tests.e2e.test_container import ready
from tests.helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
IMAGE = "localhost/mictl:test"  # test_container.py's


def _service() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]["mictl"]


def test_compose_runs_the_demo_on_loopback_with_profile_and_state_volumes() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    s = _service()
    assert s["image"].endswith("localhost/mictl:dev}")  # build-image.sh's default tag
    assert s["command"] == ["-c", "/etc/mictl/demo.toml"]
    assert s["ports"] == ["127.0.0.1:${MICTL_PORT:-2048}:2048"]  # never 0.0.0.0
    mounts = dict(v.split(":", 1) for v in s["volumes"])
    assert mounts == {"profiles": "/var/lib/mictl/profiles", "state": "/var/lib/mictl/state"}
    assert set(doc["volumes"]) == {"profiles", "state"}
    assert s["stop_signal"] == "SIGTERM" and s["stop_grace_period"] == "90s"
    # The paths are the image's: the Containerfile makes them, the configs use them.
    containerfile = (ROOT / "Containerfile").read_text()
    assert "/var/lib/mictl/profiles /var/lib/mictl/state" in containerfile
    assert 'dir = "/var/lib/mictl/profiles"' in (ROOT / "deploy/container/mictl.toml").read_text()


PC = shutil.which("podman-compose") or str(Path(sys.executable).parent / "podman-compose")
HAVE_PC = Path(PC).exists()


def _compose(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    podman = str(ROOT / "scripts" / "podman.sh")
    return subprocess.run(
        [PC, "--podman-path", podman, "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    ).stdout


@pytest.mark.skipif(not HAVE_PC, reason="podman-compose is not installed")
def test_podman_compose_reads_it() -> None:
    rendered = yaml.safe_load(_compose("config", env={"MICTL_PORT": "12048"}))
    assert rendered["services"]["mictl"]["ports"] == ["127.0.0.1:12048:2048"]


@pytest.mark.slow
@pytest.mark.container
@pytest.mark.timeout(600)
@pytest.mark.skipif(not HAVE_PC or shutil.which("podman") is None, reason="needs podman-compose")
def test_compose_up_answers_on_the_published_port() -> None:
    have = subprocess.run(
        [str(ROOT / "scripts/podman.sh"), "image", "exists", IMAGE], check=False
    ).returncode
    if have != 0:
        pytest.skip(f"no {IMAGE}: tests/e2e/test_container.py builds it")
    port = free_port()
    project = f"mictl-compose-{os.getpid()}"
    env = {"MICTL_PORT": str(port), "MICTL_IMAGE": IMAGE}
    try:
        _compose("-p", project, "up", "-d", env=env)
        wait_until(lambda: ready(port), 180, "the compose front port ready")
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0, timeout=60
        ) as c:
            reply = c.chat.completions.create(
                model="demo-fast", messages=[{"role": "user", "content": "via compose"}]
            )
        assert reply.choices[0].message.content == answer("demo-fast", "via compose")
        mounts = subprocess.run(
            [str(ROOT / "scripts/podman.sh"), "inspect", f"{project}_mictl_1",
             "--format", "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.split()  # fmt: skip
        assert f"{project}_state:/var/lib/mictl/state" in mounts, mounts
        assert f"{project}_profiles:/var/lib/mictl/profiles" in mounts, mounts
    finally:
        subprocess.run(
            [PC, "--podman-path", str(ROOT / "scripts/podman.sh"), "-f", str(COMPOSE),
             "-p", project, "down", "-v", "-t", "30"],
            capture_output=True, timeout=300, check=False, env={**os.environ, **env},
        )  # fmt: skip
