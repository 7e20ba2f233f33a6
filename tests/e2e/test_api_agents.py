"""The agents' APIs end to end on the embedded demo (`etc/demo.toml`: the demo
site, two browser instances, aliases for claude-* and gpt-*): the official
`anthropic` and `openai` SDKs, then Claude Code and Codex CLI themselves, in
print/exec mode, offline, each printing the demo model's answer through the
front port under its own default model name."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from instance_runner.sites.demo.answers import RATE_LIMIT, SLOW, answer
from tests.agent_front import KEY, agent_front
from tests.demo_daemon import Demo, demo
from tests.helpers import REPO, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BIN = REPO / ".cache" / "npm" / "node_modules" / ".bin"
# What the demo site answers to any prompt (the transcript an agent's request becomes).
DEMO_ANSWER = re.compile(
    r'Hello from demo-smart\. You wrote \d+ words, ending with ".*"\. This is turn \d+\.'
)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    # No queue: a request beyond the two browsers' capacity is refused at once
    # (test_the_anthropic_error_types_on_the_demo).
    with demo(tmp_path_factory.mktemp("agents"), {"MICTL_ROUTER__QUEUE_SIZE": "0"}) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 120, "both demo instances")
        yield d


def agent(name: str) -> Path:
    """The agent's binary, installed by scripts/ensure-agents.sh (make test does it)."""
    path = BIN / name
    if not path.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "ensure-agents.sh")], timeout=600)
    if not path.exists():
        pytest.skip(
            f"{name} is not installed (scripts/ensure-agents.sh needs npm and its registry)"
        )
    return path


def test_the_anthropic_sdk_gets_the_demo_answer(front: Demo) -> None:
    url = f"http://127.0.0.1:{front.front}"
    with anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        hi = [{"role": "user", "content": "say hello"}]
        message = c.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=hi)
        assert message.content[0].text == answer("demo-smart", "say hello")
        assert message.stop_reason == "end_turn"
        with c.messages.stream(model="demo-long", max_tokens=500, messages=hi) as stream:
            deltas = list(stream.text_stream)
        assert len(deltas) > 10 and "".join(deltas) == answer("demo-long", "say hello")


def test_an_image_block_and_count_tokens_on_the_demo(front: Demo) -> None:
    url = f"http://127.0.0.1:{front.front}"
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    content = [{"type": "image", "source": png}, {"type": "text", "text": "what is this?"}]
    with anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        message = c.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=200,
            messages=[{"role": "user", "content": content}],
        )
        # The image block reached the site: the demo names its bytes' hash.
        seen = hashlib.sha256(base64.b64decode(png["data"])).hexdigest()
        assert message.content[0].text == answer("demo-smart", "what is this?", (seen,))
        counted = c.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x" * 40}]
        )
        assert counted.input_tokens == 10


def test_the_openai_responses_api_gets_the_demo_answer(front: Demo) -> None:
    url = f"http://127.0.0.1:{front.front}/v1"
    with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        response = c.responses.create(model="gpt-5", input="say hello")
        assert response.output_text == answer("demo-smart", "say hello")
        with c.responses.stream(model="demo-long", input="say hello") as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
        assert len(deltas) > 10 and "".join(deltas) == final.output_text
        assert final.output_text == answer("demo-long", "say hello")


def offline_env(home: Path, **extra: str) -> dict[str, str]:
    """A bare environment: no proxy, no keys, no config of the machine's user."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", **extra}


def run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """The agent's stdout; it must exit 0."""
    result = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def codex_config(base_url: str, model: str = "") -> str:
    return (
        (f'model = "{model}"\n' if model else "")
        + 'model_provider = "mictl"\n'
        + "[model_providers.mictl]\n"
        + 'name = "mictl"\n'
        + f'base_url = "{base_url}"\n'
        + 'env_key = "MICTL_API_KEY"\n'
        + 'wire_api = "responses"\n'
    )


def test_claude_code_prints_the_demo_answer(front: Demo, tmp_path: Path) -> None:
    claude = agent("claude")
    env = offline_env(
        tmp_path,
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{front.front}",
        ANTHROPIC_API_KEY="unused",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
    )
    # No --model: Claude Code sends its default (a claude-* name) and the
    # demo's alias maps it onto demo-smart.
    out = run([str(claude), "-p", "say hello"], env, tmp_path)
    assert DEMO_ANSWER.fullmatch(out), out


def test_codex_exec_prints_the_demo_answer(front: Demo, tmp_path: Path) -> None:
    codex = agent("codex")
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text(codex_config(f"http://127.0.0.1:{front.front}/v1"))
    env = offline_env(tmp_path, CODEX_HOME=str(home), MICTL_API_KEY="unused")
    # No --model: Codex sends its default (a gpt-* name), mapped by the alias.
    out = run([str(codex), "exec", "--skip-git-repo-check", "say hello"], env, tmp_path)
    assert DEMO_ANSWER.fullmatch(out), out


