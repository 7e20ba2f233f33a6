"""supervisord's [group:x] sections side by side: a real supervisord driven by
supervisorctl, and mictld driven by mictl, on the same programs and group.

supervisorctl addresses a member as `grp:a` and the group as `grp:*`; so does
mictl (mictld names members GROUP:PROGRAM, supervisord's namespec).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import running, wait_until
from tests.oracle import Supervisord, supervisord

pytestmark = [pytest.mark.slow, pytest.mark.supervisord]

# Appends its name to ./order when it gets SIGTERM, then exits 0.
ORDER = """
import signal, sys, time
def bye(*_):
    with open("order", "a") as f:
        f.write(sys.argv[1] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
while True:
    time.sleep(3600)
"""


def _programs(work: Path) -> dict[str, dict[str, str]]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "order.py").write_text(ORDER)
    # startsecs >= 2: an idle supervisord sees time pass only on its 1 s loop.
    common = {"startsecs": "2", "directory": str(work), "stopwaitsecs": "30"}
    return {
        name: {"command": f"{sys.executable} order.py {name}", "priority": prio, **common}
        for name, prio in (("a", "1"), ("b", "2"), ("solo", "500"))
    }


GROUPS = {"grp": {"programs": "a,b", "priority": "900"}}


def _toml(programs: dict[str, dict[str, str]], groups: dict[str, dict[str, str]]) -> str:
    text = ""
    for name, options in programs.items():
        text += f"[programs.{name}]\n" + "".join(f"{k} = '{v}'\n" for k, v in options.items())
    text += "[groups.grp]\nprograms = ['a', 'b']\n"  # the TOML list spelling
    text += f"priority = {groups['grp']['priority']}\n"
    return text


def test_group_start_stop_restart_as_supervisorctl_does(tmp_path: Path) -> None:
    """`stop grp:*`, `start grp:*`, `restart grp:*` act on a and b, never on
    solo; the members' state sequences are the same under both daemons. At
    shutdown the group (priority 900) stops before solo (500) though its
    members' own priorities (1, 2) are lower, as supervisord orders groups."""
    sv_dir, mi_dir = tmp_path / "supervisord", tmp_path / "mictld"
    with (
        supervisord(sv_dir, _programs(sv_dir / "work"), GROUPS) as sv,
        running(mi_dir, _toml(_programs(mi_dir / "work"), GROUPS)) as mi,
    ):
        mi.start()
        assert sorted(mi.programs()) == ["grp:a", "grp:b", "solo"]
        for name in ("grp:a", "grp:b", "solo"):
            mi.wait_state(name, "RUNNING")
            wait_until(lambda n=name: sv.info(n)["statename"] == "RUNNING", 60, f"sv {name}")

        for verb, final in (("stop", "STOPPED"), ("start", "RUNNING"), ("restart", "RUNNING")):
            done = sv.ctl(verb, "grp:*")
            assert done.returncode == 0, done.stdout + done.stderr
            ours = mi.ctl(verb, "grp:*")
            assert ours.returncode == 0, ours.stdout + ours.stderr
            assert sorted(ours.stdout.splitlines()) == [f"grp:a: {final}", f"grp:b: {final}"]
            for member in ("a", "b"):
                assert sv.info(f"grp:{member}")["statename"] == final
                assert mi.program(f"grp:{member}").state == final
            assert mi.program("solo").state == sv.info("solo")["statename"] == "RUNNING"

        cycle = ["STOPPING", "STOPPED", "STARTING", "RUNNING"]
        expected = ["STARTING", "RUNNING", "STOPPING", "STOPPED", "STARTING", "RUNNING", *cycle]
        for member in ("a", "b"):
            wait_until(lambda m=member: len(sv.states(m)) >= len(expected), 30, f"sv {member}")
            assert sv.states(member) == expected
            assert [t.new.name for t in mi.program(f"grp:{member}").history or []] == expected
        assert sv.states("solo") == ["STARTING", "RUNNING"]
        assert [t.new.name for t in mi.program("solo").history or []] == ["STARTING", "RUNNING"]

        _stop_supervisord(sv)
        assert mi.stop() == 0, mi.output()[-3000:]
    for root in (sv_dir, mi_dir):
        # The last three lines are the shutdown's (stop and restart wrote theirs).
        order = (root / "work" / "order").read_text().split()[-3:]
        assert sorted(order[:2]) == ["a", "b"] and order[2:] == ["solo"], (root.name, order)


def _stop_supervisord(sv: Supervisord) -> None:
    sv.stop()
    assert sv.proc is not None and sv.proc.returncode == 0
