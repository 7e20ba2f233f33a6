"""mictl-instance end to end: real Chromium, the real demo site, the openai client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.helpers import Proc, demo_site, descendants, renderers, runner, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    tmp = tmp_path_factory.mktemp("site")
    proc, port = demo_site(tmp)
    yield tmp, port
    proc.stop()


@pytest.fixture(scope="module")
def instance(site: tuple[Path, int]) -> Iterator[tuple[Proc, int, Path]]:
    tmp, port = site
    started = runner(tmp, port)
    yield started
    started[0].stop()


_clients: dict[int, openai.OpenAI] = {}


def client(port: int) -> openai.OpenAI:
    if port not in _clients:
        _clients[port] = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0
        )
    return _clients[port]


@pytest.fixture(autouse=True, scope="module")
def _close_clients() -> Iterator[None]:
    yield
    for c in _clients.values():
        c.close()
    _clients.clear()


def health(port: int) -> dict:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_sync_client_gets_exact_text(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    result = client(port).chat.completions.create(
        model="demo-smart", messages=ask("tell me a joke")
    )
    assert result.choices[0].message.content == answer("demo-smart", "tell me a joke")
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "demo-smart" and result.id.startswith("chatcmpl-")
    assert result.usage is not None and result.usage.completion_tokens > 0


def test_sync_stream_chunks_add_up(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    stream = client(port).chat.completions.create(
        model="demo-long",
        messages=ask("count with me"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer("demo-long", "count with me")
    assert len(chunks) > 10  # it streamed, token by token
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and not chunks[-1].choices


def test_async_client_stream_and_not(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance

    async def go() -> tuple[str, str]:
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0
        ) as aclient:
            whole = await aclient.chat.completions.create(model="demo-fast", messages=ask("a b c"))
            parts = []
            stream = await aclient.chat.completions.create(
                model="demo-fast", messages=ask("d e"), stream=True
            )
            async for chunk in stream:
                parts.append(chunk.choices[0].delta.content or "")
            return whole.choices[0].message.content or "", "".join(parts)

    whole, streamed = asyncio.run(go())
    assert whole == answer("demo-fast", "a b c")
    assert streamed == answer("demo-fast", "d e")


def test_multi_turn_history_reaches_the_site(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    result = client(port).chat.completions.create(model="demo-fast", messages=messages)
    prompt = (
        "System: Be brief.\n\nUser: first question\n\nAssistant: first answer\n\n"
        "User: second question"
    )
    assert result.choices[0].message.content == answer("demo-fast", prompt)
    assert "This is turn 2." in (result.choices[0].message.content or "")


def test_model_selection_and_listing(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    c = client(port)
    assert [m.id for m in c.models.list()] == ["demo-fast", "demo-smart", "demo-long"]
    for model in ("demo-smart", "demo-fast"):
        text = c.chat.completions.create(model=model, messages=ask("hi")).choices[0].message.content
        assert text == answer(model, "hi")
    with pytest.raises(openai.NotFoundError) as info:
        c.chat.completions.create(model="gpt-5", messages=ask("hi"))
    assert info.value.code == "model_not_found"


def test_models_retrieve(instance: tuple[Proc, int, Path]) -> None:
    """The official SDK's `models.retrieve`: the model object, or a JSON 404."""
    c = client(instance[1])
    model = c.models.retrieve("demo-fast")
    assert (model.id, model.object) == ("demo-fast", "model")
    with pytest.raises(openai.NotFoundError) as info:
        c.models.retrieve("gpt-5")
    assert info.value.code == "model_not_found" and "demo-fast" in info.value.message


def test_bad_requests_get_openai_errors(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    import urllib.error
    import urllib.request

    for body in (
        b"{not json",
        b'{"model": "demo-fast"}',
        b'{"model": "demo-fast", "messages": []}',
    ):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req)
        assert info.value.code == 400
        assert "message" in json.loads(info.value.read())["error"]


def test_knobs_the_site_lacks_are_ignored_with_a_warning_header(
    instance: tuple[Proc, int, Path],
) -> None:
    _, port, _ = instance
    raw = client(port).chat.completions.with_raw_response.create(
        model="demo-fast", messages=ask("warm"), temperature=0.2, top_p=0.9
    )
    assert raw.headers["x-mictl-ignored"] == "temperature, top_p"
    assert raw.parse().choices[0].message.content == answer("demo-fast", "warm")


def test_stop_sequence_and_max_tokens_are_applied(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    c = client(port)
    full = answer("demo-fast", "one two")
    cut = c.chat.completions.create(model="demo-fast", messages=ask("one two"), stop=["You wrote"])
    assert cut.choices[0].message.content == full[: full.index("You wrote")]
    assert cut.choices[0].finish_reason == "stop"
    short = c.chat.completions.create(model="demo-fast", messages=ask("one two"), max_tokens=3)
    assert short.choices[0].message.content == full[:12]
    assert short.choices[0].finish_reason == "length"
    # The page is free again afterwards (the generation was stopped there).
    again = c.chat.completions.create(model="demo-fast", messages=ask("again"))
    assert again.choices[0].message.content == answer("demo-fast", "again")


def test_rate_limit_banner_is_a_429_for_that_model_only(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    c = client(port)
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="demo-long", messages=ask("[[rate-limit]] now"))
    assert info.value.response.headers["retry-after"] == "30"
    limited = health(port)["rate_limited_until"]
    assert list(limited) == ["demo-long"]
    # The same model stays limited without asking the site again...
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="demo-long", messages=ask("fine now?"))
    # ...while another model of the same account still answers.
    ok = c.chat.completions.create(model="demo-smart", messages=ask("fine"))
    assert ok.choices[0].message.content == answer("demo-smart", "fine")
    assert list((Path(instance[2]).parent / "log" / "demo-a-errors").glob("*.png"))


def test_error_banner_is_a_502(instance: tuple[Proc, int, Path]) -> None:
    _, port, _ = instance
    with pytest.raises(openai.InternalServerError) as info:
        client(port).chat.completions.create(model="demo-fast", messages=ask("[[error]] x"))
    assert info.value.status_code == 502


def test_client_disconnect_stops_the_generation(instance: tuple[Proc, int, Path]) -> None:
    proc, port, _ = instance
    body = json.dumps({"model": "demo-smart", "stream": True, "messages": ask("[[slow]] go")})
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        assert b"200 OK" in s.recv(4096)  # streaming has begun
    wait_until(lambda: "stopped the generation on the page" in proc.output(), 30, "stop pressed")
    result = client(port).chat.completions.create(model="demo-fast", messages=ask("next"))
    assert result.choices[0].message.content == answer("demo-fast", "next")


