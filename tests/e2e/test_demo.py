"""The embedded demo end to end: `mictld -c etc/demo.toml` supervising the demo
site and two browser instances, the OpenAI SDK on the front port."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.demo_daemon import demo
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_demo_config_serves_the_openai_sdk(tmp_path: Path) -> None:
    with demo(tmp_path) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 90, "both demo instances")
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{d.front}/v1", api_key="unused", max_retries=0, timeout=60
        )
        with client:
            served = {m.id for m in client.models.list() if "alias_of" not in (m.model_extra or {})}
            assert served == {"demo-fast", "demo-smart", "demo-long"}
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
        served = {b["name"]: b["served"] for b in json.loads(d.ctl("health", "--json").stdout)}
        assert served["demo-a"] >= 1 and served["demo-b"] >= 1  # the load was spread
        # The README's `mictl logs demo-b`: the runner logs to stderr, which the
        # demo's partial [profiles.program] still redirects (issue 28 item 6).
        logs = d.ctl("logs", "demo-b")
        assert logs.returncode == 0, logs.stderr
        assert "page ready and signed in" in logs.stdout
        status = d.ctl("status").stdout
        assert "demo-site" in status and status.count("RUNNING") == 3
    assert d.daemon.returncode == 0  # SIGTERM: drained, stopped, exit 0
