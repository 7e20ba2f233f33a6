"""A partial table keeps the documented default of every key it leaves out
(daemon/config/defaults.py), for every table of the schema, and the demo's
`[profiles.program]` in particular."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from daemon.config import defaults as config_defaults
from daemon.config import loader as config
from tests.helpers import REPO

TABLES = config_defaults.documented(config.Config)
CASES = [
    (path, key)
    for path, table in TABLES.items()
    for key, value in table.items()
    if value is not None
]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    return json.dumps(value)


def table(cfg: config.Config, path: str) -> Any:
    value: Any = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return msgspec.to_builtins(value)


def test_every_nested_table_is_covered() -> None:
    assert {"profiles.program", "router.breaker", "profiles.browser", "daemon"} <= set(TABLES)


@pytest.mark.parametrize(("path", "key"), CASES, ids=[f"{p}.{k}" for p, k in CASES])
def test_naming_one_key_at_its_default_changes_nothing_else(
    tmp_path: Path, path: str, key: str
) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    partial = tmp_path / "partial.toml"
    partial.write_text(f"[{path}]\n{key} = {toml_value(TABLES[path][key])}\n")
    expected = table(config.load(empty, env={}), path)
    assert table(config.load(partial, env={}), path) == expected


def test_an_environment_override_is_partial_too(tmp_path: Path) -> None:
    path = tmp_path / "mictl.toml"
    path.write_text("")
    cfg = config.load(path, env={"MICTL_PROFILES__PROGRAM__STARTSECS": "7"})
    spec = config.resolve_program("x", cfg.profiles.program, "/l", argv=("-",))
    assert spec.startsecs == 7
    assert spec.redirect_stderr and spec.killasgroup and spec.autorestart == "true"


def test_the_demo_configs_instances_keep_the_runners_defaults() -> None:
    """etc/demo.toml's [profiles.program] names startsecs, environment...:
    not redirect_stderr, so `mictl logs demo-b` must still show the runner's
    log (it logs to stderr)."""
    cfg = config.load(REPO / "etc" / "demo.toml", env={})
    spec = config.resolve_program("demo-b", cfg.profiles.program, "/l", argv=("-",))
    assert spec.redirect_stderr
    assert spec.killasgroup and not spec.stopasgroup
    assert spec.autorestart == "true"
    # ...while [programs.X] tables keep supervisord's defaults.
    site = next(s for s in config.program_specs(cfg) if s.name == "demo-site")
    assert not site.redirect_stderr and site.autorestart == "true"
