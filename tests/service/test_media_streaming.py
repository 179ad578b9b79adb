"""A large asset is streamed from the store, never read whole into memory.

The app runs on a local store that refuses whole-object reads (``get``) and
records what it hands out: serving a multi-chunk asset must go through the
open file (``open_file``, read by slices: tests/service/test_media_delivery.py
checks the slices are bounded), never ``get`` nor the chunk iterator, and the
bytes that arrive must be the stored ones.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PIL import Image

from image_skill.service.storage.base import CHUNK_BYTES
from image_skill.service.storage.local import LocalAssetStore
from tests.support.agents import sign_up
from tests.support.apps import TestClient, started_app
from tests.support.envelopes import ok


class StreamingOnlyStore(LocalAssetStore):
    """A local store whose whole-object read fails the test; counts streamed chunks."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.whole_reads: list[str] = []
        self.chunks: list[int] = []
        self.opened_files: list[str] = []

    async def get(self, key: str) -> bytes:
        self.whole_reads.append(key)
        raise AssertionError("media read a whole object into memory")

    async def open(self, key: str) -> AsyncIterator[bytes]:
        chunks = await super().open(key)
        return self._counted(chunks)

    def open_file(self, key: str, length: int) -> io.FileIO:
        self.opened_files.append(key)
        return super().open_file(key, length)

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self.chunks.append(len(chunk))
            yield chunk


@pytest.fixture
def store(tmp_path: Path) -> StreamingOnlyStore:
    return StreamingOnlyStore(tmp_path / "assets")


@pytest.fixture
def api(database_url: str, tmp_path: Path, store: StreamingOnlyStore) -> Iterator[TestClient]:
    with started_app(database_url, tmp_path / "home", store=store) as client:
        yield client


def noise_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def test_a_large_asset_streams_in_bounded_chunks_never_read_whole(
    api: TestClient, store: StreamingOnlyStore
) -> None:
    owner = sign_up(api)
    data = noise_png(1100)  # ~3.6 MB of noise: several chunks
    asset = ok(owner.upload(data))["asset"]
    assert asset["content_length"] > 3 * CHUNK_BYTES
    with api.stream("GET", asset["url"]) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(asset["content_length"])
        assert response.headers["content-type"] == "image/png"
        body = b"".join(response.iter_bytes())
    assert hashlib.sha256(body).hexdigest() == asset["sha256"]
    assert store.whole_reads == [] and store.chunks == []
    assert len(store.opened_files) == 1


def test_head_and_a_matching_etag_read_no_bytes(api: TestClient, store: StreamingOnlyStore) -> None:
    owner = sign_up(api)
    asset = ok(owner.upload(noise_png(200)))["asset"]
    head = api.head(asset["url"])
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(asset["content_length"])
    unchanged = api.get(asset["url"], headers={"If-None-Match": head.headers["etag"]})
    assert unchanged.status_code == 304
    assert store.chunks == [] and store.whole_reads == [] and store.opened_files == []
