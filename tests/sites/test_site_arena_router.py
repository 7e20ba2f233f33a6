"""Two arena accounts behind a real mictld's front router, in real Chromium.

A rate limit on one account's model, and a captcha on one account, must cost
the clients nothing: the other account answers, the hit one cools down (per
model, for the site's Retry-After) or holds (captcha) and comes back by
itself once a probe passes.
"""

from __future__ import annotations

import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.helpers import BIN, Mictld, running, wait_until
from tests.replicas.arena import catalog, harness
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HOLD = 30.0  # seconds without work after a captcha before one request probes


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    r = harness.start(tmp_path_factory.mktemp("arena-replica"), ["ann", "ben"])
    yield r
    r.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, replica: Replica) -> Iterator[Mictld]:
    root = tmp_path_factory.mktemp("arena-fleet")
    # A hold long enough to look at the held account on a slow machine.
    flags = " ".join(shlex.quote(a) for a in harness.instance_argv(replica, probe=HOLD))
    command = (
        f"{BIN / 'mictl-instance'} --name {{name}} --profile {{profile}} --port {{port}} "
        f"--log-dir {root / 'log'} {flags}"
    )
    policy = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 10\n"
    with running(root, policy, router="", command=command) as d:
        for name in ("ann", "ben"):
            d.add_profile(name, harness.profile(name))
        d.start()
        wait_until(lambda: {"ann", "ben"} <= routable(d), 120, "both accounts routable")
        yield d


def backends(d: Mictld) -> dict[str, dict[str, Any]]:
    return {b["name"]: b for b in d.client.call("GET", "/v1/backends", list)}


def routable(d: Mictld) -> set[str]:
    return {n for n, b in backends(d).items() if b["routable"]}


def ask(port: int, model: str, text: str) -> str:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=120
    ) as c:
        reply = c.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
        return reply.choices[0].message.content or ""


def asked(replica: Replica, account: str, model: str | None = None) -> int:
    requests = harness.account(replica, account)["requests"]
    return len([r for r in requests if model is None or r["model"] == model])


def test_a_rate_limit_cools_that_model_on_that_account_only(
    fleet: Mictld, replica: Replica
) -> None:
    harness.set_account(replica, "ann", rate_limit={"gpt-5.1": 30})
    for i in range(4):  # round robin would give ann two of these
        text = f"question {i}"
        assert ask(fleet.front_port, "gpt-5.1", text) == catalog.answer(
            catalog.BY_NAME["gpt-5.1"], text
        )
    assert asked(replica, "ann", "gpt-5.1") == 1, "ann was asked once, then cooled"
    refused_at = next(
        r["time"] for r in harness.account(replica, "ann")["requests"] if r["model"] == "gpt-5.1"
    )
    # Cooling until the site's Retry-After (30 s) after that refusal.
    left = backends(fleet)["ann"]["cooling"].get("gpt-5.1", 0)
    assert abs(time.time() + left - (refused_at + 30)) < 5, left
    # Straight to ann's instance (with mictld's key): a 429 carrying the site's Retry-After.
    port = fleet.program("ann").port
    key = (fleet.root / "state" / "keys" / "ann.key").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=b'{"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}',
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=60)
    retry_after = int(err.value.headers["Retry-After"])
    assert err.value.code == 429 and abs(time.time() + retry_after - (refused_at + 30)) < 5
    err.value.close()
    # Its other models still answer, ann included.
    before = asked(replica, "ann", "gemini-2.5-pro")
    for i in range(4):
        ask(fleet.front_port, "gemini-2.5-pro", f"other {i}")
    assert asked(replica, "ann", "gemini-2.5-pro") > before
    harness.set_account(replica, "ann", rate_limit={})


def test_a_captcha_holds_one_account_and_costs_clients_nothing(
    fleet: Mictld, replica: Replica
) -> None:
    model = "gemini-2.5-pro"
    harness.set_account(replica, "ben", captcha=True)
    ben_port = fleet.program("ben").port
    ben_key = (fleet.root / "state" / "keys" / "ben.key").read_text().strip()
    answered = 0

    def one() -> None:
        nonlocal answered
        text = f"during the captcha {answered}"
        assert ask(fleet.front_port, model, text) == catalog.answer(catalog.BY_NAME[model], text)
        answered += 1

    # Until the router has tried ben once (round robin: one or two requests),
    # every request is answered: the router goes around ben.
    wait_until(lambda: one() or asked(replica, "ben") > 0, 60, "ben refused by the site")
    # Looked at at once: the hold lasts HOLD seconds from that refusal.
    report = harness.health(ben_port, ben_key)
    assert report["state"] == "captcha", report
    assert report["captcha"] and report["logged_in"] and not report["logged_out"]
    wait_until(lambda: "ben" not in routable(fleet), 10, "the router stops sending ben work")
    assert backends(fleet)["ben"]["health"] == "captcha", backends(fleet)["ben"]
    assert "captcha" in fleet.ctl("status", "ben").stdout
    refused = asked(replica, "ben")
    for _ in range(4):  # not hammered: while held, the router sends ben nothing
        one()
    assert asked(replica, "ben") <= refused + 1  # at most one probe, if the hold ended
    log = (fleet.root / "log").glob("ben*.log")
    text = "".join(p.read_text() for p in log) + fleet.ctl("logs", "ben", "-n", "200").stdout
    assert "account ben" in text and "wants a person" in text

    # A person solved it: the next probe passes and ben is back by itself.
    harness.set_account(replica, "ben", captcha=False)
    served = asked(replica, "ben")

    def ben_answered() -> bool:
        ask(fleet.front_port, model, "are you back?")
        return harness.health(ben_port, ben_key)["state"] == "ok" and asked(replica, "ben") > served

    # The first probe comes when the hold ends (or twice as late, if one
    # probe came before the person solved it).
    wait_until(ben_answered, 4 * HOLD + 30, "ben back after a passing probe")
    wait_until(lambda: "ben" in routable(fleet), 20, "ben routable again")
