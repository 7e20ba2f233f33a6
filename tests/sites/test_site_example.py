"""docs/sites.md's worked example, end to end: a third site added as data.

docs/examples/claude-web.toml, unchanged, against a Claude-style replica
(SSE answers) served as claude.ai, in real Chromium, through the openai client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.helpers import BIN, REPO, Proc, free_port, wait_until
from tests.replicas.arena.harness import health
from tests.replicas.claude.app import COOKIE, SESSION, answer
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SITE = REPO / "docs" / "examples" / "claude-web.toml"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("claude")
    replica = Replica("tests.replicas.claude.app:app", ["claude.ai"], tmp).start()
    cookie = {"name": COOKIE, "value": SESSION, "domain": ".claude.ai", "path": "/",
              "expires": -1, "httpOnly": True, "secure": True, "sameSite": "Lax"}  # fmt: skip
    profile = tmp / "me.json"
    profile.write_text(json.dumps({"cookies": [cookie], "origins": []}))
    port = free_port()
    argv = [str(BIN / "mictl-instance"), "--profile", str(profile), "--port", str(port),
            "--site", str(SITE), "--name", "me", "--log-dir", str(tmp / "log")]  # fmt: skip
    proc = Proc(argv + [f"--browser-arg={a}" for a in replica.browser_args], tmp / "me.log")
    try:
        wait_until(lambda: (health(port) or {}).get("state") == "ok", 90, "the instance")
        yield port
    finally:
        proc.stop()
        replica.stop()


def ask(port: int, text: str, **kw: Any) -> Any:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=60
    ) as c:
        reply = c.chat.completions.create(
            model="claude-web", messages=[{"role": "user", "content": text}], **kw
        )
        return list(reply) if kw.get("stream") else reply


def test_stream_and_non_stream(instance: int) -> None:
    assert ask(instance, "hello").choices[0].message.content == answer("hello")
    chunks = ask(instance, "hello", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer("hello")


def test_thinking_is_reasoning_content(instance: int) -> None:
    message = ask(instance, "[[think]] hi").choices[0].message
    assert (message.model_extra or {}).get("reasoning_content") == "Thinking about it…"
    assert message.content == answer("[[think]] hi")


def test_an_error_event_in_the_stream(instance: int) -> None:
    with pytest.raises(openai.APIStatusError) as failed:
        ask(instance, "[[error]] fail")
    assert "Overloaded" in str(failed.value.body)


def test_rate_limit_with_the_sites_retry_after(instance: int) -> None:
    # Last: the model then cools down for 40 s.
    with pytest.raises(openai.RateLimitError) as err:
        ask(instance, "[[429]] again")
    assert err.value.response.headers["retry-after"] == "40"


def test_site_file_is_where_the_docs_say() -> None:
    docs = (REPO / "docs" / "sites.md").read_text()
    assert "docs/examples/claude-web.toml" in docs and Path(SITE).exists()
