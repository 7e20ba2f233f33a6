"""Clients nobody here wrote, unchanged, against the demo through the front
port: a LangChain tool-calling agent and an OpenAI Agents SDK agent, each
finishing a two-tool task (tool calls emulated by the instance runner)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.demo_daemon import Demo, demo
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TASK = "Use add on 3 and 4, and multiply 5 by 6."
DONE = "The tools said: 7; 30."


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo(tmp_path_factory.mktemp("clients")) as d:
        wait_until(lambda: d.routable() == {"demo-a", "demo-b"}, 90, "both demo instances")
        yield d


def test_a_langchain_agent_finishes_a_two_tool_task(running: Demo) -> None:
    from langchain.agents import create_agent
    from langchain_core.messages import ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    ran: list[str] = []

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append("add")
        return a + b

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        ran.append("multiply")
        return a * b

    with httpx.Client(timeout=90) as http:
        model = ChatOpenAI(
            model="demo-fast",
            base_url=f"http://127.0.0.1:{running.front}/v1",
            api_key="unused",  # type: ignore[arg-type]
            max_retries=0,
            http_client=http,
        )
        agent = create_agent(model, tools=[add, multiply])
        result = agent.invoke({"messages": [{"role": "user", "content": TASK}]})
    messages = result["messages"]
    assert sorted(ran) == ["add", "multiply"]
    assert sorted(m.content for m in messages if isinstance(m, ToolMessage)) == ["30", "7"]
    assert messages[-1].content == DONE


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_an_openai_agents_sdk_agent_finishes_a_two_tool_task(running: Demo, streamed: bool) -> None:
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI

    set_tracing_disabled(True)  # nothing may try to reach the internet
    ran: list[str] = []

    @function_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append("add")
        return a + b

    @function_tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        ran.append("multiply")
        return a * b

    async def run() -> object:
        url = f"http://127.0.0.1:{running.front}/v1"
        async with AsyncOpenAI(base_url=url, api_key="unused", max_retries=0) as client:
            agent = Agent(
                name="calculator",
                instructions="Answer with the tools.",
                tools=[add, multiply],
                model=OpenAIChatCompletionsModel(model="demo-fast", openai_client=client),
            )
            if not streamed:
                return (await Runner.run(agent, TASK)).final_output
            run = Runner.run_streamed(agent, TASK)  # tool_calls deltas, as OpenAI streams them
            async for _ in run.stream_events():
                pass
            return run.final_output

    final = asyncio.run(run())
    assert sorted(ran) == ["add", "multiply"]
    assert final == DONE
