"""The embedded demo end to end: `mictld -c etc/demo.toml` supervising the demo
site and two browser instances, the OpenAI SDK on the front port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.helpers import BIN, REPO, free_port, free_port_block, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_demo_config_serves_the_openai_sdk(tmp_path: Path) -> None:
    site, front, base = free_port(), free_port(), free_port_block(4)
    env = {
        **os.environ,
        # Everything the demo writes goes to tmp_path; every port is free.
        "MICTL_DAEMON__SOCKET": str(tmp_path / "mictl.sock"),
        "MICTL_DAEMON__STATE_DIR": str(tmp_path / "state"),
        "MICTL_DAEMON__LOG_DIR": str(tmp_path / "log"),
        "MICTL_ROUTER__PORT": str(front),
        "MICTL_PROFILES__BASE_PORT": str(base),
        "MICTL_PROGRAMS__DEMO-SITE__COMMAND": f"mictl-demo-site --port {site}",
        "MICTL_PROFILES__PROGRAM__ENVIRONMENT": f'MICTL_SITE_URL="http://127.0.0.1:{site}/"',
    }
    out = open(tmp_path / "mictld.out", "wb")  # noqa: SIM115
    daemon = subprocess.Popen(
        [str(BIN / "mictld"), "-c", str(REPO / "etc" / "demo.toml")],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    out.close()
    ctl = [str(BIN / "mictl"), "--socket", str(tmp_path / "mictl.sock")]

    def routable() -> set[str]:
        result = subprocess.run([*ctl, "health", "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            return set()
        return {b["name"] for b in json.loads(result.stdout) if b["routable"]}

    try:
        wait_until(lambda: routable() == {"demo-a", "demo-b"}, 90, "both demo instances")
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{front}/v1", api_key="unused", max_retries=0, timeout=60
        )
        with client:
            assert {m.id for m in client.models.list()} == {"demo-fast", "demo-smart", "demo-long"}
            answers: list[str] = []

            def one(i: int) -> None:
                result = client.chat.completions.create(
                    model="demo-smart", messages=[{"role": "user", "content": f"question {i}"}]
                )
                answers.append(result.choices[0].message.content or "")

            threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(answers) == sorted(
                answer("demo-smart", f"question {i}") for i in range(4)
            )
            stream = client.chat.completions.create(
                model="demo-long", messages=[{"role": "user", "content": "stream it"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text == answer("demo-long", "stream it")
        served = {
            b["name"]: b["served"]
            for b in json.loads(
                subprocess.run([*ctl, "health", "--json"], capture_output=True, text=True).stdout
            )
        }
        assert served["demo-a"] >= 1 and served["demo-b"] >= 1  # the load was spread
        status = subprocess.run([*ctl, "status"], capture_output=True, text=True).stdout
        assert "demo-site" in status and status.count("RUNNING") == 3
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
    assert code == 0
