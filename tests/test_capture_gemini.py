"""Record and replay against the Gemini replica, served under its real
hostnames over HTTPS, with the bundled gemini.toml as is: no session cookie
and no page token (SNlM0e, posted as `at`) in the recording."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.recording import every_byte, mictl, modes
from tests.replicas.gemini import harness
from tests.replicas.gemini.answers import AT_TOKEN, answer
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    r = harness.replica(tmp_path_factory.mktemp("gemini"))
    yield r
    r.stop()


def test_record_then_replay_round_trips_with_no_secret(rep: Replica) -> None:
    """`site record` on the replica (the browser flags through the config's
    [profiles.browser] args, as an operator would give them), then `site
    replay` of the recording: the answer comes back, no secret is on disk."""
    config = rep.tmp / "mictl.toml"
    config.write_text(
        '[daemon]\nsocket = "run/mictl.sock"\nstate_dir = "state"\nlog_dir = "log"\n'
        f'[profiles]\ndir = "profiles"\nsite = "gemini"\n'
        f"[profiles.browser]\nargs = {json.dumps(rep.browser_args)}\n"
    )
    profile = harness.profile(rep.tmp / "record.json")
    out = rep.tmp / "recording"
    made = mictl("-c", str(config), "site", "record", "--profile", str(profile),
                 "--site", "gemini", "--out", str(out), "--prompt", "record me",
                 "--model", "Thinking")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert modes(out) <= {0o700, 0o600}
    whole = every_byte(out)
    assert b"replica-session" not in whole  # the SID cookie's value
    assert AT_TOKEN.encode() not in whole  # the page's token, in its HTML and each post
    assert b"StreamGenerate" in whole  # (what was recorded is the answer's request)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["answer"] == answer("record me", "Thinking")
    replayed = mictl("site", "replay", str(out), "--json")
    report = json.loads(replayed.stdout)
    assert replayed.returncode == 0 and report["ok"], replayed.stdout
