"""Program options read side by side: supervisord's own config parser
(supervisor.options.ServerOptions) against mictld's loader, same values, same
directory. What a row of issue 13 says is supervisord's must come out the
same; the deliberate differences are pinned here and in docs/supervision.md's table."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from supervisor.options import ServerOptions

from daemon.config import loader as config
from daemon.types import ProgramSpec


def supervisord_reads(root: Path, programs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """name -> supervisord's ProcessConfig; raises ValueError as supervisord would."""
    lines = [f"[supervisord]\nlogfile={root}/supervisord.log\n"]
    for name, options in programs.items():
        lines.append(f"[program:{name}]\n" + "\n".join(f"{k}={v}" for k, v in options.items()))
    path = root / "supervisord.conf"
    path.write_text("\n".join(lines) + "\n")
    opts = ServerOptions()
    opts.configfile = str(path)
    opts.process_config(do_usage=False)
    return {p.name: p for g in opts.process_group_configs for p in g.process_configs}


def mictld_reads(root: Path, programs: dict[str, dict[str, str]]) -> dict[str, ProgramSpec]:
    def quote(v: str) -> str:
        return "'" + v + "'" if '"' in v or "\\" in v else '"' + v + '"'

    text = "[daemon]\nstate_dir = 'state'\nlog_dir = 'log'\n" + "\n".join(
        f"[programs.{name}]\n" + "\n".join(f"{k} = {quote(v)}" for k, v in opts.items())
        for name, opts in programs.items()
    )
    path = root / "mictl.toml"
    path.write_text(text + "\n")
    return {s.name: s for s in config.program_specs(config.load(path, env=dict(os.environ)))}


def both(root: Path, programs: dict[str, dict[str, str]]) -> tuple[dict, dict]:
    return supervisord_reads(root, programs), mictld_reads(root, programs)


def test_expansions_mean_what_supervisord_makes_of_them(tmp_path: Path) -> None:
    """Issue 13 item 4: %(program_name)s, %(ENV_X)s, %(here)s and the rest."""
    web = {
        "command": "echo %(program_name)s %(group_name)s %(ENV_HOME)s %(ENV_A)s "
        "%(here)s %(host_node_name)s %(process_num)d %(numprocs)d 100%%",
        "environment": 'A="%(program_name)s-x",B="%(ENV_HOME)s"',
        "directory": "%(here)s",
        "stdout_logfile": "%(here)s/%(program_name)s.log",
    }
    sv, mi = both(tmp_path, {"web": web})
    assert list(mi["web"].argv) == shlex.split(sv["web"].command)
    assert "100%" in mi["web"].argv and str(tmp_path) in mi["web"].argv
    assert dict(mi["web"].environment) == sv["web"].environment
    assert mi["web"].directory == sv["web"].directory == str(tmp_path)
    assert mi["web"].stdout_logfile == sv["web"].stdout_logfile == str(tmp_path / "web.log")


@pytest.mark.parametrize(
    ("option", "value"),
    [("command", "echo %(nope)s"), ("directory", "%(here"), ("stdout_logfile", "%(ENV_NOPE_X)s")],
)
def test_a_bad_expansion_is_refused_by_both(tmp_path: Path, option: str, value: str) -> None:
    programs = {"web": {"command": "sleep 1", option: value}}
    with pytest.raises(ValueError):
        supervisord_reads(tmp_path, programs)
    with pytest.raises(config.ConfigError, match=rf"programs\.web\.{option}"):
        mictld_reads(tmp_path, programs)


def test_stopasgroup_without_killasgroup_is_refused_by_both(tmp_path: Path) -> None:
    """Issue 13 item 11."""
    programs = {"web": {"command": "sleep 1", "stopasgroup": "true", "killasgroup": "false"}}
    with pytest.raises(ValueError, match="stopasgroup=true and killasgroup=false"):
        supervisord_reads(tmp_path, programs)
    with pytest.raises(config.ConfigError, match=r"programs\.web\.killasgroup"):
        mictld_reads(tmp_path, programs)
    # And stopasgroup alone implies killasgroup under both.
    sv, mi = both(tmp_path, {"web": {"command": "sleep 1", "stopasgroup": "true"}})
    assert sv["web"].killasgroup is mi["web"].killasgroup is True


def test_stderr_rotation_has_its_own_settings(tmp_path: Path) -> None:
    """Issue 13 item 7."""
    web = {
        "command": "sleep 1",
        "stdout_logfile_maxbytes": "1MB",
        "stdout_logfile_backups": "5",
        "stderr_logfile_maxbytes": "1KB",
        "stderr_logfile_backups": "2",
    }
    sv, mi = both(tmp_path, {"web": web})
    for field in (
        "stdout_logfile_maxbytes",
        "stdout_logfile_backups",
        "stderr_logfile_maxbytes",
        "stderr_logfile_backups",
    ):
        assert getattr(mi["web"], field) == getattr(sv["web"], field), field
    assert mi["web"].stderr_logfile_maxbytes == 1024


