"""Record and replay against the Gemini replica, served under its real
hostnames over HTTPS, with the bundled gemini.toml as is: no session cookie
and no page token (SNlM0e, posted as `at`) in the recording."""

from __future__ import annotations

import pytest

from tests.replicas.gemini import harness
from tests.replicas.gemini.answers import AT_TOKEN, answer
from tests.replicas.tls import Replica
from tests.site_kit import record_and_replay, replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "gemini")


def test_record_then_replay_round_trips_with_no_secret(rep: Replica) -> None:
    """`site record` on the replica (the browser flags through the config's
    [profiles.browser] args, as an operator would give them), then `site
    replay` of the recording: the answer comes back, no secret is on disk."""
    profile = harness.profile(rep.tmp / "record.json")
    meta, whole = record_and_replay(rep, "gemini", profile, "Thinking")
    assert b"replica-session" not in whole  # the SID cookie's value
    assert AT_TOKEN.encode() not in whole  # the page's token, in its HTML and each post
    assert b"StreamGenerate" in whole  # (what was recorded is the answer's request)
    assert meta["answer"] == answer("record me", "Thinking")
