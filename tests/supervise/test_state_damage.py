"""A damaged state file: mictld starts cleanly, keeps what can be read,
names the rest in `mictl status` (issue 28 item 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.state_repair import repair
from tests.helpers import running


def _write_state(root: Path, text: str) -> None:
    state = root / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    (state / "state.json").write_text(text)


def _programs(**entries: Any) -> str:
    return json.dumps({"version": 1, "programs": entries})


# (state file text given the daemon's base and front ports, what status must name)
KINDS: dict[str, tuple[Any, str]] = {
    "port too big": (
        lambda b, f: _programs(a={"port": 70000}, b={"port": b + 1}),
        "a.port = 70000",
    ),
    "negative port": (lambda b, f: _programs(a={"port": -1}, b={"port": b + 1}), "a.port = -1"),
    "duplicate port": (
        lambda b, f: _programs(a={"port": b + 1}, b={"port": b + 1}),
        "b.port = {b1}: also a's",
    ),
    "router's port": (
        lambda b, f: _programs(a={"port": f}, b={"port": b + 1}),
        "the router's port",
    ),
    "a bad field beside a stop": (
        lambda b, f: _programs(
            a={"desired": 42, "port": b}, b={"desired": "stopped", "desired_by": "operator"}
        ),
        "a.desired = 42",
    ),
    "a bad entry": (
        lambda b, f: _programs(a="garbage", b={"desired": "stopped"}),
        "a: not an object",
    ),
    "not JSON": (lambda b, f: '{"programs": {"a": {"port": 30', "not JSON"),
    "not an object": (lambda b, f: "[1, 2, 3]", "not a JSON object"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_damaged_state_file_starts_cleanly_and_says_so(tmp_path: Path, kind: str) -> None:
    make, named = KINDS[kind]
    with running(tmp_path, router="") as d:
        text = make(d.base_port, d.front_port)
        _write_state(tmp_path, text)
        d.add_profile("a")
        d.add_profile("b")
        d.start()
        stopped_b = '"stopped"' in text and "b" in json.loads(text).get("programs", {})
        d.wait_state("a", "RUNNING")
        d.wait_state("b", "STOPPED" if stopped_b else "RUNNING")
        ports = {name: info.port for name, info in d.programs().items()}
        assert None not in ports.values()
        assert len(set(ports.values())) == 2
        assert d.front_port not in ports.values()
        assert all(1 <= p <= 65535 for p in ports.values() if p is not None)
        status = d.ctl("status")
        expected = named.replace("{b1}", str(d.base_port + 1))
        assert "state file damaged at start" in status.stderr, status.stderr
        assert expected in status.stderr, status.stderr
        assert (tmp_path / "state" / "state.json.corrupt").read_text() == text
        # The repaired file is what the next daemon reads: no damage named then.
        assert d.stop() == 0
        d.start()
        d.wait_state("a", "RUNNING")
        assert "damaged" not in d.ctl("status").stderr
        assert d.programs()["a"].port == ports["a"]


def test_a_sound_state_file_names_no_damage(tmp_path: Path) -> None:
    with running(tmp_path, router="") as d:
        _write_state(tmp_path, _programs(a={"port": d.base_port + 5}))
        d.start_with("a")
        assert d.program("a").port == d.base_port + 5
        assert "damaged" not in d.ctl("status").stderr
        assert not (tmp_path / "state" / "state.json.corrupt").exists()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
ENTRY = st.dictionaries(
    st.sampled_from(["desired", "port", "restarts", "last_exit", "desired_by", "x"]),
    JSONISH | st.integers(-(2**70), 2**70),
    max_size=5,
)


@given(st.dictionaries(st.text(max_size=5), ENTRY | JSONISH, max_size=6) | JSONISH)
def test_repair_keeps_what_it_can_and_every_port_is_bindable(programs: Any) -> None:
    raw = msgspec.json.encode({"version": 1, "programs": programs})
    state, _ = repair(raw)
    ports = [s.port for s in state.programs.values() if s.port is not None]
    assert all(1 <= p <= 65535 for p in ports)
    assert len(ports) == len(set(ports))
    if isinstance(programs, dict):
        assert set(state.programs) == set(programs)  # an entry is repaired, not dropped
    # Sound input comes back as it went in, with nothing named.
    again, none = repair(msgspec.json.encode(state))
    assert again == state and none == []


@given(st.binary(max_size=64))
def test_repair_never_raises_on_any_bytes(raw: bytes) -> None:
    repair(raw)
