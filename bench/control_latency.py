"""Control-plane latency with 100 programs: `mictl status --json` (whole CLI
process) and one raw status request over the Unix socket, beside
`supervisorctl status` and one XML-RPC getAllProcessInfo to supervisord with
the same 100 programs, in the same run.

    .venv/bin/python bench/control_latency.py [--programs 100] [--runs 50]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import median, pct, table

from ctl.client import Client
from tests.helpers import BIN, Mictld, wait_until
from tests.oracle import Supervisord


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--programs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    n, runs = args.programs, args.runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        body = "\n".join(
            f'[programs.p{i:03}]\ncommand = "sleep 3600"\nstartsecs = 0\n' for i in range(n)
        )
        d = Mictld(root / "mictld", body)
        sv = Supervisord(
            root / "supervisord",
            {f"p{i:03}": {"command": "sleep 3600", "startsecs": "0"} for i in range(n)},
        )
        d.start()
        sv.start()
        try:
            wait_until(lambda: all(p.state == "RUNNING" for p in d.programs().values()), 60)
            wait_until(
                lambda: all(p["statename"] == "RUNNING" for p in sv.call("getAllProcessInfo")), 60
            )
            client = Client(str(d.socket))
            mictl = [str(BIN / "mictl"), "--socket", str(d.socket), "status", "--json"]
            ctl = [str(BIN / "supervisorctl"), "-c", str(sv.config), "status"]
            results = {
                "mictl status --json": timed(
                    lambda: subprocess.run(mictl, capture_output=True, check=True), runs
                ),
                "raw GET /v1/programs (UDS)": timed(
                    lambda: client.call("GET", "/v1/programs", list), runs
                ),
                "supervisorctl status": timed(
                    lambda: subprocess.run(ctl, capture_output=True), runs
                ),
                "XML-RPC getAllProcessInfo": timed(lambda: sv.call("getAllProcessInfo"), runs),
            }
        finally:
            d.cleanup()
            sv.stop()
    rows = [
        [name, f"{median(s) * 1000:.2f}", f"{pct(s, 99) * 1000:.2f}"] for name, s in results.items()
    ]
    print(f"{n} programs, {runs} runs each (milliseconds, wall time)\n")
    print(table(["request", "median", "p99"], rows))


if __name__ == "__main__":
    sys.exit(main())
