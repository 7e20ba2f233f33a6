"""Which network a one-shot tool gives profile NAME (ctl/profile_net.py):
the config's profiles.overrides.NAME, or --proxy with its credentials, under
the config's rules; every refusal names the option and never the password."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.proxy import Credentials, ProxyURL
from ctl.errors import Usage
from ctl.profile_net import network_for
from daemon.config import loader
from instance_runner.tools.launch import Network, launch_options

SECRET = "s3cret-Pw"


def creds_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "p.creds"
    path.write_text(f"carol:{SECRET}\n")
    path.chmod(mode)
    return path


def a_config(tmp_path: Path, body: str) -> loader.Config:
    path = tmp_path / "mictl.toml"
    path.write_text(f'[profiles]\ndir = "profiles"\nsite = "demo"\n{body}')
    return loader.load(str(path))


def test_the_profiles_override_gives_proxy_credentials_locale_zone_and_flags(
    tmp_path: Path,
) -> None:
    creds_file(tmp_path)
    cfg = a_config(tmp_path, (
        '[profiles.overrides.carol]\nproxy = "http://10.0.0.1:3128"\n'
        'proxy_credentials_file = "p.creds"\nlocale = "de-DE"\ntimezone = "Asia/Tokyo"\n'
        'browser_args = ["--lang=de"]\n'
    ))  # fmt: skip
    net, args = network_for(cfg, "carol")
    assert net == Network(proxy=ProxyURL("http", "10.0.0.1", 3128),
                          credentials=Credentials("carol", SECRET),
                          locale="de-DE", timezone="Asia/Tokyo")  # fmt: skip
    assert args == ["--lang=de"]
    assert network_for(cfg, "dave") == (Network(), [])  # no override: straight out
    # The command line's proxy wins over the config's.
    env = {"P": f"eve:{SECRET}"}
    net, _ = network_for(cfg, "carol", proxy_url="https://p.example", credentials_env="P",
                         environ=env)  # fmt: skip
    assert net.proxy == ProxyURL("https", "p.example", 443)
    assert net.credentials == Credentials("eve", SECRET)
    assert net.locale == "de-DE"  # the rest of the override stays


def test_the_config_credentials_must_be_readable_now(tmp_path: Path) -> None:
    cfg = a_config(tmp_path, (
        '[profiles.overrides.carol]\nproxy = "http://10.0.0.1:3128"\n'
        'proxy_credentials_env = "CAROL_PROXY"\n'
    ))  # fmt: skip
    with pytest.raises(Usage, match=r"profiles\.overrides\.carol\.proxy_credentials_env: "):
        network_for(cfg, "carol", environ={})


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"proxy_url": f"http://carol:{SECRET}@p:1"}, "--proxy: credentials in the URL"),
        ({"proxy_url": "ftp://p:1"}, "--proxy: scheme"),
        ({"credentials_env": "P"}, "say the proxy with --proxy"),
        ({"proxy_url": "http://p:1", "credentials_env": "P", "credentials_file": "x"},
         "give one of them"),
        ({"proxy_url": "socks5://p:1", "credentials_env": "P"}, "socks5"),
        ({"proxy_url": "http://p:1", "credentials_env": "UNSET"}, "$UNSET is not set"),
    ],
)  # fmt: skip
def test_refusals_name_the_option(kw: dict[str, str], words: str) -> None:
    with pytest.raises(Usage) as caught:
        network_for(None, "carol", environ={"P": f"carol:{SECRET}"}, **kw)
    assert words in caught.value.message and SECRET not in caught.value.message


def test_a_credentials_file_others_may_read_or_a_fifo_is_refused(tmp_path: Path) -> None:
    loose = creds_file(tmp_path, 0o644)
    with pytest.raises(Usage, match="mode 0644") as caught:
        network_for(None, "c", proxy_url="http://p:1", credentials_file=str(loose))
    assert SECRET not in caught.value.message
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(Usage, match="--proxy-credentials-file: "):
        network_for(None, "c", proxy_url="http://p:1", credentials_file=str(fifo))


def test_the_launch_options_carry_the_proxy_and_its_credentials() -> None:
    """What capture, profile check and site record hand to Playwright (over
    its pipe, not a command line); the flags never hold the password."""
    net = Network(proxy=ProxyURL("http", "p", 1), credentials=Credentials("carol", SECRET))
    options = launch_options(headless=True, net=net)
    assert options["proxy"] == {"server": "http://p:1", "username": "carol", "password": SECRET}
    assert not any(SECRET in a for a in options["args"])
    assert launch_options(headless=True)["proxy"] is None
    assert SECRET not in repr(net)
