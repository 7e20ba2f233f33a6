"""Many instances on one host: one mictld, the demo site, and N demo instances
(real Chromium each, N copies of auth_profiles/saved/demo-a.json), for each N
of --sizes, in one run:

- time from the daemon's start until all N are routable;
- PSS of everything (daemon + demo site + instances) and per instance (the
  runner's whole tree: driver and Chromium included);
- the daemon's own CPU while idle with N programs (utime + stime from
  /proc/PID/stat over --idle seconds, 30 by default: six rounds of health
  probes; nothing reads /metrics meanwhile, so no memory sample), in % of a
  core: its own time, whatever else loads the machine;
- `mictl status` (the whole CLI process, wall time, Python's start-up
  included; and its CPU time, which the machine's load changes less) and one
  raw GET /v1/programs, median of 5 after one warm-up. The
  CLI runs with bytecode caching on, as an installed mictl has it (pip writes
  .pyc files at install; under PYTHONDONTWRITEBYTECODE every run would
  compile mictl's own modules from source again);
- the router's added p50 latency with N backends: sequential non-streamed
  requests through the front port and straight to one instance (the one the
  front picks: strategy primary_first), alternated, as the median of the
  paired differences: for real answers (with the direct requests' spread: a
  browser's answer varies by far more than the router adds), and for 200
  requests the instance refuses at once (`n = 2`), which leave only the
  router's own cost.

    .venv/bin/python bench/scale.py [--sizes 10,20,40]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median, pct, table

from common.instance_auth import key_path, read_key
from ctl.client import Client, DaemonUnreachable
from daemon.supervise import orphans
from tests.helpers import BIN, DEMO_PROFILES, descendants, free_port, free_port_block

try:
    from daemon.config.fleet import FleetSection
except ImportError:  # a mictl from before the start-up ramp
    FleetSection = None  # type: ignore[assignment,misc]

TICK = os.sysconf("SC_CLK_TCK")
MB_PER_INSTANCE_GUESS = 400  # to refuse a size the machine cannot hold


def config_text(root: Path, n: int, site: int, front: int, max_starting: int) -> str:
    # The start-up ramp ([fleet] max_starting; 0 = twice the cores).
    fleet = f"[fleet]\nmax_starting = {max_starting}\n" if FleetSection else ""
    return f"""{fleet}
[daemon]
socket = "{root}/mictl.sock"
state_dir = "{root}/state"
log_dir = "{root}/log"

[profiles]
dir = "{root}/profiles"
base_port = {free_port_block(n + 5)}
site = "demo"

[profiles.program]
startsecs = 2
autorestart = "true"
killasgroup = true
stopwaitsecs = 15
priority = 500
environment = {{ MICTL_SITE_URL = "http://127.0.0.1:{site}/" }}

[programs.demo-site]
command = "{BIN}/mictl-demo-site --port {site}"
priority = 100
startsecs = 1

