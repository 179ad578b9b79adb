"""Thumbnails: bounded WebP of any stored image mode, and never a failed job because of one."""

from __future__ import annotations

import io
import logging

import anyio
import pytest
from PIL import Image

from image_skill.service.assets.thumbnails import (
    MAX_EDGE,
    derived_thumbnail,
    render,
    thumbnail_key,
)
from image_skill.service.storage.base import content_key
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


def test_a_thumbnail_that_cannot_be_made_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryAssetStore()

    async def attempt() -> str:
        return await store.put(
            b"not an image", sha256="ab" * 32, extension="png", derive=derived_thumbnail
        )

    with caplog.at_level(logging.WARNING, logger="image_skill.service"):
        key = anyio.run(attempt)
    assert key == content_key("ab" * 32, "png")
    assert store.objects == {key: b"not an image"}  # the object itself is stored
    assert "not made" in caplog.text and "not an image" not in caplog.text
    assert thumbnail_key("ab" * 32).endswith(".thumb.webp")
