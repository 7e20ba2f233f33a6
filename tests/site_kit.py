"""What the site test modules share: the openai client on a port, an
instance's /health, a one-message chat, images as data: URLs, `mictl site
check` and `site record` + `site replay` on a replica, mictld with a site's
accounts behind its front router, the scenarios every site runs through
that front (a tool call, JSON to a schema); and the harness of the sites'
stream decoder tests (a body fed in any chunks)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from instance_runner.sites.decoders import DECODERS, Event
from tests.helpers import BIN, Mictld, free_port_block, wait_until
from tests.recording import every_byte, mictl, modes
from tests.replicas.tls import Replica


def replica_fixture(harness: Any, name: str, scope: str = "module") -> Any:
    """The `rep` fixture of a site's test module: its replica, started once per
    `scope` in a fresh folder, stopped after."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def rep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
        r = harness.replica(tmp_path_factory.mktemp(name))
        yield r
        r.stop()

    return rep


def instance_fixture(harness: Any, stall: int = 6) -> Any:
    """The `inst` fixture of a site's test module: a signed-in account's
    mictl-instance on the module's replica (`rep`), started once, its port.
    An operator's overrides, not site-file edits: a hung generation is given
    up after `stall` seconds instead of the site file's 120."""

    @pytest.fixture(scope="module")
    def inst(rep: Replica) -> Iterator[int]:
        profile = harness.profile(rep.tmp / "alice.json")
        extra = ["--timeout", f"first_delta={stall}", "--timeout", f"stall={stall}"]
        proc, port = harness.instance(rep.tmp, rep, "alice", profile, extra)
        yield port
        proc.stop()

    return inst


def client(port: int, timeout: float = 600, key: str = "x") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=timeout
    )


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def asking(text: str, *urls: str) -> list[dict[str, Any]]:
    """One user message: the text, then an image part per URL."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": parts}]


def site_check(rep: Replica, site: str, profile: Path, *extra: str) -> dict:
    """`mictl site check --json` of the bundled `site` on the replica."""
    out = subprocess.run(
        [str(BIN / "mictl"), "site", "check", "--profile", str(profile), "--site", site,
         "--screenshot", str(rep.tmp / "check.png"), "--json", *extra,
         *[f"--browser-arg={a}" for a in rep.browser_args]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def record_and_replay(rep: Replica, site: str, profile: Path, model: str) -> tuple[dict, bytes]:
    """`site record` of the prompt "record me" on the replica (the browser
    flags through the config's [profiles.browser] args, as an operator would
    give them), then `site replay` of the recording, which must pass; the
    recording's meta.json and every byte of it (HAR bodies decoded), for the
    caller to look for its secrets in. Only its owner may read it."""
    config = rep.tmp / "mictl.toml"
    config.write_text(
        '[daemon]\nsocket = "run/mictl.sock"\nstate_dir = "state"\nlog_dir = "log"\n'
        f'[profiles]\ndir = "profiles"\nsite = "{site}"\n'
        f"[profiles.browser]\nargs = {json.dumps(rep.browser_args)}\n"
    )
    out = rep.tmp / "recording"
    made = mictl("-c", str(config), "site", "record", "--profile", str(profile),
                 "--site", site, "--out", str(out), "--prompt", "record me",
                 "--model", model)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert modes(out) <= {0o700, 0o600}
    replayed = mictl("site", "replay", str(out), "--json")
    report = json.loads(replayed.stdout)
    assert replayed.returncode == 0 and report["ok"], replayed.stdout
    return json.loads((out / "meta.json").read_text()), every_byte(out)


def write_config(
    d: Mictld,
    rep: Replica,
    site: str,
    *,
    args: list[str] | None = None,
    browser: str = "",
    router: str = "",
    more: str = "",
) -> None:
    """mictld's config for `site`'s accounts in d.profiles, the browser
    flags that reach the replica given as an operator would: the config's
    [profiles.browser] args (`args` instead of the replica's). `browser` and
    `router` are more lines of those tables, `more` whole tables after them."""
    d.write_config(
        textwrap.dedent(f"""
        [daemon]
        socket = "run/mictl.sock"
        state_dir = "state"
        log_dir = "log"
        [profiles]
        dir = "profiles"
        base_port = {d.base_port}
        site = "{site}"
        [profiles.browser]
        args = {json.dumps(rep.browser_args if args is None else args)}
        {browser}
        [router]
        port = {d.front_port}
        {router}
        [health]
        interval = 0.5
        timeout = 2
        restart_after = 0  # a browser instance takes seconds to start on a loaded machine
        """)
        + textwrap.dedent(more)
    )


def routable(d: Mictld) -> set[str]:
    out = d.ctl("health", "--json")
    if out.returncode != 0:
        return set()
    return {b["name"] for b in json.loads(out.stdout) if b["routable"]}


@contextmanager
def front(
    root: Path, rep: Replica, site: str, profiles: Callable[[Path], None]
) -> Iterator[Mictld]:
    """mictld running `site`'s accounts (`profiles(dir)` writes them) on the
    replica, every one routable on the front port (d.front_port)."""
    d = Mictld(root, base_port=free_port_block(4), router="")
    profiles(d.profiles)
    names = {p.stem for p in d.profiles.glob("*.json")}
    write_config(d, rep, site)
    d.start()
    try:
        wait_until(lambda: routable(d) >= names, 120, f"{', '.join(sorted(names))} routable")
        yield d
    finally:
        d.cleanup()


def capabilities(d: Mictld, account: str) -> dict[str, dict]:
    """What each model takes, as the account's own instance lists it (the
    front's list joins sites, so it leaves images unknown)."""
    port = d.programs()[account].port
    assert port is not None
    key = (d.root / "state" / "keys" / f"{account}.key").read_text().strip()
    with client(port, key=key) as c:
        return {m.id: (m.model_extra or {}).get("capabilities", {}) for m in c.models.list()}


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PLACE = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["city", "year"],
    "additionalProperties": False,
}


