"""mictld's deliberate differences from supervisord (docs/supervision.md's table), pinned
with real processes. What is the same as supervisord is proven side by side
in test_differential.py."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from tests.helpers import BIN, alive, running, wait_until
from tests.oracle import Supervisord, supervisord

pytestmark = pytest.mark.slow


def test_instant_exit_respawns_about_once_a_second_not_in_a_loop(tmp_path: Path) -> None:
    body = """
        [programs.flap]
        command = "sh -c 'exit 1'"
        startsecs = 0
        autorestart = true
    """
    with running(tmp_path, body) as d:
        d.start()
        info = wait_until(
            lambda: (i := d.program("flap")).restarts >= 3 and i, 30, "three restarts"
        )
        starts = [t.at for t in info.history or [] if t.new.name == "STARTING"]
        assert len(starts) >= 3
        # The floor is a lower bound (a timer never fires early): a loaded
        # machine only makes the gaps longer.
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= 0.95, gaps


def _supervisorctl_update(sv: Supervisord, programs: dict[str, dict[str, str]]) -> None:
    """Rewrite supervisord's config (the oracle's own writer), then `update`."""
    Supervisord(sv.root, programs)
    subprocess.run(
        [str(BIN / "supervisorctl"), "-c", str(sv.config), "update"],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.supervisord
def test_reload_of_changed_programs_differs_from_supervisorctl_update(tmp_path: Path) -> None:
    """Issue 13 item 12. A changed program that runs though autostart=false
    ("manual") keeps running under mictld (supervisord's update stops it); a
    changed program the operator stopped ("parked") stays stopped under
    mictld (supervisord's update starts it)."""

    def programs(tag: str) -> dict[str, dict[str, str]]:
        return {
            "manual": {"command": f"sleep 60{tag}", "autostart": "false", "startsecs": "0"},
            "parked": {"command": f"sleep 60{tag}", "startsecs": "0"},
        }

    def toml(tag: str) -> str:
        return "\n".join(
            f"[programs.{name}]\n" + "\n".join(f'{k} = "{v}"' for k, v in opts.items())
            for name, opts in programs(tag).items()
        )

    with (
        supervisord(tmp_path / "supervisord", programs("0")) as sv,
        running(tmp_path / "mictld", toml("0")) as mi,
    ):
        mi.start()
        sv.call("startProcess", "manual", True)
        sv.call("stopProcess", "parked", True)
        assert mi.ctl("start", "manual").returncode == 0
        assert mi.ctl("stop", "parked").returncode == 0

        _supervisorctl_update(sv, programs("1"))
        mi.write_config(mi.config.read_text().replace(toml("0"), toml("1")))
        reloaded = mi.ctl("reload", "--json")
        assert reloaded.returncode == 0, reloaded.stderr

        def sv_state(name: str) -> str:
            return sv.info(name)["statename"]

        wait_until(lambda: sv_state("parked") == "RUNNING", 30, "supervisord starts parked")
        assert sv_state("manual") == "STOPPED"
        manual = mi.wait_state("manual", "RUNNING")
        assert "sleep 601" in _cmdline(manual.pid or 0)
        assert mi.program("parked").state == "STOPPED"
        assert mi.program("parked").desired == "stopped"


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_numprocs_copies_restart_together_by_group_pattern(tmp_path: Path) -> None:
    body = """
        [programs.web]
        command = "sleep 600"
        startsecs = 0
        numprocs = 3
    """
    with running(tmp_path, body) as d:
        d.start()
        names = ["web:00", "web:01", "web:02"]
        before = {n: d.wait_state(n, "RUNNING").pid for n in names}
        restarted = d.ctl("restart", "web:*")
        assert restarted.returncode == 0, restarted.stderr
        assert sorted(restarted.stdout.splitlines()) == [f"{n}: RUNNING" for n in names]
        after = {n: d.program(n).pid for n in names}
        assert all(after[n] not in (None, before[n]) for n in names)
        assert d.ctl("stop", "nope:*").returncode == 2


def test_live_reload_with_one_bad_program_changes_nothing(tmp_path: Path) -> None:
    body = """
        [programs.web]
        command = "sleep 600"
        startsecs = 0
    """
    with running(tmp_path, body) as d:
        d.start()
        pid = d.wait_state("web", "RUNNING").pid
        d.write_config(d.config.read_text() + '\n[programs.bad]\ncommand = "sh -c \'oops"\n')
        refused = d.ctl("reload")
        assert refused.returncode == 2 and "programs.bad.command" in refused.stderr
        assert d.program("web").state == "RUNNING" and d.program("web").pid == pid
        assert "bad" not in d.programs()


def test_live_reload_adds_and_changes_a_group(tmp_path: Path) -> None:
    """Putting programs into a [groups.grp] renames them grp:NAME (the old
    process stops, the member starts), as supervisorctl update removes and
    adds them; changing the group's list moves only the programs that moved:
    a member that stays keeps running untouched. `mictl stop grp:` (the
    trailing colon is supervisorctl's group form too) stops just the group."""
    programs = "".join(
        f'[programs.{n}]\ncommand = "sleep 600"\nstartsecs = 0\n' for n in ("a", "b", "c")
    )
    with running(tmp_path, programs) as d:
        d.start()
        first = {n: d.wait_state(n, "RUNNING").pid for n in ("a", "b", "c")}
        base = d.config.read_text()

        def reload(groups: str) -> None:
            d.write_config(base + groups)
            done = d.ctl("reload")
            assert done.returncode == 0, done.stderr

        reload('[groups.grp]\nprograms = "a,b"\n')
        wait_until(lambda: sorted(d.programs()) == ["c", "grp:a", "grp:b"], 30, "renamed")
        grp_a = d.wait_state("grp:a", "RUNNING").pid
        d.wait_state("grp:b", "RUNNING")
        assert not alive(first["a"] or 0) and not alive(first["b"] or 0)
        assert d.program("c").pid == first["c"]

        reload('[groups.grp]\nprograms = ["a", "c"]\n')
        wait_until(lambda: sorted(d.programs()) == ["b", "grp:a", "grp:c"], 30, "moved")
        d.wait_state("b", "RUNNING")
        d.wait_state("grp:c", "RUNNING")
        assert d.program("grp:a").pid == grp_a  # unchanged: not restarted

        status = d.ctl("status", "grp:*")  # supervisorctl's `status grp:*`
        assert status.returncode == 0, status.stderr
        assert [line.split()[0] for line in status.stdout.splitlines()[1:]] == ["grp:a", "grp:c"]
        stopped = d.ctl("stop", "grp:")
        assert stopped.returncode == 0, stopped.stderr
        assert sorted(stopped.stdout.splitlines()) == ["grp:a: STOPPED", "grp:c: STOPPED"]
        assert d.program("b").state == "RUNNING"

        d.write_config(base + '[groups.grp]\nprograms = ["a", "nope"]\n')
        refused = d.ctl("reload")
        assert refused.returncode == 2 and "groups.grp.programs" in refused.stderr
        assert sorted(d.programs()) == ["b", "grp:a", "grp:c"]