def test_claude_code_and_codex_run_a_tool_round_trip(tmp_path: Path) -> None:
    """Over a tool-capable upstream (the fake): the agent gets a tool call,
    runs or rejects it, sends the tool result back, and prints the answer."""
    claude, codex = agent("claude"), agent("codex")
    with agent_front(tmp_path, aliases='"gpt-*" = "m1"\n') as f:
        env = offline_env(
            tmp_path,
            ANTHROPIC_BASE_URL=f.url,
            ANTHROPIC_API_KEY=KEY,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_TELEMETRY="1",
        )
        out = run([str(claude), "-p", "say hello"], env, tmp_path)
        assert out.startswith("The tool said: "), out
        sent = f.last()
        assert len(sent["tools"]) > 10 and sent["messages"][-1]["role"] == "tool"
        home = tmp_path / "codex"
        home.mkdir()
        (home / "config.toml").write_text(codex_config(f"{f.url}/v1", model="gpt-5-codex"))
        env = offline_env(tmp_path, CODEX_HOME=str(home), MICTL_API_KEY=KEY)
        out = run([str(codex), "exec", "--skip-git-repo-check", "say hello"], env, tmp_path)
        assert out.startswith("The tool said: "), out
        sent = f.last()
        assert sent["model"] == "m1" and sent["messages"][-1]["role"] == "tool"
        assert sent["messages"][-2]["tool_calls"][0]["id"] == "call_fake1"


def test_the_anthropic_error_types_on_the_demo(front: Demo) -> None:
    """A bad request, no capacity (both browsers busy, no queue) and a site's
    rate limit, each in Anthropic's shape. Last in the file: it cools demo-fast."""
    url = f"http://127.0.0.1:{front.front}"
    slow = [{"role": "user", "content": f"{SLOW} take your time"}]
    with anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        with pytest.raises(anthropic.BadRequestError) as bad:
            c.messages.create(model="demo-fast", max_tokens=0, messages=slow)
        assert bad.value.body["error"]["type"] == "invalid_request_error"
        with contextlib.ExitStack() as busy:
            for _ in range(2):  # one slow answer per browser, left open
                stream = busy.enter_context(
                    c.messages.stream(model="demo-long", max_tokens=500, messages=slow)
                )
                next(iter(stream))  # message_start: it is placed and running
            with pytest.raises(anthropic.APIStatusError) as full:
                c.messages.create(model="demo-smart", max_tokens=50, messages=slow)
        assert full.value.status_code == 529
        assert full.value.body["error"]["type"] == "overloaded_error"
        # The two streams closed: their pages stop, then take work again.
        wait_until(
            lambda: all(b["in_flight"] == 0 for b in front.health().values()), 60, "both free"
        )
        limited = [{"role": "user", "content": f"{RATE_LIMIT} please"}]
        with pytest.raises(anthropic.RateLimitError) as caught:
            c.messages.create(model="demo-fast", max_tokens=50, messages=limited)
        assert caught.value.body["error"]["type"] == "rate_limit_error"
        assert caught.value.response.headers.get("retry-after")


WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def test_a_tool_round_trip_through_the_anthropic_api_on_the_demo(front: Demo) -> None:
    """tool_use, then tool_result, then the answer: the demo model, through
    the instance's tool emulation, through the Messages translation."""
    url = f"http://127.0.0.1:{front.front}"
    tools = [{"name": "get_weather", "description": "The weather", "input_schema": WEATHER}]
    ask = {"role": "user", "content": 'Use get_weather for "Paris"'}
    with anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        first = c.messages.create(model="demo-smart", max_tokens=300, tools=tools, messages=[ask])
        assert first.stop_reason == "tool_use"
        use = next(b for b in first.content if b.type == "tool_use")
        assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "18C and sunny"}
        second = c.messages.create(
            model="demo-smart",
            max_tokens=300,
            tools=tools,
            messages=[ask, {"role": "assistant", "content": first.content},
                      {"role": "user", "content": [result]}],
        )  # fmt: skip
    assert second.stop_reason == "end_turn"
    assert "18C and sunny" in second.content[0].text


def test_a_function_call_round_trip_and_json_through_the_responses_api_on_the_demo(
    front: Demo,
) -> None:
    url = f"http://127.0.0.1:{front.front}/v1"
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        first = c.responses.create(
            model="demo-smart", tools=tools, input='Use get_weather for "Oslo"'
        )
        call = next(item for item in first.output if item.type == "function_call")
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
        second = c.responses.create(
            model="demo-smart",
            tools=tools,
            input=[
                {"role": "user", "content": 'Use get_weather for "Oslo"'},
                {"type": "function_call", "call_id": call.call_id, "name": call.name,
                 "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.call_id, "output": "-3C, snow"},
            ],
        )  # fmt: skip
        assert "-3C, snow" in second.output_text
        shaped = c.responses.create(
            model="demo-smart",
            input="the weather in Oslo as JSON",
            text={"format": {"type": "json_schema", "name": "w", "schema": WEATHER,
                             "strict": True}},
        )  # fmt: skip
    assert set(json.loads(shaped.output_text)) == {"city"}
