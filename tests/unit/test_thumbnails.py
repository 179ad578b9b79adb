"""Thumbnails: bounded WebP of any stored image mode, made on first ask and kept."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from functools import partial

import anyio
import pytest
from PIL import Image

from image_skill.service.assets import thumbnails
from image_skill.service.assets.thumbnails import MAX_EDGE, render, thumbnail_key
from image_skill.service.db.models import Asset
from image_skill.service.storage.memory import MemoryAssetStore


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt", "size"),
    [
        ("RGB", "PNG", (1024, 512)),
        ("RGBA", "PNG", (300, 900)),
        ("P", "GIF", (400, 400)),
        ("L", "JPEG", (2000, 1000)),
        ("RGB", "WEBP", (100, 60)),
    ],
)
def test_render_is_a_webp_within_the_bound(mode: str, fmt: str, size: tuple[int, int]) -> None:
    data = _encoded(Image.new(mode, size), fmt)
    with Image.open(io.BytesIO(render(data))) as thumb:
        assert thumb.format == "WEBP"
        assert max(thumb.size) == min(MAX_EDGE, max(size))
        # The aspect ratio survives (to a pixel of rounding).
        assert abs(thumb.size[0] / thumb.size[1] - size[0] / size[1]) < 0.02 * size[0] / size[1]


def test_render_follows_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _encoded(Image.new("RGB", (400, 200)), "JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(render(data))) as thumb:
        assert thumb.size[1] > thumb.size[0]


def _asset(store: MemoryAssetStore, data: bytes) -> Asset:
    digest = hashlib.sha256(data).hexdigest()
    key = anyio.run(partial(store.put, data, sha256=digest, extension="png"))
    return Asset(id="image_t", storage_key=key, sha256=digest)


def test_a_thumbnail_is_made_on_first_ask_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryAssetStore()
    asset = _asset(store, _encoded(Image.new("RGB", (600, 300)), "PNG"))
    assert thumbnail_key(asset.sha256) not in store.objects  # storing makes none
    renders: list[int] = []
    monkeypatch.setattr(thumbnails, "render", lambda data: renders.append(1) or render(data))
    first = anyio.run(thumbnails.thumbnail_of, store, asset)
    assert anyio.run(thumbnails.thumbnail_of, store, asset) == first
    assert renders == [1]
    assert store.objects[thumbnail_key(asset.sha256)] == first
    assert thumbnail_key(asset.sha256).endswith(".thumb.webp")


def test_an_asset_that_cannot_be_thumbnailed_fails_without_keeping_anything() -> None:
    store = MemoryAssetStore()
    asset = _asset(store, b"not an image")
    with pytest.raises(thumbnails.ThumbnailFailed) as failed:
        anyio.run(thumbnails.thumbnail_of, store, asset)
    assert "not an image" not in str(failed.value)
    assert list(store.objects) == [asset.storage_key]


def test_a_thumbnail_asked_for_many_times_at_once_is_made_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryAssetStore()
    asset = _asset(store, _encoded(Image.new("RGB", (600, 300)), "PNG"))
    renders: list[int] = []

    def slow_render(data: bytes) -> bytes:
        renders.append(1)
        time.sleep(0.05)  # long enough for every request to arrive meanwhile
        return render(data)

    monkeypatch.setattr(thumbnails, "render", slow_render)

    async def gallery() -> list[bytes]:
        results: list[bytes] = []
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(_append_thumbnail, store, asset, results)
        return results

    results = anyio.run(gallery)
    assert renders == [1]
    assert len(results) == 8 and len(set(results)) == 1


def test_a_flood_of_fresh_thumbnails_renders_a_few_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryAssetStore()
    assets = [_asset(store, _encoded(Image.new("RGB", (40 + i, 30)), "PNG")) for i in range(10)]
    lock = threading.Lock()
    running, most = 0, 0

    def counted_render(data: bytes) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return render(data)

    monkeypatch.setattr(thumbnails, "render", counted_render)

    async def flood() -> list[bytes]:
        results: list[bytes] = []
        async with anyio.create_task_group() as group:
            for asset in assets:
                group.start_soon(_append_thumbnail, store, asset, results)
        return results

    assert len(anyio.run(flood)) == len(assets)
    assert most == thumbnails.RENDERS_AT_ONCE


def test_every_waiter_of_a_failed_thumbnail_fails_and_a_later_ask_tries_again() -> None:
    store = MemoryAssetStore()
    asset = _asset(store, b"not an image")

    async def together() -> list[str]:
        outcomes: list[str] = []

        async def ask() -> None:
            try:
                await thumbnails.thumbnail_of(store, asset)
                outcomes.append("made")
            except thumbnails.ThumbnailFailed:
                outcomes.append("failed")

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(ask)
        return outcomes

    assert anyio.run(together) == ["failed"] * 4
    store.objects[asset.storage_key] = _encoded(Image.new("RGB", (50, 50)), "PNG")
    assert anyio.run(thumbnails.thumbnail_of, store, asset)[8:12] == b"WEBP"


async def _append_thumbnail(store: MemoryAssetStore, asset: Asset, into: list[bytes]) -> None:
    into.append(await thumbnails.thumbnail_of(store, asset))
