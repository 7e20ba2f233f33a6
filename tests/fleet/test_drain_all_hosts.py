"""A front over two account hosts (as in Kubernetes): one host runs its
preStop, `mictl drain --all`. The front still thinks it routable (its probe
interval is long), sends it requests, gets its retryable 503 `draining`, and
retries each on the other host: no client sees an error, and the front asks
the drained host's /readyz at once and stops choosing it."""

from __future__ import annotations

from pathlib import Path

import openai

from tests.fleet.test_multihost import COMMAND, backends, key_file, upstream
from tests.helpers import running, wait_until


def test_a_host_drained_as_a_whole_loses_no_request_at_the_front(tmp_path: Path) -> None:
    keys = key_file(tmp_path / "keys")
    policy = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"
    host_router = f'api_keys_file = "{keys}"\n'
    with (
        running(tmp_path / "hosta", policy, router=host_router, command=COMMAND) as a,
        running(tmp_path / "hostb", policy, router=host_router, command=COMMAND) as b,
        running(tmp_path / "front", router='strategy = "round_robin"\n') as front,
    ):
        a.add_profile("a")
        b.add_profile("b")
        a.start()
        b.start()
        # A probe a minute: only a request that meets the drain can tell the front.
        text = front.config.read_text().replace("interval = 0.2", "interval = 60")
        text += upstream("hosta", a.front_port, keys) + upstream("hostb", b.front_port, keys)
        front.write_config(text)
        front.start()
        wait_until(
            lambda: (
                all(x["routable"] for x in backends(front).values()) and len(backends(front)) == 2
            ),
            60,
            "both hosts routable at the front",
        )
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{front.front_port}/v1",
            api_key="-",
            max_retries=0,  # the front's own retry, not the SDK's
            timeout=30,
        )
        ask = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}
        with client:
            answered = {
                client.chat.completions.create(**ask).choices[0].message.content for _ in range(4)
            }
            assert answered == {"a", "b"}  # round robin reaches both

            drained = a.ctl("drain", "--all", "--timeout", "10")
            assert drained.returncode == 0, drained.stderr
            assert backends(front)["hosta"]["routable"]  # the front does not know yet
            served = backends(a)["a"]["served"]
            answers = [
                client.chat.completions.create(**ask).choices[0].message.content for _ in range(6)
            ]
            assert answers == ["b"] * 6
            assert backends(a)["a"]["served"] == served  # nothing new reached a's account
            wait_until(lambda: not backends(front)["hosta"]["routable"], 10, "hosta not routable")

            assert a.ctl("undrain", "--all").returncode == 0
