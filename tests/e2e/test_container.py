"""The container image (issue 27), built with podman from a base image made
locally (scripts/base-image.sh: debootstrap when no registry answers), run
with the demo config: the published front port answers the official openai
client, stream and non-stream; `podman stop` drains and exits 0 within the
grace period with no request lost; it runs as non-root; a profile copy
inside is 0600. Slow (the first build installs Chromium into the image)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.container]

ROOT = Path(__file__).resolve().parents[2]
PODMAN = [str(ROOT / "scripts" / "podman.sh")]
IMAGE = os.environ.get("MICTL_TEST_IMAGE", "localhost/mictl:test")  # another tag: no clash
NAME = f"mictl-test-{os.getpid()}"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@pytest.fixture(scope="module")
def front() -> Iterator[int]:
    missing = [t for t in ("podman", "debootstrap") if shutil.which(t) is None]
    if missing:
        why = f"needs {' and '.join(missing)} (apt-get install podman debootstrap runc)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-image.sh"), IMAGE],
        check=True,
        timeout=1800,
        cwd=ROOT,
    )
    port = free_port()
    podman("rm", "-f", NAME, check=False)
    podman(
        "run", "-d", "--name", NAME, "-p", f"127.0.0.1:{port}:2048",
        IMAGE, "-c", "/etc/mictl/demo.toml",
    )  # fmt: skip
    try:
        wait_until(lambda: ready(port), 120, "the container's front port ready")
        yield port
    finally:
        podman("rm", "-f", "-t", "5", NAME, check=False)


def ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as r:
            return json.loads(r.read())["ready"] is True
    except OSError:
        return False


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0)


def test_the_published_front_port_answers_the_openai_client(front: int) -> None:
    with client(front) as c:
        reply = c.chat.completions.create(
            model="demo-smart", messages=[{"role": "user", "content": "hello container"}]
        )
        assert reply.choices[0].message.content == answer("demo-smart", "hello container")
        stream = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": "streamed"}], stream=True
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        assert text == answer("demo-fast", "streamed")


def test_podman_logs_show_each_instances_lines_prefixed(front: int) -> None:
    """programs_to_stdout (deploy/container/demo.toml): an instance's own
    lines in `podman logs`, as `NAME | line`; never the prompt."""
    with client(front) as c:
        c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": "logged, not my words"}]
        )

    def relayed() -> list[str]:
        logs = podman("logs", NAME)
        lines = (logs.stdout + logs.stderr).splitlines()
        return [ln for ln in lines if " request model=demo-fast " in ln]

    lines = wait_until(relayed, 30, "an instance's request line in podman logs")
    assert lines[0].split(" | ", 1)[0] in ("demo-a", "demo-b"), lines
    logs = podman("logs", NAME)
    assert "logged, not my words" not in logs.stdout + logs.stderr


def test_mictl_drain_all_inside_takes_it_out_of_service(front: int) -> None:
    """What Kubernetes' preStop runs: /readyz 503 until `undrain --all`."""
    drained = podman("exec", NAME, "mictl", "drain", "--all", "--timeout", "20")
    assert "drained" in drained.stdout
    assert not ready(front)
    podman("exec", NAME, "mictl", "undrain", "--all")
    wait_until(lambda: ready(front), 30, "ready again")


def test_it_runs_as_non_root_with_private_profile_copies(front: int) -> None:
    assert podman("exec", NAME, "id", "-u").stdout.strip() != "0"
    modes = podman(
        "exec", NAME, "sh", "-c",
        "find /var/lib/mictl/state -name 'demo-*.json' -exec stat -c '%a %n' {} +",
    ).stdout.split("\n")  # fmt: skip
    copies = [line for line in modes if line.strip()]
    assert copies and all(line.startswith("600 ") for line in copies), copies
    # the image's own health check: /readyz from inside
    assert podman("healthcheck", "run", NAME, check=False).returncode == 0


def test_podman_stop_drains_and_exits_0_losing_nothing(front: int) -> None:
    done: list[str] = []

    def slow() -> None:
        with client(front) as c:
            stream = c.chat.completions.create(
                model="demo-smart",
                messages=[{"role": "user", "content": "[[slow]] take your time"}],
                stream=True,
            )
            done.append("".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices))

    asking = threading.Thread(target=slow)
    asking.start()
    wait_until(lambda: in_flight(front) > 0, 30, "the request in flight")
    stopped = podman("stop", "-t", "30", NAME, timeout=60)
    asking.join(60)
    assert stopped.returncode == 0
    assert done == [answer("demo-smart", "[[slow]] take your time")]
    state = json.loads(podman("inspect", NAME).stdout)[0]["State"]
    assert state["ExitCode"] == 0 and not state.get("OOMKilled")


def in_flight(port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
        text = r.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("mictl_in_flight")
    )
