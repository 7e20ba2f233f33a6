"""Startup time to healthy and memory per instance: PSS summed over each
runner and its whole process tree (Playwright's driver, Chromium and all its
helpers), for 1 and 4 instances against the demo site.

    .venv/bin/python bench/instance_memory.py
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import median, table

from tests.helpers import demo_site, descendants, runner


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return json.loads(r.read())["ok"]
    except OSError:
        return False


def run(tmp: Path, site_port: int, count: int) -> tuple[list[float], list[float]]:
    started = time.monotonic()
    procs = []
    for i in range(count):
        name = "demo-a" if i % 2 == 0 else "demo-b"
        procs.append(runner(tmp, site_port, profile=name, name=f"bench-{count}-{i}", wait=False))
    times = {}
    deadline = time.monotonic() + 120
    while len(times) < count and time.monotonic() < deadline:
        for i, (_, port, _) in enumerate(procs):
            if i not in times and healthy(port):
                times[i] = time.monotonic() - started
        time.sleep(0.01)
    time.sleep(1)  # let memory settle after the first page load
    mem = [sum(pss_kb(p) for p in descendants(proc.proc.pid)) / 1024 for proc, _, _ in procs]
    for proc, _, _ in procs:
        proc.stop()
    return list(times.values()), mem


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        site, site_port = demo_site(tmp)
        try:
            rows = []
            for count in (1, 4):
                times, mem = run(tmp, site_port, count)
                rows.append(
                    [
                        str(count),
                        f"{median(times):.2f}",
                        f"{max(times):.2f}",
                        f"{median(mem):.0f}",
                        f"{sum(mem):.0f}",
                    ]
                )
        finally:
            site.stop()
    print(
        "mictl-instance against the demo site, headless shell "
        "(PSS = runner + driver + Chromium tree)\n"
    )
    print(
        table(
            [
                "instances",
                "to healthy p50 (s)",
                "max (s)",
                "PSS per instance (MB)",
                "PSS total (MB)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
