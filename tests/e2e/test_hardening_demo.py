"""Issue 9 against the running demo (`mictld -c etc/demo.toml`: the demo site
and two browser instances): a fuzz of bad requests at the front port, then
an audit of the mode of every file and directory the run wrote."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import demo_daemon
from tests.demo_daemon import Demo
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GOOD = {"model": "demo-fast", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo_daemon.demo(tmp_path_factory.mktemp("demo")) as d:
        wait_until(lambda: d.routable() >= {"demo-a", "demo-b"}, 120, "both demo instances")
        yield d


# -------------------------------------------------------------------- fuzz

CORPUS = [
    b"",
    b"   ",
    b"{",
    b"null",
    b"[]",
    b'"hello"',
    b"\xff\xfe\xfa",
    b'{"model": "demo-fast", "messages": [{"role": "user", "content": "caf\xe9"}]}',
    b'{"model": "demo-\xff", "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "demo-fast", "messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"model": "demo-fast", "messages": [' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]}",
    b"[" * 200_000,
    json.dumps({"model": "demo-fast", "messages": []}).encode(),
    json.dumps({"model": "demo-fast"}).encode(),
    json.dumps({"model": "demo-fast", "messages": [{"role": "user", "content": ""}]}).encode(),
    json.dumps({"model": "demo-fast", "messages": [{"role": "user", "content": " \n\t"}]}).encode(),
    json.dumps(
        {
            "model": "demo-fast",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
        }
    ).encode(),
    json.dumps({**GOOD, "model": 42}).encode(),
    json.dumps({**GOOD, "model": ""}).encode(),
    json.dumps({**GOOD, "messages": "hello"}).encode(),
    json.dumps({**GOOD, "messages": [{"role": "wizard", "content": "x"}]}).encode(),
    json.dumps({**GOOD, "messages": [{"content": "no role"}]}).encode(),
    json.dumps({**GOOD, "stream": "yes"}).encode(),
    json.dumps({**GOOD, "max_tokens": -1}).encode(),
    json.dumps({**GOOD, "max_tokens": 10**12}).encode(),
    json.dumps({**GOOD, "max_tokens": "ten"}).encode(),
    json.dumps({**GOOD, "n": 0}).encode(),
    json.dumps({**GOOD, "n": 10_000}).encode(),
    json.dumps({**GOOD, "temperature": 99}).encode(),
    json.dumps({**GOOD, "model": "no-such-model"}).encode(),  # 404 from the instance itself
    json.dumps({**GOOD, "n": 3}).encode(),  # a browser page answers one: 400 from the instance
    b'{"model": "demo-fast", "messages": [{"role": "user", "content": "'
    + b"x" * (33 * 2**20)
    + b'"}]}',  # over the 32 MiB limit: 413
]


def breakers(d: Demo) -> dict[str, tuple[str, int]]:
    return {n: (b["breaker"], b["failed"]) for n, b in d.health().items()}


def instance_counts(d: Demo) -> dict[str, tuple[int, int]]:
    counts = {}
    for name in ("demo-a", "demo-b"):
        port = d.health()[name]["url"].removesuffix("/v1").rsplit(":", 1)[1]
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/health",
            headers={"Authorization": f"Bearer {d.instance_key(name)}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                h = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            with exc:
                h = json.loads(exc.read())
        counts[name] = (h["served"], h["failed"])
    return counts


def assert_openai_4xx(status: int, body: dict | None, sent: bytes) -> None:
    assert 400 <= status < 500, (status, sent[:80])
    assert body is not None and set(body) == {"error"}, (status, sent[:80])
    assert body["error"]["message"] and body["error"]["type"], body


def test_fuzz_gets_4xx_and_leaves_breakers_alone(demo: Demo) -> None:
    before, served_before = breakers(demo), instance_counts(demo)
    for body in CORPUS:
        assert_openai_4xx(*demo.post(body), body)
    fuzz_front(demo)
    assert breakers(demo) == before  # no breaker moved, no failure counted
    served, failed = zip(*instance_counts(demo).values(), strict=True)
    assert failed == tuple(f for _, f in served_before.values())  # no instance failed
    # A normal request right after is served at once (nobody is cooling down).
    started = time.monotonic()
    status, answer = demo.post(json.dumps(GOOD).encode())
    assert status == 200 and answer is not None and answer["choices"][0]["message"]["content"]
    assert time.monotonic() - started < 30
    assert sum(served) == sum(s for s, _ in served_before.values())  # nothing bad got through


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)


no_text = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "\n\t "]),
    st.lists(st.fixed_dictionaries({"type": st.just("image_url"), "image_url": junk}), max_size=2),
)


def fuzz_front(demo: Demo) -> None:
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        st.one_of(
            st.binary(max_size=200),
            st.fixed_dictionaries(
                {"model": junk, "messages": junk},
                optional={"stream": junk, "max_tokens": junk, "n": junk},
            ).map(lambda d: json.dumps(d).encode()),
            # Well-formed, but no text to send: an empty prompt, or image parts only.
            st.fixed_dictionaries(
                {
                    "model": st.just("demo-fast"),
                    "messages": st.lists(
                        st.fixed_dictionaries(
                            {"role": st.sampled_from(["user", "system"]), "content": no_text}
                        ),
                        max_size=3,
                    ),
                }
            ).map(lambda d: json.dumps(d).encode()),
        )
    )
    def one(body: bytes) -> None:
        status, answer = demo.post(body)
        assert_openai_4xx(status, answer, body)

    one()


def test_instances_answer_bad_input_with_4xx_too(demo: Demo) -> None:
    port = int(demo.health()["demo-a"]["url"].removesuffix("/v1").rsplit(":", 1)[1])
    key = demo.instance_key("demo-a")
    for body in [*CORPUS[:12], json.dumps({**GOOD, "messages": []}).encode()]:
        status, answer = demo.post(body, port, key=key)
        assert status != 401, "mictld's key must pass"
        assert_openai_4xx(status, answer, body)
    auth = {"Authorization": f"Bearer {key}"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/nowhere", headers=auth)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    with info.value as exc:
        assert exc.code == 404 and json.loads(exc.read())["error"]["message"]


# ------------------------------------------------------------------ modes


def test_nothing_the_demo_wrote_is_readable_by_others(demo: Demo) -> None:
    """Every file and directory under the demo's state, log and run dirs,
    after chats and a failing page (screenshot + HTML): 0600 files in 0700
    dirs. Group or world access to any of them fails, listing all."""
    assert demo.post(json.dumps(GOOD).encode())[0] == 200
    failing = {**GOOD, "messages": [{"role": "user", "content": "[[error]] show me"}]}
    demo.post(json.dumps(failing).encode())  # the site errors: artifacts are saved
    errors = demo.root / "log"
    wait_until(
        lambda: any(p.suffix == ".png" for p in errors.glob("*-errors/*")), 60, "a screenshot"
    )
    listing, loose = [], []
    for path in sorted([demo.root, *demo.root.rglob("*")]):
        mode = stat.S_IMODE(path.lstat().st_mode)
        listing.append(f"{mode:04o} {path.relative_to(demo.root.parent)}")
        if path.is_socket():
            continue  # the control socket: 0600, checked by test_ctl
        if mode & 0o077:
            loose.append(listing[-1])
    print("\n".join(listing))
    assert any(p.name == "mictld.log" for p in errors.iterdir())
    assert any(p.suffix == ".html" for p in errors.glob("*-errors/*"))
    assert (demo.root / "state" / "profiles" / "demo-a.json").exists()
    assert not loose, "group- or world-accessible:\n" + "\n".join(loose)
