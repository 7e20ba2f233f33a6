"""Issue 28 item 14: supervisord divergences, each run by a real supervisord
(driven by supervisorctl) and by mictld (driven by mictl) side by side.

Rows: the umask a program starts with, the SUPERVISOR_* environment,
`restart all` (stop everything, then start in priority order), rotation
after the write that crosses maxbytes (no line split), `signal SIG 'g:*'`
with a stopped member. And a mictld-only row: a leftover's pending
SIGKILL survives mictld's own shutdown.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from daemon.events import DaemonEvent
from tests.helpers import alive, running, wait_until
from tests.oracle import Supervisord, supervisord

pytestmark = [pytest.mark.slow, pytest.mark.supervisord]

ENV_PROBE = "sleep 600"
HUP_SH = "trap 'echo hup >> hup.txt' HUP; while :; do sleep 0.1; done"


def _programs(work: Path) -> dict[str, dict[str, str]]:
    work.mkdir(parents=True, exist_ok=True)
    # startsecs >= 2: an idle supervisord sees time pass only on its 1 s loop.
    common = {"startsecs": "2", "directory": str(work)}
    return {
        "plain": {"command": ENV_PROBE, **common},
        # A [group:grp] of two: x runs, y never starts by itself.
        "x": {"command": f'sh -c "{HUP_SH}"', **common},
        "y": {"command": "sleep 600", "autostart": "false", **common},
        "lines": {
            "command": "sh -c 'for i in $(seq 40); do echo line-$i-0123456789abcdef; "
            "sleep 0.02; done; exec sleep 600'",
            "stdout_logfile": str(work / "lines.log"),
            "stdout_logfile_maxbytes": "100",
            "stdout_logfile_backups": "20",
            **common,
        },
    }


def _toml(programs: dict[str, dict[str, str]]) -> str:
    text = ""
    for name, options in programs.items():
        text += f"[programs.{name}]\n"
        text += "".join(f"{k} = '''{v}'''\n" for k, v in options.items())  # TOML literal
    return text + "[groups.grp]\nprograms = ['x', 'y']\n"


def _proc_status(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return line.split()[1]
    raise AssertionError(f"no {key} for {pid}")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().partition("=") for item in raw if item)
    return {k: v for k, _, v in pairs if k.startswith("SUPERVISOR_")}


def test_issue28_rows_behave_as_under_supervisord(tmp_path: Path) -> None:
    sv_dir, mi_dir = tmp_path / "supervisord", tmp_path / "mictld"
    sv_work, mi_work = sv_dir / "work", mi_dir / "work"
    with (
        supervisord(sv_dir, _programs(sv_work), {"grp": {"programs": "x,y"}}) as sv,
        running(mi_dir, _toml(_programs(mi_work))) as mi,
    ):
        mi.start()
        pids: dict[str, dict[str, int]] = {"supervisord": {}, "mictld": {}}
        for sv_name, mi_name in (("plain", "plain"), ("grp:x", "grp:x"), ("lines", "lines")):
            pids["supervisord"][mi_name] = wait_until(
                lambda n=sv_name: sv.info(n)["statename"] == "RUNNING" and sv.info(n)["pid"],
                60,
                f"supervisord {sv_name}",
            )
            pids["mictld"][mi_name] = mi.wait_state(mi_name, "RUNNING", 60).pid or 0

        # umask: the daemon's own as it was started (this test's), not 077.
        mine = os.umask(0)
        os.umask(mine)
        for side, found in pids.items():
            assert _proc_status(found["plain"], "Umask") == f"{mine:04o}", side

        # Default signal dispositions: nothing blocked; nothing ignored under
        # mictld. A deliberate difference (DESIGN "Signals"): supervisord's
        # programs inherit Python's ignored SIGPIPE and SIGXFSZ.
        # Only the 31 standard signals: the real-time ones from 32 on are the
        # C library's own, and what the test's environment leaves ignored
        # there (32 may be) no program can set back.
        def standard(side: str, field: str) -> str:
            return f"{int(_proc_status(pids[side]['plain'], field), 16) & (2**31 - 1):016x}"

        blocked = {side: standard(side, "SigBlk") for side in pids}
        assert blocked == {"supervisord": "0" * 16, "mictld": "0" * 16}
        ignored = {side: standard(side, "SigIgn") for side in pids}
        pipe_xfsz = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))
        assert ignored == {"supervisord": f"{pipe_xfsz:016x}", "mictld": "0" * 16}

        # SUPERVISOR_*: the same names and values (the URL is each one's socket).
        envs = {s: {n: _environ(pid) for n, pid in found.items()} for s, found in pids.items()}
        assert envs["supervisord"]["plain"] == {
            "SUPERVISOR_ENABLED": "1",
            "SUPERVISOR_PROCESS_NAME": "plain",
            "SUPERVISOR_GROUP_NAME": "plain",
            "SUPERVISOR_SERVER_URL": f"unix://{sv.socket}",
        }
        for name in ("plain", "grp:x"):
            sv_env, mi_env = envs["supervisord"][name], envs["mictld"][name]
            assert sv_env.pop("SUPERVISOR_SERVER_URL") == f"unix://{sv.socket}"
            assert mi_env.pop("SUPERVISOR_SERVER_URL") == f"unix://{mi.socket.resolve()}"
            assert mi_env == sv_env, name
        assert envs["mictld"]["grp:x"]["SUPERVISOR_GROUP_NAME"] == "grp"
        assert envs["mictld"]["grp:x"]["SUPERVISOR_PROCESS_NAME"] == "x"

        # signal HUP 'grp:*' with y stopped: x gets it, y is skipped, exit 0.
        sv_result = sv.ctl("signal", "HUP", "grp:*")
        mi_result = mi.ctl("signal", "HUP", "grp:*")
        assert sv_result.returncode == 0, sv_result.stdout + sv_result.stderr
        assert mi_result.returncode == 0, mi_result.stdout + mi_result.stderr
        for work in (sv_work, mi_work):
            wait_until(lambda w=work: (w / "hup.txt").exists(), 30, f"{work}: x got HUP")

        # Rotation: after the write that reaches 100 bytes; no line is split.
        for work in (sv_work, mi_work):
            log = work / "lines.log"
            wait_until(lambda lg=log: "line-40-" in _all_logs(lg), 60, f"{log} complete")
            rotated = sorted(work.glob("lines.log.*"), key=lambda p: -int(p.suffix[1:]))
            assert rotated, work
            for part in rotated:
                text = part.read_text()
                assert len(text) >= 100 and text.endswith("\n"), (part, text)
                assert all(line.startswith("line-") for line in text.splitlines()), text
            expected = "".join(f"line-{i}-0123456789abcdef\n" for i in range(1, 41))
            assert _all_logs(log) == expected


def _all_logs(log: Path) -> str:
    parts = sorted(log.parent.glob(f"{log.name}.*"), key=lambda p: -int(p.suffix[1:]))
    return "".join(p.read_text() for p in [*parts, log] if p.exists())


RESTART_PROGRAMS = {
    name: {"command": "sleep 600", "priority": prio, "startsecs": "0"}
    for name, prio in (("first", "1"), ("second", "2"), ("third", "3"))
}


def _restart_order(sequence: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(names in the order they stopped, in the order they started) after
    the restart began (its first STOPPING); every stop before any start."""
    begin = next(i for i, (_, state) in enumerate(sequence) if state == "STOPPING")
    after = sequence[begin:]
    stopped = [n for n, s in after if s == "STOPPED"]
    started = [n for n, s in after if s == "STARTING"]
    last_stop = max(i for i, (_, s) in enumerate(after) if s == "STOPPED")
    first_start = min(i for i, (_, s) in enumerate(after) if s == "STARTING")
    assert last_stop < first_start, after
    return stopped, started


