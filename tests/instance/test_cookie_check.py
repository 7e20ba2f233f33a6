"""Issue 28 item 12: a cookie Chromium would refuse is named where profiles
are checked (mictld, --dry-run, the runner, `mictl profile check`), by index
and name, never by value; the instance is FATAL with that reason at once,
without a runner or a Chromium being started."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.cookie_check import cookie_problem, first_bad_cookie, profile_problem
from tests.helpers import BIN, free_port, running

VALUE = "SECRET-VALUE-never-shown"
GOOD = {
    "name": "sid",
    "value": VALUE,
    "domain": ".example.com",
    "path": "/",
    "expires": -1,
    "httpOnly": False,
    "secure": True,
    "sameSite": "Lax",
}
# (change, what the reason says); each refused by the browser (test below).
BAD: list[tuple[dict[str, Any], str]] = [
    ({"sameSite": "lax"}, "sameSite"),
    ({"sameSite": ""}, "sameSite"),
    ({"domain": ""}, "empty domain"),
    ({"path": ""}, "path"),
    ({"path": "x"}, "path"),
    ({"name": "s\x00id"}, "name"),
    ({"value": "v\x00" + VALUE}, "value"),
    ({"value": VALUE + "\n"}, "value"),
    ({"value": VALUE + ";x"}, "value"),
    ({"name": "a=b"}, "name"),
    ({"name": "", "value": ""}, "empty name and value"),
    ({"value": "x" * 4100}, "4096"),
    ({"expires": 1e300}, "expires"),
    ({"expires": -5}, "expires"),
    ({"expires": "123"}, "expires"),
    ({"httpOnly": "yes"}, "httpOnly"),
    ({"domain": "." + "a" * 1100 + ".com"}, "domain"),
]
FINE: list[dict[str, Any]] = [
    {},
    {"sameSite": None},
    {"expires": 0},
    {"expires": 253402300799},
    {"expires": 1.9e9},
    {"name": ""},
    {"name": "a b"},
    {"value": "caf\u00e9"},
    {"value": "x" * 4000},
]


def cookie(change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**GOOD, **change}.items() if v is not None}


def state(*cookies: dict[str, Any]) -> str:
    return json.dumps({"cookies": list(cookies), "origins": []})


@pytest.mark.parametrize(("change", "says"), BAD)
def test_each_malformed_cookie_is_named_by_index_and_name_never_its_value(
    change: dict[str, Any], says: str
) -> None:
    reason = first_bad_cookie([GOOD, cookie(change)])
    assert reason is not None and reason.startswith("cookie #1 "), reason
    assert says in reason and VALUE not in reason
    if isinstance(change.get("name"), str) and change["name"]:
        assert repr(change["name"]) in reason, "the name, escaped"


@pytest.mark.parametrize("change", FINE)
def test_cookies_chromium_takes_pass(change: dict[str, Any]) -> None:
    assert cookie_problem(cookie(change)) is None


def test_how_many_more_and_a_profile_that_is_not_json() -> None:
    reason = profile_problem(
        state(GOOD, cookie({"domain": ""}), cookie({"sameSite": "x"})).encode()
    )
    assert reason and reason.startswith("cookie #1 'sid': empty domain (and 1 more)")
    assert profile_problem(b"{") and profile_problem(b"[]")
    assert profile_problem(state(GOOD).encode()) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
cookie_like = st.fixed_dictionaries(
    {},
    optional={k: json_values | st.just(v) for k, v in GOOD.items() if k != "value"},
).map(lambda c: {**c, "value": VALUE})


@given(st.lists(cookie_like | json_values, max_size=4))
def test_any_json_gets_a_verdict_and_never_the_value(cookies: list[Any]) -> None:
    reason = first_bad_cookie(cookies)
    assert reason is None or VALUE not in reason


@pytest.mark.browser
def test_the_rules_agree_with_the_browser() -> None:
    """What the check refuses, Playwright + Chromium refuse; what it passes
    they take (the reason the check exists: to say it first)."""
    from playwright.async_api import async_playwright

    from instance_runner.tools.launch import launch

    async def verdicts() -> list[bool]:
        taken = []
        async with async_playwright() as pw:
            browser = await launch(pw, headless=True)
            try:
                for change in [c for c, _ in BAD] + FINE:
                    try:
                        ctx = await browser.new_context(
                            storage_state={"cookies": [cookie(change)], "origins": []}
                        )
                    except Exception:  # Playwright's or the protocol's refusal
                        taken.append(False)
                        continue
                    await ctx.close()
                    taken.append(True)
            finally:
                await browser.close()
        return taken

    taken = asyncio.run(verdicts())
    expected = [False] * len(BAD) + [True] * len(FINE)
    cases = [c for c, _ in BAD] + FINE
    wrong = [repr(c)[:60] for c, t, e in zip(cases, taken, expected, strict=True) if t != e]
    assert not wrong, f"the browser disagrees on {wrong}"


# ------------------------------------------------------------ where it is told


POLICY = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"


@pytest.mark.slow
def test_mictld_holds_the_instance_fatal_naming_profile_and_cookie(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("good")
        d.add_profile("bad", state(GOOD, cookie({"name": "sess", "sameSite": "lax"})))
        d.start()
        d.wait_state("good", "RUNNING")
        bad = d.wait_state("bad", "FATAL")
        assert "bad.json" in bad.reason and "cookie #1 'sess'" in bad.reason, bad.reason
        assert "sameSite" in bad.reason and VALUE not in bad.reason
        assert bad.restarts == 0 and not bad.pid, "never started"
        dry = subprocess.run(
            [str(BIN / "mictld"), "-c", str(d.config), "--dry-run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert dry.returncode == 2
        assert "cookie #1 'sess'" in dry.stdout and "bad.json" in dry.stdout, dry.stdout
        assert VALUE not in dry.stdout + dry.stderr
        assert VALUE not in (tmp_path / "log" / "mictld.log").read_text()


def test_the_runner_refuses_before_looking_for_a_browser(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text(state(cookie({"expires": 1e300})))
    argv = [str(BIN / "mictl-instance"), "--profile", str(profile), "--port", str(free_port())]
    result = subprocess.run(
        [*argv, "--browser-executable", str(tmp_path / "no-such-chromium")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78, result.stderr
    assert str(profile) in result.stderr and "cookie #0 'sid': expires" in result.stderr
    assert VALUE not in result.stderr and "no-such-chromium" not in result.stderr
