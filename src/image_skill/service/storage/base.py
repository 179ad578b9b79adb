"""The asset store contract: a tiny content-addressed blob interface.

Keys are derived from the bytes' sha256, so writing the same image twice is a
no-op and a key can never point at different bytes. Implementations: local.py
(files under the service's home), s3.py (an S3-compatible bucket) and memory.py
(the test double); factory.py picks one from the settings.

Every failure leaves a store as ``StoreError``, whose message is safe to show:
it never carries a key, a bucket, a path or a credential.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

# Media responses stream in chunks of this size: each chunk is one hop to a reader
# thread and one ASGI message, so 64 KiB chunks made a 5 MB asset cost 80 of each
# (0.13-0.22x nginx's throughput); 1 MiB keeps a response's memory bounded and small.
CHUNK_BYTES = 1024 * 1024


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
        self,
        data: bytes,
        *,
        sha256: str,
        extension: str,
        alias: str | None = None,
    ) -> str:
        """Store ``data`` atomically; returns its key. Raises ``StoreError``.

        ``alias`` (an asset id) also publishes the bytes under ``a/<alias>.<ext>``
        where the store is a local directory, so file URLs end in the asset id.
        """
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``. Raises ``StoreError`` (missing or unreadable)."""
        ...

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under ``key`` in chunks; a missing object raises ``StoreError`` here,
        before the first chunk, so a caller can still answer with an error."""
        ...

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        """A URL that reads ``key`` without credentials for ``seconds``; None if unsupported."""
        ...

    def alias_path(self, alias: str, extension: str) -> Path | None:
        """The published file of an asset when the store is local (for file:// URLs)."""
        ...

    async def check(self) -> None:
        """Fail fast at start-up: ``StoreError`` naming the setting to fix."""
        ...

    async def aclose(self) -> None:
        """Release connections (the app calls it on shutdown)."""
        ...
