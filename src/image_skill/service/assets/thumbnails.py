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

import asyncio
import io
import logging
import weakref
from dataclasses import dataclass, field

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


# At most this many thumbnails are rendered at once per store (a 1024 px PNG is about
# 11 ms of CPU): a flood of gallery requests for fresh images queues here instead of
# taking every worker thread and the whole CPU from the API.
RENDERS_AT_ONCE = 2


@dataclass
class _Making:
    """A store's thumbnails being made now, by key, and the bound on rendering them."""

    pending: dict[str, asyncio.Future[bytes]] = field(default_factory=dict)
    limiter: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(RENDERS_AT_ONCE)
    )


_making: weakref.WeakKeyDictionary[AssetStore, _Making] = weakref.WeakKeyDictionary()


async def thumbnail_of(store: AssetStore, asset: Asset) -> bytes:
    """The asset's thumbnail, made now (and kept) if it does not exist yet.

    A gallery page asks for its thumbnails at once, and a reload asks again before
    they are kept: each is made once, and the other requests for it wait for that one.
    """
    key = thumbnail_key(asset.sha256)
    try:
        return await store.get(key)
    except StoreError:
        pass
    making = _making.setdefault(store, _Making())
    pending = making.pending.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    made: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    making.pending[key] = made
    try:
        thumb = await _make(store, asset, making.limiter)
    except BaseException as exc:
        failed = exc if isinstance(exc, ThumbnailFailed) else ThumbnailFailed("not made")
        made.set_exception(failed)
        made.exception()  # retrieved: no waiter may be there to read it
        raise
    else:
        made.set_result(thumb)
        return thumb
    finally:
        del making.pending[key]


async def _make(store: AssetStore, asset: Asset, limiter: anyio.CapacityLimiter) -> bytes:
    """Render the asset's thumbnail (at most ``RENDERS_AT_ONCE`` at a time) and keep it."""
    try:
        data = await store.get(asset.storage_key)
        thumb = await anyio.to_thread.run_sync(render, data, limiter=limiter)
    except (StoreError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ThumbnailFailed(type(exc).__name__) from None
    try:
        await store.put(thumb, sha256=asset.sha256, extension=EXTENSION)
    except StoreError as exc:
        log.warning("thumbnail made but not kept: %s", type(exc).__name__)
    return thumb
