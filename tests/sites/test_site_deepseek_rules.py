"""deepseek.toml's rules without a browser: its status rules on the
replica's own error answers, the switches each model wants, and the login
kept in localStorage."""

from __future__ import annotations

import json
from pathlib import Path

from instance_runner.sites import status
from instance_runner.sites.errors import Captcha, LoggedOut, RateLimited, UpstreamError
from instance_runner.sites.loader import load_site
from instance_runner.sites.login import Seen, has_rule, judge, state_of
from instance_runner.sites.toggles import wanted
from instance_runner.tools.site_record import storage_stand_ins
from tests.replicas.deepseek import harness
from tests.replicas.deepseek.answers import TOKEN

SITE = load_site("deepseek")
BUSY = "服务器繁忙\uff0c请稍后再试\u3002"


def test_statuses_of_the_completion() -> None:
    assert isinstance(status.classify(SITE, 429, '{"code":0,"data":{"biz_code":4}}'), RateLimited)
    page = "<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
    assert isinstance(status.classify(SITE, 403, page), Captcha)
    assert isinstance(status.classify(SITE, 401, '{"code":40003}'), LoggedOut)
    assert isinstance(status.classify(SITE, 502, "Bad gateway"), UpstreamError)


def test_server_busy_inside_a_200_is_an_upstream_error() -> None:
    # The decoder's error event for the envelope reaches the rules with no status.
    assert isinstance(status.classify(SITE, None, BUSY), UpstreamError)


def test_each_model_wants_its_switches() -> None:
    think, search = SITE.toggle
    table = {
        "deepseek-chat": (False, False),
        "deepseek-reasoner": (True, False),
        "deepseek-chat-search": (False, True),
        "DeepSeek-Reasoner-Search": (True, True),
    }
    for model, want in table.items():
        assert (wanted(think, model), wanted(search, model)) == want, model


def test_a_login_missing_from_local_storage_is_signed_out() -> None:
    home = "https://chat.deepseek.com/"
    found = {"signed_in": "textarea#chat-input", "ready": "textarea#chat-input"}
    signed_in = judge(Seen(url=home, title="DeepSeek", found=found, storage=["userToken"]), SITE)
    assert signed_in.signed_in and signed_in.signed_out is None
    gone = judge(Seen(url=home, title="DeepSeek", found=found, storage=[]), SITE)
    assert not gone.signed_in and "userToken" in (gone.signed_out or "")
    # The one-shot tools read the same rule (mictl profile check, capture).
    assert has_rule(SITE) and SITE.login.local_storage == ["userToken"]
    assert state_of(Seen(url=home, found=found, storage=["userToken"]), SITE) == "logged_in"
    assert state_of(Seen(url=home, found=found, storage=[]), SITE) == "logged_out"


def test_a_recording_keeps_the_storage_login_shape_without_its_values(tmp_path: Path) -> None:
    profile = harness.profile(tmp_path / "p.json")
    state = json.loads(profile.read_text())
    state["origins"][0]["localStorage"].append({"name": "uid", "value": "123456789"})
    profile.write_text(json.dumps(state))
    items = storage_stand_ins(str(profile), "[redacted]")
    assert TOKEN not in json.dumps(items) and "123456789" not in json.dumps(items)
    token = next(i for i in items if i["name"] == "userToken")
    assert token["origin"] == harness.ORIGIN
    assert json.loads(token["value"]) == {"value": "[redacted]", "__version": "[redacted]"}
    assert next(i for i in items if i["name"] == "uid")["value"] == "0"
