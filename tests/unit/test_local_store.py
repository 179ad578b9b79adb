"""The local store: an asset and its published alias in one trip off the event loop."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

from image_skill.service.storage.base import content_key
from image_skill.service.storage.local import LocalAssetStore
from tests.support.images import png


def test_an_asset_and_its_alias_are_written_in_one_hop(
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
        return await store.put(data, sha256=digest, extension="png", alias="image_x")

    key = anyio.run(scenario)
    assert key == content_key(digest, "png")
    assert len(hops) == 1
    assert (tmp_path / key).read_bytes() == data
    assert (tmp_path / "a" / "image_x.png").read_bytes() == data
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind
