"""Run a real mictld (and real supervisord) for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ctl.client import ApiError, Client, DaemonUnreachable
from daemon.supervise import orphans
from daemon.types import ProgramInfo

T = TypeVar("T")
BIN = Path(sys.executable).parent
LISTENER = str(Path(__file__).with_name("listener.py"))


def wait_until(check: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


async def until(check: Callable[[], object], timeout: float = 30, what: str = "condition") -> None:
    """wait_until inside an event loop: yield to the loop's tasks until
    `check()` holds, or fail after `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def stays(check: Callable[[], object], seconds: float, what: str = "condition") -> None:
    """A claim about a period ("nothing restarts afterwards"): `check()` holds
    at every poll for `seconds`, failing at the first one where it does not."""
    deadline = time.monotonic() + seconds
    while True:
        if not check():
            raise AssertionError(f"{what} stopped holding")
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, IndexError):
        return False


class Mictld:
    """A real mictld process on a config written into `root`."""

    def __init__(
        self,
        root: Path,
        body: str = "",
        *,
        base_port: int | None = None,
        router: str | None = None,
        health: str = "",
        command: str | None = None,
    ) -> None:
        self.root = root
        self.config = root / "mictl.toml"
        self.socket = root / "run" / "mictl.sock"
        self.profiles = root / "profiles"
        self.profiles.mkdir(parents=True, exist_ok=True)
        self.base_port = base_port or free_port_block()
        self.front_port = free_port()
        command = command or f"{sys.executable} {LISTENER} {{port}}"
        head = textwrap.dedent(f"""
            [daemon]
            socket = "run/mictl.sock"
            state_dir = "state"
            log_dir = "log"
            [profiles]
            dir = "profiles"
            base_port = {self.base_port}
            command = "{command}"
        """)
        if router is None:
            head += "[router]\nenabled = false\n"
        else:
            head += f"[router]\nport = {self.front_port}\n" + textwrap.dedent(router)
            head += "\n[health]\ninterval = 0.2\ntimeout = 1\n" + textwrap.dedent(health)
        self.write_config(head + textwrap.dedent(body))
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = Client(str(self.socket), timeout=120)

    def write_config(self, text: str) -> None:
        self.config.write_text(text)

    def add_profile(self, name: str, content: str = '{"cookies": [], "origins": []}') -> None:
        (self.profiles / f"{name}.json").write_text(content)

    def start_with(self, *names: str) -> Mictld:
        """Add a profile for each name, start the daemon, wait until all run."""
        for name in names:
            self.add_profile(name)
        self.start()
        for name in names:
            self.wait_state(name, "RUNNING")
        return self

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> Mictld:
        log = open(self.root / "mictld.out", "ab")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(
            [str(BIN / "mictld"), "-c", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        log.close()
        if wait:
            wait_until(self.reachable, 30, "mictld's control socket")
        return self

    def reachable(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"mictld exited {self.proc.returncode}:\n{self.output()}")
        try:
            self.client.call("GET", "/v1/daemon", dict)
            return True
        except (DaemonUnreachable, ConnectionError):
            return False

    def output(self) -> str:
        path = self.root / "mictld.out"
        return path.read_text() if path.exists() else ""

    def programs(self) -> dict[str, ProgramInfo]:
        return {p.name: p for p in self.client.call("GET", "/v1/programs", list[ProgramInfo])}

    def program(self, name: str) -> ProgramInfo:
        return self.client.call("GET", f"/v1/programs/{name}", ProgramInfo)

    def wait_state(self, name: str, state: str, timeout: float = 30) -> ProgramInfo:
        def check() -> ProgramInfo | None:
            try:
                info = self.program(name)
            except ApiError:  # not there yet (a reload will add it)
                return None
            return info if info.state == state else None

        return wait_until(check, timeout, f"{name} to be {state}")

    def ctl(self, *args: str, check: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "mictl"), "--socket", str(self.socket), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            **kw,
        )

    def stop(self, timeout: float = 60) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code

    def kill(self) -> None:
        """SIGKILL the daemon only: its programs are left behind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=30)
        orphans.cleanup(str((self.root / "state").resolve()), timeout=5)


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Blocks for supervised programs are taken below the kernel's ephemeral range,
# so that no client socket or free_port() can take one of them meanwhile.
_PORT_LOW = 15000
_PORT_HIGH = _ephemeral_floor() - 100
_next_port = [_PORT_LOW + (os.getpid() % 50) * 200]


def free_port_block(size: int = 60) -> int:
    """A base port with `size` free ports after it (tests run in one process)."""
    while True:
        base = _next_port[0]
        _next_port[0] += size
        if _next_port[0] > _PORT_HIGH:
            _next_port[0] = _PORT_LOW
        if not any(port_open(p) for p in range(base, base + size)):
            return base


@contextlib.contextmanager
def running(root: Path, body: str = "", **kw: Any) -> Iterator[Mictld]:
    d = Mictld(root, body, **kw)
    try:
        yield d
    finally:
        d.cleanup()


REPO = Path(__file__).resolve().parents[1]
DEMO_PROFILES = REPO / "auth_profiles" / "saved"


class Proc:
    """A real child process (demo site, instance runner) with its output in a file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        out = open(log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        out.close()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its browser too
        return self.proc.wait()


def demo_site(tmp: Path, pace_ms: float = 5) -> tuple[Proc, int]:
    port = free_port()
    site = Proc(
        [str(BIN / "mictl-demo-site"), "--port", str(port), "--pace-ms", str(pace_ms)],
        tmp / "demo-site.log",
    )
    wait_until(lambda: port_open(port), 30, "the demo site")
    return site, port


def runner(
    tmp: Path,
    site_port: int,
    *,
    profile: str = "demo-a",
    name: str | None = None,
    site: str = "demo",
    extra: list[str] | None = None,
    wait: bool = True,
    profile_text: str | None = None,
) -> tuple[Proc, int, Path]:
    """A real mictl-instance on a private copy of a demo profile."""
    name = name or profile
    copy = tmp / f"{name}.json"
    copy.write_text(profile_text or (DEMO_PROFILES / f"{profile}.json").read_text())
    port = free_port()
    argv = [
        str(BIN / "mictl-instance"),
        "--profile",
        str(copy),
        "--port",
        str(port),
        "--site",
        site,
        "--site-url",
        f"http://127.0.0.1:{site_port}/",
        "--name",
        name,
        "--log-dir",
        str(tmp / "log"),
        *(extra or []),
    ]
    proc = Proc(argv, tmp / f"{name}.log")
    if wait:

        def up() -> bool:
            if proc.proc.poll() is not None:
                raise AssertionError(f"runner exited {proc.proc.returncode}:\n{proc.output()}")
            return port_open(port)

        wait_until(up, 60, f"runner {name}")
    return proc, port, copy


def descendants(root: int) -> list[int]:
    """`root` and every process below it (by parent pid), e.g. a runner's browser."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def renderers(root: int) -> list[int]:
    """The Chromium renderer processes under a runner (its pages' processes)."""
    found = []
    for pid in descendants(root)[1:]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=renderer" in cmdline:  # Chromium rewrites its argv: a substring
            found.append(pid)
    return found


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """No new file in `path`, for root too (chattr +i), else by its mode."""
    root = os.geteuid() == 0
    if root:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o500)
    try:
        yield
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o700)


def ignores(pid: int, sig: int) -> bool:
    """Whether process `pid` ignores `sig` now (the SigIgn mask in /proc): a
    program that sets up its handlers is RUNNING before it has done so."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except FileNotFoundError:
        pass
    return False
