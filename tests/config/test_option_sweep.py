"""Every supervisord [program:x] option with edge values, through the loader
(what `mictld --check-config` runs) and then a start: each value is honoured,
refused naming its key, or accepted with a warning; none freezes or crashes
the daemon (its control socket keeps answering)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ctl.client import Client
from daemon.config import loader as config
from tests.helpers import running, wait_until

pytestmark = pytest.mark.slow

# supervisord 4.3's documented [program:x] keys.
OPTIONS = [
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
]
EDGES = ("-1", "0", "4294967296", "%(program_name)s")


def _program(option: str, value: str) -> str:
    base = {"command": "sleep 600", "startsecs": "0", "autorestart": "false"}
    base[option] = value
    return "\n".join(f"{k} = '{v}'" for k, v in base.items())


def test_every_option_with_edge_values_is_honoured_refused_or_warned(tmp_path: Path) -> None:
    accepted: list[str] = []
    refused: dict[str, str] = {}
    for i, (option, value) in enumerate((o, v) for o in OPTIONS for v in EDGES):
        path = tmp_path / f"check-{i}.toml"
        path.write_text(f"[programs.p{i}]\n{_program(option, value)}\n")
        try:
            config.load(path, env={})
        except config.ConfigError as exc:  # anything else escaping is a bug
            assert option in str(exc), f"{option}={value!r}: {exc}"
            refused[f"{option}={value}"] = str(exc)
        else:
            accepted.append(f"[programs.p{i}]\n{_program(option, value)}\n")
    # Refused outright: what mictld does not do (each named), never a value
    # of a key it takes that supervisord takes too... and some are taken.
    assert "numprocs=-1" in refused and "stopsignal=-1" in refused
    assert len(accepted) > len(OPTIONS)

    with running(tmp_path / "daemon", "\n".join(accepted)) as d:
        d.start()
        client = Client(str(d.socket), timeout=5)
        answered: list[float] = []
        stop = threading.Event()

        def poll() -> None:  # the control socket, all the while
            while not stop.is_set():
                t0 = time.monotonic()
                client.call("GET", "/v1/daemon", dict)
                answered.append(time.monotonic() - t0)
                time.sleep(0.1)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            # Every program settles somewhere (running, exited, fatal...).
            settled = {"RUNNING", "EXITED", "FATAL", "STOPPED", "STARTING"}
            wait_until(
                lambda: all(p.state in settled for p in d.programs().values()),
                60,
                "every program settled",
            )
            n = len(answered)
            wait_until(lambda: len(answered) >= n + 10, 30, "ten more answers")
        finally:
            stop.set()
            poller.join(10)
        assert not poller.is_alive()
        assert d.stop() == 0, d.output()[-3000:]
    assert "Traceback" not in d.output()
