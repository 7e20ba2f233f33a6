"""Router overhead: requests/s and latency through mictl's front router
against direct-to-upstream, with the same two fast fake OpenAI upstreams, in
one run; stream and non-stream; plus the added latency at low load. LiteLLM's
proxy is measured too where it is installed (pass --litellm PATH_TO_LITELLM).

    .venv/bin/python bench/router_overhead.py [--seconds 5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import median, pct, table

from tests.helpers import Mictld, Proc, free_port, port_open, wait_until

FAKE = Path(__file__).with_name("fast_upstream.py")
WRK = shutil.which("wrk")
BODY = json.dumps({"model": "m1", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM_BODY = json.dumps(
    {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
).encode()


async def load(
    urls: list[str], body: bytes, seconds: float, concurrency: int, stream: bool
) -> tuple[float, list[float], int]:
    """Closed-loop load: `concurrency` workers sending back to back."""
    latencies: list[float] = []
    errors = 0
    cycle = itertools.cycle(urls)
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.post(next(cycle), data=body, headers=headers) as r:
                        if stream:
                            async for _ in r.content.iter_any():
                                pass
                        else:
                            await r.read()
                        if r.status != 200:
                            errors += 1
                            continue
                except aiohttp.ClientError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return len(latencies) / elapsed, latencies, errors


def wrk(
    url: str, body: bytes, seconds: float, connections: int, tmp: Path
) -> tuple[float, float, float, int]:
    """wrk (C, one thread) as the load: req/s, p50 ms, p99 ms, errors."""
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-bench"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
    )
    out = subprocess.run(
        [
            WRK or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        value = next(line.split()[1] for line in out.splitlines() if line.strip().startswith(label))
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        unit = value.lstrip("0123456789.")
        return float(value[: -len(unit)]) * factor[unit]

    rps = float(
        next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
    )
    errors = sum(
        int(n) for line in out.splitlines() if "Non-2xx" in line for n in line.split()[-1:]
    )
    return rps, ms("50%"), ms("99%"), errors


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    name: str, urls: list[str], args: argparse.Namespace, tmp: Path, pid: int | None = None
) -> list[list[str]]:
    """One row per mode; `pid` is the proxy whose CPU per request is reported
    (steadier than req/s on a machine whose cores everything shares)."""
    rows = []
    for stream in (False, True):
        body = STREAM_BODY if stream else BODY
        if WRK and len(urls) == 1:
            wrk(urls[0], body, 1, args.concurrency, tmp)  # warm up
            cpu0 = cpu_seconds(pid)
            rps, p50, p99, errors = wrk(urls[0], body, args.seconds, args.concurrency, tmp)
            cpu = cpu_seconds(pid) - cpu0
            _, low, _, _ = wrk(urls[0], body, 2, 1, tmp)
        else:
            asyncio.run(load(urls, body, 1.0, args.concurrency, stream))  # warm up
            cpu0 = cpu_seconds(pid)
            rps, lat, errors = asyncio.run(load(urls, body, args.seconds, args.concurrency, stream))
            cpu = cpu_seconds(pid) - cpu0
            _, lows, _ = asyncio.run(load(urls, body, 2.0, 1, stream))
            p50, p99, low = median(lat) * 1000, pct(lat, 99) * 1000, median(lows) * 1000
        per_request = cpu / max(1.0, rps * args.seconds) * 1e6
        rows.append(
            [
                name,
                "stream" if stream else "plain",
                f"{rps:,.0f}",
                f"{p50:.2f}",
                f"{p99:.2f}",
                f"{low:.3f}",
                f"{per_request:.0f}" if pid else "-",
                str(errors),
            ]
        )
    return rows


def start_litellm(litellm: str, upstreams: list[str], tmp: Path) -> tuple[Proc, str]:
    port = free_port()
    config = tmp / "litellm.yaml"
    entries = "".join(
        f"  - model_name: m1\n    litellm_params:\n      model: openai/m1\n"
        f"      api_base: {u}\n      api_key: x\n"
        for u in upstreams
    )
    config.write_text("model_list:\n" + entries)
    config.write_text(config.read_text() + "general_settings:\n  master_key: sk-bench\n")
    proc = Proc([litellm, "--config", str(config), "--port", str(port)], tmp / "litellm.log")
    wait_until(lambda: port_open(port), 120, "litellm")
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions"


def median_run(runs: list[list[list[str]]]) -> list[list[str]]:
    """Per mode, the row of the run with the median req/s (runs here vary by
    a third: one run proves little)."""
    rows = []
    for mode in range(len(runs[0])):
        ranked = sorted((run[mode] for run in runs), key=lambda r: float(r[2].replace(",", "")))
        row = list(ranked[len(ranked) // 2])
        if len(runs) > 1:
            row[0] += f" (median of {len(runs)})"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--litellm", default=shutil.which("litellm") or "")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of direct and router; the table shows the median run",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ports = [free_port(), free_port()]
        fakes = [
            Proc([sys.executable, str(FAKE), str(p)], tmp / f"fake{i}.log")
            for i, p in enumerate(ports)
        ]
        for p in ports:
            wait_until(lambda p=p: port_open(p), 30, "fake upstream")
        upstream_urls = [f"http://127.0.0.1:{p}/v1" for p in ports]
        upstreams = "".join(
            f'[upstreams.u{i}]\nbase_url = "{u}"\nmodels = ["m1"]\nmax_concurrent = 1000\n'
            for i, u in enumerate(upstream_urls)
        )
        mictld = Mictld(
            tmp / "mictld", upstreams, router='strategy = "round_robin"\nqueue_size = 10000\n'
        )
        mictld.start()
        rows: list[list[str]] = []
        try:
            # Direct: one upstream per run (wrk takes one URL); the router
            # spreads over both.
            direct = [f"{upstream_urls[0]}/chat/completions"]
            rows += median_run([measure("direct", direct, args, tmp) for _ in range(args.repeat)])
            front = [f"http://127.0.0.1:{mictld.front_port}/v1/chat/completions"]
            pid = mictld.proc.pid if mictld.proc else None
            rows += median_run(
                [measure("mictl router", front, args, tmp, pid) for _ in range(args.repeat)]
            )
            if args.litellm:
                litellm, url = start_litellm(args.litellm, upstream_urls, tmp)
                try:
                    rows += measure("LiteLLM proxy", [url], args, tmp, litellm.proc.pid)
                finally:
                    litellm.stop()
        finally:
            mictld.cleanup()
            for f in fakes:
                f.stop()
    loader = "wrk -t1" if WRK else "aiohttp (install wrk for a lighter load generator)"
    print(
        f"{args.concurrency} connections for {args.seconds:g}s each, load from {loader}; "
        f"low load = 1 connection; fast fake upstreams; {os.cpu_count()} cores shared by "
        "everything\n"
    )
    print(
        table(
            [
                "path",
                "mode",
                "req/s",
                "p50 ms",
                "p99 ms",
                "low-load p50 ms",
                "proxy CPU us/req",
                "errors",
            ],
            rows,
        )
    )
    if not args.litellm:
        print("\nLiteLLM: not installed here (pip install 'litellm[proxy]', then --litellm PATH)")


if __name__ == "__main__":
    main()
