"""The local store: an asset, its published alias and its derived objects in one write."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import anyio
import pytest

from image_skill.service.assets.thumbnails import derived_thumbnail, thumbnail_key
from image_skill.service.storage.base import content_key
from image_skill.service.storage.local import LocalAssetStore
from tests.support.images import png


def test_an_asset_its_alias_and_its_thumbnail_are_written_in_one_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalAssetStore(tmp_path)
    data = png(300, 200)
    digest = hashlib.sha256(data).hexdigest()
    hops: list[str] = []
    original = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(getattr(func, "__name__", "?"))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)

    async def scenario() -> str:
        return await store.put(
            data, sha256=digest, extension="png", alias="image_x", derive=derived_thumbnail
        )

    key = anyio.run(scenario)
    assert key == content_key(digest, "png")
    assert len(hops) == 1
    assert (tmp_path / key).read_bytes() == data
    assert (tmp_path / "a" / "image_x.png").read_bytes() == data
    assert (tmp_path / thumbnail_key(digest)).read_bytes()[8:12] == b"WEBP"
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind


def test_a_derived_object_that_fails_never_fails_the_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalAssetStore(tmp_path)
    data = b"not an image at all"
    digest = hashlib.sha256(data).hexdigest()

    async def scenario() -> str:
        return await store.put(data, sha256=digest, extension="png", derive=derived_thumbnail)

    with caplog.at_level(logging.WARNING, logger="image_skill.service"):
        key = anyio.run(scenario)
    assert (tmp_path / key).read_bytes() == data
    assert not (tmp_path / thumbnail_key(digest)).exists()
    assert "not made" in caplog.text and str(tmp_path) not in caplog.text
