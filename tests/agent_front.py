"""A real mictld whose front port serves one API-key upstream (the fake
agent upstream, tests/fake_agent_upstream.py), with aliases and an API key:
what the Anthropic and Responses router tests drive with the official SDKs."""

from __future__ import annotations

import contextlib
import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec

from tests.helpers import Mictld, Proc, free_port, port_open, running, wait_until

FAKE = Path(__file__).with_name("fake_agent_upstream.py")
KEY = "sk-front-test"


class Front(msgspec.Struct):
    mictld: Mictld
    upstream: int  # the fake's port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.mictld.front_port}"

    def last(self) -> dict:
        """The Chat Completions body the upstream last received."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.upstream}/_last") as r:
            return json.loads(r.read())["last"]

    def requests(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.upstream}/_last") as r:
            return json.loads(r.read())["requests"]


@contextlib.contextmanager
def agent_front(tmp_path: Path, router: str = "", aliases: str = "") -> Iterator[Front]:
    port = free_port()
    fake = Proc([sys.executable, str(FAKE), "--port", str(port)], tmp_path / "fake.log")
    try:
        wait_until(lambda: port_open(port), 30, "the fake upstream")
        body = f"""
        [upstreams.fake]
        base_url = "http://127.0.0.1:{port}/v1"
        models = ["m1", "thinker", "slow"]
        max_concurrent = 1
        [aliases]
        "claude-*" = ["nope", "m1"]
        "gpt-x" = "m1"
        {aliases}
        """
        router = f'api_keys = ["{KEY}"]\n' + router
        with running(tmp_path / "d", body, router=router) as d:
            d.start()
            wait_until(lambda: _ready(d.front_port), 30, "the front port ready")
            yield Front(d, port)
    finally:
        fake.stop()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz") as r:
            return r.status == 200
    except OSError:
        return False
