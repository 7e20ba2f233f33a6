"""The control API's query parameters: a value that is not a number, or out
of range, is a 400 that names the parameter, and nothing starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctl.client import ApiError
from daemon.types import RollStatus
from tests.helpers import running

POLICY = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/v1/roll", {"batch": "abc"}, "batch"),
        ("/v1/roll", {"batch": "0"}, "batch"),
        ("/v1/roll", {"max_unavailable": "1.5"}, "max_unavailable"),
        ("/v1/roll", {"timeout": "soon"}, "timeout"),
        ("/v1/roll", {"timeout": "nan"}, "timeout"),
        ("/v1/events", {"n": "ten"}, "n"),
        ("/v1/programs/a/logs", {"n": "-1"}, "n"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    tmp_path: Path, path: str, query: dict[str, str], named: str
) -> None:
    with running(tmp_path, POLICY) as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        pid = d.program("a").pid
        method = "POST" if path == "/v1/roll" else "GET"
        with pytest.raises(ApiError) as info:
            d.client.call(method, path, dict, query)
        assert info.value.status == 400 and info.value.code == "bad_parameter"
        assert str(info.value).startswith(f"{named}: "), str(info.value)
        assert repr(query[named]) in str(info.value)
        assert d.client.call("GET", "/v1/roll", RollStatus | None) is None  # no roll began
        assert d.program("a").pid == pid


def test_good_parameters_still_roll(tmp_path: Path) -> None:
    with running(tmp_path, POLICY) as d:
        d.start_with("a", "b", "c")
        query = {"batch": "2", "max_unavailable": "2", "timeout": "30"}
        status = d.client.call("POST", "/v1/roll", RollStatus, query)
        assert status.batches == [["a", "b"], ["c"]]