def test_queue_overflow_gives_503_with_retry_after(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    proc, port, _ = runner(tmp, site_port, profile="demo-b", extra=["--max-queue", "1"])
    try:
        results: list[object] = []

        def slow() -> None:
            try:
                results.append(
                    client(port).chat.completions.create(
                        model="demo-long", messages=ask("[[slow]] wait")
                    )
                )
            except openai.APIStatusError as exc:
                results.append(exc)

        threads = [threading.Thread(target=slow) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        errors = [r for r in results if isinstance(r, openai.APIStatusError)]
        assert len(errors) == 1 and errors[0].status_code == 503
        assert errors[0].response.headers.get("retry-after")
        assert len(results) == 3
    finally:
        proc.stop()


def test_logged_out_profile_shows_in_health(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    bogus = (Path(__file__).parents[2] / "auth_profiles/saved/demo-a.json").read_text()
    bogus = bogus.replace("mictl-demo-a-5f2b9c1e", "expired-session")
    proc, port, _ = runner(tmp, site_port, name="stale", profile_text=bogus)
    try:
        report = health(port)
        assert report["logged_in"] is False and report["ok"] is False
        assert report["browser_connected"] is True
        with pytest.raises(openai.InternalServerError) as info:
            client(port).chat.completions.create(model="demo-fast", messages=ask("hi"))
        assert info.value.status_code == 503 and info.value.code == "logged_out"
    finally:
        proc.stop()


def test_session_expiring_mid_request_is_logged_out(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    proc, port, _ = runner(
        tmp,
        site_port,
        profile="demo-c",
        profile_text=(Path(__file__).parents[2] / "auth_profiles/saved/demo-a.json")
        .read_text()
        .replace("mictl-demo-a-5f2b9c1e", "mictl-demo-c-3b7a52f4"),
    )
    try:
        with pytest.raises(openai.InternalServerError) as info:
            client(port).chat.completions.create(model="demo-fast", messages=ask("[[logout]]"))
        assert info.value.status_code == 503
        assert health(port)["logged_in"] is False
    finally:
        proc.stop()


def test_stall_is_stopped_and_answered_504(site: tuple[Path, int], tmp_path: Path) -> None:
    tmp, site_port = site
    demo = Path(__file__).parents[2] / "instance_runner/sites/demo.toml"
    fast_stall = tmp_path / "demo-stall.toml"
    fast_stall.write_text(demo.read_text().replace("stall = 10", "stall = 1"))
    proc, port, _ = runner(tmp, site_port, profile="demo-b", name="staller", site=str(fast_stall))
    try:
        with pytest.raises(openai.APIStatusError) as info:
            client(port).chat.completions.create(model="demo-fast", messages=ask("[[hang]] x"))
        assert info.value.status_code == 504
        ok = client(port).chat.completions.create(model="demo-fast", messages=ask("x"))
        assert ok.choices[0].message.content == answer("demo-fast", "x")
    finally:
        proc.stop()


def test_fetch_tap_source_gives_the_same_text(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    proc, port, _ = runner(tmp, site_port, profile="demo-b", name="tapped", site="demo-fetch")
    try:
        stream = client(port).chat.completions.create(
            model="demo-long", messages=ask("tap this"), stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream)
        assert text == answer("demo-long", "tap this")
    finally:
        proc.stop()


def test_sigterm_exits_0_and_saves_refreshed_cookies(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    pool = tmp / "pool-demo-b.json"
    pool.write_text("{}")
    os.chmod(pool, 0o640)
    proc, _, copy = runner(
        tmp, site_port, profile="demo-b", name="saver", extra=["--pool", str(pool)]
    )
    copy.write_text('{"cookies": [], "origins": [], "stale": true}')
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(60) == 0
    saved = json.loads(copy.read_text())
    assert "stale" not in saved
    assert [c["value"] for c in saved["cookies"]] == ["mictl-demo-b-8e41d07a"]
    assert copy.stat().st_mode & 0o777 == 0o600
    # write_back: the pool file got the same state, its mode kept.
    assert json.loads(pool.read_text()) == saved
    assert pool.stat().st_mode & 0o777 == 0o640


def test_sigterm_lets_the_current_generation_finish(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    proc, port, _ = runner(tmp, site_port, profile="demo-b", name="finisher")
    stream = client(port).chat.completions.create(
        model="demo-smart", messages=ask("[[slow]] finish me"), stream=True
    )
    first = next(iter(stream))
    proc.proc.send_signal(signal.SIGTERM)  # mid-generation
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert (first.choices[0].delta.content or "") + rest == answer(
        "demo-smart", "[[slow]] finish me"
    )
    assert proc.proc.wait(60) == 0


def test_browser_sigkill_makes_the_runner_exit_nonzero(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    proc, _, _ = runner(tmp, site_port, profile="demo-b", name="victim")
    browsers = [pid for pid in descendants(proc.proc.pid)[1:] if _is_browser(pid)]
    assert browsers
    os.kill(browsers[0], signal.SIGKILL)
    code = proc.proc.wait(60)
    assert code == 70
    assert "browser disconnected" in proc.output()
    proc.stop()


def test_one_log_line_per_request_without_the_prompt(instance: tuple[Proc, int, Path]) -> None:
    proc, port, _ = instance

    def lines() -> list[str]:
        return [line for line in proc.output().splitlines() if " request model=" in line]

    before = len(lines())
    secret = "zebra-umbrella-4711"
    client(port).chat.completions.create(model="demo-fast", messages=ask(f"hi {secret}"))
    stream = client(port).chat.completions.create(
        model="demo-smart", messages=ask(f"again {secret}"), stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with pytest.raises(openai.NotFoundError):
        client(port).chat.completions.create(model="no-such", messages=ask(secret))

    wait_until(lambda: len(lines()) >= before + 3, 30, "three more request lines")
    fast, smart, missing = lines()[before : before + 3]
    timed = re.compile(r"status=200 ttft=\d+\.\d{3}s duration=\d+\.\d{3}s$")
    assert "model=demo-fast stream=no" in fast and timed.search(fast)
    assert "model=demo-smart stream=yes" in smart and timed.search(smart)
    assert "model=no-such" in missing and "status=404 ttft=-" in missing
    assert secret not in proc.output()


def _is_browser(pid: int) -> bool:
    """A Chromium main process (not one of its --type= helpers)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"chrom" in cmdline[0] and not any(a.startswith(b"--type=") for a in cmdline)


def test_page_crash_is_recovered(site: tuple[Path, int], tmp_path: Path) -> None:
    tmp, site_port = site
    proc, port, _ = runner(tmp, site_port, profile="demo-b", name="crasher")
    try:
        wait_until(lambda: health(port)["page_ready"], 60, "the page")
        # A generation in flight (its first delta sent, then the site hangs),
        # then the page's renderer dies as it would by the OOM killer: a real
        # page crash at a moment the test chooses, whatever the machine's speed.
        stream = client(port).chat.completions.create(
            model="demo-fast", messages=ask("[[hang]] crash here"), stream=True
        )
        with stream, pytest.raises(openai.APIError) as info:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pages = renderers(proc.proc.pid)
                    assert pages, "no renderer process under the runner"
                    for pid in pages:
                        os.kill(pid, signal.SIGKILL)
        assert info.value.code == "page_crashed"
        wait_until(lambda: health(port)["page_ready"], 60, "a fresh page")
        ok = client(port).chat.completions.create(model="demo-fast", messages=ask("alive?"))
        assert ok.choices[0].message.content == answer("demo-fast", "alive?")
        assert proc.proc.poll() is None
    finally:
        proc.stop()


def test_site_check_reports_selectors(site: tuple[Path, int], tmp_path: Path) -> None:
    import subprocess

    from tests.helpers import BIN

    _, site_port = site
    profile = Path(__file__).parents[2] / "auth_profiles/saved/demo-a.json"
    before = profile.read_bytes()
    shot = tmp_path / "check.png"
    result = subprocess.run(
        [
            str(BIN / "mictl"),
            "site",
            "check",
            "--profile",
            str(profile),
            "--site",
            "demo",
            "--url",
            f"http://127.0.0.1:{site_port}/",
            "--screenshot",
            str(shot),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["logged_in"] and report["ok"]
    found = {r["name"]: r["found"] for r in report["results"]}
    assert found["prompt"] and found["send"] and found["model_picker"]
    assert shot.stat().st_size > 1000
    assert profile.read_bytes() == before  # never written


def test_site_check_leaves_nothing_in_the_working_directory(
    site: tuple[Path, int], tmp_path: Path
) -> None:
    """Without --screenshot, the screenshot goes to a new private temp dir
    (issue 28 item 15): the page may show the account."""
    import subprocess

    from tests.helpers import BIN

    _, site_port = site
    profile = Path(__file__).parents[2] / "auth_profiles/saved/demo-a.json"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    argv = [str(BIN / "mictl"), "site", "check", "--profile", str(profile), "--site", "demo"]
    argv += ["--url", f"http://127.0.0.1:{site_port}/", "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert list(cwd.iterdir()) == []
    shot = Path(json.loads(result.stdout)["screenshot"])
    try:
        assert shot.stat().st_size > 1000
        assert shot.parent.stat().st_mode & 0o777 == 0o700
    finally:
        shot.unlink()
        shot.parent.rmdir()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--browser-executable", "/nonexistent/chrome"], "/nonexistent/chrome"),
        (["--site", "nosuchsite"], "bundled"),
    ],
)
def test_unusable_browser_or_site_exits_78(args: list[str], said: str) -> None:
    import subprocess

    from tests.helpers import BIN, DEMO_PROFILES

    result = subprocess.run(
        [
            str(BIN / "mictl-instance"),
            "--profile",
            str(DEMO_PROFILES / "demo-a.json"),
            "--port",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert said in result.stderr


def test_model_default_serves_requests_that_say_default(site: tuple[Path, int]) -> None:
    tmp, site_port = site
    proc, port, _ = runner(
        tmp, site_port, profile="demo-b", name="defaulted", extra=["--model-default", "demo-smart"]
    )
    try:
        result = client(port).chat.completions.create(model="default", messages=ask("which"))
        assert result.choices[0].message.content == answer("demo-smart", "which")
        assert result.model == "demo-smart"
    finally:
        proc.stop()
