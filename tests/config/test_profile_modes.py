"""The warning about a profile others may read: for real logins, not for the
bundled demo's profiles (git checks them out 0644; issue 28 item 15)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers import DEMO_PROFILES, running


def _cookie(domain: str) -> dict[str, object]:
    return {"name": "sid", "value": "x", "domain": domain, "path": "/"}


def test_demo_profiles_do_not_warn_about_their_mode(tmp_path: Path) -> None:
    with running(tmp_path) as d:
        for demo in ("demo-a", "demo-b"):
            d.add_profile(demo, (DEMO_PROFILES / f"{demo}.json").read_text())
        d.add_profile("local", json.dumps({"cookies": [_cookie("localhost")], "origins": []}))
        d.add_profile("real", json.dumps({"cookies": [_cookie(".google.com")], "origins": []}))
        mixed = {"cookies": [_cookie("127.0.0.1")], "origins": [{"origin": "https://x.org"}]}
        d.add_profile("mixed", json.dumps(mixed))
        for path in d.profiles.iterdir():
            os.chmod(path, 0o644)
        d.start()
        d.wait_state("real", "RUNNING")
        warned = [line for line in d.output().splitlines() if "readable by group or others" in line]
        assert len(warned) == 1
        assert "real.json" in warned[0] and "mixed.json" in warned[0]
        for quiet in ("demo-a", "demo-b", "local"):
            assert f"{quiet}.json" not in warned[0]
