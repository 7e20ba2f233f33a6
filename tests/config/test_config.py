"""Config: schema, errors that name file and key, env overrides, supervisord syntax."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config import loader as config
from daemon.config.loader import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mictl.toml"
    path.write_text(text)
    return path


def test_empty_file_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, ""), env={})
    assert cfg.router.strategy == "round_robin"
    assert cfg.router.host == "127.0.0.1"
    assert cfg.profiles.base_port == 3001
    assert cfg.profiles.dir == str(tmp_path / "auth_profiles" / "saved")  # relative to the file
    assert cfg.daemon.socket_mode == "0600"


def test_example_config_documents_every_key_with_its_default() -> None:
    """etc/mictl.toml is the reference: every schema key, each at its default."""
    import tomllib

    import msgspec

    example = Path(__file__).parents[2] / "etc" / "mictl.toml"
    raw = tomllib.loads(example.read_text())
    assert msgspec.convert(raw, config.Config, strict=False) == config.Config()

    def walk(struct: type, table: dict, where: str) -> None:
        for field in msgspec.structs.fields(struct):
            if field.name in ("path", "programs", "groups", "upstreams", "overrides"):
                continue  # loader-set / examples only / documented as derived
            assert field.name in table, f"{where}{field.name} missing from etc/mictl.toml"
            if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
                walk(field.type, table[field.name], f"{where}{field.name}.")

    walk(config.Config, raw, "")
    config.load(example, env={})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[router]\nstrategy = "fastest"', "router.strategy"),
        ("[router]\nport = 'x'", "router.port"),
        ("[daemon]\nsokcet = 'x'", "daemon"),
        ('[programs.web]\ncommand = "x"\nstopsignal = "FOO"', "programs.web.stopsignal"),
        ('[programs.web]\ncommand = "x"\nexitcodes = "a,b"', "programs.web.exitcodes"),
        (
            '[programs.web]\ncommand = "x"\nstdout_logfile_maxbytes = "5XB"',
            "programs.web.stdout_logfile_maxbytes",
        ),
        ('[programs.web]\ncommand = "x"\nautorestart = "maybe"', "programs.web.autorestart"),
        ("[programs.web]\nstartsecs = 1", "programs.web.command"),
        ('[programs."../x"]\ncommand = "x"', "programs.../x"),
        ('[profiles.program]\nstopsignal = "NOPE"', "profiles.program.stopsignal"),
        ('[daemon]\nsocket_mode = "rw"', "daemon.socket_mode"),
        ("[profiles.browser]\ntabs = 17", "profiles.browser.tabs"),
        ("[profiles.browser]\ntabs = 0", "profiles.browser.tabs"),
        ("[router\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path, env={})
    assert str(path) in str(info.value)
    assert where in str(info.value)


def test_supervisord_value_syntax_means_the_same(tmp_path: Path) -> None:
    cfg = config.load(
        write(
            tmp_path,
            """
            [programs.web]
            command = "python -m http.server 'a b'"
            stopsignal = "TERM"
            exitcodes = "0,2"
            stdout_logfile_maxbytes = "50MB"
            autorestart = "unexpected"
            autostart = "false"
            environment = 'A="1",B=two'
            stopasgroup = true
            """.replace("\n            ", "\n"),
        ),
        env={},
    )
    (spec,) = config.program_specs(cfg)
    assert spec.argv == ("python", "-m", "http.server", "a b")
    assert spec.stopsignal == signal.SIGTERM
    assert spec.exitcodes == (0, 2)
    assert spec.stdout_logfile_maxbytes == 50 * 1024 * 1024
    assert spec.autorestart == "unexpected" and spec.autostart is False
    assert dict(spec.environment) == {"A": "1", "B": "two"}
    assert spec.killasgroup is True  # defaults to stopasgroup, as in supervisord


def test_env_overrides_any_scalar_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[router]\nstrategy = "random"\n')
    env = {
        "MICTL_ROUTER__STRATEGY": "least_busy",
        "MICTL_PROFILES__BASE_PORT": "4000",
        "MICTL_PROFILES__PROGRAM__STARTSECS": "3",
        "MICTL_SOCKET": "/ignored/belongs/to/the/cli",
    }
    cfg = config.load(path, env=env)
    assert cfg.router.strategy == "least_busy"
    assert cfg.profiles.base_port == 4000
    assert cfg.profiles.program.startsecs == 3
    with pytest.raises(ConfigError, match=r"router\.port"):
        config.load(path, env={"MICTL_ROUTER__PORT": "many"})


@given(st.lists(st.integers(0, 255), min_size=1, max_size=6))
def test_exitcodes_as_list_or_string_agree(codes: list[int]) -> None:
    as_list = config.ProgramOptions(command="x", exitcodes=codes)
    as_text = config.ProgramOptions(command="x", exitcodes=",".join(map(str, codes)))
    a = config.resolve_program("p", as_list, "/tmp")
    b = config.resolve_program("p", as_text, "/tmp")
    assert a.exitcodes == b.exitcodes == tuple(codes)


@given(st.integers(0, 2**40), st.sampled_from(["", "KB", "MB", "GB"]))
def test_byte_sizes_parse_like_supervisord(n: int, unit: str) -> None:
    factor = {"": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[unit]
    options = config.ProgramOptions(command="x", stdout_logfile_maxbytes=f"{n}{unit}")
    assert config.resolve_program("p", options, "/tmp").stdout_logfile_maxbytes == n * factor


@given(st.text(max_size=40))
def test_any_text_config_loads_or_fails_with_config_error(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_text(text)
        try:
            config.load(path, env={})
        except ConfigError as exc:
            assert str(path) in str(exc)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[scaling]\nmin_running = 3\nmax_running = 2", "scaling.max_running"),
        ("[fleet]\nfatal_retry_after = 60\nfatal_retry_max = 30", "fleet.fatal_retry_max"),
        ("[fleet]\nflap_window = -60", "fleet.flap_window"),
        ("[scaling]\ninterval = 0.01", "scaling.interval"),
    ],
)
def test_fleet_and_scaling_ranges_are_refused_naming_the_key(
    tmp_path: Path, text: str, where: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path, env={})
    assert where in str(info.value)


def test_fleet_and_scaling_values_at_their_edges_load(tmp_path: Path) -> None:
    """The edges of each range are usable: scale to zero, no cooldown, retries off."""
    text = (
        "[scaling]\nmin_running = 0\nmax_running = 0\nup_above = 1.5\ndown_below = 0\n"
        "window = 0\ncooldown = 0\ninterval = 0.1\n"
        "[fleet]\nmax_starting = 0\nflap_exits = 1\nflap_delay = 2\nflap_delay_max = 2\n"
        "fatal_retry_after = 0\nfatal_retry_max = 1\n"
    )
    cfg = config.load(write(tmp_path, text), env={})
    assert cfg.scaling.up_above == 1.5 and cfg.fleet.flap_delay_max == 2


def test_tabs_reach_each_instance(tmp_path: Path) -> None:
    from daemon.profiles import instance_argv

    one = config.load(write(tmp_path, ""), env={})
    four = config.load(write(tmp_path, "[profiles.browser]\ntabs = 4"), env={})
    pool = tmp_path / "a.json"
    assert "--tabs" not in instance_argv(one, "a", 3001, "copy.json", pool)
    argv = instance_argv(four, "a", 3001, "copy.json", pool)
    assert argv[argv.index("--tabs") + 1] == "4"
