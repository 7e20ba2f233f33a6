"""`mictl site record` and `site replay` against the bundled demo site, in
real Chromium: nothing secret reaches the disk, the replay passes, and a
site file whose selectors moved is told apart role by role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from instance_runner.sites.demo.answers import ERROR as ERROR_MARKER
from instance_runner.sites.demo.answers import answer
from instance_runner.tools.scrub import Scrubber, Secrets, har_secrets, names_near_emails, scrub_har
from tests.helpers import DEMO_PROFILES, demo_site
from tests.recording import every_byte, mictl, modes

pytestmark = [pytest.mark.browser]
SESSION = "mictl-demo-a-5f2b9c1e"
EMAIL = "ada.lovelace@example.org"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    proc, port = demo_site(tmp_path_factory.mktemp("site"))
    yield port
    proc.stop()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory, demo: int) -> Path:
    out, port = tmp_path_factory.mktemp("rec") / "recording", demo
    prompt = f"hello, write to {EMAIL} please"
    result = mictl("site", "record", "--profile", str(DEMO_PROFILES / "demo-a.json"),
                   "--site", "demo", "--url", f"http://127.0.0.1:{port}/", "--out", str(out),
                   "--prompt", prompt, "--redact", "demo-a")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no `verified` date" in result.stdout or "verified" in result.stdout
    return out  # replays need no site: they are served from the recording


def test_recording_holds_the_evidence_and_no_secret(recording: Path) -> None:
    names = {p.relative_to(recording).as_posix() for p in recording.rglob("*") if p.is_file()}
    assert {"recording.har", "meta.json", "site.toml", "screenshot.png"} <= names
    assert {"dom/before-send.html", "dom/streaming.html", "dom/done.html"} <= names
    assert modes(recording) <= {0o700, 0o600}
    whole = every_byte(recording)
    for secret in (SESSION, EMAIL, "demo-a", EMAIL.replace("@", "%40")):
        assert secret.encode() not in whole, secret
    meta = json.loads((recording / "meta.json").read_text())
    assert meta["answer"] == answer("demo-fast", "hello, write to user@redacted.invalid please")
    har = json.loads((recording / "recording.har").read_text())
    posts = [e for e in har["log"]["entries"] if e["request"]["method"] == "POST"]
    assert posts and posts[0]["response"]["content"]["text"]  # the body is there


def test_replay_of_the_recording_passes(recording: Path) -> None:
    result = mictl("site", "replay", str(recording), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert report["ok"] and report["logged_in"] and report["answer_matches"]
    assert report["moved"] == [] and report["missing"] == [] and report["unserved"] == []


def test_replay_names_the_selectors_that_moved(recording: Path, tmp_path: Path) -> None:
    site = (recording / "site.toml").read_text()
    site = site.replace('prompt = "#prompt"', 'prompt = ["#prompt-v2", "#prompt"]')
    site = site.replace('send = "#send"', 'send = "#send-v2"')
    changed = tmp_path / "changed.toml"
    changed.write_text(site)
    result = mictl("site", "replay", str(recording), "--site", str(changed))
    assert result.returncode == 1, result.stdout
    assert "MISSING" in result.stdout and "missing: send" in result.stdout
    assert "MOVED (fallback 1)" in result.stdout and "moved: prompt\n" in result.stdout


HASH = "abcdef0123456789abcdef0123456789abcdef01"


def test_scrubber_removes_headers_tokens_emails_and_names() -> None:
    har = {"log": {"entries": [{
        "request": {
            "method": "POST",
            "url": "https://x.test/rpc?key=AIzaSecretKey123&alt=json",
            "headers": [{"name": "Authorization", "value": f"SAPISIDHASH 17_{HASH}"},
                        {"name": "Cookie", "value": "SID=sid-value-123; NID=nid-value-456"}],
            "cookies": [{"name": "SID", "value": "sid-value-123"}],
            "queryString": [{"name": "key", "value": "AIzaSecretKey123"}],
            "postData": {"mimeType": "application/json",
                         "text": '{"access_token": "tok-999999", "q": "hi"}'},
        },
        "response": {
            "status": 200,
            "headers": [{"name": "set-cookie", "value": "SIDCC=fresh-cookie-789; Path=/"}],
            "cookies": [],
            "content": {"mimeType": "text/html",
                        "text": '<a aria-label="Google Account: Ada Lovelace (ada@example.org)">'
                                "</a> echo sid-value-123 nid-value-456 fresh-cookie-789"
                                f" {HASH} <img src=icon@2x.png>"},
        },
    }]}}  # fmt: skip
    secrets = Secrets()
    har_secrets(har, secrets)
    page = har["log"]["entries"][0]["response"]["content"]["text"]
    secrets.names.update(names_near_emails([page]))
    clean = json.dumps(scrub_har(har, Scrubber(secrets)))
    gone = ["sid-value-123", "nid-value-456", "fresh-cookie-789", HASH]
    gone += ["AIzaSecretKey123", "tok-999999", "ada@example.org", "Ada Lovelace"]
    assert "icon@2x.png" in clean  # a file name, not an address
    for secret in gone:
        assert secret not in clean, secret
    kept = json.loads(json.loads(clean)["log"]["entries"][0]["request"]["postData"]["text"])
    assert kept == {"access_token": "[redacted]", "q": "hi"} and "alt=json" in clean


def test_verified_date_is_printed_and_warned_about_after_30_days() -> None:
    import datetime

    import msgspec

    from ctl.local import site_path, verified_line
    from instance_runner.sites.loader import load_site

    site = msgspec.structs.replace(load_site("demo"), verified="2026-11-01", verified_against="x")
    path = site_path("demo")
    fresh = verified_line(site, path, datetime.date(2026, 12, 1))
    assert fresh == "site file demo verified 2026-11-01 against x"
    stale = verified_line(site, path, datetime.date(2026, 12, 2))
    assert stale.startswith("warning:") and "31 days ago" in stale
    unknown = msgspec.structs.replace(site, verified="")
    assert "no `verified` date" in verified_line(unknown, path)


def test_a_failed_exchange_is_recorded_with_its_error_snapshot_and_replays(
    demo: int, tmp_path: Path
) -> None:
    out = tmp_path / "failed"
    result = mictl("site", "record", "--profile", str(DEMO_PROFILES / "demo-a.json"),
                   "--site", "demo", "--url", f"http://127.0.0.1:{demo}/", "--out", str(out),
                   "--prompt", f"this breaks {ERROR_MARKER}")  # fmt: skip
    assert result.returncode == 1 and "the exchange failed" in result.stdout, result.stdout
    assert (out / "dom" / "error.html").exists() and (out / "screenshot.png").exists()
    assert "internal error" in json.loads((out / "meta.json").read_text())["error"]
    replayed = mictl("site", "replay", str(out), "--json")
    report = json.loads(replayed.stdout)
    assert replayed.returncode == 0 and report["ok"], replayed.stdout
    assert report["recorded_error"] and report["error"].split(":")[0] == "SiteError"
    assert [(r["role"], r["status"]) for r in report["roles"] if r["moment"] == "error"] == [
        ("error", "ok"),
        ("rate_limit", "absent"),
    ]
