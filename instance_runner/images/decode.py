"""What an image is, from its bytes: a data: URL decoded, the type told from
the file's own signature (never from what a client or server claims alone).
Pure functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import urllib.parse

import msgspec

# Every type a chat site takes; a site file's [upload] accept narrows it.
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),  # after "RIFF" and the length
)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


class ImageError(Exception):
    """A client's image that cannot be used: its status (400, 413) and why."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.status, self.code = status, code


class Image(msgspec.Struct, frozen=True):
    data: bytes
    mime: str
    sha256: str

    @property
    def name(self) -> str:
        return f"image-{self.sha256[:12]}.{EXTENSIONS.get(self.mime, 'bin')}"


def sniff(data: bytes) -> str | None:
    """The image type its first bytes say, or None."""
    for magic, offset, mime in SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (
            mime != "image/webp" or data[:4] == b"RIFF"
        ):
            return mime
    return None


def image(data: bytes, *, max_bytes: int, claimed: str = "") -> Image:
    """An Image from bytes: within `max_bytes`, a known image type."""
    if len(data) > max_bytes:
        raise ImageError(
            f"image of {len(data)} bytes is over the limit of {max_bytes} bytes",
            413,
            "image_too_large",
        )
    mime = sniff(data)
    if mime is None:
        what = f" (said to be {claimed})" if claimed else ""
        raise ImageError(f"not an image mictl can pass on{what}: PNG, JPEG, GIF or WebP")
    return Image(data, mime, hashlib.sha256(data).hexdigest())


def from_data_url(url: str, *, max_bytes: int) -> Image:
    """`data:image/png;base64,....` (or percent-encoded) to an Image."""
    head, comma, body = url.partition(",")
    if not comma or not head.lower().startswith("data:"):
        raise ImageError("malformed data: URL (expected data:<type>;base64,<data>)")
    meta = head[5:].split(";")
    claimed = meta[0].strip().lower()
    # base64 is 4/3 of the bytes: refuse a body too large before decoding it
    if len(body) > max_bytes * 4 // 3 + 8:
        raise ImageError(f"image is over the limit of {max_bytes} bytes", 413, "image_too_large")
    if "base64" in (m.strip().lower() for m in meta[1:]):
        try:
            data = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ImageError("the data: URL's base64 does not decode") from None
    else:
        data = urllib.parse.unquote_to_bytes(body)
    return image(data, max_bytes=max_bytes, claimed=claimed)
