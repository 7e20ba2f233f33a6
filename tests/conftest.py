"""What the router, fleet and ctl tests share: a mictld over supervised fake
instances (tests/fake_upstream.py) driven with the openai client, and the small
helpers that read its backends and drive the fakes. Plain functions and context
managers: tests import them (`from tests.conftest import fleet, ask`)."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai

from tests.helpers import Mictld, running, wait_until

FAKE = Path(__file__).with_name("fake_upstream.py")
COMMAND = f"{sys.executable} {FAKE} --port {{port}} --name {{name}}"


@contextlib.contextmanager
def fleet(
    tmp_path: Path,
    names: list[str],
    router: str = "",
    health: str = "",
    body: str = "",
    env: dict[str, str] | None = None,
) -> Iterator[tuple[Mictld, openai.OpenAI]]:
    policy = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"
    with running(tmp_path, policy + body, router=router, health=health, command=COMMAND) as d:
        for name in names:
            d.add_profile(name)
        d.start(env=env)
        wait_until(lambda: set(names) <= routable(d), 30, "all routable")
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="k", max_retries=0, timeout=60
        )
        try:
            yield d, client
        finally:
            client.close()


def backends(d: Mictld) -> dict[str, dict]:
    return {b["name"]: b for b in d.client.call("GET", "/v1/backends", list)}


def routable(d: Mictld) -> set[str]:
    return {n for n, b in backends(d).items() if b["routable"]}


def fake(d: Mictld, name: str, path: str, payload: dict | None = None) -> dict:
    port = d.program(name).port
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", data) as r:
        return json.loads(r.read())


def ask(client: openai.OpenAI, text: str = "hi", model: str = "m1", **kw: object) -> str:
    result = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )
    return result.choices[0].message.content or ""


def front(d: Mictld, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{d.front_port}/v1/chat/completions",
        body,
        headers or {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def raw_stream(d: Mictld, model: str, close_after: int | None = None) -> bytes:
    body = json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    ).encode()
    with socket.create_connection(("127.0.0.1", d.front_port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if close_after is not None and data.count(b"data:") >= close_after:
                break
    return data
