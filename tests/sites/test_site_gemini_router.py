"""A signed-out Google account (no SID: its visits end on the account
chooser) behind mictld's front router: its instance says so on /health,
`mictl health` shows it, and no request is sent to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replicas.gemini import harness
from tests.replicas.gemini.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture
from tests.site_router import a_signed_out_account_gets_no_requests

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "replica", scope="function")


def test_logged_out_instance_gets_no_requests(tmp_path: Path, rep: Replica) -> None:
    def profiles(where: Path) -> None:
        harness.profile(where / "good.json")
        harness.profile(where / "gone.json", signed_in=False)

    a_signed_out_account_gets_no_requests(
        tmp_path,
        rep,
        site="gemini",
        model="Fast",
        profiles=profiles,
        expected=lambda q: answer(q, "Fast"),
    )
