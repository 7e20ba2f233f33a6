"""Images a client sends: data: URLs decoded and typed by their bytes, URLs
fetched within limits and never from addresses a client should not reach
through mictl (issue 22). A real HTTP server on loopback serves the test's
images; what must be refused is refused before any connection."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instance_runner.images.decode import ImageError, from_data_url, sniff
from instance_runner.images.fetch import Limits, load, reachable
from tests.image_server import PNG, serving

LOOPBACK = Limits(allow=("127.0.0.0/8",))


@given(st.binary(max_size=300), st.sampled_from(["image/png", "image/jpeg", ""]))
def test_a_data_url_round_trips_its_bytes(tail: bytes, claimed: str) -> None:
    data = PNG + tail
    url = f"data:{claimed};base64," + base64.b64encode(data).decode()
    got = from_data_url(url, max_bytes=10_000)
    assert (got.data, got.mime) == (data, "image/png")
    assert got.sha256 == hashlib.sha256(data).hexdigest()


def test_data_urls_that_cannot_be_used_are_refused_with_the_reason() -> None:
    with pytest.raises(ImageError, match="base64"):
        from_data_url("data:image/png;base64,@@@", max_bytes=100)
    with pytest.raises(ImageError, match="not an image"):
        from_data_url("data:image/png;base64," + base64.b64encode(b"<svg/>").decode(), max_bytes=99)
    with pytest.raises(ImageError) as big:
        from_data_url("data:image/png;base64," + base64.b64encode(PNG).decode(), max_bytes=20)
    assert big.value.status == 413
    percent = "data:image/png," + urllib.parse.quote_from_bytes(PNG)
    assert from_data_url(percent, max_bytes=1000).data == PNG


def test_signatures() -> None:
    assert sniff(b"\xff\xd8\xff\xe0xxxx") == "image/jpeg"
    assert sniff(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff(b"GIF89a...") == "image/gif"
    assert sniff(b"%PDF-1.4") is None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "192.168.1.2", "169.254.169.254", "::1", "fe80::1",
     "::ffff:127.0.0.1", "100.64.0.1", "0.0.0.0", "224.0.0.1", "fc00::1"],
)  # fmt: skip
def test_private_and_local_addresses_are_out_of_reach(address: str) -> None:
    import ipaddress

    assert not reachable(ipaddress.ip_address(address), [])


def test_public_addresses_and_allowed_networks_are_in_reach() -> None:
    import ipaddress

    assert reachable(ipaddress.ip_address("8.8.8.8"), [])
    assert reachable(ipaddress.ip_address("2001:4860:4860::8888"), [])
    assert reachable(ipaddress.ip_address("10.1.2.3"), [ipaddress.ip_network("10.0.0.0/8")])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


def test_an_image_url_is_fetched_when_its_network_is_allowed(server: str) -> None:
    got = asyncio.run(load(f"{server}/a.png", LOOPBACK))
    assert got.data == PNG and got.mime == "image/png"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "2130706433"])
def test_loopback_is_refused_unless_allowed(server: str, host: str) -> None:
    port = server.rsplit(":", 1)[1]
    # (127.0.0.1 written as one number is no URL to aiohttp: refused as such)
    with pytest.raises(ImageError, match=r"private or local|could not be fetched") as refused:
        asyncio.run(load(f"http://{host}:{port}/a.png", Limits()))
    assert refused.value.status == 400


def test_a_private_address_is_refused_before_any_connection() -> None:
    # 10.0.0.1 is never connected to: the refusal comes at once.
    with pytest.raises(ImageError, match=r"private or local address \(10\.0\.0\.1\)"):
        asyncio.run(load("http://10.0.0.1/x.png", Limits(timeout=30)))


def test_a_redirect_into_a_private_address_is_refused(server: str) -> None:
    allowed = Limits(allow=("127.0.0.1/32",))
    to = urllib.parse.quote("http://10.0.0.1/x.png")
    with pytest.raises(ImageError, match=r"10\.0\.0\.1"):
        asyncio.run(load(f"{server}/moved?to={to}", allowed))


def test_what_is_not_an_image_too_large_or_too_slow_is_refused(server: str) -> None:
    with pytest.raises(ImageError, match="not an image"):
        asyncio.run(load(f"{server}/page", LOOPBACK))
    small = Limits(allow=LOOPBACK.allow, max_bytes=50_000)
    with pytest.raises(ImageError, match="over the limit") as big:
        asyncio.run(load(f"{server}/big", small))
    assert big.value.status == 413
    quick = Limits(allow=LOOPBACK.allow, timeout=0.5)
    with pytest.raises(ImageError, match="did not answer"):
        asyncio.run(load(f"{server}/hang", quick))
    with pytest.raises(ImageError, match="http"):
        asyncio.run(load("file:///etc/passwd", LOOPBACK))
