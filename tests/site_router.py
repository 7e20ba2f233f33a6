"""One scenario every site's router test runs: a signed-in and a signed-out
account of the site behind mictld's front router, against the site's
replica. The signed-out one says so on /health (`mictl health` shows it) and
is sent no request; the signed-in one answers every one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai

from tests.helpers import Mictld, free_port_block, wait_until
from tests.replicas.tls import Replica
from tests.site_kit import write_config


def a_signed_out_account_gets_no_requests(
    tmp_path: Path,
    rep: Replica,
    *,
    site: str,
    model: str,
    profiles: Callable[[Path], None],
    expected: Callable[[str], str],
) -> None:
    """`profiles(dir)` writes good.json (signed in) and gone.json (signed
    out) there; `expected(prompt)` is the replica's answer."""
    d = Mictld(tmp_path, base_port=free_port_block(4), router="")
    profiles(d.profiles)
    write_config(d, rep, site)  # the browser flags as an operator gives them
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
                    model=model, messages=[{"role": "user", "content": f"q {i}"}]
                )
                assert got.choices[0].message.content == expected(f"q {i}")
        after = health()
        assert after["good"]["served"] == 4 and after["gone"]["served"] == 0
    finally:
        d.cleanup()
