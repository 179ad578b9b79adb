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


def alias_name(alias: str, extension: str) -> str:
    """The published name of an asset: ``a/<asset_id>.<ext>``."""
    return f"a/{alias}.{extension}"


class AssetStore(Protocol):
    """Where asset bytes live."""

    backend: str

    async def put(
        self, data: bytes, *, sha256: str, extension: str, alias: str | None = None
    ) -> str:
        """Store ``data`` atomically; returns its key. Raises ``StoreError``.

        ``alias`` (an asset id) also publishes the bytes under ``a/<alias>.<ext>``
        where the store is a local directory, so file URLs end in the asset id.
        """
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``. Raises ``StoreError`` (missing or unreadable)."""
        ...

    def alias_path(self, alias: str, extension: str) -> Path | None:
        """The published file of an asset when the store is local (for file:// URLs)."""
        ...
