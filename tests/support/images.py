"""Real images made with Pillow, and the upload request that carries one."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from typing import Any

from PIL import Image

GPS_IFD = 0x8825
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def png(width: int = 32, height: int = 16, color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    """A real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    """A real PNG in the CLI tests' colour."""
    return png(width, height, color)


def sniff(data: bytes) -> str:
    """png / jpeg / webp / other, from magic bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "other"


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def open_image(data: bytes) -> Image.Image:
    """``data`` decoded by Pillow (fully loaded)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def truncated_png() -> bytes:
    """A noisy PNG cut in half: the header is fine, the pixel data is not."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (96, 96), os.urandom(96 * 96 * 3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


def gps_jpeg() -> bytes:
    """A JPEG whose EXIF names a camera and a place."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 1.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buffer, format="JPEG", exif=exif)
    data = buffer.getvalue()
    assert open_image(data).getexif().get_ifd(GPS_IFD)  # the fixture really carries a location
    return data


def upload_body(data: bytes, **overrides: Any) -> dict[str, Any]:
    """A well-formed upload request for ``data`` (declared length and digest correct)."""
    body: dict[str, Any] = {
        "source_kind": "local_path",
        "filename": "input.png",
        "remote_origin": None,
        "mime_type": "image/png",
        "content_length": len(data),
        "sha256": sha256(data),
        "bytes_base64": base64.b64encode(data).decode(),
    }
    body.update(overrides)
    return body