def a_tool_round_trip(c: openai.OpenAI, model: str) -> None:
    """The site's answer in mictl's call format comes back as tool_calls;
    the tool's result, sent back, is answered in prose."""
    messages = ask('What does get_weather say for "Paris"?')
    first = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    final = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "The tools said: 18C and sunny."
    # streamed, the call comes as tool_call deltas
    chunks = list(
        c.chat.completions.create(
            model=model, messages=ask('get_weather for "Oslo"'), tools=[WEATHER], stream=True
        )
    )
    calls = [t for ch in chunks if ch.choices for t in ch.choices[0].delta.tool_calls or []]
    assert calls and calls[0].function.name == "get_weather"
    args = "".join(t.function.arguments or "" for t in calls)
    assert json.loads(args) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def json_to_a_schema(c: openai.OpenAI, model: str) -> None:
    """response_format json_schema: the content is valid JSON to the schema."""
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": PLACE, "strict": True}}
    got = c.chat.completions.create(
        model=model, messages=ask('"Rome" in 1990'), response_format=fmt
    )
    assert json.loads(got.choices[0].message.content or "") == {"city": "Rome", "year": 1990}


# The stream decoders' tests: a body fed whole or in pieces.


def decode_all(decoder: str, chunks: list[bytes]) -> list[Event]:
    """The events of DECODERS[decoder] fed `chunks` in order, then closed."""
    d = DECODERS[decoder](None)  # type: ignore[arg-type]
    events: list[Event] = []
    for chunk in chunks:
        events.extend(d.feed(chunk))
    return events + d.close()


def joined(events: list[Event], kind: str) -> str:
    return "".join(e.text for e in events if e.kind == kind)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at each of `cuts` (taken modulo its length + 1)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def every_split_gives_the_same(decoder: str, sample: bytes) -> None:
    """`sample` in two pieces, cut at every byte (inside each multi-byte
    character of it included), decodes as it does whole."""
    whole = decode_all(decoder, [sample])
    for needle, offset in ((b"\xf0\x9f\x98\x80", 2), ("é".encode(), 1), ("✓".encode(), 1)):
        cut = sample.index(needle) + offset
        assert decode_all(decoder, [sample[:cut], sample[cut:]]) == whole, needle
    for cut in range(1, len(sample)):
        assert decode_all(decoder, [sample[:cut], sample[cut:]]) == whole, cut
