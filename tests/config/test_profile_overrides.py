"""[profiles.overrides.NAME] and the proxy's URL and credentials, with no
browser: what the config refuses (naming the key, never echoing a secret),
what each instance's command line says (never a secret), and that a reload
restarts only the profile whose settings changed."""

from __future__ import annotations

import json
import os
import re
import string
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import proxy
from daemon import profiles as programs
from daemon import reload
from daemon.config import loader as config
from daemon.config.loader import ConfigError
from daemon.state import StateStore

SECRET = "pw-Zq81xK3vT0"


def write(tmp: Path, body: str) -> Path:
    (tmp / "profiles").mkdir(exist_ok=True)
    path = tmp / "mictl.toml"
    path.write_text(
        textwrap.dedent("""
        [daemon]
        state_dir = "state"
        log_dir = "log"
        [profiles]
        dir = "profiles"
        """)
        + textwrap.dedent(body)
    )
    return path


def creds(tmp: Path, text: str = f"alice:{SECRET}\n", mode: int = 0o600) -> Path:
    path = tmp / "alice.proxy"
    path.write_text(text)
    path.chmod(mode)
    return path


# ------------------------------------------------------------ the URL


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("http://proxy.example:3128", "http://proxy.example:3128"),
        ("HTTP://proxy.example", "http://proxy.example:80"),
        ("https://10.0.0.1", "https://10.0.0.1:443"),
        ("socks5://127.0.0.1:1080/", "socks5://127.0.0.1:1080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_proxy_urls(url: str, server: str) -> None:
    assert proxy.parse_url(url).server == server


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://proxy:21", "scheme"),
        ("proxy.example:3128", "scheme"),
        ("http://:3128", "no host"),
        ("http://proxy:3128/path", "no path"),
        ("http://proxy:99999", "not a proxy URL"),
        (f"http://alice:{SECRET}@proxy:3128", "credentials in the URL are refused"),
        (f"http://{SECRET}@proxy:3128", "credentials in the URL are refused"),
    ],
)
def test_bad_proxy_urls_say_why(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as err:
        proxy.parse_url(url)
    assert SECRET not in str(err.value)


SAFE = string.ascii_letters + string.digits


@given(
    st.text(SAFE, min_size=1, max_size=20),
    st.text(SAFE + "!$&'()*+,;=", min_size=12, max_size=40),
    st.sampled_from(proxy.SCHEMES),
)
def test_a_url_with_credentials_is_refused_without_repeating_them(
    user: str, password: str, scheme: str
) -> None:
    with pytest.raises(ValueError) as err:
        proxy.parse_url(f"{scheme}://{user}:{password}@proxy.example:3128")
    assert password not in str(err.value)


LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what splitlines() splits on


@given(
    st.text(st.characters(blacklist_characters=":%" + LINE_BREAKS), min_size=1),
    st.text(st.characters(blacklist_characters="%" + LINE_BREAKS)),
)
def test_credentials_round_trip(user: str, password: str) -> None:
    got = proxy.parse_credentials(f"{user}:{password}\nignored")
    assert (got.username, got.password) == (user, password)
    assert repr(got).endswith("password=***)")  # never the password, even in a traceback


def test_credentials_are_percent_decoded_and_need_a_colon() -> None:
    assert proxy.parse_credentials("a%40b:p%3Aq").password == "p:q"
    for bad in ("", "alice", ":pw", "\n"):
        with pytest.raises(ValueError, match="user:password"):
            proxy.parse_credentials(bad)


def test_credentials_file_must_be_private_regular_and_small(tmp_path: Path) -> None:
    assert proxy.read_credentials_file(str(creds(tmp_path))).password == SECRET
    with pytest.raises(ValueError, match="chmod 600") as err:
        proxy.read_credentials_file(str(creds(tmp_path, mode=0o644)))
    assert SECRET not in str(err.value)
    big = creds(tmp_path, "a:" + "x" * 5000)
    with pytest.raises(OSError, match="limit"):
        proxy.read_credentials_file(str(big))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    done = threading.Event()

    def read() -> None:
        with pytest.raises(OSError, match="FIFO"):
            proxy.read_credentials_file(str(fifo))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO blocked"


def test_chromiums_proxy_errors_are_told_apart() -> None:
    assert proxy.is_proxy_error("Page.goto: net::ERR_PROXY_CONNECTION_FAILED at https://x/")
    assert proxy.is_proxy_error("net::ERR_TUNNEL_CONNECTION_FAILED")
    assert proxy.is_proxy_error("net::ERR_SOCKS_CONNECTION_FAILED")
    assert not proxy.is_proxy_error("net::ERR_CONNECTION_REFUSED")
    assert not proxy.is_proxy_error("Timeout 30000ms exceeded")


# ------------------------------------------------------------ the config


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("proxi = 'http://p:1'", "profiles.overrides.alice: object contains unknown field `proxi`"),
        ("tabs = 17", "profiles.overrides.alice.tabs"),
        ("tabs = 0", "profiles.overrides.alice.tabs"),
        (f"proxy = 'http://alice:{SECRET}@p:1'", "profiles.overrides.alice.proxy: credentials"),
        ("proxy = 'gopher://p:1'", "profiles.overrides.alice.proxy: scheme"),
        ("proxy_credentials_env = 'X'", "profiles.overrides.alice.proxy_credentials_env: "),
        (
            "proxy = 'socks5://p:1'\nproxy_credentials_env = 'PROXY_AUTH'",
            "profiles.overrides.alice.proxy: Chromium cannot send credentials to a socks5",
        ),
        (
            "proxy = 'http://p:1'\nproxy_credentials_file = 'a.proxy'\n"
            "proxy_credentials_env = 'PROXY_AUTH'",
            "one of them",
        ),
        ("timezone = 'Mars/Olympus'", "profiles.overrides.alice.timezone"),
        ("locale = 'en_GB.UTF-8'", "profiles.overrides.alice.locale"),
        ("site = 'nosuchsite'", "profiles.overrides.alice.site"),
        ("browser_args = ['--proxy-server=http://p:1']", "browser_args.0.: set the proxy"),
        ("browser_args = ['nodash']", "browser_args.0.: 'nodash' is not a Chromium flag"),
    ],
)
def test_bad_overrides_are_refused_naming_the_key(tmp_path: Path, body: str, where: str) -> None:
    creds(tmp_path).rename(tmp_path / "a.proxy")
    path = write(tmp_path, "[profiles.overrides.alice]\n" + body + "\n")
    with pytest.raises(ConfigError, match=where) as err:
        config.load(path, env={"PROXY_AUTH": f"alice:{SECRET}"})
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            "proxy_credentials_env = 'NOT_SET_HERE'",
            r"profiles.overrides.alice.proxy_credentials_env: \$NOT_SET_HERE is not set",
        ),
        ("proxy_credentials_env = 'NOT_A_PAIR'", "proxy_credentials_env: expected one line"),
        (
            "proxy_credentials_file = 'missing.proxy'",
            "profiles.overrides.alice.proxy_credentials_file: .*missing.proxy: No such file",
        ),
        (
            "proxy_credentials_file = 'loose.proxy'",
            "profiles.overrides.alice.proxy_credentials_file: mode 0644: .*chmod 600",
        ),
    ],
)
def test_credentials_mictld_cannot_read_make_that_instance_fatal(
    tmp_path: Path, body: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read when mictld builds the instance, in its own environment (not at
    load: `mictl -c` reads the config too, in another shell): that one
    instance is FATAL with the reason, the others run."""
    (tmp_path / "loose.proxy").write_text(f"alice:{SECRET}")
    (tmp_path / "loose.proxy").chmod(0o644)
    monkeypatch.setenv("NOT_A_PAIR", SECRET)
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    path = write(tmp_path, "[profiles.overrides.alice]\nproxy = 'http://p:1'\n" + body + "\n")
    cfg = config.load(path, env={})  # loads: the file is fine as a config
    for name in ("alice", "bob"):
        profile(tmp_path / "profiles" / f"{name}.json")
    specs = {s.name: s for s in programs.build(cfg, StateStore(cfg.daemon.state_dir))}
    assert re.search(why, specs["alice"].fatal_reason or ""), specs["alice"].fatal_reason
    assert specs["bob"].fatal_reason is None
    assert SECRET not in specs["alice"].fatal_reason


def test_a_bad_profile_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[profiles.overrides.'../x']\ntabs = 2\n")
    with pytest.raises(ConfigError, match=r"profiles.overrides.../x"):
        config.load(path, env={})


def overridden(tmp: Path, tabs: int = 3) -> Path:
    creds(tmp)
    return write(
        tmp,
        f"""
        [profiles.browser]
        args = ["--shared-flag"]
        [profiles.overrides.alice]
        proxy = "http://127.0.0.1:8888"
        proxy_credentials_file = "alice.proxy"
        tabs = {tabs}
        site = "aistudio"
        browser_args = ["--own-flag"]
        locale = "en-GB"
        timezone = "Europe/London"
        [profiles.overrides.bob]
        proxy = "socks5://127.0.0.1:1080"
        """,
    )


def test_each_profile_gets_its_own_flags_and_never_a_secret(tmp_path: Path) -> None:
    cfg = config.load(overridden(tmp_path), env={})
    pool = tmp_path / "profiles" / "x.json"
    alice = programs.instance_argv(cfg, "alice", 3001, "copy.json", pool)
    flags = " ".join(alice)
    assert "--proxy http://127.0.0.1:8888" in flags
    assert f"--proxy-credentials-file {tmp_path / 'alice.proxy'}" in flags  # a path: relative
    assert "--tabs 3" in flags and "--site aistudio" in flags
    assert "--locale en-GB" in flags and "--timezone Europe/London" in flags
    assert flags.index("--browser-arg=--shared-flag") < flags.index("--browser-arg=--own-flag")
    assert SECRET not in flags
    bob = " ".join(programs.instance_argv(cfg, "bob", 3002, "copy.json", pool))
    assert "--proxy socks5://127.0.0.1:1080" in bob and "--proxy-credentials" not in bob
    assert "--site demo" in bob and "--tabs" not in bob and "--own-flag" not in bob
    carol = " ".join(programs.instance_argv(cfg, "carol", 3003, "copy.json", pool))
    assert "--proxy" not in carol and "--locale" not in carol


def profile(path: Path) -> None:
    path.write_text(json.dumps({"cookies": [], "origins": []}))
    path.chmod(0o600)


def test_a_reload_restarts_only_the_profile_whose_settings_changed(tmp_path: Path) -> None:
    path = overridden(tmp_path)
    for name in ("alice", "bob", "carol"):
        profile(tmp_path / "profiles" / f"{name}.json")
    old = config.load(path, env={})
    store = StateStore(old.daemon.state_dir)
    before = programs.build(old, store)
    new = config.load(overridden(tmp_path, tabs=4), env={})
    plan = reload.plan(old, new, before, programs.build(new, store))
    assert [s.name for s in plan.restart] == ["alice"]
    assert set(plan.unchanged) == {"bob", "carol"}
    specs = {s.name: s for s in before}
    assert specs["alice"].proxy == "http://127.0.0.1:8888" and specs["carol"].proxy == ""


def test_a_command_of_ones_own_passes_the_overrides_as_flags_or_is_refused(
    tmp_path: Path,
) -> None:
    """A proxy must never be dropped by a command template: {flags} carries
    what the override sets; a template without it is refused at load, naming
    the key that would go unused."""
    creds(tmp_path)
    override = """
        [profiles.overrides.alice]
        proxy = "http://127.0.0.1:8888"
        proxy_credentials_file = "alice.proxy"
        tabs = 2
        locale = "en-GB"
        browser_args = ["--own-flag=a b"]
    """
    bare = write(tmp_path, 'command = "run --port {port}"\n' + override)
    with pytest.raises(ConfigError, match=r"profiles.overrides.alice.proxy: .*\{flags\}"):
        config.load(bare, env={})
    cfg = config.load(write(tmp_path, 'command = "run --port {port} {flags}"\n' + override), env={})
    pool = tmp_path / "profiles" / "x.json"
    alice = programs.instance_argv(cfg, "alice", 3001, "copy.json", pool)
    assert alice[:3] == ("run", "--port", "3001")
    assert list(alice[3:]) == [
        "--browser-arg=--own-flag=a b", "--tabs", "2", "--proxy", "http://127.0.0.1:8888",
        "--proxy-credentials-file", str(tmp_path / "alice.proxy"), "--locale", "en-GB",
    ]  # fmt: skip
    assert SECRET not in " ".join(alice)
    assert programs.instance_argv(cfg, "bob", 3002, "c.json", pool) == ("run", "--port", "3002")
    # nothing to pass: any template is fine
    plain = write(tmp_path, 'command = "run {port}"\n[profiles.overrides.carol]\nsite = "demo"\n')
    assert config.load(plain, env={}).profiles.command == "run {port}"
