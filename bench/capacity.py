"""Answers per minute and memory of one account with N pages (`--tabs N`)
against N separate instances of one page, on the AI Studio replica in real
Chromium (the bundled aistudio.toml, unchanged).

Every answer has the same length and streams at the replica's pace (150 ms a
piece by default: about 3 s an answer, as a real site's short answer); N
clients each send their next request as soon as the last one is answered (and
checked). PSS is summed over each runner's whole process tree (runner,
Playwright's driver, Chromium and its helpers), sampled under load.

    .venv/bin/python bench/capacity.py [--seconds 30] [--tabs 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
from _common import median, table

from tests.helpers import Proc, descendants
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import DEFAULT_MODEL, answer
from tests.replicas.tls import Replica


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_mb(procs: list[Proc]) -> float:
    return sum(pss_kb(p) for proc in procs for p in descendants(proc.proc.pid)) / 1024


def pages(port: int) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return list(json.loads(r.read()).get("pages", []))
    except urllib.error.HTTPError as exc:
        return list(json.loads(exc.read()).get("pages", []))
    except OSError:
        return []


def start(rep: Replica, name: str, tabs: int) -> tuple[Proc, int]:
    profile = harness.profile(rep.tmp / f"{name}.json")
    proc, port = harness.instance(rep.tmp, rep, name, profile, ["--tabs", str(tabs)])
    deadline = time.monotonic() + 180
    while pages(port) != ["free"] * tabs:
        if time.monotonic() > deadline or proc.proc.poll() is not None:
            raise SystemExit(f"{name}: its {tabs} pages never came up:\n{proc.output()[-2000:]}")
        time.sleep(0.2)
    return proc, port


async def load(ports: list[int], seconds: float, procs: list[Proc]) -> tuple[int, list[float]]:
    """One client per port in `ports` (a port twice: two clients), each
    asking back to back for `seconds`: answers finished in time, PSS samples."""
    deadline = time.monotonic() + seconds
    done = [0]
    samples: list[float] = []

    async def client(port: int, worker: int) -> None:
        base = f"http://127.0.0.1:{port}/v1"
        async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0, timeout=120) as c:
            i = 0
            while time.monotonic() < deadline:
                prompt = f"[nothink] [slow] bench {worker:02d} {i:06d}"
                got = await c.chat.completions.create(
                    model=DEFAULT_MODEL, messages=[{"role": "user", "content": prompt}]
                )
                if got.choices[0].message.content != answer(DEFAULT_MODEL, prompt):
                    raise SystemExit(f"a wrong answer to {prompt!r}")
                if time.monotonic() <= deadline:
                    done[0] += 1
                i += 1

    async def sample() -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            samples.append(await asyncio.to_thread(pss_mb, procs))

    await asyncio.gather(*(client(p, w) for w, p in enumerate(ports)), sample())
    return done[0], samples


def measure(rep: Replica, label: str, tabs: int, instances: int, seconds: float) -> dict:
    started = [start(rep, f"{label}-{tabs}x{instances}-{i}", tabs) for i in range(instances)]
    procs = [p for p, _ in started]
    try:
        ports = [port for _, port in started for _ in range(tabs)]
        answers, samples = asyncio.run(load(ports, seconds, procs))
    finally:
        for p in procs:
            p.stop()
    return {"answers": answers, "per_min": answers * 60 / seconds, "pss": median(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="of load per setup")
    parser.add_argument("--tabs", default="1,2,4", help="the Ns to compare")
    parser.add_argument("--pace-ms", type=float, default=5.0, help="the replica's base pace")
    args = parser.parse_args()
    ns = [int(n) for n in args.tabs.split(",")]
    with tempfile.TemporaryDirectory() as d:
        rep = harness.replica(Path(d), pace_ms=args.pace_ms)
        try:
            tabs = {n: measure(rep, "tabs", n, 1, args.seconds) for n in ns}
            separate = {n: measure(rep, "inst", 1, n, args.seconds) for n in ns if n > 1}
        finally:
            rep.stop()
    one = tabs[min(ns)]
    rows = []
    for n in ns:
        t = tabs[n]
        extra = (t["pss"] - one["pss"]) / (n - 1) if n > 1 else 0.0
        rows.append(
            [
                f"1 instance, {n} tab{'s' if n > 1 else ''}",
                str(t["answers"]),
                f"{t['per_min']:.1f}",
                f"{t['per_min'] / one['per_min']:.2f}x",
                f"{t['pss']:.0f}",
                f"{extra:.0f} ({extra / one['pss']:.2f} of an instance)" if n > 1 else "-",
            ]
        )
        if n in separate:
            s = separate[n]
            rows.append(
                [
                    f"{n} instances, 1 tab each",
                    str(s["answers"]),
                    f"{s['per_min']:.1f}",
                    f"{s['per_min'] / one['per_min']:.2f}x",
                    f"{s['pss']:.0f}",
                    f"{(s['pss'] - one['pss']) / (n - 1):.0f} per extra instance",
                ]
            )
    print(
        f"one account on the AI Studio replica, answers of a fixed length "
        f"([slow]: 150 ms a piece), {args.seconds:.0f}s of back-to-back requests per setup, "
        "one client per page\n"
    )
    print(
        table(
            ["setup", "answers", "per minute", "vs 1 tab", "PSS (MB)", "each extra tab (MB)"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
