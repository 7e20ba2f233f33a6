"""The same scenarios under a real supervisord and under mictld: same states.

supervisord is the oracle. Each scenario is a program with supervisord-style
option values, run by both daemons at once; supervisord's account comes from
an event listener, mictld's from its transition history.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import alive, running, stays, wait_until
from tests.oracle import supervisord

pytestmark = [pytest.mark.slow, pytest.mark.supervisord]

IGNORE_TERM = Path(__file__).resolve().parents[1] / "ignore_term.py"

# startsecs >= 2: an idle supervisord sees time pass only on its 1 s loop
# (its issue #1285), which makes startsecs=1 unreliable as an oracle.
SCENARIOS: dict[str, dict[str, str]] = {
    "crashes": {"command": "sh -c 'exit 1'", "startsecs": "2", "startretries": "2"},
    "expected": {
        "command": "sh -c 'sleep 2.5; exit 2'",
        "startsecs": "2",
        "exitcodes": "0,2",
        "autorestart": "unexpected",
    },
    "unexpected": {
        "command": "sh -c 'sleep 2.5; [ -e again ] && exit 0; touch again; exit 3'",
        "startsecs": "2",
        "autorestart": "unexpected",
    },
    "norestart": {"command": "sh -c 'sleep 2.5; exit 3'", "startsecs": "2", "autorestart": "false"},
    "stubborn": {
        "command": f"{sys.executable} {IGNORE_TERM}",
        "startsecs": "2",
        "stopwaitsecs": "2",
    },
    "family": {
        "command": "sh -c 'sleep 600 & echo $! > child.pid; wait'",
        "startsecs": "2",
        "stopasgroup": "true",
        "killasgroup": "true",
    },
}

EXPECTED = {
    "crashes": ["STARTING", "BACKOFF", "STARTING", "BACKOFF", "STARTING", "BACKOFF", "FATAL"],
    "expected": ["STARTING", "RUNNING", "EXITED"],
    "unexpected": ["STARTING", "RUNNING", "EXITED", "STARTING", "RUNNING", "EXITED"],
    "norestart": ["STARTING", "RUNNING", "EXITED"],
    "stubborn": ["STARTING", "RUNNING", "STOPPING", "STOPPED"],
    "family": ["STARTING", "RUNNING", "STOPPING", "STOPPED"],
}
SETTLED = {name: states[-1] for name, states in EXPECTED.items()}
STOPPED_BY_TEST = ("stubborn", "family")


def _with_dir(directory: Path) -> dict[str, dict[str, str]]:
    directory.mkdir(parents=True, exist_ok=True)
    return {n: {**o, "directory": str(directory)} for n, o in SCENARIOS.items()}


def _toml(programs: dict[str, dict[str, str]]) -> str:
    def quote(v: str) -> str:
        return "'" + v + "'" if '"' in v else '"' + v + '"'

    return "\n".join(
        f"[programs.{name}]\n" + "\n".join(f"{k} = {quote(v)}" for k, v in opts.items())
        for name, opts in programs.items()
    )


def test_same_state_sequences_as_supervisord(tmp_path: Path) -> None:
    sv_dir, mi_dir = tmp_path / "supervisord", tmp_path / "mictld"
    with (
        supervisord(sv_dir, _with_dir(sv_dir / "work")) as sv,
        running(mi_dir, _toml(_with_dir(mi_dir / "work"))) as mi,
    ):
        mi.start()

        def mictld_states(name: str) -> list[str]:
            return [t.new.name for t in mi.program(name).history or []]

        # Let both reach RUNNING, then stop the two that test stopping.
        for name in STOPPED_BY_TEST:
            wait_until(lambda n=name: "RUNNING" in sv.states(n), what=f"supervisord {name}")
            mi.wait_state(name, "RUNNING")
        children = {
            d: int(wait_until(lambda d=d: (d / "work" / "child.pid").read_text().strip()))
            for d in (sv_dir, mi_dir)
        }
        stop_times = {}
        for name in STOPPED_BY_TEST:
            t0 = time.monotonic()
            sv.call("stopProcess", name, True)
            stop_times[("supervisord", name)] = time.monotonic() - t0
            t0 = time.monotonic()
            mi.client.call("POST", f"/v1/programs/{name}/stop", dict)
            stop_times[("mictld", name)] = time.monotonic() - t0

        for name, final in SETTLED.items():
            n_final = EXPECTED[name].count(final)
            wait_until(
                lambda n=name, f=final, k=n_final: sv.states(n).count(f) >= k,
                60,
                f"supervisord {name} settled",
            )
            wait_until(
                lambda n=name, f=final, k=n_final: mictld_states(n).count(f) >= k,
                60,
                f"mictld {name} settled",
            )
        # Settled means settled: nothing restarts afterwards (supervisord's
        # loop runs once a second, so watch two and a half).
        for name in SCENARIOS:
            assert sv.states(name) == EXPECTED[name], f"supervisord {name}"
            assert mictld_states(name) == EXPECTED[name], f"mictld {name}"
        stays(
            lambda: all(
                sv.states(n) == EXPECTED[n] and mictld_states(n) == EXPECTED[n] for n in SCENARIOS
            ),
            2.5,
            "every program's states, as settled",
        )
        # The SIGTERM-ignorer waited stopwaitsecs for its SIGKILL under both.
        assert stop_times[("supervisord", "stubborn")] >= 2
        assert stop_times[("mictld", "stubborn")] >= 2
        # stopasgroup: the child died with its parent under both.
        for child in children.values():
            wait_until(lambda c=child: not alive(c), what="child of family to die")
        # And the reasons read alike.
        assert mi.program("crashes").reason == sv.info("crashes")["spawnerr"]


# Issue 13's rows that are supervisord behaviour, one program each, run by
# both daemons at once: (options, expected states, files they write alike).
PARITY: dict[str, dict[str, str]] = {
    # stdout_logfile_maxbytes = -1: never rotate (and never spin).
    "negmax": {
        "command": "sh -c 'echo hi; exec sleep 600'",
        "stdout_logfile_maxbytes": "-1",
        "stdout_logfile": "negmax.log",
    },
    # stdin is an open pipe: `cat` waits on it instead of exiting.
    "reader": {"command": "cat"},
    # An explicit PATH in environment is the program's PATH.
    "pathed": {
        "command": "sh -c 'echo $PATH > path.txt; exec sleep 600'",
        "environment": 'PATH="/usr/bin:/bin"',
    },
    # `signal 15 NAME`: a number, like a name.
    "signalled": {"command": "sleep 600", "autorestart": "unexpected"},
    # Exit 78 is retried like any exit (only an instance's is FATAL at once).
    "exit78": {"command": "sh -c 'exit 78'", "startretries": "1"},
    # A missing directory: a failed start, retried, then FATAL.
    "nodir": {"command": "sleep 600", "directory": "/nonexistent/mictl", "startretries": "1"},
    # stderr rotates on its own settings (stdout's 50MB would never rotate).
    "errlog": {
        "command": "sh -c 'for i in $(seq 20); do echo 0123456789012345678901234567890123 >&2; "
        "sleep 0.05; done; exec sleep 600'",
        "stderr_logfile": "errlog.err",
        "stderr_logfile_maxbytes": "100",
        "stderr_logfile_backups": "2",
    },
}
PARITY_EXPECTED = {
    "negmax": ["STARTING", "RUNNING"],
    "reader": ["STARTING", "RUNNING"],
    "pathed": ["STARTING", "RUNNING"],
    "signalled": ["STARTING", "RUNNING", "EXITED", "STARTING", "RUNNING"],
    "exit78": ["STARTING", "BACKOFF", "STARTING", "BACKOFF", "FATAL"],
    "nodir": ["STARTING", "BACKOFF", "STARTING", "BACKOFF", "FATAL"],
    "errlog": ["STARTING", "RUNNING"],
}


def _parity_programs(work: Path) -> dict[str, dict[str, str]]:
    work.mkdir(parents=True, exist_ok=True)
    programs = {}
    for name, options in PARITY.items():
        options = {"startsecs": "2", "directory": str(work), **options}
        for log in ("stdout_logfile", "stderr_logfile"):
            if log in options:
                options[log] = str(work / options[log])
        programs[name] = options
    return programs


def test_issue13_rows_behave_as_under_supervisord(tmp_path: Path) -> None:
    sv_dir, mi_dir = tmp_path / "supervisord", tmp_path / "mictld"
    with (
        supervisord(sv_dir, _parity_programs(sv_dir / "work")) as sv,
        running(mi_dir, _toml(_parity_programs(mi_dir / "work"))) as mi,
    ):
        mi.start()

        def mictld_states(name: str) -> list[str]:
            return [t.new.name for t in mi.program(name).history or []]

        wait_until(lambda: "RUNNING" in sv.states("signalled"), what="supervisord signalled")
        mi.wait_state("signalled", "RUNNING")
        sv.call("signalProcess", "signalled", "15")
        assert mi.ctl("signal", "15", "signalled").returncode == 0

        for name, expected in PARITY_EXPECTED.items():
            wait_until(lambda n=name, e=expected: sv.states(n) == e, 60, f"supervisord {name}")
            wait_until(lambda n=name, e=expected: mictld_states(n) == e, 60, f"mictld {name}")
        for work in (sv_dir / "work", mi_dir / "work"):
            assert (work / "path.txt").read_text() == "/usr/bin:/bin\n"
            assert not (work / "negmax.log.1").exists()
            err = work / "errlog.err"
            wait_until(lambda e=err: Path(f"{e}.2").exists(), 30, f"{err} rotated twice")
            assert not Path(f"{err}.3").exists()  # stderr_logfile_backups = 2
        assert "couldn't chdir to /nonexistent/mictl" in mi.program("nodir").reason
        # A deliberate difference: supervisord 4.3 opens a -1 log in text mode
        # and drops every byte; mictl keeps the output (never rotating).
        log = mi_dir / "work" / "negmax.log"
        wait_until(lambda: log.exists() and log.read_text() == "hi\n", 30, "mictld's negmax log")
        assert (sv_dir / "work" / "negmax.log").read_text() == ""


# A wrapper (`sh script`, no exec) that exits by itself, leaving its server:
# the server records a SIGTERM (then exits cleanly), or the SIGKILL kills it.
LEFTOVER_SH = """
( trap 'echo clean > done.txt; exit 0' TERM
  i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done ) &
