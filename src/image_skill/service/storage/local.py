"""Asset store on the local filesystem: temp file + fsync + rename, so readers
never see a half-written object."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from image_skill.service.storage.base import (
    CHUNK_BYTES,
    StoreError,
    alias_name,
    content_key,
)


class LocalAssetStore:
    """Content-addressed files under ``root``."""

    backend = "local_filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _write(self, data: bytes, key: str) -> None:
        target = self.root / key
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _store(self, data: bytes, sha256: str, extension: str, alias: str | None) -> None:
        key = content_key(sha256, extension)
        self._write(data, key)
        if alias is not None:
            self._publish(key, alias, extension)

    def _publish(self, key: str, alias: str, extension: str) -> None:
        # A hard link shares the object's bytes; renaming it in makes it atomic.
        target = self.root / alias_name(alias, extension)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{target.name}")
        tmp.unlink(missing_ok=True)
        try:
            os.link(self.root / key, tmp)
        except OSError:
            tmp.write_bytes((self.root / key).read_bytes())
        os.replace(tmp, target)

    async def put(
        self,
        data: bytes,
        *,
        sha256: str,
        extension: str,
        alias: str | None = None,
    ) -> str:
        """Write once per content and publish under the asset id."""
        try:
            # One worker-thread hop for both steps: the fsync must stay off the event
            # loop (it can take tens of milliseconds), but each hand-off costs the loop
            # a GIL exchange with the worker, so there is one.
            await anyio.to_thread.run_sync(self._store, data, sha256, extension, alias)
        except OSError as exc:
            raise StoreError("asset write failed") from exc
        return content_key(sha256, extension)

    async def get(self, key: str) -> bytes:
        """Read an object."""
        try:
            return await anyio.to_thread.run_sync((self.root / key).read_bytes)
        except OSError as exc:
            raise StoreError("asset read failed") from exc

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """Open the file now (a missing one fails here); read it a chunk at a time."""
        try:
            handle = await anyio.open_file(self.root / key, "rb")
        except OSError as exc:
            raise StoreError("asset read failed") from exc
        return _chunks(handle)

    def open_file(self, key: str, length: int) -> io.FileIO:
        """The object opened for reads by offset, checked to hold ``length`` bytes.

        Synchronous on purpose (one open and one fstat, no thread hop): media
        delivery reads the file by slices on the event loop (assets/delivery.py).
        The caller closes the file. Raises ``StoreError`` (missing, or not that size).
        """
        try:
            file = io.FileIO(self.root / key, "r")
        except OSError as exc:
            raise StoreError("asset read failed") from exc
        try:
            size = os.fstat(file.fileno()).st_size
        except OSError as exc:
            file.close()
            raise StoreError("asset read failed") from exc
        if size != length:
            file.close()
            raise StoreError("asset file is not its recorded size")
        return file

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        """Files have no URL of their own: the service serves them."""
        return None

    def alias_path(self, alias: str, extension: str) -> Path | None:
        """Published assets are plain files."""
        return self.root / alias_name(alias, extension)

    async def check(self) -> None:
        """Nothing to reach: the directory is made on the first write."""

    async def aclose(self) -> None:
        """No connections to release."""


async def _chunks(handle: anyio.AsyncFile[bytes]) -> AsyncIterator[bytes]:
    async with handle:
        while chunk := await handle.read(CHUNK_BYTES):
            yield chunk
