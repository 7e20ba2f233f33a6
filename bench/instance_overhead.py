"""What mictl-instance adds per request: the AI Studio replica's API called
directly against the same replica driven through mictl-instance (aistudio.toml
as bundled: the network source; and a copy reading the DOM instead).

Per path: time to first token and total time as the client sees them, and
the lag between the replica sending a piece of the answer and the client
holding it (first piece, and every piece), from timestamps on the one
system-wide monotonic clock. Through mictl the client's time includes the
page's own work before the request leaves it (open a new chat, pick, type,
click); the lag isolates the tap: browser -> DevTools -> decoder -> client.

    .venv/bin/python bench/instance_overhead.py [--requests 15] [--pace-ms 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import tempfile
import time
from pathlib import Path

from _common import median, pct, table

from instance_runner.sites.decoders import StreamOptions, make
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.app import RPC
from tests.replicas.tls import Replica

Sample = tuple[float, float, list[tuple[float, int]], float]  # ttft, total, received, t0


def direct(rep: Replica, prompt: str) -> Sample:
    context = ssl.create_default_context(cafile=str(rep.cert))
    context.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", rep.port, context=context, timeout=60)
    body = json.dumps(["models/gemini-2.5-pro", [[[[None, prompt]], "user"]], None, None, None])
    headers = {
        "Host": "alkalimakersuite-pa.clients6.google.com",
        "Cookie": "SID=bench",
        "Content-Type": "application/json+protobuf",
    }
    decoder = make("aistudio", StreamOptions())
    received: list[tuple[float, int]] = []
    length, ttft = 0, 0.0
    t0 = time.monotonic()
    conn.request("POST", f"{RPC}/GenerateContent", body, headers)
    response = conn.getresponse()
    while chunk := response.read1(65536):
        for event in decoder.feed(chunk):
            if event.kind == "text":
                now = time.monotonic()
                ttft = ttft or now - t0
                length += len(event.text)
                received.append((now, length))
    total = time.monotonic() - t0
    conn.close()
    return ttft, total, received, t0


def through(port: int, prompt: str) -> Sample:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps(
        {
            "model": "gemini-2.5-pro",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
    )
    received: list[tuple[float, int]] = []
    length, ttft, buffer = 0, 0.0, b""
    t0 = time.monotonic()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    while chunk := response.read1(65536):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n\n")
        for line in lines:
            data = line.removeprefix(b"data: ")
            if data == b"[DONE]" or not data.startswith(b"{"):
                continue
            choices = json.loads(data).get("choices") or [{}]
            piece = choices[0].get("delta", {}).get("content")
            if piece:
                now = time.monotonic()
                ttft = ttft or now - t0
                length += len(piece)
                received.append((now, length))
    total = time.monotonic() - t0
    conn.close()
    return ttft, total, received, t0


def lags(sent: list[list[float]], received: list[tuple[float, int]]) -> list[float]:
    """For each piece the replica sent: when the client had that much text."""
    out = []
    for at, length in sent:
        got = next((t for t, n in received if n >= length), None)
        if got is not None:
            out.append(got - at)
    return out


def run(name: str, rep: Replica, call, count: int, gap: float = 0) -> list[str]:  # type: ignore
    ttfts, totals, first_lags, all_lags, before = [], [], [], [], []
    for i in range(count + 2):
        time.sleep(gap)  # a client's pause: the instance opens the next chat meanwhile
        ttft, total, received, t0 = call(f"[nothink] bench {name} {i}")
        seen = harness.last_request(rep)
        sent = seen["sent"]
        if i < 2:
            continue  # warm-up
        pieces = lags(sent, received)
        ttfts.append(ttft * 1000)
        before.append((seen["arrived"] - t0) * 1000)
        totals.append(total * 1000)
        first_lags.append(pieces[0] * 1000)
        all_lags.extend(x * 1000 for x in pieces)
    return [
        name,
        f"{median(ttfts):.1f}",
        f"{pct(ttfts, 90):.1f}",
        f"{median(totals):.1f}",
        f"{median(before):.1f}",
        f"{median(first_lags):.2f}",
        f"{median(all_lags):.2f}",
        f"{pct(all_lags, 90):.2f}",
        str(len(sent)),
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=15)
    p.add_argument("--pace-ms", type=float, default=20)
    p.add_argument("--gap", type=float, default=1.0, help="pause before each request, last row")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mictl-bench-"))
    rep = harness.replica(tmp, pace_ms=args.pace_ms)
    procs = []
    try:
        profile = harness.profile(tmp / "bench.json")
        bundled = Path(__file__).resolve().parents[1] / "instance_runner/sites/aistudio.toml"
        dom = tmp / "aistudio-dom.toml"
        text = bundled.read_text()
        dom.write_text(text.replace('[stream]\nsource = "network"', '[stream]\nsource = "dom"'))
        net_proc, net_port = harness.instance(tmp, rep, "net", profile)
        procs.append(net_proc)
        dom_proc, dom_port = harness.instance(tmp, rep, "dom", profile, ["--site", str(dom)])
        procs.append(dom_proc)
        rows = [
            run("replica API, direct", rep, lambda q: direct(rep, q), args.requests),
            run("mictl, network source", rep, lambda q: through(net_port, q), args.requests),
            run("mictl, DOM source", rep, lambda q: through(dom_port, q), args.requests),
            run(
                f"mictl, network, {args.gap:g} s between requests",
                rep,
                lambda q: through(net_port, q),
                args.requests,
                args.gap,
            ),
        ]
    finally:
        for proc in procs:
            proc.stop()
        rep.stop()
    header = [
        "path",
        "TTFT p50 ms",
        "TTFT p90",
        "total p50 ms",
        "to the site's request p50",
        "1st piece lag p50",
        "piece lag p50",
        "piece lag p90",
        "pieces",
    ]
    print(f"{args.requests} requests each, the replica pacing pieces {args.pace_ms:g} ms apart")
    print(table(header, rows))
    direct_first, net_first, dom_first = (float(r[5]) for r in rows[:3])
    direct_piece, net_piece, dom_piece = (float(r[6]) for r in rows[:3])
    print(
        f"added by mictl to the first piece: network {net_first - direct_first:+.2f} ms, "
        f"DOM {dom_first - direct_first:+.2f} ms; per piece: network "
        f"{net_piece - direct_piece:+.2f} ms, DOM {dom_piece - direct_piece:+.2f} ms"
    )


if __name__ == "__main__":
    main()
