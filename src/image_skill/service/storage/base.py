"""The asset store contract: a tiny content-addressed blob interface.

Keys are derived from the bytes' sha256, so writing the same image twice is a
no-op and a key can never point at different bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class StoreError(Exception):
    """The store could not complete an operation (never carries keys or paths outward)."""


def content_key(sha256: str, extension: str) -> str:
    """The storage key of some bytes."""
    return f"objects/{sha256[:2]}/{sha256}.{extension}"


class AssetStore(Protocol):
    """Where asset bytes live."""

    backend: str

    async def put(self, data: bytes, *, sha256: str, extension: str) -> str:
        """Store ``data`` atomically; returns its key. Raises ``StoreError``."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``. Raises ``StoreError`` (missing or unreadable)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for ``key`` when the store is local (for file:// URLs)."""
        ...
