"""Memory of each browser mode a site file can choose, against the arena replica.

For each mode (the headless shell; full Chromium in new headless mode; full
Chromium headed under Xvfb) one browser opens arena.ai's direct chat (the
replica, under its real hostname), sends three prompts through the page and
waits for each answer; then the PSS of the browser's process tree is summed
(Playwright's node driver and Xvfb apart: every mode pays the driver, and one
Xvfb serves one instance), as PSS and as USS (private memory only: PSS
shares library pages with every other Chromium on the host, so it drops as
more run; USS is what one more instance costs at least). Median of `--runs`.

    .venv/bin/python bench/browser_modes.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

from _common import median, table
from playwright.async_api import async_playwright

from instance_runner import chromium
from instance_runner.display import Xvfb
from tests.helpers import descendants
from tests.replicas.arena import harness

SHELL = "/usr/lib/chromium/chromium-headless-shell"
FULL = "/usr/lib/chromium/chromium"


def mem_mb(pid: int, fields: tuple[str, ...] = ("Pss:",)) -> float:
    """Sum of smaps_rollup fields: PSS, or USS (Private_Clean + Private_Dirty)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(fields):
                total += int(line.split()[1])
    except OSError:
        pass
    return total / 1024


def pss_mb(pid: int) -> float:
    return mem_mb(pid)


def uss_mb(pid: int) -> float:
    return mem_mb(pid, ("Private_Clean:", "Private_Dirty:"))


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


async def one(
    replica: harness.Replica, exe: str, headed: bool, display: str
) -> tuple[float, float, float]:
    env = {**os.environ, "DISPLAY": display} if headed else None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=exe,
            headless=not headed,
            env=env,
            args=chromium.flags(replica.browser_args),
        )
        context = await browser.new_context(storage_state=json.loads(harness.profile("alice")))
        page = await context.new_page()
        await page.goto("https://arena.ai/text/direct")
        for i in range(3):
            await page.fill('textarea[name="message"]', f"hello {i}")
            await page.click('button[type="submit"]')
            done = "li[data-role=assistant][data-state=done]"
            await page.wait_for_function(f"document.querySelectorAll('{done}').length == {i + 1}")
        await page.wait_for_timeout(1000)  # let the answer's paint settle
        drivers = [p for p in descendants(os.getpid()) if comm(p).startswith("node")]
        driver_mb = sum(pss_mb(p) for p in drivers)
        # The browser: every process under the driver (the driver itself apart).
        tree = {p for d in drivers for p in descendants(d)} - set(drivers)
        browser_mb = sum(pss_mb(p) for p in tree)
        browser_uss = sum(uss_mb(p) for p in tree)
        await browser.close()
    return browser_mb, browser_uss, driver_mb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    modes = [("headless-shell", SHELL, False), ("headless (full Chromium)", FULL, False)]
    if shutil.which("Xvfb"):
        modes.append(("headed under Xvfb", FULL, True))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        replica = harness.start(Path(d), ["alice"])
        display = Xvfb.start() if shutil.which("Xvfb") else None
        try:
            for label, exe, headed in modes:
                runs = [
                    asyncio.run(one(replica, exe, headed, display.display if display else ""))
                    for _ in range(args.runs)
                ]
                rows.append(
                    [
                        label,
                        f"{median([r[0] for r in runs]):.0f}",
                        f"{median([r[1] for r in runs]):.0f}",
                        f"{median([r[2] for r in runs]):.0f}",
                    ]
                )
            xvfb_mb = f"{pss_mb(display.proc.pid):.0f}" if display else "-"
        finally:
            if display:
                display.stop()
            replica.stop()
    print(f"Browser modes against the arena replica (median of {args.runs} runs, PSS)\n")
    header = ["mode", "browser PSS (MB)", "browser USS (MB)", "driver PSS (MB)"]
    print(table(header, rows))
    print(f"\nXvfb itself (headed mode, one per instance): {xvfb_mb} MB")


if __name__ == "__main__":
    main()
