"""Which page a request goes to, with N (instance_runner/pages.pick_page):
a pure decision, tested without a browser."""

from __future__ import annotations

import pytest

from instance_runner.pages import pick_page


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        ([True], (0, True)),  # one page, its chat open: start, hold the others' loads
        ([False], (0, False)),  # wait on its own load, hold nothing
        ([True, True], (0, True)),  # the one free longest
        ([True, False], (0, True)),
        ([False, True], (1, True)),  # the other page's chat is open: take it
        # None is open: wait on the one free longest (its load began first),
        # and hold nothing (the load it waits for must not wait for it).
        ([False, False], (0, False)),
        ([False, False, False, True], (3, True)),
        ([False, True, True, False], (1, True)),
    ],
)
def test_pick_page(ready: list[bool], expected: tuple[int, bool]) -> None:
    assert pick_page(ready) == expected
