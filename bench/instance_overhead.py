"""What mictl-instance adds per request: the AI Studio replica's API called
directly against the same replica driven through mictl-instance (aistudio.toml
as bundled: the network source, with one tab and with two; and a copy
reading the DOM instead).

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
from typing import Any

from _common import median, pct, table
from _floor import HOPS, floor
from _hops import FIRST, PIECE, hops

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
    for at, length, _ in sent:
        got = next((t for t, n in received if n >= length), None)
        if got is not None:
            out.append(got - at)
    return out


def timeline(port: int) -> list[list[Any]]:
    """The instance's marks of its last request (mictl-instance --timeline)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/debug/timeline")
    marks = json.loads(conn.getresponse().read())["marks"]
    conn.close()
    return marks


def run(  # type: ignore[no-untyped-def]
    name: str, rep: Replica, call, count: int, gap: float = 0, port: int | None = None
) -> tuple[list[str], dict[str, list[float]]]:
    ttfts, totals, first_lags, all_lags, before = [], [], [], [], []
    where: dict[str, list[float]] = {key: [] for key, _ in FIRST + PIECE}
    for i in range(count + 2):
        time.sleep(gap)  # a client's pause: the instance opens the next chat meanwhile
        ttft, total, received, t0 = call(f"[nothink] bench {name} {i}")
        seen = harness.last_request(rep)
        sent = seen["sent"]
        if i < 2:
            continue  # warm-up
        if port is not None:
            for key, values in hops(t0, sent, received, timeline(port)).items():
                where[key].extend(values)
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
    ], where


def verdict(value: float, target: float) -> str:
    return f"{value:+.2f} ms ({'meets' if value <= target else 'over'} the {target:g} ms target)"


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
        dom = harness.dom_site(tmp)
        net_proc, net = harness.instance(tmp, rep, "net", profile, ["--timeline"])
        procs.append(net_proc)
        dom_proc, dom_port = harness.instance(tmp, rep, "dom", profile, ["--site", str(dom)])
        procs.append(dom_proc)
        tabs_proc, tabs = harness.instance(tmp, rep, "tabs", profile, ["--timeline", "--tabs", "2"])
        procs.append(tabs_proc)
        gapped = f"mictl, network, {args.gap:g} s between requests"
        two_tabs = "mictl, network, two tabs (--tabs 2)"
        results = [
            run("replica API, direct", rep, lambda q: direct(rep, q), args.requests),
            run("mictl, network source", rep, lambda q: through(net, q), args.requests, port=net),
            run("mictl, DOM source", rep, lambda q: through(dom_port, q), args.requests),
            run(gapped, rep, lambda q: through(net, q), args.requests, args.gap, port=net),
            run(two_tabs, rep, lambda q: through(tabs, q), args.requests, port=tabs),
        ]
        for proc in procs:
            proc.stop()
        floor_split = floor(rep, tmp, args.requests, args.gap)
    finally:
        for proc in procs:
            proc.stop()
        rep.stop()
    rows = [row for row, _ in results]
    floor_ttfts = [split["ttft"] for split in floor_split]
    floor_name = "browser floor: the page's request from a bare script"
    rows.append(
        [floor_name, f"{median(floor_ttfts):.1f}", f"{pct(floor_ttfts, 90):.1f}"] + ["-"] * 6
    )
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
    print("\nnetwork source, where the time goes (p50, ms; one clock: replica, Chromium, instance)")
    hop_rows = [
        [row[0].removeprefix("mictl, "), *(f"{median(where[key]):.2f}" for key, _ in FIRST + PIECE)]
        for row, where in (results[1], results[3], results[4])
    ]
    print(table(["path", *(title for _, title in FIRST + PIECE)], hop_rows))
    base, dom_row = rows[0], rows[2]
    for row, where in (results[1], results[3], results[4]):
        ttft = float(row[1]) - float(base[1])
        page = float(row[4]) - float(base[4])
        tap = float(row[5]) - float(base[5])
        piece = float(row[6]) - float(base[6])
        own = median(where["mictl"]) - float(base[6])
        # Time after the first token, less the direct call's, per piece: what
        # the stream as a whole adds for each delta (lags that do not add up).
        stream = (float(row[3]) - float(row[1])) - (float(base[3]) - float(base[1]))
        print(
            f"\n{row[0]}: added to TTFT p50 {ttft:+.1f} ms, of which page work before the "
            f"site's request {page:+.1f} ms and the tap's first piece {verdict(tap, 15)}; "
            f"added per piece p50 {verdict(piece, 1)}, of which instance -> client "
            f"{verdict(own, 1)}; the stream after the first token adds "
            f"{verdict(stream / int(row[8]), 1)} per delta"
        )
    floor_ms = median(floor_ttfts)
    print(
        f"\nbrowser floor (the page's request from a bare page script, {args.gap:g} s apart, "
        f"the same tap): TTFT p50 {floor_ms:.1f} ms, {floor_ms - float(base[1]):+.1f} over "
        f"the direct call; the network source with pauses is {float(rows[3][1]) - floor_ms:+.1f} "
        "ms over it (typing, clicking and the site's own page work)"
    )
    whole = [split for split in floor_split if len(split) == len(HOPS)]
    print("\nbrowser floor, where its time goes (p50, ms; one clock)")
    cells = [f"{median([split[key] for split in whole]):.2f}" if whole else "-" for key, _ in HOPS]
    print(table([title for _, title in HOPS], [cells]))
    print(
        f"DOM source: first piece {float(dom_row[5]) - float(base[5]):+.2f} ms, "
        f"per piece {float(dom_row[6]) - float(base[6]):+.2f} ms"
    )


if __name__ == "__main__":
    main()
