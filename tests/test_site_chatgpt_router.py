"""A logged-out ChatGPT account (no session cookie: the logged-out page) behind
mictld's front router: its instance says so on /health, `mictl health`
shows it, and no request is sent to it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers import Mictld, free_port_block, wait_until
from tests.replicas.chatgpt import harness
from tests.replicas.chatgpt.answers import answer
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def rep(tmp_path: Path) -> Iterator[Replica]:
    r = harness.replica(tmp_path / "replica")
    yield r
    r.stop()


def test_logged_out_instance_gets_no_requests(tmp_path: Path, rep: Replica) -> None:
    d = Mictld(tmp_path, base_port=free_port_block(4), router="")
    harness.profile(d.profiles / "good.json")
    harness.profile(d.profiles / "gone.json", session=None)
    args = json.dumps(rep.browser_args)
    # The browser flags reach the instances through the config's supported
    # [profiles.browser] args (what an operator would write).
    d.write_config(
        textwrap.dedent(f"""
        [daemon]
        socket = "run/mictl.sock"
        state_dir = "state"
        log_dir = "log"
        [profiles]
        dir = "profiles"
        base_port = {d.base_port}
        site = "chatgpt"
        [profiles.browser]
        args = {args}
        [router]
        port = {d.front_port}
        [health]
        interval = 0.5
        timeout = 2
        restart_after = 0  # a browser instance takes seconds to start on a loaded machine
        """)
    )
    d.start()
    try:

        def health() -> dict[str, dict]:
            out = d.ctl("health", "--json")
            return {b["name"]: b for b in json.loads(out.stdout)} if out.returncode == 0 else {}

        def settled() -> dict[str, dict] | None:
            h = health()
            ok = h.get("good", {}).get("routable") and h.get("gone", {}).get("health") == (
                "logged_out"
            )
            return h if ok else None

        states = wait_until(settled, 120, "good routable, gone logged out")
        assert not states["gone"]["routable"]
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="x", max_retries=0, timeout=60
        )
        with client:
            for i in range(4):
                got = client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"q {i}"}]
                )
                assert got.choices[0].message.content == answer(f"q {i}", "gpt-4o")
        after = health()
        assert after["good"]["served"] == 4 and after["gone"]["served"] == 0
    finally:
        d.cleanup()
