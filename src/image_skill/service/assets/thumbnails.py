"""Small WebP thumbnails of assets, made once and kept next to the asset in the store.

The console's gallery shows many images at once; sending each full image would
cost the browser megabytes. A thumbnail (at most 256 px on its longer side, fast
WebP settings) is made the first time the gallery asks for it and kept under a
key derived from the asset's content hash, so the same bytes always have the
same thumbnail. It is not made when a job stores its output: decoding and
encoding a 1024 px PNG costs about 11 ms of CPU, more than the rest of a create,
and most of the images agents make are never looked at in the console.
"""

from __future__ import annotations

import io
import logging

import anyio
from PIL import Image, ImageOps

from image_skill.service.db.models import Asset
from image_skill.service.storage.base import AssetStore, StoreError, content_key

log = logging.getLogger("image_skill.service")

MAX_EDGE = 256
EXTENSION = "thumb.webp"
MEDIA_TYPE = "image/webp"
# Stored assets were checked on the way in; this bounds decoding all the same.
_MAX_PIXELS = 64_000_000


class ThumbnailFailed(Exception):
    """No thumbnail could be read or made for an asset (never names keys or paths)."""


def thumbnail_key(sha256: str) -> str:
    """The store key of the thumbnail of the content ``sha256``."""
    return content_key(sha256, EXTENSION)


def render(data: bytes) -> bytes:
    """A WebP of ``data`` at most ``MAX_EDGE`` px on its longer side (raises on bad images)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > _MAX_PIXELS:
            raise ValueError("image too large to thumbnail")
        image.draft("RGB", (MAX_EDGE, MAX_EDGE))
        small = ImageOps.exif_transpose(image)
        small.thumbnail((MAX_EDGE, MAX_EDGE))
        if small.mode not in ("RGB", "RGBA"):
            small = small.convert("RGBA" if "A" in small.getbands() else "RGB")
        out = io.BytesIO()
        small.save(out, "WEBP", quality=75, method=0)
        return out.getvalue()


async def thumbnail_of(store: AssetStore, asset: Asset) -> bytes:
    """The asset's thumbnail, made now (and kept) if it does not exist yet."""
    key = thumbnail_key(asset.sha256)
    try:
        return await store.get(key)
    except StoreError:
        pass
    try:
        data = await store.get(asset.storage_key)
        thumb = await anyio.to_thread.run_sync(render, data)
    except (StoreError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ThumbnailFailed(type(exc).__name__) from None
    try:
        await store.put(thumb, sha256=asset.sha256, extension=EXTENSION)
    except StoreError as exc:
        log.warning("thumbnail made but not kept: %s", type(exc).__name__)
    return thumb
