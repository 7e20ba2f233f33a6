"""`mictl status` as an operator runs it: the whole CLI process (Python's
start-up included), with N `sleep` programs under one mictld (issue 15: under
100 ms with 40 on a 2-core machine). Wall and CPU time, median of --runs
after one warm-up run each (bytecode caches written); the commands take turns
run by run, so load that comes and goes hits them alike.

Rows: each --mictl script (default: this venv's; add a wheel install's), its
click path (`python -c "from ctl.cli import main; main()"`, what `mictl
status` ran before ctl/entry.py), and its `python -c pass`: the
interpreter's own start-up (a development install's editable-import finder
included).

    .venv/bin/python bench/status_time.py [--programs 40] [--runs 12] [--mictl PATH]...

A wheel install to compare (no editable-import finder at start-up; a current
pip, whose console scripts do not import re):

    python3 -m venv /tmp/w && /tmp/w/bin/pip install -U pip && /tmp/w/bin/pip install .
    .venv/bin/python bench/status_time.py --mictl .venv/bin/mictl --mictl /tmp/w/bin/mictl
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _common import median, table

from tests.helpers import BIN, Mictld, wait_until


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `argv` (which must succeed)."""
    before, t = os.times(), time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    wall = time.perf_counter() - t
    after = os.times()
    cpu = after.children_user + after.children_system
    return wall, cpu - before.children_user - before.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--programs", type=int, default=40)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--mictl", action="append", help="a mictl script (repeatable)")
    args = parser.parse_args()
    scripts = args.mictl or [str(BIN / "mictl")]
    body = "".join(
        f'[programs.p{i:02}]\ncommand = "sleep 3600"\nstartsecs = 0\n' for i in range(args.programs)
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Mictld(Path(tmp), body)
        d.start()
        try:
            wait_until(lambda: all(p.state == "RUNNING" for p in d.programs().values()), 60)
            sock = ["--socket", str(d.socket), "status"]
            commands = {f"{script} status": [script, *sock] for script in scripts}
            for script in scripts:
                python = Path(script).with_name("python")
                commands[f"{python} -c <click path> status"] = [
                    str(python), "-c", "from ctl.cli import main; main()", *sock
                ]  # fmt: skip
                commands[f"{python} -c pass"] = [str(python), "-c", "pass"]
            load_before = os.getloadavg()
            for argv in commands.values():
                timed(argv)  # warm-up
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, argv in commands.items():
                    samples[name].append(timed(argv))
            load_after = os.getloadavg()
        finally:
            d.cleanup()
    rows = [
        [
            name,
            f"{median([w for w, _ in s]) * 1000:.0f}",
            f"{median([c for _, c in s]) * 1000:.0f}",
            f"{min(w for w, _ in s) * 1000:.0f}-{max(w for w, _ in s) * 1000:.0f}",
        ]
        for name, s in samples.items()
    ]
    load = " -> ".join(" / ".join(f"{a:.2f}" for a in la) for la in (load_before, load_after))
    print(
        f"{args.programs} programs, {args.runs} runs each, {os.cpu_count()} CPUs, "
        f"load average (1/5/15 min) {load}\n"
    )
    print(table(["command", "wall median (ms)", "CPU median (ms)", "wall range (ms)"], rows))


if __name__ == "__main__":
    main()
