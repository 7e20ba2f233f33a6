"""Old-host cookies carried to a site's new host (lmarena.ai -> arena.ai)."""

from __future__ import annotations

import json
from pathlib import Path

from instance_runner.sites import moved

URL = "https://arena.ai/text/direct"


def cookie(name: str, domain: str, value: str = "v") -> dict[str, object]:
    return {"name": name, "value": value, "domain": domain, "path": "/", "expires": -1}


def test_old_host_cookies_are_copied_to_the_new_host() -> None:
    state = {
        "cookies": [
            cookie("arena-auth-prod-v1", ".lmarena.ai", "s1"),
            cookie("cf_clearance", "www.lmarena.ai"),
            cookie("NID", ".google.com"),
        ]
    }
    assert moved.carry_over(state, URL, ["lmarena.ai"]) == 2
    added = {(c["name"], c["domain"], c["value"]) for c in state["cookies"][3:]}
    assert added == {
        ("arena-auth-prod-v1", ".arena.ai", "s1"),
        ("cf_clearance", "www.arena.ai", "v"),
    }


def test_cookies_already_on_the_new_host_win() -> None:
    state = {
        "cookies": [
            cookie("arena-auth-prod-v1", ".lmarena.ai", "old"),
            cookie("arena-auth-prod-v1", "arena.ai", "new"),
        ]
    }
    assert moved.carry_over(state, URL, ["lmarena.ai"]) == 0
    assert len(state["cookies"]) == 2


def test_profile_file_and_hint(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"cookies": [cookie("a", ".lmarena.ai")], "origins": []}))
    assert moved.load_profile(str(path), URL, []) == (str(path), 0)
    state, copied = moved.load_profile(str(path), URL, ["lmarena.ai"])
    assert copied == 1 and state["cookies"][1]["domain"] == ".arena.ai"
    assert "capture the profile again on arena.ai" in moved.hint(URL, ["lmarena.ai"], 1)
    assert moved.hint(URL, ["lmarena.ai"], 0) == ""


def test_the_target_may_be_a_bare_host() -> None:
    state = {"cookies": [cookie("s", ".lmarena.ai")]}
    assert moved.carry_over(state, "arena.ai", ["lmarena.ai"]) == 1
    assert state["cookies"][1]["domain"] == ".arena.ai"
