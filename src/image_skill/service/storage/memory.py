"""In-memory asset store: the test double of the contract (and a failure injector)."""

from __future__ import annotations

from pathlib import Path

from image_skill.service.storage.base import StoreError, content_key


class MemoryAssetStore:
    """Objects in a dict; ``fail_writes`` simulates an outage."""

    backend = "memory"

    def __init__(self, *, fail_writes: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_writes = fail_writes

    async def put(
        self, data: bytes, *, sha256: str, extension: str, alias: str | None = None
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

    def alias_path(self, alias: str, extension: str) -> Path | None:
        """Not on disk."""
        return None
