"""In-memory asset store: the test double of the contract (and a failure injector)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from image_skill.service.storage.base import StoreError, content_key


class MemoryAssetStore:
    """Objects in a dict; ``fail_writes`` simulates an outage."""

    backend = "memory"

    def __init__(self, *, fail_writes: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_writes = fail_writes

    async def put(
        self,
        data: bytes,
        *,
        sha256: str,
        extension: str,
        alias: str | None = None,
    ) -> str:
        """Store or fail as configured."""
        if self.fail_writes:
            raise StoreError("asset write failed")
        key = content_key(sha256, extension)
        self.objects[key] = data
        return key

    async def get(self, key: str) -> bytes:
        """Read back."""
        try:
            return self.objects[key]
        except KeyError as exc:
            raise StoreError("asset missing") from exc

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The whole object as one chunk."""
        return _one(await self.get(key))

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        """No URL outside this process."""
        return None

    def alias_path(self, alias: str, extension: str) -> Path | None:
        """Not on disk."""
        return None

    async def check(self) -> None:
        """Always reachable."""

    async def aclose(self) -> None:
        """Nothing to release."""


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
