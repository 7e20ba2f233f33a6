"""mictld's deliberate differences from supervisord (README's table), pinned
with real processes. What is the same as supervisord is proven side by side
in test_differential.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.helpers import running, wait_until

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