def test_relative_logfile_is_relative_to_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 8, a deliberate difference: supervisord makes a relative
    log path as it is, opened against its working directory; mictld against the
    config file's directory, as every other path in its config."""
    elsewhere = tmp_path / "cwd"
    (elsewhere / "logs").mkdir(parents=True)  # supervisord wants the directory
    monkeypatch.chdir(elsewhere)
    programs = {"web": {"command": "sleep 1", "stdout_logfile": "logs/web.out"}}
    sv, mi = both(tmp_path, programs)
    assert sv["web"].stdout_logfile == "logs/web.out"  # opened against its cwd
    assert mi["web"].stdout_logfile == str(tmp_path / "logs" / "web.out")


def test_syslog_options_read_as_supervisord_reads_them(tmp_path: Path) -> None:
    """stdout_syslog/stderr_syslog, off by default; the deprecated
    stdout_logfile=syslog means stdout_syslog and no log file, under both."""
    programs = {
        "plain": {"command": "sleep 1"},
        "both": {"command": "sleep 1", "stdout_syslog": "true", "stderr_syslog": "true"},
        "old": {"command": "sleep 1", "stdout_logfile": "syslog", "stderr_logfile": "syslog"},
    }
    sv, mi = both(tmp_path, programs)
    for name in programs:
        for stream in ("stdout", "stderr"):
            syslog, logfile = f"{stream}_syslog", f"{stream}_logfile"
            assert getattr(mi[name], syslog) is getattr(sv[name], syslog), (name, stream)
            assert (getattr(mi[name], logfile) is None) is (getattr(sv[name], logfile) is None)
    assert mi["plain"].stdout_syslog is False and mi["old"].stdout_syslog is True
    bad = {"web": {"command": "sleep 1", "stderr_syslog": "maybe"}}
    with pytest.raises(ValueError):
        supervisord_reads(tmp_path, bad)
    with pytest.raises(config.ConfigError, match=r"programs\.web\.stderr_syslog"):
        mictld_reads(tmp_path, bad)


def test_instances_never_send_output_to_mictlds_log(tmp_path: Path) -> None:
    """A runner's output may hold prompts: the syslog options are refused for
    instances, naming the key."""
    for stream in ("stdout", "stderr"):
        path = tmp_path / "mictl.toml"
        path.write_text(f"[profiles.program]\n{stream}_syslog = true\n")
        with pytest.raises(config.ConfigError, match=rf"profiles\.program\.{stream}_syslog"):
            config.load(path, env={})


