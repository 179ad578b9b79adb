"""Small previews of owned images, made only when a tool call asks for one.

A model sometimes needs to look at what it made; a full image as base64 would
flood its context. A thumbnail is at most ``MAX_EDGE`` pixels on its longest
side and ``MAX_BYTES`` encoded (JPEG, lowering quality until it fits), made from
the asset downloaded the way ``assets get`` downloads it: without the token,
bounded by the asset's recorded size. Pillow is imported here, on first use.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from mcp_types import ImageContent

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.mcp.results import absolute_url

if TYPE_CHECKING:
    from image_skill.client import Client

MAX_EDGE = 256
MAX_BYTES = 40 * 1024
# Owned assets are bounded by the service's upload and output limits; this is a backstop.
MAX_SOURCE_BYTES = 64 * 1024 * 1024
QUALITIES = (80, 65, 50, 35, 20)


def thumbnail(client: Client, asset: dict[str, Any]) -> ImageContent:
    """A bounded JPEG preview of ``asset`` (ASSET_DOWNLOAD_FAILED if it cannot be read)."""
    url = absolute_url(asset.get("url"), client.base_url)
    if url is None:
        raise _failed("The asset has no download URL.")
    expected = asset.get("content_length")
    limit = expected if isinstance(expected, int) and expected > 0 else MAX_SOURCE_BYTES
    status, _headers, body = client.download(url, max_bytes=min(limit, MAX_SOURCE_BYTES))
    if not 200 <= status < 300:
        raise _failed(f"The asset download answered HTTP {status}.")
    return ImageContent(type="image", data=encode(body), mime_type="image/jpeg")


def encode(image_bytes: bytes) -> str:
    """``image_bytes`` shrunk to at most MAX_EDGE px and MAX_BYTES as base64 JPEG."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image_bytes)) as opened:
            opened.draft("RGB", (MAX_EDGE, MAX_EDGE))  # JPEG: decode at a reduced scale
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _failed("The asset could not be read as an image.") from exc
    image.thumbnail((MAX_EDGE, MAX_EDGE))
    for edge in (MAX_EDGE, MAX_EDGE // 2):
        if max(image.size) > edge:
            image.thumbnail((edge, edge))
        for quality in QUALITIES:
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= MAX_BYTES:
                return base64.b64encode(out.getvalue()).decode("ascii")
    raise _failed("The thumbnail could not be made small enough.")


def _failed(message: str) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.ASSET_DOWNLOAD_FAILED,
        message,
        recovery={"suggested_command": "image-skill assets show ASSET_ID --json"},
        retryable=False,
    )