echo $! > child.pid
sleep 2.5
exit 0
"""


def test_leftovers_after_an_exit_get_sigterm_not_sigkill(tmp_path: Path) -> None:
    """Issue 13 item 2. Same states; supervisord leaves the server running
    (it signals a group only on stop), mictld ends it with SIGTERM, then
    SIGKILL after stopwaitsecs: the server's clean shutdown runs."""
    works = {}
    for side in ("supervisord", "mictld"):
        works[side] = tmp_path / side / "work"
        works[side].mkdir(parents=True)
        (works[side] / "leftover.sh").write_text(LEFTOVER_SH)
    options = {
        "command": "sh leftover.sh",
        "startsecs": "2",
        "autorestart": "false",
        "stopasgroup": "true",
        "killasgroup": "true",
    }
    sv_programs = {"wrapper": {**options, "directory": str(works["supervisord"])}}
    mi_programs = {"wrapper": {**options, "directory": str(works["mictld"])}}
    with (
        supervisord(tmp_path / "supervisord", sv_programs) as sv,
        running(tmp_path / "mictld", _toml(mi_programs)) as mi,
    ):
        mi.start()
        expected = ["STARTING", "RUNNING", "EXITED"]
        wait_until(lambda: sv.states("wrapper") == expected, 60, "supervisord wrapper exited")
        wait_until(
            lambda: [t.new.name for t in mi.program("wrapper").history or []] == expected,
            60,
            "mictld wrapper exited",
        )
        children = {s: int((w / "child.pid").read_text()) for s, w in works.items()}
        done = works["mictld"] / "done.txt"
        wait_until(lambda: done.exists() and done.read_text() == "clean\n", 30, "a clean end")
        wait_until(lambda: not alive(children["mictld"]), 30, "mictld's leftover gone")
        assert alive(children["supervisord"])  # supervisord left it alone
        assert not (works["supervisord"] / "done.txt").exists()
        os.kill(children["supervisord"], signal.SIGKILL)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_user_and_umask_as_under_supervisord(tmp_path: Path) -> None:
    """`user` drops privileges (uid, gid, groups) and `umask` applies, as
    supervisord does it; the daemons stay root."""
    import pwd
    import shutil
    import tempfile

    nobody = pwd.getpwnam("nobody")
    works = {}
    for side in ("supervisord", "mictld"):
        # Somewhere `nobody` can reach (pytest's tmp dirs are 0700).
        works[side] = Path(tempfile.mkdtemp(prefix=f"mictl-{side}-", dir="/tmp"))
        works[side].chmod(0o777)

    def programs(side: str) -> dict[str, dict[str, str]]:
        command = "sh -c 'touch made; exec sleep 600'"
        return {
            "dropped": {
                "command": command,
                "user": "nobody",
                "umask": "027",
                "startsecs": "0",
                "directory": str(works[side]),
            }
        }

    try:
        with (
            supervisord(tmp_path / "supervisord", programs("supervisord")) as sv,
            running(tmp_path / "mictld", _toml(programs("mictld"))) as mi,
        ):
            mi.start()
            pids = {
                "supervisord": wait_until(lambda: sv.info("dropped")["pid"], 30, "sv pid"),
                "mictld": mi.wait_state("dropped", "RUNNING").pid,
            }
            for side, pid in pids.items():
                status = Path(f"/proc/{pid}/status").read_text()
                uid = next(line.split()[1] for line in status.splitlines() if line[:4] == "Uid:")
                gid = next(line.split()[1] for line in status.splitlines() if line[:4] == "Gid:")
                assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid), side
                made = works[side] / "made"
                wait_until(made.exists, 30, f"{side}'s file")
                assert made.stat().st_mode & 0o777 == 0o640, side  # 0666 & ~027
                assert made.stat().st_uid == nobody.pw_uid, side
    finally:
        for work in works.values():
            shutil.rmtree(work, ignore_errors=True)
