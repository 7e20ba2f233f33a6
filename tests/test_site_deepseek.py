"""deepseek.toml, unchanged, against the DeepSeek replica under its real
hostname: real Chromium, real mictl-instance processes, the openai client."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers import BIN
from tests.recording import every_byte, mictl, modes
from tests.replicas.deepseek import harness
from tests.replicas.deepseek.answers import TOKEN, answer, thinking
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    r = harness.replica(tmp_path_factory.mktemp("deepseek"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def inst(rep: Replica) -> Iterator[int]:
    profile = harness.profile(rep.tmp / "alice.json")
    # Operator overrides, not site-file edits: a hung generation is given up
    # after 6 s here instead of the site file's 120 s.
    extra = ["--timeout", "first_delta=6", "--timeout", "stall=6"]
    proc, port = harness.instance(rep.tmp, rep, "alice", profile, extra)
    yield port
    proc.stop()


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_models_are_deepseeks_own_api_names(inst: int) -> None:
    with client(inst) as c:
        listed = {m.id for m in c.models.list().data}
    assert listed == {
        "deepseek-chat",
        "deepseek-reasoner",
        "deepseek-chat-search",
        "deepseek-reasoner-search",
    }


def test_stream_and_non_stream_same_markdown(inst: int, rep: Replica) -> None:
    prompt = "explain **streams** in two lines"
    with client(inst) as c:
        whole = c.chat.completions.create(model="deepseek-chat", messages=ask(prompt))
        sessions = harness.last_request(rep)["sessions"]
        chunks = list(
            c.chat.completions.create(model="deepseek-chat", messages=ask(prompt), stream=True)
        )
    expected = answer(prompt)
    assert "```python\n" in expected and "**You said:**" in expected  # Markdown to keep
    assert whole.choices[0].message.content == expected
    assert not whole.choices[0].message.model_extra.get("reasoning_content")
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert "".join(d.content or "" for d in deltas) == expected
    assert sum(1 for d in deltas if d.content) > 3  # streamed, not in one piece
    seen = harness.last_request(rep)
    # A fresh chat each time: a new session, no parent message; and the
    # page's own proof of work went with the request.
    assert seen["sessions"] == sessions + 1 and seen["parent"] is None
    assert seen["pow"] and not seen["thinking"] and not seen["search"]


def test_reasoner_turns_deepthink_on_and_thinking_is_reasoning_content(
    inst: int, rep: Replica
) -> None:
    prompt = "think about **this**"
    with client(inst) as c:
        whole = c.chat.completions.create(model="deepseek-reasoner", messages=ask(prompt))
        assert harness.last_request(rep)["thinking"] is True
        chunks = list(
            c.chat.completions.create(model="deepseek-reasoner", messages=ask(prompt), stream=True)
        )
    expected = answer(prompt, thinking=True)
    message = whole.choices[0].message
    assert message.content == expected
    assert message.model_extra["reasoning_content"] == thinking(prompt)
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert "".join(d.content or "" for d in deltas) == expected
    assert reasoning == thinking(prompt)
    assert sum(1 for d in deltas if (d.model_extra or {}).get("reasoning_content")) > 1


def test_model_pick_drives_both_toggles_both_ways(inst: int, rep: Replica) -> None:
    """The replica remembers the toggles across page loads (the harder
    case): each model must turn what it does not want off again."""
    plan = [
        ("deepseek-reasoner-search", True, True),
        ("deepseek-chat", False, False),
        ("deepseek-chat-search", False, True),
        ("deepseek-reasoner", True, False),
        ("deepseek-chat", False, False),
    ]
    with client(inst) as c:
        for model, thinks, searches in plan:
            got = c.chat.completions.create(model=model, messages=ask(f"pick {model}"))
            seen = harness.last_request(rep)
            assert (seen["thinking"], seen["search"]) == (thinks, searches), model
            expected = answer(f"pick {model}", thinking=thinks, search=searches)
            assert got.choices[0].message.content == expected


def test_rate_limit_is_429_and_cools_that_model_only(inst: int, rep: Replica) -> None:
    with client(inst) as c:
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="deepseek-reasoner-search", messages=ask("[ratelimit]"))
        assert int(info.value.response.headers["retry-after"]) >= 30
        other = c.chat.completions.create(model="deepseek-chat", messages=ask("still here"))
        assert other.choices[0].message.content == answer("still here")
        sent = harness.last_request(rep)["requests"]
        with pytest.raises(openai.RateLimitError):  # cooling: the page is not even asked
            c.chat.completions.create(model="deepseek-reasoner-search", messages=ask("again"))
        assert harness.last_request(rep)["requests"] == sent
    report = health(inst)
    assert set(report["cooling"]) == {"deepseek-reasoner-search"}
    assert report["ok"] and report["state"] == "ok"


def test_server_busy_is_a_502_the_router_fails_over_on(inst: int) -> None:
    with client(inst) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="deepseek-chat", messages=ask("[busy] now"))
    assert info.value.status_code == 502 and info.value.code == "upstream_error"


def test_hung_generation_is_504_and_the_next_request_works(inst: int) -> None:
    with client(inst) as c:
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="deepseek-chat", messages=ask("[hang] wait"))
        assert info.value.status_code == 504 and info.value.code == "stalled"
        after = c.chat.completions.create(model="deepseek-chat", messages=ask("after the hang"))
    assert after.choices[0].message.content == answer("after the hang")


def test_no_token_in_local_storage_is_logged_out(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "nobody.json", token=None)
    proc, port = harness.instance(rep.tmp, rep, "nobody", profile)
    try:
        report = health(port)
        assert report["state"] == "logged_out" and report["logged_out"] and not report["ok"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="deepseek-chat", messages=ask("hi"))
        assert info.value.status_code == 503 and info.value.code == "logged_out"
    finally:
        proc.stop()
    assert "sign_in" in proc.output() or "userToken" in proc.output()


def test_cloudflare_challenge_is_captcha_not_logout(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "human.json")
    proc, port = harness.instance(rep.tmp, rep, "human", profile)
    try:
        with client(port) as c:
            with pytest.raises(openai.APIStatusError) as info:
                c.chat.completions.create(model="deepseek-chat", messages=ask("[captcha] hi"))
            assert info.value.status_code == 503 and info.value.code == "captcha"
            sent = harness.last_request(rep)["requests"]
            with pytest.raises(openai.APIStatusError) as again:  # held: the site is not asked
                c.chat.completions.create(model="deepseek-chat", messages=ask("hi"))
            assert again.value.code == "captcha"
            assert harness.last_request(rep)["requests"] == sent
        report = health(port)
        assert report["state"] == "captcha" and report["captcha"] and not report["logged_out"]
    finally:
        proc.stop()


def site_check(rep: Replica, profile: Path) -> dict:
    out = subprocess.run(
        [str(BIN / "mictl"), "site", "check", "--profile", str(profile), "--site", "deepseek",
         "--screenshot", str(rep.tmp / "check.png"), "--json",
         *[f"--browser-arg={a}" for a in rep.browser_args]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def test_site_check_passes_and_names_the_matching_selectors(rep: Replica) -> None:
    report = site_check(rep, harness.profile(rep.tmp / "check.json"))
    assert report["ok"] and report["logged_in"], report
    assert report["verified"] == "2026-12-07" and "replica" in report["verified_against"]
    matched = {r["name"]: r for r in report["results"]}
    assert matched["prompt"]["selector"] == "textarea#chat-input"
    assert matched["send"]["selector"] == 'div[role="button"].ds-send'
    assert matched["DeepThink: click"]["found"] and matched["Search: click"]["found"]
    assert set(report["models"]) == {
        "deepseek-chat",
        "deepseek-reasoner",
        "deepseek-chat-search",
        "deepseek-reasoner-search",
    }


def test_record_then_replay_round_trips_with_no_secret(rep: Replica) -> None:
    """`site record` on the replica (the browser flags through the config's
    [profiles.browser] args, as an operator would give them), then `site
    replay` of the recording: the answer comes back, no token is on disk."""
    config = rep.tmp / "mictl.toml"
    config.write_text(
        '[daemon]\nsocket = "run/mictl.sock"\nstate_dir = "state"\nlog_dir = "log"\n'
        f'[profiles]\ndir = "profiles"\nsite = "deepseek"\n'
        f"[profiles.browser]\nargs = {json.dumps(rep.browser_args)}\n"
    )
    profile = harness.profile(rep.tmp / "record.json")
    out = rep.tmp / "recording"
    made = mictl("-c", str(config), "site", "record", "--profile", str(profile),
                 "--site", "deepseek", "--out", str(out), "--prompt", "record me",
                 "--model", "deepseek-reasoner")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert modes(out) <= {0o700, 0o600}
    whole = every_byte(out)
    assert TOKEN.encode() not in whole
    meta = json.loads((out / "meta.json").read_text())
    assert meta["answer"] == answer("record me", thinking=True)
    replayed = mictl("site", "replay", str(out), "--json")
    report = json.loads(replayed.stdout)
    assert replayed.returncode == 0 and report["ok"], replayed.stdout


def profile_check(rep: Replica, profile: Path, site: str) -> tuple[int, str]:
    config = rep.tmp / "check.toml"
    config.write_text(
        '[daemon]\nsocket = "run/mictl.sock"\nstate_dir = "state"\nlog_dir = "log"\n'
        f'[profiles]\ndir = "profiles"\nsite = "deepseek"\n'
        f"[profiles.browser]\nargs = {json.dumps(rep.browser_args)}\n"
    )
    out = mictl("-c", str(config), "profile", "check", str(profile), "--site", site, "--json")
    assert TOKEN not in out.stdout + out.stderr
    return out.returncode, out.stdout + out.stderr


def test_profile_check_reads_the_login_from_local_storage(rep: Replica) -> None:
    """With the sign-in URL and form rules taken out of the site file, only
    [login] local_storage can tell the profile without its userToken."""
    code, out = profile_check(rep, harness.profile(rep.tmp / "pc-in.json"), "deepseek")
    assert code == 0 and json.loads(out)["state"] == "logged_in", out
    bundled = Path(__file__).resolve().parents[1] / "instance_runner/sites/deepseek.toml"
    text = bundled.read_text()
    cut = ["url_patterns = ['^https://chat\\.deepseek\\.com/sign_in']\n",
           "logged_out = 'input[type=\"password\"]'\n"]  # fmt: skip
    assert all(c in text for c in cut)
    for c in cut:
        text = text.replace(c, "")
    text = text.replace("ready = 30", "ready = 3")  # (nothing it waits for shows)
    variant = rep.tmp / "deepseek-storage-only.toml"
    variant.write_text(text)
    nobody = harness.profile(rep.tmp / "pc-out.json", token=None)
    code, out = profile_check(rep, nobody, str(variant))
    assert code == 1 and json.loads(out)["state"] == "logged_out", out
    variant.write_text(text.replace('local_storage = ["userToken"]\n', ""))
    code, out = profile_check(rep, nobody, str(variant))
    assert json.loads(out)["state"] == "unknown", out  # the rule above is what told it


def test_a_model_whose_switch_will_not_show_on_fails_and_sends_nothing(rep: Replica) -> None:
    """The model check: DeepThink's `on` pointed at nothing, so after the
    click the page never shows it on; deepseek-reasoner must not be answered
    by deepseek-chat."""
    bundled = Path(__file__).resolve().parents[1] / "instance_runner/sites/deepseek.toml"
    on = 'on = \'div[role="button"].ds-toggle-button.ds-toggle-button--selected:nth-child(1 of'
    text = bundled.read_text()
    assert on in text
    variant = rep.tmp / "deepseek-wrong-on.toml"
    variant.write_text(text.replace(on, on.replace("--selected", "--nowhere")))
    profile = harness.profile(rep.tmp / "wrong.json")
    proc, port = harness.instance(rep.tmp, rep, "wrong", profile, ["--site", str(variant)])
    try:
        before = harness.last_request(rep)["requests"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="deepseek-reasoner", messages=ask("hi"))
        assert "could not turn DeepThink on for deepseek-reasoner" in info.value.message
        assert harness.last_request(rep)["requests"] == before  # nothing was sent
    finally:
        proc.stop()