def test_restart_all_stops_everything_then_starts_in_priority_order(tmp_path: Path) -> None:
    with (
        supervisord(tmp_path / "supervisord", RESTART_PROGRAMS) as sv,
        running(tmp_path / "mictld", _toml_plain(RESTART_PROGRAMS)) as mi,
    ):
        mi.start()
        for name in RESTART_PROGRAMS:
            wait_until(lambda n=name: "RUNNING" in sv.states(n), 60, f"supervisord {name}")
            mi.wait_state(name, "RUNNING")
        result = sv.ctl("restart", "all")
        assert result.returncode == 0, result.stdout + result.stderr
        result = mi.ctl("restart", "--all")
        assert result.returncode == 0, result.stdout + result.stderr

        def sv_sequence() -> list[tuple[str, str]]:
            lines = (sv.root / "events.log").read_text().splitlines()
            pairs = [(line.split()[1], line.split()[2]) for line in lines]
            return [(n, state) for n, state in pairs if n in RESTART_PROGRAMS]  # not the recorder

        def mi_sequence() -> list[tuple[str, str]]:
            events = mi.client.call("GET", "/v1/events", list[DaemonEvent], {"n": 1000})
            return [(e.program, e.detail.split(" -> ")[1]) for e in events if e.kind == "state"]

        for sequence in (sv_sequence, mi_sequence):
            wait_until(
                lambda s=sequence: [st for _, st in s()].count("RUNNING") == 6, 60, "restarted"
            )
        sv_order, mi_order = _restart_order(sv_sequence()), _restart_order(mi_sequence())
        assert sv_order[1] == mi_order[1] == ["first", "second", "third"]
        assert sorted(sv_order[0]) == sorted(mi_order[0]) == ["first", "second", "third"]


def _toml_plain(programs: dict[str, dict[str, str]]) -> str:
    return "".join(
        f"[programs.{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in options.items())
        for name, options in programs.items()
    )


# A wrapper that exits at once, leaving a child that ignores SIGTERM: only
# the SIGKILL after stopwaitsecs ends it.
STUBBORN_LEFTOVER = f"""
{sys.executable} -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); \
open("child.pid", "w").write(str(__import__("os").getpid())); time.sleep(600)' &
sleep 1
exit 0
"""


def test_a_pending_leftover_sigkill_survives_mictlds_shutdown(tmp_path: Path) -> None:
    """mictld only (supervisord leaves leftovers alone: test_differential.py):
    mictld stopping before a leftover's grace ends still SIGKILLs it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "wrapper.sh").write_text(STUBBORN_LEFTOVER)
    body = f"""
        [programs.wrapper]
        command = "sh wrapper.sh"
        directory = "{work}"
        startsecs = 0
        autorestart = false
        killasgroup = true
        stopwaitsecs = 3
    """
    with running(tmp_path / "mictld", body) as mi:
        mi.start()
        mi.wait_state("wrapper", "EXITED")
        child = int(wait_until(lambda: (work / "child.pid").read_text().strip(), 30, "child"))
        assert alive(child)  # SIGTERM ignored; its SIGKILL is pending
        assert mi.proc is not None
        mi.proc.send_signal(signal.SIGTERM)
        assert mi.proc.wait(60) == 0
        wait_until(lambda: not alive(child), 5, "the leftover killed before mictld exited")
        assert "outlived SIGTERM: SIGKILL" in mi.output()
    if alive(child):
        os.kill(child, signal.SIGKILL)


__all__ = ["Supervisord"]
