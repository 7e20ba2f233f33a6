"""Which tab a request goes to, with two (instance_runner/browser.pick_tab):
a pure decision, tested without a browser."""

from __future__ import annotations

import pytest

from instance_runner.browser import pick_tab


@pytest.mark.parametrize(
    ("current", "spare", "expected"),
    [
        (True, True, (False, True)),  # this tab's chat is open: stay, hold the other
        (True, False, (False, True)),
        (False, True, (True, True)),  # the other tab's is: take it, hold this one
        # Neither is open: wait on this tab's own load, and hold nothing (the
        # load it waits for must not wait for this request's first delta).
        (False, False, (False, False)),
    ],
)
def test_pick_tab(current: bool, spare: bool, expected: tuple[bool, bool]) -> None:
    assert pick_tab(current, spare) == expected