[router]
host = "127.0.0.1"
port = {front}
# Sequential requests all go to demo-00 while it is free, so that the front
# and the direct requests meet the same browser (a page's first answers are
# slower: spread over N cold pages, that would be measured instead of the
# router); picking still filters all N backends.
strategy = "primary_first"
priorities = {{ demo-00 = 1 }}
"""


def ramp(max_starting: int) -> str:
    if FleetSection is None:
        return "no start-up ramp in this mictl"
    limit = FleetSection(max_starting=max_starting).starting_limit()
    return f"[fleet] max_starting = {max_starting} ({limit} warming up at once)"


def pss_mb(pids: list[int]) -> float:
    kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return kb / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def post(conn: http.client.HTTPConnection, body: bytes, want: int = 200) -> float:
    t0 = time.perf_counter()
    headers = {"Content-Type": "application/json", **getattr(conn, "mictl_headers", {})}
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != want or (want == 400 and FAST_PATH_ERROR not in data):
        raise RuntimeError(f"{resp.status}: {data[:200]!r}")
    return time.perf_counter() - t0


# A request the instance itself refuses at once (no browser work), after the
# front has picked a backend and forwarded it: the router's own cost with N
# backends, without a browser's answer time (which varies by +-100 ms here).
FAST_PATH = {"model": "demo-fast", "n": 2, "messages": [{"role": "user", "content": "x"}]}
FAST_PATH_ERROR = b"n is not supported"


def paired(
    via_front: http.client.HTTPConnection,
    direct: http.client.HTTPConnection,
    bodies: list[bytes],
    want: int = 200,
) -> tuple[list[float], list[float]]:
    """Each body through the front and straight to the instance, alternating
    which goes first (a page's second question in a row may differ)."""
    fronted, straight = [], []
    for i, body in enumerate(bodies):
        if i % 2:
            s, f = post(direct, body, want), post(via_front, body, want)
        else:
            f, s = post(via_front, body, want), post(direct, body, want)
        if i >= 2:  # the first two warm connections and pages up
            fronted.append(f)
            straight.append(s)
    return fronted, straight


def added_ms(fronted: list[float], straight: list[float]) -> float:
    """The median of paired differences: the machine's drift cancels."""
    return median([f - s for f, s in zip(fronted, straight, strict=True)]) * 1000


def run(n: int, idle_s: float, requests: int, max_starting: int) -> list[str]:
    root = Path(tempfile.mkdtemp(prefix=f"mictl-scale-{n}-"))
    profiles = root / "profiles"
    profiles.mkdir()
    demo = (DEMO_PROFILES / "demo-a.json").read_text()
    for i in range(n):
        (profiles / f"demo-{i:02}.json").write_text(demo)
    site, front = free_port(), free_port()
    (root / "mictl.toml").write_text(config_text(root, n, site, front, max_starting))
    out = open(root / "mictld.out", "wb")  # noqa: SIM115
    started = time.monotonic()
    daemon = subprocess.Popen(
        [str(BIN / "mictld"), "-c", str(root / "mictl.toml")], stdout=out, stderr=subprocess.STDOUT
    )
    out.close()
    client = Client(str(root / "mictl.sock"), timeout=60)
    try:

        def routable() -> int:
            if daemon.poll() is not None:
                raise RuntimeError(f"mictld exited: {(root / 'mictld.out').read_text()[-2000:]}")
            try:
                return sum(b["routable"] for b in client.call("GET", "/v1/backends", list))
            except (OSError, DaemonUnreachable):
                return 0

        deadline = started + 600
        while routable() < n:  # 5 polls a second: polling costs the daemon CPU too
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all {n} routable after 600 s")
            time.sleep(0.2)
        to_routable = time.monotonic() - started
        programs = client.call("GET", "/v1/programs", list)
        time.sleep(5)  # memory settles after the first page loads
        trees = {p["name"]: descendants(p["pid"]) for p in programs if p["pid"]}
        instances = [pss_mb(pids) for name, pids in trees.items() if name != "demo-site"]
        total = pss_mb([daemon.pid]) + sum(pss_mb(pids) for pids in trees.values())

        cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(idle_s)  # idle: measuring is the point
        idle_cpu = (cpu_seconds(daemon.pid) - cpu0) / (time.monotonic() - t0) * 100

        ctl = [str(BIN / "mictl"), "--socket", str(root / "mictl.sock"), "status"]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(ctl, capture_output=True, check=True, env=env)  # warm-up: .pyc files
        cli, cli_cpu, raw = [], [], []
        for _ in range(5):
            t, before = time.perf_counter(), os.times()
            subprocess.run(ctl, capture_output=True, check=True, env=env)
            cli.append(time.perf_counter() - t)
            after = os.times()
            cli_cpu.append(
                after.children_user + after.children_system
                - before.children_user - before.children_system
            )  # fmt: skip
            t = time.perf_counter()
            client.call("GET", "/v1/programs", list)
            raw.append(time.perf_counter() - t)

        direct_port = next(p["port"] for p in programs if p["name"] == "demo-00")
        via_front = http.client.HTTPConnection("127.0.0.1", front, timeout=60)
        direct = http.client.HTTPConnection("127.0.0.1", direct_port, timeout=60)
        # An instance port answers only mictld: its key, as mictld sends it.
        key = read_key(key_path(str(root / "state"), "demo-00"))
        direct.mictl_headers = {"Authorization": f"Bearer {key}"}  # type: ignore[attr-defined]
        bodies = [
            json.dumps(
                {"model": "demo-fast", "messages": [{"role": "user", "content": f"q {i}"}]}
            ).encode()
            for i in range(requests + 2)
        ]
        fronted, straight = paired(via_front, direct, bodies)
        fast = paired(via_front, direct, [json.dumps(FAST_PATH).encode()] * 202, want=400)
        via_front.close()
        direct.close()
        spread = pct(straight, 75) - pct(straight, 25)
        return [
            str(n),
            f"{to_routable:.1f}",
            f"{total:,.0f}",
            f"{median(instances):.0f}",
            f"{idle_cpu:.2f}",
            f"{median(cli) * 1000:.0f} / {median(cli_cpu) * 1000:.0f} ({median(raw) * 1000:.1f})",
            f"{median(straight) * 1000:.0f}",
            f"{added_ms(fronted, straight):+.0f} (IQR {spread * 1000:.0f})",
            f"{added_ms(*fast):+.2f} ({median(fast[1]) * 1000:.2f})",
        ]
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(120)
        except subprocess.TimeoutExpired:
            daemon.kill()
        orphans.cleanup(str(root / "state"), timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,20,40", help="instance counts, comma-separated")
    # 30 s: six rounds of health probes, and 3000 clock ticks (0.03 % steps).
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU sampling")
    parser.add_argument("--requests", type=int, default=30, help="sequential requests each way")
    parser.add_argument(
        "--max-starting", type=int, default=0, help="[fleet] max_starting (0 = twice the cores)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        if n * MB_PER_INSTANCE_GUESS > available_mb():
            print(f"skipping N={n}: {available_mb():,.0f} MB available", file=sys.stderr)
            continue
        print(f"N={n}...", file=sys.stderr, flush=True)
        try:
            rows.append(run(n, args.idle, args.requests, args.max_starting))
        except RuntimeError as exc:  # one size failing keeps the others' figures
            print(f"N={n} failed: {exc}", file=sys.stderr)
            continue
        print("  " + "  ".join(rows[-1]), file=sys.stderr, flush=True)
    load = " / ".join(f"{a:.1f}" for a in load_before)
    after = " / ".join(f"{a:.1f}" for a in os.getloadavg())
    print(
        f"\nmictld + demo site + N demo instances (headless Chromium each), "
        f"{os.cpu_count()} CPUs, {ramp(args.max_starting)}, load average (1/5/15 min) "
        f"{load} at the start, {after} at the end\n"
    )
    header = [
        "N",
        "all routable (s)",
        "PSS total (MB)",
        "PSS/instance (MB)",
        "daemon idle CPU (%)",
        "mictl status ms, wall / CPU (raw)",
        "answer direct p50 (ms)",
        "router adds (direct IQR)",
        "router adds, fast path (direct)",
    ]
    print(table(header, rows))


if __name__ == "__main__":
    main()
