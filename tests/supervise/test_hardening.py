"""Issue 9 on a real daemon: odd files, unwritable state, bad config values,
slow and idle clients, port conflicts. Programs are small stand-ins; the
browser-backed demo is tests/e2e/test_hardening_demo.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BIN, Mictld, running, unwritable, wait_until

pytestmark = pytest.mark.slow

FAKE = Path(__file__).resolve().parents[1] / "fake_upstream.py"
FAKE_COMMAND = f"{sys.executable} {FAKE} --port {{port}} --name {{name}}"
POLICY = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"


def mictld(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "mictld"), *args], capture_output=True, text=True, timeout=60)


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1 and "Traceback" not in text


# ------------------------------------------------------------------ files


def test_fifo_profile_is_refused_and_the_daemon_keeps_answering(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("good")
        os.mkfifo(d.profiles / "fifo.json")
        d.start()
        d.wait_state("good", "RUNNING")
        fifo = d.wait_state("fifo", "FATAL")
        assert "FIFO" in fifo.reason and fifo.restarts == 0
        # A FIFO appearing later (the watcher's reload) freezes nothing either.
        os.mkfifo(d.profiles / "later.json")
        assert "FIFO" in d.wait_state("later", "FATAL").reason
        status = d.ctl("status")
        assert status.returncode == 0 and "good" in status.stdout


def test_huge_profile_is_refused_by_its_size(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("good")
        with open(d.profiles / "huge.json", "wb") as f:
            f.truncate(100 * 2**20)  # sparse: 100 MB that cost no memory or disk
        d.start()
        huge = d.wait_state("huge", "FATAL")
        assert "limit" in huge.reason and str(100 * 2**20) in huge.reason
        assert huge.restarts == 0  # refused once, not a restart loop
        d.wait_state("good", "RUNNING")


def test_profile_named_like_an_option_is_skipped(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("-dash")
        d.add_profile("fine")
        d.start()
        d.wait_state("fine", "RUNNING")
        assert set(d.programs()) == {"fine"}
        assert "-dash.json skipped" in (tmp_path / "log" / "mictld.log").read_text()


def test_unwritable_state_dir_refuses_start_in_one_line(tmp_path: Path) -> None:
    d = Mictld(tmp_path, POLICY)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    with unwritable(state):
        result = mictld("-c", str(d.config))
    assert result.returncode == 1, result.stderr
    assert one_line(result.stderr) and str(state) in result.stderr
    assert not d.socket.exists()


def test_state_write_failure_is_an_error_the_operator_sees(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        state = tmp_path / "state"
        with unwritable(state):
            stop = d.ctl("stop", "a")
            assert stop.returncode == 1 and "cannot write" in stop.stderr, stop.stderr
            assert one_line(stop.stderr)
            status = d.ctl("status")
            assert status.returncode == 0 and "cannot write" in status.stderr
            info = d.client.call("GET", "/v1/daemon", dict)
            assert "state.json" in info["state_error"]
            reload = d.ctl("reload")  # no bare 500; the watcher lives on
            assert reload.returncode == 0, reload.stderr
        log = (tmp_path / "log" / "mictld.log").read_text()
        assert "cannot write" in log and "Traceback" not in log
        d.add_profile("b")  # the watcher is alive: b is noticed, and state saves again
        d.wait_state("b", "RUNNING")
        wait_until(lambda: d.ctl("status").stderr == "", 10, "the warning gone")
        assert json.loads((state / "state.json").read_text())["programs"]["a"]["desired"] == (
            "stopped"
        )


def test_non_utf8_config_is_a_clear_error_and_the_watcher_survives(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[router]\nstrategy = "\xff\xfe"\n')
    checked = mictld("--check-config", str(bad))
    assert checked.returncode == 2 and one_line(checked.stderr)
    assert "UTF-8" in checked.stderr and str(bad) in checked.stderr
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        good = d.config.read_bytes()
        d.config.write_bytes(good + b"# caf\xe9\n")
        log = tmp_path / "log" / "mictld.log"
        wait_until(lambda: "not UTF-8" in log.read_text(), 20, "the refused reload")
        reload = d.ctl("reload")
        assert reload.returncode == 2 and "UTF-8" in reload.stderr
        d.config.write_bytes(good)
        d.add_profile("b")  # still watched
        d.wait_state("b", "RUNNING")
        assert "config watcher crashed" not in log.read_text()


# ----------------------------------------------------------- config values

BAD_VALUES = [
    ("router", "max_concurrent", "0", "router.max_concurrent"),
    ("router", "queue_size", "-1", "router.queue_size"),
    ("router", "max_retries", "-2", "router.max_retries"),
    ("router", "queue_timeout", "0", "router.queue_timeout"),
    ("health", "interval", "0", "health.interval"),
    ("health", "unhealthy_after", "0", "health.unhealthy_after"),
    ("daemon", "socket_mode", '"-1"', "daemon.socket_mode"),
    ("daemon", "socket_mode", '"0666"', "daemon.socket_mode"),
    ("daemon", "socket_group", '"no-such-group-mictl"', "daemon.socket_group"),
    ("router", "port", "-5", "router.port"),
    ("router", "port", "70000", "router.port"),
    ("profiles", "base_port", "-1", "profiles.base_port"),
    ("profiles", "command", '"mictl-instance --port {port} --as {nmae}"', "profiles.command"),
    ("router", "host", '"127.0.0.1.nip.io"', "router.host"),
    ("profiles", "host", '"0.0.0.0"', "profiles.host"),
    ("router", "breaker.failure_rate", "2", "router.breaker.failure_rate"),
    ("router", "max_header_bytes", "100", "router.max_header_bytes"),
    ("router", "max_header_bytes", "99999999", "router.max_header_bytes"),
    ("router", "max_connections_per_client", "-1", "router.max_connections_per_client"),
    ("fleet", "flap_window", "-60", "fleet.flap_window"),
    ("fleet", "flap_exits", "-1", "fleet.flap_exits"),
    ("fleet", "flap_delay", "0", "fleet.flap_delay"),
    ("fleet", "flap_delay_max", "0.5", "fleet.flap_delay_max"),  # below flap_delay 1
    ("fleet", "max_starting", "-1", "fleet.max_starting"),
    ("fleet", "fatal_retry_after", "-1", "fleet.fatal_retry_after"),
    ("fleet", "fatal_retry_max", "0", "fleet.fatal_retry_max"),
    ("scaling", "min_running", "-1", "scaling.min_running"),
    ("scaling", "max_running", "-2", "scaling.max_running"),
    ("scaling", "up_above", "0", "scaling.up_above"),
    ("scaling", "down_below", "-0.1", "scaling.down_below"),
    ("scaling", "down_below", "0.9", "scaling.down_below"),  # not below up_above 0.8
    ("scaling", "window", "-1", "scaling.window"),
    ("scaling", "cooldown", "-5", "scaling.cooldown"),
    ("scaling", "interval", "0", "scaling.interval"),
]


def with_value(text: str, section: str, key: str, value: str) -> str:
    """`text` with `[section] key = value`, replacing the key if it is set."""
    if "." in key:
        sub, key = key.split(".", 1)
        section = f"{section}.{sub}"
    lines, out, inside, done = text.splitlines(), [], False, False
    for line in lines:
        if line.startswith("["):
            inside = line.strip() == f"[{section}]"
            out.append(line)
            if inside:
                out.append(f"{key} = {value}")
                done = True
            continue
        if inside and line.split("=")[0].strip() == key:
            continue
        out.append(line)
    if not done:
        out += [f"[{section}]", f"{key} = {value}"]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("section", "key", "value", "named"), BAD_VALUES)
def test_check_config_refuses_bad_values_naming_the_key(
    tmp_path: Path, section: str, key: str, value: str, named: str
) -> None:
    path = tmp_path / "mictl.toml"
    path.write_text(with_value("", section, key, value))
    result = mictld("--check-config", str(path))
    assert result.returncode == 2, result.stdout
    assert named in result.stderr and one_line(result.stderr)


def test_router_port_inside_the_instance_ports_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "p" / f"{name}.json").write_text("{}")
    path = tmp_path / "mictl.toml"
    path.write_text('[profiles]\ndir = "p"\nbase_port = 4000\n[router]\nport = 4002\n')
    result = mictld("--check-config", str(path))
    assert result.returncode == 2 and "router.port" in result.stderr
    path.write_text('[profiles]\ndir = "p"\nbase_port = 4000\n[router]\nport = 4003\n')
    assert mictld("--check-config", str(path)).returncode == 0


def test_a_live_reload_with_a_bad_value_changes_nothing(tmp_path: Path) -> None:
    import openai

    router = 'strategy = "round_robin"\n'
    with running(tmp_path, POLICY, router=router, command=FAKE_COMMAND) as d:
        d.add_profile("a")
        d.start()
        wait_until(lambda: d.client.call("GET", "/v1/backends", list)[0]["routable"], 30, "a")
        good = d.config.read_text()
        before = d.programs()
        backends = d.client.call("GET", "/v1/backends", list)
        for section, key, value, named in BAD_VALUES:
            d.config.write_text(with_value(good, section, key, value))
            result = d.ctl("reload")
            assert result.returncode == 2, (key, result.stdout)
            assert named in result.stderr, (named, result.stderr)
        assert {n: p.pid for n, p in d.programs().items()} == {n: p.pid for n, p in before.items()}
        after = d.client.call("GET", "/v1/backends", list)
        assert [b["max_concurrent"] for b in after] == [b["max_concurrent"] for b in backends]
        assert d.client.call("GET", "/v1/daemon", dict)["config"] == str(d.config.resolve())
        d.config.write_text(good)
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="k", max_retries=0
        )
        with client:
            reply = client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}]
            )
        assert reply.choices[0].message.content == "a"


def test_removed_profile_leaves_no_cookies_or_pages_behind(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.start_with("gone", "kept", "other")
        state, log = tmp_path / "state" / "profiles", tmp_path / "log"
        for name in ("gone", "kept"):
            (log / f"{name}-errors").mkdir(mode=0o700)
            (log / f"{name}-errors" / "page.html").write_text("the chat and the account")
        (d.profiles / "gone.json").unlink()
        wait_until(lambda: "gone" not in d.programs(), 30, "gone removed")
        wait_until(lambda: not (state / "gone.json").exists(), 10, "its private copy deleted")
        assert not (log / "gone-errors").exists()
        keys = tmp_path / "state" / "keys"
        assert not (keys / "gone.key").exists(), "its instance key deleted too"
        assert (state / "other.json").exists() and (keys / "other.key").exists()
        d.config.write_text(with_value(d.config.read_text(), "profiles", "keep_removed", "true"))
        assert d.ctl("reload").returncode == 0
        (d.profiles / "kept.json").unlink()
        wait_until(lambda: "kept" not in d.programs(), 30, "kept removed")
        assert (state / "kept.json").exists() and (log / "kept-errors" / "page.html").exists()
