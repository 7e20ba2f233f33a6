"""A logged-out ChatGPT account (no session cookie: the logged-out page) behind
mictld's front router: its instance says so on /health, `mictl health`
shows it, and no request is sent to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replicas.chatgpt import harness
from tests.replicas.chatgpt.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture
from tests.site_router import a_signed_out_account_gets_no_requests

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "replica", scope="function")


def test_logged_out_instance_gets_no_requests(tmp_path: Path, rep: Replica) -> None:
    def profiles(where: Path) -> None:
        harness.profile(where / "good.json")
        harness.profile(where / "gone.json", session=None)

    a_signed_out_account_gets_no_requests(
        tmp_path,
        rep,
        site="chatgpt",
        model="gpt-4o",
        profiles=profiles,
        expected=lambda q: answer(q, "gpt-4o"),
    )