def test_harmless_supervisord_options_load_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Options of supervisord's event system mean nothing here: accepted,
    each named in a warning, rather than the file refused."""
    web = {
        "command": "sleep 1",
        "serverurl": "AUTO",
        "stdout_capture_maxbytes": "1MB",
        "stderr_events_enabled": "true",
    }
    sv, mi = both(tmp_path, {"web": web})
    assert sv["web"].stdout_capture_maxbytes == 1024 * 1024 and "web" in mi
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for option in ("serverurl", "stdout_capture_maxbytes", "stderr_events_enabled"):
        assert any(f"programs.web.{option}: accepted and ignored" in w for w in warned), option


def test_user_and_umask_read_as_supervisord_reads_them(tmp_path: Path) -> None:
    sv, mi = both(tmp_path, {"web": {"command": "sleep 1", "user": "nobody", "umask": "027"}})
    assert mi["web"].identity is not None and mi["web"].identity.uid == sv["web"].uid
    assert mi["web"].umask == sv["web"].umask == 0o027
    bad = {"web": {"command": "sleep 1", "user": "no-such-user-here"}}
    with pytest.raises(ValueError):
        supervisord_reads(tmp_path, bad)
    with pytest.raises(config.ConfigError, match=r"programs\.web\.user"):
        mictld_reads(tmp_path, bad)


def test_numprocs_makes_the_same_processes(tmp_path: Path) -> None:
    """supervisord's numprocs: one section, several processes; mictld names
    each GROUP:PROCESS (supervisord's namespec), so `web:*` addresses them."""
    web = {
        "command": "sleep %(process_num)d",
        "numprocs": "3",
        "numprocs_start": "1",
        "process_name": "%(program_name)s_%(process_num)02d",
    }
    sv, mi = both(tmp_path, {"web": web})
    assert sorted(sv) == ["web_01", "web_02", "web_03"]
    assert sorted(mi) == ["web:web_01", "web:web_02", "web:web_03"]
    for n in (1, 2, 3):
        assert list(mi[f"web:web_0{n}"].argv) == shlex.split(sv[f"web_0{n}"].command)
    # Without %(process_num) in process_name, both refuse several copies.
    bad = {"web": {"command": "sleep 1", "numprocs": "2", "process_name": "x"}}
    with pytest.raises(ValueError, match="process_num"):
        supervisord_reads(tmp_path, bad)
    with pytest.raises(config.ConfigError, match=r"programs\.web\.process_name"):
        mictld_reads(tmp_path, bad)


def test_float_seconds_are_accepted_here_refused_there(tmp_path: Path) -> None:
    """A deliberate difference: supervisord's startsecs/stopwaitsecs are
    integers; mictld's timers take fractions."""
    for option in ("startsecs", "stopwaitsecs"):
        programs = {"web": {"command": "sleep 1", option: "1.5"}}
        with pytest.raises(ValueError):
            supervisord_reads(tmp_path, programs)
        assert getattr(mictld_reads(tmp_path, programs)["web"], option) == 1.5


def test_a_bad_command_refuses_the_file_here(tmp_path: Path) -> None:
    """A deliberate difference: supervisord loads the file and lets that one
    program go FATAL at its start; mictld refuses the file, naming the key
    (at --check-config; a live reload then changes nothing)."""
    programs = {"web": {"command": "sleep 1"}, "bad": {"command": "sh -c 'unbalanced"}}
    assert "bad" in supervisord_reads(tmp_path, programs)
    with pytest.raises(config.ConfigError, match=r"programs\.bad\.command"):
        mictld_reads(tmp_path, programs)


def _supervisord_groups(root: Path, programs: dict, groups: dict) -> dict[str, tuple[int, Any]]:
    """supervisord's namespec (GROUP:PROCESS) -> (group priority, ProcessConfig)."""
    lines = [f"[supervisord]\nlogfile={root}/supervisord.log\n"]
    for kind, sections in (("program", programs), ("group", groups)):
        for name, options in sections.items():
            lines.append(f"[{kind}:{name}]\n" + "\n".join(f"{k}={v}" for k, v in options.items()))
    (root / "supervisord.conf").write_text("\n".join(lines) + "\n")
    opts = ServerOptions()
    opts.configfile = str(root / "supervisord.conf")
    opts.process_config(do_usage=False)
    return {
        f"{g.name}:{p.name}": (g.priority, p)
        for g in opts.process_group_configs
        for p in g.process_configs
    }


def _mictld_groups(root: Path, programs: dict, groups: dict) -> dict[str, ProgramSpec]:
    text = "[daemon]\nstate_dir = 'state'\nlog_dir = 'log'\n"
    for kind, sections in (("programs", programs), ("groups", groups)):
        for name, options in sections.items():
            text += f"[{kind}.{name}]\n" + "".join(f"{k} = '{v}'\n" for k, v in options.items())
    (root / "mictl.toml").write_text(text)
    loaded = config.load(root / "mictl.toml", env=dict(os.environ))
    return {s.name: s for s in config.program_specs(loaded)}


def test_group_members_are_named_as_supervisord_names_them(tmp_path: Path) -> None:
    """[group:grp] programs=a,b: the processes are grp:a, grp:b (a member
    with numprocs grp:b_00...), %(group_name)s is the group's; the group's
    priority orders its members. A program outside any group keeps its own
    name (supervisord's namespec `solo:solo`, which supervisorctl also
    takes as `solo`)."""
    programs = {
        "a": {"command": "echo %(group_name)s %(program_name)s", "priority": "7"},
        "b": {
            "command": "sleep %(process_num)d",
            "numprocs": "2",
            "process_name": "%(program_name)s_%(process_num)02d",
        },
        "solo": {"command": "echo %(group_name)s", "priority": "3"},
    }
    groups = {"grp": {"programs": "a,b", "priority": "42"}}
    sv = _supervisord_groups(tmp_path, programs, groups)
    mi = _mictld_groups(tmp_path, programs, groups)
    assert sorted(sv) == ["grp:a", "grp:b_00", "grp:b_01", "solo:solo"]
    assert sorted(mi) == ["grp:a", "grp:b_00", "grp:b_01", "solo"]
    for name, (group_priority, process) in sv.items():
        ours = mi[name.removeprefix("solo:")]
        assert list(ours.argv) == shlex.split(process.command), name
        assert ours.priority == process.priority, name
        if name.startswith("grp:"):
            assert ours.group_priority == group_priority == 42
    assert mi["solo"].group_priority is None  # its own priority orders it, as there


@pytest.mark.parametrize("spelling", ["a,zz", "zz"])
def test_a_group_naming_an_unknown_program_is_refused_by_both(
    tmp_path: Path, spelling: str
) -> None:
    programs = {"a": {"command": "sleep 1"}}
    groups = {"grp": {"programs": spelling}}
    with pytest.raises(ValueError, match="unknown program"):
        _supervisord_groups(tmp_path, programs, groups)
    with pytest.raises(config.ConfigError, match=r"groups\.grp\.programs: .*'zz'"):
        _mictld_groups(tmp_path, programs, groups)


def test_a_program_in_two_groups_is_refused_here(tmp_path: Path) -> None:
    """A deliberate difference: supervisord runs such a program twice (once
    per group); mictld refuses the file, naming the key."""
    programs = {"a": {"command": "sleep 1"}}
    groups = {"one": {"programs": "a"}, "two": {"programs": "a"}}
    assert sorted(_supervisord_groups(tmp_path, programs, groups)) == ["one:a", "two:a"]
    with pytest.raises(config.ConfigError, match=r"groups\.two\.programs: 'a' is already"):
        _mictld_groups(tmp_path, programs, groups)
